// What a run's Slack message costs in history, on the time-skipping server with real durations
// and a stand-in for Slack's Web API: however long a soak lasts, the message is refreshed a few
// times per wait (its samples are routine), while what is news — a failing sample, a rollback,
// the outcome — still goes at once. A deployment recorded before the pump was bounded replays
// on today's code (it keeps its old rhythm).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Worker } from '@temporalio/worker';
import { createSlackNotifier } from '../../src/providers/slack';
import { workflowBundle } from '../../src/temporal/bundle';
import { buildDeploymentSpec, startDeployment } from '../../src/temporal/deployments';
import { deploymentStatusQuery } from '../../workflows/messages';
import { appMetrics, healthy } from '../harness/app-metrics';
import { startFakeSlack, type FakeMessage, type FakeSlack } from '../harness/fake-slack';
import { allFacts, factsOf, firstScheduled, fixtureHistory, patchMarkers, replayAll, scheduled, type HistoryFact } from '../harness/history';
import { TEST_SLACK_TOKEN } from '../harness/stack';
import { useTimeSkippingSandbox } from '../harness/time-skipping';

const CHANNEL = 'C0BOUNDED';
/** The production plan's analysis, around one soak of two hours at 50 %. */
const LONG_SOAK = {
  steps: [{ shift: 50 }, { soak: '2h' }, { shift: 100 }],
  analysis: { interval: '1m', window: '5m', failureLimit: 2, inconclusiveLimit: 5 },
  keepPreviousFor: '2m',
  standbyFor: '1m',
  standbyCount: 1,
};

describe('the cost of a run\'s Slack message (time-skipping server)', () => {
  const sb = useTimeSkippingSandbox(LONG_SOAK);
  let slack: FakeSlack;

  beforeAll(async () => {
    slack = await startFakeSlack();
  });
  afterAll(async () => {
    await slack?.stop();
  });

  const notifier = () => createSlackNotifier({ botToken: TEST_SLACK_TOKEN, apiUrl: slack.apiUrl, defaultChannel: CHANNEL });
  const parentOf = (id: string): FakeMessage | undefined =>
    [...slack.messages.values()].find((m) => m.threadTs === null && ((m.metadata as { event_payload?: { id?: string } } | null)?.event_payload?.id ?? '').startsWith(`${id}#`));
  const repliesTo = (ts: string) => [...slack.messages.values()].filter((m) => m.threadTs === ts).map((m) => m.text);
  /** The facts after `from` and before `to` (by position: event ids start again in each run). */
  const between = (facts: HistoryFact[], from: HistoryFact, to: HistoryFact) => facts.slice(facts.indexOf(from) + 1, facts.indexOf(to));
  const updates = (facts: HistoryFact[]) => scheduled(facts, 'updateMessage');

  it('refreshes the message a few times in a two-hour soak, not at every sample', async () => {
    const t = sb.files.config.services.web.environments.prod;
    const metrics = appMetrics(sb.aws.providers.routerFor(t.traffic), () => healthy);
    const { id, status, facts } = await sb.withWorker(metrics, async () => {
      const spec = buildDeploymentSpec(sb.files.config, { service: 'web', environment: 'prod', version: '4.0.0', requestedBy: 'ada' });
      const { id } = await startDeployment(sb.env.client, sb.files.taskQueue, spec);
      const handle = sb.env.client.workflow.getHandle(id);
      await handle.result();
      await replayAll(handle);
      return { id, status: await handle.query(deploymentStatusQuery), facts: await allFacts(handle) };
    }, { notifier: notifier() });

    expect(status.outcome).toBe('succeeded');
    const soak = between(facts, firstScheduled(facts, 'Shift 50 % to green'), firstScheduled(facts, 'Shift 100 % to green'));
    expect(scheduled(soak, 'measure')).toHaveLength(120);
    // A quarter of the soak between routine updates: at most 4 of them, and the soak's start.
    const inSoak = updates(soak);
    expect(inSoak.length).toBeGreaterThanOrEqual(3);
    expect(inSoak.length).toBeLessThanOrEqual(6);
    // Far fewer Slack calls in the whole run than samples taken.
    const slackCalls = scheduled(facts).filter((f) => f.activityType === 'postMessage' || f.activityType === 'updateMessage');
    expect(slackCalls.length).toBeLessThan(30);

    // The message still shows the soak as it goes, then the outcome.
    const parent = parentOf(id) as FakeMessage;
    const shown = slack.accepted('chat.update').filter((c) => c.args.ts === parent.ts).map((c) => JSON.stringify(c.args.blocks));
    expect(new Set(shown.map((b) => /Soak at 50 %: ([^"\\]+) left of 2h/.exec(b)?.[1]).filter(Boolean)).size).toBeGreaterThanOrEqual(3);
    expect(parent.text).toMatch(/succeeded/i);
  });

  it('posts replies queued together in one call, each still a message of its own, in order', async () => {
    const t = sb.files.config.services.web.environments.dev;
    const metrics = appMetrics(sb.aws.providers.routerFor(t.traffic), () => healthy);
    const { id, facts } = await sb.withWorker(metrics, async () => {
      const spec = buildDeploymentSpec(sb.files.config, { service: 'web', environment: 'dev', version: '4.2.0', requestedBy: 'ada' });
      const { id } = await startDeployment(sb.env.client, sb.files.taskQueue, spec);
      const handle = sb.env.client.workflow.getHandle(id);
      await handle.result();
      await replayAll(handle);
      return { id, facts: await allFacts(handle) };
    }, { notifier: notifier() });

    const parent = parentOf(id) as FakeMessage;
    const replies = repliesTo(parent.ts);
    // Every reply, once, in the order the run said them.
    expect(replies[0]).toMatch(/Started by ada/);
    const order = [/Step 1\/3: 50 %/, /Step 3\/3: 100 %/, /Live: 4\.2\.0/, /Succeeded/].map((re) => replies.findIndex((r) => re.test(r)));
    expect(order.every((i) => i > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(new Set(replies).size).toBe(replies.length);
    // The start and the first step's reply wait together behind the run's first message: one call.
    const bursts = scheduled(facts, 'postMessage').filter((f) => /^Slack: \d+ replies in the thread$/.test(f.summary ?? ''));
    expect(bursts.length).toBeGreaterThan(0);
    const replyCalls = scheduled(facts, 'postMessage').filter((f) => /repl(y|ies) in the thread/.test(f.summary ?? ''));
    expect(replyCalls.length).toBeLessThan(replies.length);
    const carried = replyCalls.map((f) => Number(/^Slack: (\d+) replies/.exec(f.summary ?? '')?.[1] ?? 1));
    expect(carried.reduce((a, b) => a + b, 0)).toBe(replies.length);
  });

  it("sends while the deployment's path waits, never beside a step's activity unless it has run 2 s", async () => {
    const t = sb.files.config.services.api.environments.dev;
    const metrics = appMetrics(sb.aws.providers.routerFor(t.traffic), () => healthy);
    const facts = await sb.withWorker(metrics, async () => {
      const spec = buildDeploymentSpec(sb.files.config, { service: 'api', environment: 'dev', version: '4.3.0', requestedBy: 'ada' });
      const { id } = await startDeployment(sb.env.client, sb.files.taskQueue, spec);
      const handle = sb.env.client.workflow.getHandle(id);
      await handle.result();
      await replayAll(handle);
      return allFacts(handle);
    }, { notifier: notifier() });

    const isSlack = (f: HistoryFact) => f.activityType === 'postMessage' || f.activityType === 'updateMessage';
    const closedAt = new Map<number, number>();
    for (const f of facts) if (/^ACTIVITY_TASK_(COMPLETED|FAILED|TIMED_OUT|CANCELED)$/.test(f.type) && f.scheduledEventId !== null) closedAt.set(f.scheduledEventId, f.id);
    const slackCalls = scheduled(facts).filter(isSlack);
    expect(slackCalls.length).toBeGreaterThan(5);
    const beside: string[] = [];
    for (const call of slackCalls) {
      // The path's activities open when this call was scheduled (scheduled before it, closed after).
      const open = scheduled(facts).filter((a) => !isSlack(a) && a.id < call.id && (closedAt.get(a.id) ?? Infinity) > call.id);
      for (const a of open) if (call.at - a.at < 2_000) beside.push(`${call.summary ?? ''} (#${call.id}) beside ${a.summary ?? a.activityType ?? ''} (#${a.id}, ${call.at - a.at} ms in)`);
    }
    expect(beside).toEqual([]);
  });

  it("leaves the Slack waits the run's end cuts short to run out: no cancel can race a timer's firing at the end", async () => {
    // A deployment whose listener does not exist fails at once, while its first message still
    // waits (2 s at most) for a quiet moment of the path: the run's end cuts that wait short.
    const s = buildDeploymentSpec(sb.files.config, { service: 'web', environment: 'prod', version: '4.4.0', requestedBy: 'ada' });
    if (s.traffic.type !== 'alb') throw new Error('web is behind an ALB in the sandbox');
    const spec = { ...s, traffic: { ...s.traffic, listenerArn: `${s.traffic.listenerArn}-gone` } };
    const metrics = appMetrics(sb.aws.providers.routerFor(s.traffic), () => healthy);
    const { id, facts } = await sb.withWorker(metrics, async () => {
      const { id } = await startDeployment(sb.env.client, sb.files.taskQueue, spec);
      const handle = sb.env.client.workflow.getHandle(id);
      await handle.result().catch(() => undefined);
      await replayAll(handle);
      return { id, facts: await allFacts(handle) };
    }, { notifier: notifier() });

    const slackTimers = new Set(facts.filter((f) => f.type === 'TIMER_STARTED' && f.summary?.startsWith('Slack:')).map((f) => f.timerId));
    expect(slackTimers.size).toBeGreaterThan(0);
    const cancelled = facts.filter((f) => f.type === 'TIMER_CANCELED' && slackTimers.has(f.timerId));
    expect(cancelled).toEqual([]);
    // The marker of the change, so runs recorded before replay their cancels: a deployment's
    // fold (workflows/patches.ts), which stands for it.
    expect(patchMarkers(facts)).toContain('deployment-fold-1');
    // Slack still got the outcome.
    expect((parentOf(id) as FakeMessage).text).toMatch(/failed/i);
  });

  it('still replies at once to a failing sample and shows a rollback at once, deep in a long soak', async () => {
    const t = sb.files.config.services.web.environments.staging;
    let samples = 0;
    // Healthy for ten minutes of the soak, then a breach: two failing samples roll back.
    const metrics = appMetrics(sb.aws.providers.routerFor(t.traffic), () => (++samples > 10 ? { errorRate: 0.05, latencyMs: 90 } : healthy));
    const { id, status, facts } = await sb.withWorker(metrics, async () => {
      const spec = buildDeploymentSpec(sb.files.config, { service: 'web', environment: 'staging', version: '4.1.0', requestedBy: 'ada' });
      const { id } = await startDeployment(sb.env.client, sb.files.taskQueue, spec);
      const handle = sb.env.client.workflow.getHandle(id);
      await handle.result().catch(() => undefined);
      await replayAll(handle);
      return { id, status: await handle.query(deploymentStatusQuery), facts: await allFacts(handle) };
    }, { notifier: notifier() });

    expect(status.outcome).toBe('rolled_back');
    // The first failing sample's reply went before the next sample was taken.
    const measures = scheduled(facts, 'measure');
    const firstFail = measures[10];
    const nextSample = measures[11];
    const replyAfterFail = between(facts, firstFail, nextSample).filter((f) => f.summary === 'Slack: reply in the thread');
    expect(replyAfterFail).toHaveLength(1);
    // The run's message showed the rollback without waiting out the soak's pace (30 minutes).
    const rolledBackAt = firstScheduled(facts, 'Roll back: 100 % to blue').at;
    const lastUpdate = updates(facts).filter((f) => f.at >= rolledBackAt);
    expect(lastUpdate.length).toBeGreaterThan(0);
    expect((lastUpdate[0].at - rolledBackAt) / 1000).toBeLessThan(60);
    const parent = parentOf(id) as FakeMessage;
    expect(parent.text).toMatch(/rolled back/i);
    expect(repliesTo(parent.ts).some((r) => /Analysis at 50 % failed/.test(r))).toBe(true);
  });

  it('replays a deployment recorded before the message pump was bounded', async () => {
    // Recorded with the pump as it was (an update at every change, then a fixed pause): a run
    // started then keeps that rhythm when a new worker picks it up.
    const history = fixtureHistory('deployment-before-bounded-slack');
    expect(updates(factsOf(history)).length).toBeGreaterThan(5);
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, 'deploy:web:dev:1.9.0');
  });

  it('replays a deployment recorded before replies were sent together and Slack waited for the path', async () => {
    // Recorded with the bounded pump, one call per reply, sent as soon as it could go (the run
    // message's post beside the first AWS call): a run started then keeps that when a new worker picks it up.
    const history = fixtureHistory('deployment-before-batched-slack');
    const summaries = factsOf(history).map((f) => f.summary ?? '');
    expect(summaries.filter((s) => s === 'Slack: reply in the thread').length).toBeGreaterThan(3);
    expect(summaries.some((s) => /replies in the thread|quiet moment/.test(s))).toBe(false);
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, 'deploy:web:dev:5.0.0');
  });
});
