// The production plan with its real durations (5 + 10 + 15 min soaks, 1 h hot, 24 h standby)
// on Temporal's time-skipping server, against real ECS/ALB/Route 53 in moto.
import { describe, expect, it } from 'vitest';
import type { WorkflowHandle } from '@temporalio/client';
import type { MetricsProvider } from '../../src/providers/types';
import { buildDeploymentSpec, startDeployment } from '../../src/temporal/deployments';
import { deploymentStatusQuery } from '../../workflows/messages';
import { appMetrics, healthy } from '../harness/app-metrics';
import { allFacts, CANCEL_MARGIN_MS, cancelsNearFiring, firstScheduled, historyOfRuns, replayAll, scheduled, type HistoryFact } from '../harness/history';
import { EXAMPLE_PLANS, useTimeSkippingSandbox } from '../harness/time-skipping';

describe('a deployment on the production plan (time-skipping server)', () => {
  const sb = useTimeSkippingSandbox(EXAMPLE_PLANS.production);

  const target = (service: string, environment: string) => sb.files.config.services[service].environments[environment];

  const withWorker = <T>(metrics: MetricsProvider, fn: () => Promise<T>): Promise<T> => sb.withWorker(metrics, fn);

  async function deploy(service: string, environment: string, version: string): Promise<WorkflowHandle> {
    const spec = buildDeploymentSpec(sb.files.config, { service, environment, version, requestedBy: 'ada' });
    const { id } = await startDeployment(sb.env.client, sb.files.taskQueue, spec);
    return sb.env.client.workflow.getHandle(id);
  }

  /** Deploys and waits for the end (time skips); a rolled-back run would throw here. */
  async function deployToEnd(metrics: MetricsProvider, service: string, environment: string, version: string) {
    return withWorker(metrics, async () => {
      const handle = await deploy(service, environment, version);
      await handle.result();
      // Whatever a deployment wrote, in every run, a fresh worker replays without a nondeterminism error.
      await replayAll(handle);
      return { status: await handle.query(deploymentStatusQuery), facts: await allFacts(handle) };
    });
  }

  const secondsBetween = (a: HistoryFact, b: HistoryFact) => (b.at - a.at) / 1000;

  it('runs every step in order with soaks of the planned length, then keeps, stands by and retires the old colour', async () => {
    const router = sb.aws.providers.routerFor(target('web', 'prod').traffic);
    const metrics = appMetrics(router, () => healthy);

    const { status, facts } = await deployToEnd(metrics, 'web', 'prod', '2.0.0');

    expect(status.outcome).toBe('succeeded');
    expect(status.phase).toBe('completed');
    expect(status.weights).toEqual({ blue: 0, green: 100 });
    expect(status.liveColour).toBe('green');

    // Every shift in order, each once.
    const shifts = scheduled(facts, 'shiftTraffic').map((f) => f.summary);
    expect(shifts).toEqual(['Shift 1 % to green', 'Shift 10 % to green', 'Shift 50 % to green', 'Shift 100 % to green']);

    // Soaks of the planned length, read from the history's event times.
    const at = (summary: string) => firstScheduled(facts, summary);
    const soaks = [
      secondsBetween(at('Shift 1 % to green'), at('Shift 10 % to green')),
      secondsBetween(at('Shift 10 % to green'), at('Shift 50 % to green')),
      secondsBetween(at('Shift 50 % to green'), at('Shift 100 % to green')),
    ];
    [300, 600, 900].forEach((planned, i) => {
      expect(soaks[i]).toBeGreaterThanOrEqual(planned);
      expect(soaks[i]).toBeLessThan(planned + 30);
    });
    // One sample a minute during each soak, every one of them healthy.
    const samplesAt = (weight: number) => metrics.calls.filter((c) => c.weight === weight).length;
    expect([samplesAt(1), samplesAt(10), samplesAt(50)]).toEqual([5, 10, 15]);
    const timers = facts.filter((f) => f.type === 'TIMER_STARTED');
    expect(timers.some((t) => t.summary === 'Soak 10 % for 10m' && t.timerSeconds === 60)).toBe(true);

    // The old colour: hot for an hour, then one standby task for 24 h, then retired.
    const standby = at('Scale blue to standby (1 tasks)');
    const retired = at('Retire blue');
    expect(secondsBetween(at('Shift 100 % to green'), standby)).toBeGreaterThanOrEqual(3600);
    expect(secondsBetween(at('Shift 100 % to green'), standby)).toBeLessThan(3600 + 30);
    expect(secondsBetween(standby, retired)).toBeGreaterThanOrEqual(24 * 3600);
    expect(secondsBetween(standby, retired)).toBeLessThan(24 * 3600 + 30);
    expect(facts.some((f) => f.type === 'TIMER_STARTED' && f.summary === 'Keep blue on standby for 1d' && f.timerSeconds === 24 * 3600)).toBe(true);

    // No timer cancelled as it was about to fire (CANCEL_MARGIN_MS): Slack's routine update
    // falls due clear of the path's steps, not a few milliseconds after one.
    expect(cancelsNearFiring(facts, CANCEL_MARGIN_MS)).toEqual([]);

    // And the real infrastructure agrees.
    const t = target('web', 'prod');
    expect(await router.getWeights()).toEqual({ blue: 0, green: 100 });
    const [blue, green] = await Promise.all([sb.aws.providers.compute.describe(t.compute, 'blue'), sb.aws.providers.compute.describe(t.compute, 'green')]);
    expect(blue.desiredCount).toBe(0);
    expect(green.desiredCount).toBe(2);
    expect(green.image).toBe(`${t.image}:2.0.0`);

    console.log(`production-plan deployment: ${facts.length} history events in all its runs`);
  });

  it('rolls back when the error rate breaches at 10 %', async () => {
    const t = target('web', 'staging');
    const router = sb.aws.providers.routerFor(t.traffic);
    const metrics = appMetrics(router, (weight) => (weight >= 10 ? { errorRate: 0.05, latencyMs: 90 } : healthy));

    const { status, described, failure } = await withWorker(metrics, async () => {
      const handle = await deploy('web', 'staging', '2.1.0');
      const failure = await Promise.race([handle.result().then(() => null, (err: unknown) => err as Error), new Promise<Error>((r) => setTimeout(() => r(new Error("TIMEOUT")), 40000))]);
      if (failure?.message === "TIMEOUT") console.log(JSON.stringify(await handle.query(deploymentStatusQuery), null, 1));
      return { status: await handle.query(deploymentStatusQuery), described: await handle.describe(), failure };
    });

    // The run itself is a failure in the UI, and says why.
    expect((failure?.cause as Error | undefined)?.message ?? '').toMatch(/rolled back: error rate 5 % > 1 %/);
    expect(described.status.name).toBe('FAILED');
    expect(status.outcome).toBe('rolled_back');
    expect(status.liveColour).toBe('blue');
    expect(status.rollback?.step).toBe(4); // step 4 of 7: the soak at 10 %
    expect(status.rollback?.evidence).toEqual({ metric: 'error_rate', value: 0.05, threshold: 0.01 });
    expect(described.searchAttributes.BatonOutcome).toEqual(['rolled_back']);
    expect(described.searchAttributes.BatonPhase).toEqual(['rolled_back']);

    expect(await router.getWeights()).toEqual({ blue: 100, green: 0 });
    const green = await sb.aws.providers.compute.describe(t.compute, 'green');
    expect(green.desiredCount).toBe(0);
    const blue = await sb.aws.providers.compute.describe(t.compute, 'blue');
    expect(blue.desiredCount).toBe(2);
  });

  it('rolls back a deployment that is cancelled in the middle of a soak', async () => {
    const t = target('api', 'prod');
    const router = sb.aws.providers.routerFor(t.traffic);
    const metrics = appMetrics(router, () => healthy);

    const { status, facts } = await withWorker(metrics, async () => {
      const handle = await deploy('api', 'prod', '3.0.0');
      // Let workflow time run to the middle of the 10 % soak, then cancel.
      for (let i = 0; i < 200; i++) {
        const s = await handle.query(deploymentStatusQuery);
        if (s.weights?.green === 10 && s.phase === 'soaking') break;
        await sb.env.sleep('1m');
      }
      // Whole minutes of sleep land a moment before the next sample's timer: an operator's
      // cancel comes at any second, not then (a cancel as it fires wedges the test server).
      await sb.env.sleep('20s');
      await handle.cancel();
      await handle.result().catch(() => undefined);
      await replayAll(handle);
      return { status: await handle.query(deploymentStatusQuery), facts: await allFacts(handle) };
    });
    expect(cancelsNearFiring(facts, CANCEL_MARGIN_MS)).toEqual([]);

    expect(status.outcome).toBe('cancelled');
    expect(status.timeline.map((e) => e.type)).toEqual(expect.arrayContaining(['traffic_restored', 'scaled_down', 'cancelled']));
    expect(await router.getWeights()).toEqual({ blue: 100, green: 0 });
    expect((await sb.aws.providers.compute.describe(t.compute, 'green')).desiredCount).toBe(0);
  });

  it('extends the soak for inconclusive samples instead of rolling back', async () => {
    const t = target('web', 'dev');
    const metrics = appMetrics(sb.aws.providers.routerFor(t.traffic), () => healthy, { first: ['no_data', 'no_data', 'no_data'] });

    const { status, facts } = await deployToEnd(metrics, 'web', 'dev', '2.2.0');

    expect(status.outcome).toBe('succeeded');
    expect(status.rollback).toBeNull();
    // Three inconclusive minutes at 1 %: the 5-minute soak lasted 8 minutes.
    const soak = secondsBetween(firstScheduled(facts, 'Shift 1 % to green'), firstScheduled(facts, 'Shift 10 % to green'));
    expect(soak).toBeGreaterThanOrEqual(480);
    expect(soak).toBeLessThan(480 + 30);
    expect(metrics.calls.filter((c) => c.weight === 1)).toHaveLength(8);
    const noData = status.timeline.filter((e) => e.type === 'analysis_inconclusive');
    expect(noData.length).toBeGreaterThanOrEqual(3);
    // Each extension ends on its sample's timer: one timer a sample, none for the few ms
    // between a sample's slot and the moment it was judged (such a timer costs a round trip,
    // and on a server whose timers fire late, about a second).
    const soakTimers = facts.filter((f) => f.type === 'TIMER_STARTED' && /^Soak 1 %/.test(f.summary ?? ''));
    expect(soakTimers.map((f) => f.timerSeconds).filter((sec) => (sec ?? 0) < 1)).toEqual([]);
    expect(soakTimers).toHaveLength(8);
  });

  it('extends a soak whose last sample is inconclusive by one interval, ended by the next sample\'s timer', async () => {
    const t = target('web', 'dev');
    // The 5-minute soak at 1 % samples each minute: the fifth sample, due as the soak ends, sees no data.
    const metrics = appMetrics(sb.aws.providers.routerFor(t.traffic), () => healthy, { first: ['ok', 'ok', 'ok', 'ok', 'no_data'] });

    const { status, facts } = await deployToEnd(metrics, 'web', 'dev', '2.2.1');

    expect(status.outcome).toBe('succeeded');
    expect(status.timeline.filter((e) => e.type === 'analysis_inconclusive')).toHaveLength(1);
    expect(metrics.calls.filter((c) => c.weight === 1)).toHaveLength(6);
    // Either colour: an earlier test may have deployed web to dev.
    const soak = secondsBetween(firstScheduled(facts, /^Shift 1 % to /), firstScheduled(facts, /^Shift 10 % to /));
    expect(soak).toBeGreaterThanOrEqual(360);
    expect(soak).toBeLessThan(360 + 30);
    // The extension is measured from the inconclusive sample's slot, not from the moment it
    // was judged a few ms later: the sixth sample's timer ends the soak, with no timer of a
    // few ms after it.
    const soakTimers = facts.filter((f) => f.type === 'TIMER_STARTED' && /^Soak 1 %/.test(f.summary ?? ''));
    expect(soakTimers.map((f) => f.timerSeconds).filter((sec) => (sec ?? 0) < 1)).toEqual([]);
    expect(soakTimers).toHaveLength(6);
  });

  it('retries a failing metrics provider and never counts its errors as a breach', async () => {
    const t = target('api', 'staging');
    // Four failed reads: the first sample exhausts its 3 attempts (an inconclusive
    // provider_error sample), the second succeeds on its second attempt.
    const metrics = appMetrics(sb.aws.providers.routerFor(t.traffic), () => healthy, { first: ['throw', 'throw', 'throw', 'throw'] });

    const { status, facts } = await deployToEnd(metrics, 'api', 'staging', '2.3.0');

    expect(status.outcome).toBe('succeeded');
    expect(status.rollback).toBeNull();
    const timeline = status.timeline.filter((e) => e.type.startsWith('analysis_'));
    expect(timeline[0]).toMatchObject({ type: 'analysis_inconclusive' });
    expect(timeline[0].message).toMatch(/metrics provider error: Rate exceeded/);
    expect(timeline[1]).toMatchObject({ type: 'analysis_pass' });
    expect(timeline.filter((e) => e.type === 'analysis_fail')).toHaveLength(0);
    // Six samples at 1 % (one more for the inconclusive one): 5 good reads and 4 failed ones.
    expect(metrics.calls.filter((c) => c.weight === 1)).toHaveLength(5 + 4);
    const soak = secondsBetween(firstScheduled(facts, 'Shift 1 % to green'), firstScheduled(facts, 'Shift 10 % to green'));
    expect(soak).toBeGreaterThanOrEqual(360);
  });

  it('keeps the history bounded through a 12-hour soak by continuing as new', async () => {
    const t = target('api', 'dev');
    const metrics = appMetrics(sb.aws.providers.routerFor(t.traffic), () => healthy);
    const spec = buildDeploymentSpec(sb.files.config, { service: 'api', environment: 'dev', version: '2.4.0', requestedBy: 'ada' });
    spec.plan = { ...spec.plan, steps: [{ type: 'shift', weight: 10 }, { type: 'soak', durationSeconds: 12 * 3600 }, { type: 'shift', weight: 100 }], analysis: { ...spec.plan.analysis, intervalSeconds: 300 } };

    const { status, runs } = await withWorker(metrics, async () => {
      const handle = await sb.env.client.workflow.start('deployment', { workflowId: spec.id, taskQueue: sb.files.taskQueue, args: [{ spec, maxHistoryEvents: 300 }] });
      await handle.result();
      return { status: await handle.query(deploymentStatusQuery), runs: await historyOfRuns(handle, handle.firstExecutionRunId) };
    });

    expect(status.outcome).toBe('succeeded');
    expect(runs.length).toBeGreaterThanOrEqual(4);
    for (const run of runs) expect(run.length).toBeLessThan(400);
    // The soak lasted its 12 hours across all those runs, sampled every 5 minutes.
    const all = runs.flat();
    const soakSeconds = secondsBetween(firstScheduled(all, 'Shift 10 % to green'), firstScheduled(all, 'Shift 100 % to green'));
    expect(soakSeconds).toBeGreaterThanOrEqual(12 * 3600);
    expect(soakSeconds).toBeLessThan(12 * 3600 + 300);
    expect(metrics.calls.filter((c) => c.weight === 10)).toHaveLength(144);
  });
});
