// The postMessage activity's replies form (a burst of a run's thread replies in one call), run
// as an activity (Temporal's MockActivityEnvironment) against the local stand-in for Slack's
// Web API: each reply its own message, in order; a failure after the first ends the call with
// what went (never posted twice by a retry); a failure of the first fails the call.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { notifyActivities } from '../../activities/notify';
import type { ActivityDeps } from '../../activities/deps';
import { createSlackNotifier } from '../../src/providers/slack';
import type { Notifier } from '../../src/providers/types';
import { ErrorType } from '../../src/domain/errors';
import { startFakeSlack, type FakeSlack } from '../harness/fake-slack';

const CHANNEL = 'C0REPLIES';

describe('the postMessage activity, several replies in one call', () => {
  let slack: FakeSlack;

  beforeAll(async () => {
    slack = await startFakeSlack();
  });
  beforeEach(() => {
    slack.setMode({ kind: 'ok' });
  });
  afterAll(async () => {
    await slack?.stop();
  });

  const slackNotifier = () => createSlackNotifier({ botToken: 'xoxb-test', apiUrl: slack.apiUrl, defaultChannel: CHANNEL });
  const activities = (notifier: Notifier) => notifyActivities({ notifier } as ActivityDeps);
  const run = <R>(fn: () => Promise<R>): Promise<R> => new MockActivityEnvironment({ startToCloseTimeoutMs: 10_000 }, { logger: new DefaultLogger('ERROR') }).run(fn);
  const repliesTo = (ts: string) => [...slack.messages.values()].filter((m) => m.threadTs === ts).map((m) => m.text);

  it('posts each reply as a message of its own in the thread, in order, an alert with @here, and says how many went', async () => {
    const parent = await slackNotifier().post({ text: 'Deploy web 1.2.0 to prod' });
    const acts = activities(slackNotifier());
    const r = await run(() => acts.postMessage({ channel: CHANNEL, threadTs: parent.ts, replies: [{ text: 'Step 1/3' }, { text: 'STUCK', alert: true }, { text: 'Step 2/3' }] }));
    expect(r.posted).toBe(3);
    expect(repliesTo(parent.ts)).toEqual(['Step 1/3', '<!here> STUCK', 'Step 2/3']);
    expect(r.ts).toBe([...slack.messages.values()].filter((m) => m.threadTs === parent.ts).at(-1)?.ts);
  });

  it('ends the call with what went when a later reply fails: those are not posted again, the rest are left to the caller', async () => {
    const parent = await slackNotifier().post({ text: 'Deploy web 1.3.0 to prod' });
    const real = slackNotifier();
    let posts = 0;
    // Slack fails the second post of this call (a network error, a 500): the first has gone.
    const flaky: Notifier = { ...real, post: (m) => (++posts === 2 ? Promise.reject(new Error('socket hang up')) : real.post(m)) };
    const r = await run(() => activities(flaky).postMessage({ channel: CHANNEL, threadTs: parent.ts, replies: [{ text: 'one' }, { text: 'two' }, { text: 'three' }] }));
    expect(r.posted).toBe(1);
    expect(repliesTo(parent.ts)).toEqual(['one']);
    expect(posts).toBe(2);
  });

  it('fails the call when the first reply cannot be posted, a rate limit with the wait Slack asks for', async () => {
    const parent = await slackNotifier().post({ text: 'Deploy web 1.4.0 to prod' });
    slack.setMode({ kind: 'rate-limited', retryAfterSeconds: 7 });
    const err = await run(() => activities(slackNotifier()).postMessage({ channel: CHANNEL, threadTs: parent.ts, replies: [{ text: 'one' }, { text: 'two' }] })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe(ErrorType.NotifierRateLimited);
    expect((err as ApplicationFailure).nextRetryDelay).toBe('7s');
    slack.setMode({ kind: 'ok' });
    expect(repliesTo(parent.ts)).toEqual([]);
  });

  it('refuses an empty list of replies without calling Slack', async () => {
    const before = slack.calls.length;
    const err = await run(() => activities(slackNotifier()).postMessage({ channel: CHANNEL, threadTs: '1.1', replies: [] })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
    expect(slack.calls.length).toBe(before);
  });
});
