import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeSlack, type FakeSlack } from '../harness/fake-slack';
import { createSlackNotifier } from '../../src/providers/slack';
import { createLogNotifier } from '../../src/providers/log-notifier';
import { createProviders } from '../../src/providers/factory';
import { NotifierRateLimited } from '../../src/providers/types';

describe('the Slack notifier', () => {
  let slack: FakeSlack;

  beforeAll(async () => {
    slack = await startFakeSlack();
  });
  beforeEach(() => {
    slack.calls.length = 0;
    slack.setMode({ kind: 'ok' });
  });
  afterAll(async () => {
    await slack?.stop();
  });

  const notifier = () => createSlackNotifier({ botToken: 'xoxb-test', apiUrl: slack.apiUrl, defaultChannel: 'C0RELEASES' });

  it('posts the text and blocks to the default channel with the bot token, and says where it landed', async () => {
    const blocks = [{ type: 'section', text: { type: 'mrkdwn', text: '*Deploy web 1.2.0 to prod*' } }];
    const ref = await notifier().post({ text: 'Deploy web 1.2.0 to prod', blocks });
    expect(ref).toEqual({ channel: 'C0RELEASES', ts: expect.stringMatching(/^\d+\.\d+$/) });
    expect(slack.calls).toEqual([
      expect.objectContaining({ method: 'chat.postMessage', token: 'xoxb-test', args: expect.objectContaining({ channel: 'C0RELEASES', text: 'Deploy web 1.2.0 to prod', blocks }) }),
    ]);
  });

  it("posts to the message's own channel, in a thread when asked", async () => {
    const parent = await notifier().post({ text: 'parent', channel: 'C0WEB' });
    await notifier().post({ text: 'reply', channel: 'C0WEB', threadTs: parent.ts });
    expect(slack.calls[1].args).toMatchObject({ channel: 'C0WEB', thread_ts: parent.ts });
  });

  it('updates a posted message in place', async () => {
    const ref = await notifier().post({ text: 'soaking' });
    await notifier().update(ref, { text: 'succeeded', blocks: [] });
    expect(slack.messages.get(ref.ts)).toMatchObject({ text: 'succeeded', updates: 1 });
  });

  it("finds a run's parent message again by the run id it was tagged with", async () => {
    const ref = await notifier().post({ text: 'Deploy web 1.2.0 to prod', runId: 'deploy:web:prod:1.2.0' });
    await notifier().post({ text: 'another run', runId: 'deploy:api:prod:2.0.0' });
    expect(await notifier().findRunMessage(undefined, 'deploy:web:prod:1.2.0')).toEqual(ref);
    expect(await notifier().findRunMessage(undefined, 'deploy:web:prod:9.9.9')).toBeNull();
  });

  it('throws when Slack refuses the message', async () => {
    slack.setMode({ kind: 'refuse', error: 'channel_not_found' });
    await expect(notifier().post({ text: 'hello' })).rejects.toThrow(/channel_not_found/);
  });

  it('throws at once, without retrying, when Slack is down', async () => {
    slack.setMode({ kind: 'http-error', status: 500 });
    await expect(notifier().post({ text: 'hello' })).rejects.toThrow();
    expect(slack.calls).toHaveLength(1);
  });

  it("passes on how long Slack asks to wait when it rate-limits", async () => {
    slack.setMode({ kind: 'rate-limited', retryAfterSeconds: 7 });
    const err = await notifier().post({ text: 'hello' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotifierRateLimited);
    expect((err as NotifierRateLimited).retryAfterSeconds).toBe(7);
    expect(slack.calls).toHaveLength(1);
  });

  it('throws when there is no channel to post to', async () => {
    await expect(createSlackNotifier({ botToken: 'xoxb-test', apiUrl: slack.apiUrl }).post({ text: 'hello' })).rejects.toThrow(/no Slack channel/);
    expect(slack.calls).toHaveLength(0);
  });

  it('is what the factory builds when a bot token is set', async () => {
    const { notifier } = createProviders({ slack: { botToken: 'xoxb-factory', apiUrl: slack.apiUrl }, defaultChannel: 'C0RELEASES' });
    await notifier.post({ text: 'from the factory' });
    expect(slack.calls[0]).toMatchObject({ token: 'xoxb-factory', args: { channel: 'C0RELEASES', text: 'from the factory' } });
  });
});

describe('the log notifier', () => {
  it('writes one line per message, naming the channel, and marks thread replies', async () => {
    const lines: string[] = [];
    const log = createLogNotifier({ defaultChannel: '#releases', sink: (l) => lines.push(l) });
    const ref = await log.post({ text: 'Deploy web 1.2.0\nto prod' });
    await log.post({ text: '10 % on green', threadTs: ref.ts });
    expect(lines).toEqual(['notify #releases: Deploy web 1.2.0 / to prod', 'notify #releases (thread): 10 % on green']);
  });

  it('prints an update only when its text changed', async () => {
    const lines: string[] = [];
    const log = createLogNotifier({ sink: (l) => lines.push(l) });
    const ref = await log.post({ text: 'soaking' });
    await log.update(ref, { text: 'soaking' });
    await log.update(ref, { text: 'succeeded' });
    expect(lines).toEqual(['notify log: soaking', 'notify log (update): succeeded']);
  });

  it('is what the factory falls back to when there is no Slack token', async () => {
    const lines: string[] = [];
    const { notifier } = createProviders({ slack: {}, log: (l) => lines.push(l) });
    await notifier.post({ text: 'rolled back', channel: '#web-team' });
    expect(lines).toEqual(['notify #web-team: rolled back']);
  });
});
