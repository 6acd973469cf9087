import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeSlack, type FakeSlack } from '../harness/fake-slack';
import { createSlackNotifier } from '../../src/providers/slack';
import { createLogNotifier } from '../../src/providers/log-notifier';
import { createProviders } from '../../src/providers/factory';

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

  const notifier = () => createSlackNotifier({ botToken: 'xoxb-test', apiUrl: slack.apiUrl, defaultChannel: '#releases' });

  it('posts the text and blocks to the default channel with the bot token', async () => {
    const blocks = [{ type: 'section', text: { type: 'mrkdwn', text: '*Deploy web 1.2.0 to prod*' } }];
    await notifier().post({ text: 'Deploy web 1.2.0 to prod', blocks });
    expect(slack.calls).toEqual([
      { method: 'chat.postMessage', token: 'xoxb-test', args: expect.objectContaining({ channel: '#releases', text: 'Deploy web 1.2.0 to prod', blocks }) },
    ]);
  });

  it("posts to the message's own channel when it names one", async () => {
    await notifier().post({ text: 'hello', channel: '#web-team' });
    expect(slack.calls[0].args).toMatchObject({ channel: '#web-team' });
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

  it('throws when there is no channel to post to', async () => {
    await expect(createSlackNotifier({ botToken: 'xoxb-test', apiUrl: slack.apiUrl }).post({ text: 'hello' })).rejects.toThrow(/no Slack channel/);
    expect(slack.calls).toHaveLength(0);
  });

  it('is what the factory builds when a bot token is set', async () => {
    const { notifier } = createProviders({ slack: { botToken: 'xoxb-factory', apiUrl: slack.apiUrl }, defaultChannel: '#releases' });
    await notifier.post({ text: 'from the factory' });
    expect(slack.calls[0]).toMatchObject({ token: 'xoxb-factory', args: { channel: '#releases', text: 'from the factory' } });
  });
});

describe('the log notifier', () => {
  it('writes one line per message, naming the channel', async () => {
    const lines: string[] = [];
    await createLogNotifier({ defaultChannel: '#releases', sink: (l) => lines.push(l) }).post({ text: 'Deploy web 1.2.0\nto prod' });
    expect(lines).toEqual(['notify #releases: Deploy web 1.2.0 / to prod']);
  });

  it('is what the factory falls back to when there is no Slack token', async () => {
    const lines: string[] = [];
    const { notifier } = createProviders({ slack: {}, log: (l) => lines.push(l) });
    await notifier.post({ text: 'rolled back', channel: '#web-team' });
    expect(lines).toEqual(['notify #web-team: rolled back']);
  });
});
