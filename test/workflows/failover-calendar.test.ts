// Disaster-recovery failovers at production length on Temporal's time-skipping server: the 72 h
// approval expiry (requested on every day of a week, each at another hour), the same expiry for an emergency's
// second-person confirmation, the 10-minute catch-up wait for ReplicaLag 0 (read every 5 s), and
// 10 minutes of monitoring after DNS moves (a smoke test every 30 s). These are the durations
// config gives a DR posture that names none, resolved here from the sandbox's own config with its
// second-scale `monitor` and `catchUp` taken out. moto holds the sandbox's two regions (api prod in
// us-east-1, its DR copy in us-west-2: ECS, an RDS primary and its cross-region read replica,
// Route 53 failover records); the workflow is started directly (the API, the region gate and the
// real-time feeder are tested on the dev server in failover.test.ts).
//
// Each test's worker polls a task queue of its own and that queue's region queues: both regions,
// or only one when the other is to give no answer. It runs without a Temporal client (a failover
// needs none). No feeder runs here, and workflow time runs days ahead of the wall clock, so the
// worker's ReplicaLag read first publishes, stamped just inside the window it reads, the datapoint
// RDS would have published then: the sandbox feeder's rule (0 once the source is fenced, else
// 1 s), or a replica stuck at a lag; and the monitoring's analysis reads a pretend application
// whose clients go where DNS sends them. Every test checks that both regions end as they were found.
// The test server does not skip time while an activity is outstanding, even one no worker polls:
// a call into a region that does not answer waits out its schedule-to-close (45 s) in real time.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { WithStartWorkflowOperation, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter, type Duration, type UpdateDefinition } from '@temporalio/common';
import { configRegions, resolveConfig } from '../../src/config';
import type { DrSpec, RdsInstanceRef } from '../../src/domain/failover';
import { failoverId, type FailoverMode } from '../../src/domain/failover-run';
import { compactStamp } from '../../src/domain/instants';
import { regionQueue } from '../../src/domain/regions';
import { decisionKeyPair, newDecisionSecret, signDecision } from '../../src/domain/signing';
import type { Measurement, MetricsSpec } from '../../src/domain/types';
import type { DrInspector, MetricsProvider } from '../../src/providers/types';
import { cloudWatchPut, rdsDescribe, readReplicas, replicaLagDatum, replicaLagSeconds } from '../../src/sandbox/feeder';
import { runTestWorker } from '../harness/hung';
import {
  failoverApprovalUpdate,
  failoverCancelUpdate,
  failoverStatusQuery,
  type FailoverDecisionInput,
  type FailoverInput,
  type FailoverStatus,
} from '../../workflows/messages';
import type { FailoverResult } from '../../workflows/failover';
import { healthy } from '../harness/app-metrics';
import { motoClients } from '../harness/aws';
import { historyFacts, replayAll, scheduled, type HistoryFact } from '../harness/history';
import { MOTO_CREDENTIALS } from '../harness/stack';
import { useTimeSkippingSandbox } from '../harness/time-skipping';
import { executeUpdateOnce, until } from '../harness/wait';
import { drPosture } from '../harness/dr';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const EXPIRY = 72 * HOUR;
const CATCH_UP = 10 * MINUTE;
const CATCH_UP_POLL = 5 * SECOND;
const MONITOR = 10 * MINUTE;
const MONITOR_EVERY = 30 * SECOND;
const iso = (ms: number) => new Date(ms).toISOString();
const weekday = (ms: number) => new Date(ms).toUTCString().slice(0, 3);

/** The activities that change AWS: none of them may run where nothing is to change. */
const WRITES = ['fenceServices', 'fenceDatabase', 'unfenceDatabase', 'unfenceServices', 'promoteReplica', 'createReplica', 'renameDbInstance', 'deleteDbInstance', 'setDnsPrimary', 'scaleService'];
const writesIn = (facts: HistoryFact[]) => scheduled(facts).filter((f) => WRITES.includes(f.activityType ?? '')).map((f) => `${f.activityType}: ${f.summary}`);

/** How the replica's ReplicaLag datapoints look: as the sandbox feeder writes them, or stuck at a lag (replication stalled). */
type Lag = { kind: 'sandbox' } | { kind: 'stuck'; seconds: number };

describe('DR failovers on the production calendar (time-skipping server, moto in two regions)', () => {
  const sb = useTimeSkippingSandbox();
  /** api prod's DR posture with the production durations. */
  let spec: DrSpec;
  /** Both regions as the seed left them. */
  let baseline: Awaited<ReturnType<typeof posture>>;

  beforeAll(async () => {
    // The sandbox's config, less the second-scale waits it gives its DR posture: config's defaults.
    const doc = parseYaml(readFileSync(sb.files.configFile, 'utf8')) as { services: Record<string, { dr: Record<string, Record<string, unknown>> }> };
    delete doc.services.api.dr.prod.monitor;
    delete doc.services.api.dr.prod.catchUp;
    spec = resolveConfig(doc).services.api.dr!.prod;
    expect(spec).toMatchObject({
      primaryRegion: 'us-east-1',
      region: 'us-west-2',
      approvals: [{ role: 'release-manager', count: 1 }],
      approvalExpirySeconds: EXPIRY / SECOND,
      catchUpSeconds: CATCH_UP / SECOND,
      monitor: { seconds: MONITOR / SECOND, everySeconds: MONITOR_EVERY / SECOND },
      emergency: { role: 'on-call', allowUnfenced: false },
    });
    baseline = await posture();
    expect(baseline.replica).toMatchObject({ status: 'available', replicates: spec.database.primary.instanceId, readOnly: false, fencedBy: null });
    expect(baseline.primary).toMatchObject({ status: 'available', replicates: null, readOnly: false, fencedBy: null });
    expect(baseline.dns).toEqual({ [spec.dns.primarySetIdentifier]: 'PRIMARY', [spec.dns.secondarySetIdentifier]: 'SECONDARY' });
    expect(Math.max(baseline.primaryServices.blue, baseline.primaryServices.green)).toBeGreaterThan(0);
  });

  // ---------------------------------------------------------------- both regions, as moto holds them

  /** DNS roles, every RDS instance, the two databases' state, both regions' service counts and the fencing tags. */
  const posture = () => drPosture(spec, sb.aws.providers, motoClients(sb.aws.moto));

  // ---------------------------------------------------------------- the worker

  /**
   * The DR inspector over moto, whose ReplicaLag read first publishes the datapoint RDS would
   * have published at the read's end (workflow time), one second inside the window (CloudWatch's
   * EndTime is exclusive and cut to the second).
   */
  function publishingLag(lag: Lag): DrInspector {
    const direct = { endpoint: sb.aws.moto.endpoint, credentials: MOTO_CREDENTIALS };
    const describeRds = rdsDescribe(direct);
    const put = cloudWatchPut(direct);
    const inner = sb.aws.providers.dr;
    const regions = configRegions(sb.files.config);
    async function lagNow(instance: RdsInstanceRef): Promise<number | null> {
      if (lag.kind === 'stuck') return lag.seconds;
      const found = (await Promise.all(regions.map(describeRds))).flat();
      const replica = readReplicas(found, regions).find((r) => r.replica.region === instance.region && r.replica.instanceId === instance.instanceId);
      return replica ? replicaLagSeconds(replica, false, undefined) : null;
    }
    return {
      ...inner,
      async replicaLag(instance, windowSeconds, end) {
        const seconds = await lagNow(instance);
        const at = new Date(Math.floor(end.getTime() / SECOND) * SECOND - SECOND);
        if (seconds !== null) await put(instance.region, { Namespace: 'AWS/RDS', MetricData: [replicaLagDatum(instance, seconds, at)] });
        return inner.replicaLag(instance, windowSeconds, end);
      },
    };
  }

  /**
   * A healthy application whose clients go where DNS sends them: the region of the PRIMARY failover
   * record serves 50 requests a second, the other none (no data). The time-skipping server's
   * windows are days ahead of any datapoint written now, so the analysis reads this instead.
   */
  function appWhereDnsPoints(): MetricsProvider {
    return {
      async measure(metrics: MetricsSpec, _colour, windowSeconds): Promise<Measurement> {
        const records = await sb.aws.providers.dr.failoverRecords(spec.dns, spec.region);
        const primary = records.find((r) => r.failover === 'PRIMARY')?.setIdentifier;
        const served = primary === spec.dns.primarySetIdentifier ? spec.primaryRegion : primary === spec.dns.secondarySetIdentifier ? spec.region : null;
        if (metrics.region !== served) return { requests: null, errors: null, latencyMs: null, windowSeconds };
        const requests = 50 * windowSeconds;
        return { requests, errors: Math.round(requests * healthy.errorRate), latencyMs: healthy.latencyMs, windowSeconds };
      },
    };
  }

  /** Each test's worker polls a task queue of its own: no task of a run a stopped worker had cached is routed to it. */
  let taskQueue = '';
  let tests = 0;
  /** Every failover the running test started. */
  const started: WorkflowHandle[] = [];

  /**
   * Runs `fn` with a worker on a fresh main queue and the queues of `regions` (default both). Built
   * here rather than with sb.withWorker, which serves every region of the config: a region that
   * does not answer is a region no worker serves.
   */
  async function withWorker<T>(lag: Lag, fn: () => Promise<T>, regions: string[] = configRegions(sb.files.config)): Promise<T> {
    taskQueue = `${sb.files.taskQueue}-failover-${++tests}`;
    // Inside the worker's run: a closed run's status query needs a worker to answer it.
    return runTestWorker(sb.env, { taskQueue, regions, deps: { ...sb.aws.providers, dr: publishingLag(lag), metrics: appWhereDnsPoints(), stablePollMs: 100 } }, async () => {
      try {
        return await fn();
      } finally {
        await stopLeftovers();
      }
    });
  }

  /** A test that failed half-way leaves runs behind; left running they would hold the next test's clock. */
  async function stopLeftovers(): Promise<void> {
    for (const h of started.splice(0)) {
      if ((await h.describe().catch(() => null))?.status.name === 'RUNNING') await h.terminate('the test has ended').catch(() => undefined);
    }
  }

  // ---------------------------------------------------------------- runs

  async function failoverInput(mode: FailoverMode, reason = `a ${mode} test`): Promise<FailoverInput> {
    const [fromRegion, toRegion] = mode === 'failback' ? [spec.region, spec.primaryRegion] : [spec.primaryRegion, spec.region];
    return {
      id: failoverId('api', 'prod', mode, compactStamp(await sb.env.currentTimeMs())),
      mode,
      request: { service: 'api', environment: 'prod', fromRegion, toRegion, reason, requestedBy: 'rosa', detectedAt: null },
      spec,
      notify: sb.files.config.notifications,
    };
  }

  async function startFailover(mode: FailoverMode): Promise<WorkflowHandle> {
    const input = await failoverInput(mode);
    const h = await sb.env.client.workflow.start('failover', { workflowId: input.id, taskQueue, args: [input] });
    started.push(h);
    return h;
  }

  /** Starts a failover with an Update that the server delivers in the run's first workflow task. */
  async function startWith<A>(mode: FailoverMode, update: UpdateDefinition<FailoverStatus, [A]>, arg: A): Promise<{ h: WorkflowHandle; accepted: FailoverStatus }> {
    const input = await failoverInput(mode);
    const start = new WithStartWorkflowOperation('failover', { workflowId: input.id, taskQueue, args: [input], workflowIdConflictPolicy: 'FAIL' });
    const accepted = await sb.env.client.workflow.executeUpdateWithStart(update, { args: [arg], startWorkflowOperation: start });
    const h = await start.workflowHandle();
    started.push(h);
    return { h, accepted };
  }

  const statusOf = (h: WorkflowHandle): Promise<FailoverStatus> => h.query(failoverStatusQuery);

  /** remi: a second release manager, also on call (rosa requests every run). */
  const byRemi = (comment: string): FailoverDecisionInput => ({ decision: 'approve', by: 'remi', roles: ['release-manager', 'on-call'], comment });
  const decide = (h: WorkflowHandle, d: FailoverDecisionInput) => executeUpdateOnce(h, failoverApprovalUpdate, [d]);
  const cancel = (h: WorkflowHandle, reason: string) => executeUpdateOnce(h, failoverCancelUpdate, [{ reason, by: 'remi' }]);

  /** The run's longest timer: the approval's (or confirmation's) expiry once it waits for one. */
  async function longestTimer(h: WorkflowHandle): Promise<HistoryFact | null> {
    const timers = (await historyFacts(h)).filter((f) => f.type === 'TIMER_STARTED').sort((a, b) => (b.timerSeconds ?? 0) - (a.timerSeconds ?? 0));
    return timers[0] ?? null;
  }

  /** Waits (in real time) until the run asks for approval; returns when its expiry timer started. */
  async function askedAt(h: WorkflowHandle): Promise<number> {
    const s = await until(`${h.workflowId} to ask for approval`, () => statusOf(h), (x) => x.phase === 'awaiting_approval' || x.outcome !== null, 60_000);
    expect(s).toMatchObject({ phase: 'awaiting_approval', outcome: null, pending: ['waiting for 1 more release-manager approval'] });
    const timer = await longestTimer(h);
    if (timer?.timerSeconds !== EXPIRY / SECOND) throw new Error(`${h.workflowId} waits for approval with no ${EXPIRY / HOUR} h timer (longest: ${timer?.timerSeconds} s)`);
    return timer.at;
  }

  async function sleepUntil(ms: number): Promise<void> {
    const now = await sb.env.currentTimeMs();
    if (ms > now) await sb.env.sleep(ms - now);
  }

  /** Lets workflow time run, in steps, until the run's status satisfies `ok`. */
  async function skipUntil(h: WorkflowHandle, what: string, step: Duration, ok: (s: FailoverStatus) => boolean, maxSteps = 120): Promise<FailoverStatus> {
    for (let i = 0; i < maxSteps; i++) {
      const s = await statusOf(h);
      if (ok(s)) return s;
      if (s.outcome) throw new Error(`${h.workflowId} ended (${s.outcome}: ${s.error}) while waiting for ${what}`);
      await sb.env.sleep(step);
    }
    throw new Error(`${what} did not happen`);
  }

  /** Waits in real time (its steps run for real seconds) until the run is in `phase`. */
  const reaches = (h: WorkflowHandle, phase: FailoverStatus['phase'], timeoutMs = 90_000) =>
    until(`${h.workflowId} to reach ${phase}`, () => statusOf(h), (x) => x.phase === phase || x.outcome !== null, timeoutMs).then((s) => {
      expect(s, s.error ?? '').toMatchObject({ phase, outcome: null });
      return s;
    });

  /** Waits in real time until the run has ended (compensation and reads run for real seconds). */
  const ends = (h: WorkflowHandle) => until(`${h.workflowId} to end`, () => statusOf(h), (x) => x.outcome !== null, 90_000);

  /**
   * Lets workflow time run to `ms`, by when the run must have ended, then waits (in real time,
   * for its last activities) until it has. Never waits on result(): between a run's end and the
   * client locking time again, the test server skips to its next timer of any kind (an ended
   * run's execution timeout, ten years on), and every later test would start in another decade.
   */
  async function endedBy(h: WorkflowHandle, ms: number): Promise<FailoverStatus> {
    await sleepUntil(ms);
    await until(`${h.workflowId} to end by ${iso(ms)}`, async () => (await h.describe()).status.name, (st) => st !== 'RUNNING', 60_000);
    return statusOf(h);
  }

  /** What the run returned, or (not succeeded) the FailoverResult its failure carries. */
  async function resultOf(h: WorkflowHandle): Promise<FailoverResult | null> {
    const events = (await h.fetchHistory()).events ?? [];
    const last = events.at(-1);
    const payload = last?.workflowExecutionCompletedEventAttributes?.result?.payloads?.[0] ?? last?.workflowExecutionFailedEventAttributes?.failure?.applicationFailureInfo?.details?.payloads?.[0];
    return payload ? defaultPayloadConverter.fromPayload<FailoverResult>(payload as Parameters<typeof defaultPayloadConverter.fromPayload>[0]) : null;
  }

  /** Activities that timed out or failed: none where time never skipped under a running one. */
  const troubles = (facts: HistoryFact[]) => facts.filter((f) => f.type === 'ACTIVITY_TASK_TIMED_OUT' || f.type === 'ACTIVITY_TASK_FAILED').map((f) => `${f.type} #${f.id}`);

  /**
   * Waits (in real time) until the run sleeps between two ReplicaLag reads of its catch-up, with
   * no call into either region in flight: the last read closed less than 2 s ago and the next
   * comes 5 s after it. A cancel then reaches a timer, never an activity completing in the same
   * instant (which the Java test server answers ACTIVITY_UNKNOWN, wedging the run).
   */
  async function sleepingInCatchUp(h: WorkflowHandle): Promise<void> {
    await until(`${h.workflowId} to sleep between two catch-up reads`, async () => {
      const events = (await h.fetchHistory()).events ?? [];
      const open = new Set<number>();
      let reads = 0;
      let lastClosedAt = 0;
      for (const e of events) {
        const sch = e.activityTaskScheduledEventAttributes;
        if (sch && sch.taskQueue?.name !== taskQueue) {
          open.add(Number(e.eventId));
          if (sch.activityType?.name === 'readReplicaLag') reads++;
        }
        const closed = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes ?? e.activityTaskCanceledEventAttributes;
        if (closed && open.delete(Number(closed.scheduledEventId))) lastClosedAt = Number(e.eventTime?.seconds ?? 0) * SECOND + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);
      }
      const phase = (await statusOf(h)).phase;
      return { phase, open: open.size, reads, sinceClosed: (await sb.env.currentTimeMs()) - lastClosedAt };
    }, (x) => x.phase === 'catching_up' && x.open === 0 && x.reads >= 2 && x.sinceClosed < 2 * SECOND, 60_000);
  }

  const stepOf = (s: FailoverStatus, name: string) => {
    const found = s.report.steps.filter((x) => x.name === name);
    if (found.length !== 1) throw new Error(`${found.length} '${name}' steps: ${s.report.steps.map((x) => x.name).join(', ')}`);
    return found[0];
  };
  const eventAt = (s: FailoverStatus, type: string): number => {
    const e = s.timeline.find((x) => x.type === type);
    if (!e) throw new Error(`no '${type}' in the timeline: ${s.timeline.map((x) => x.type).join(', ')}`);
    return Date.parse(e.at);
  };

  // ---------------------------------------------------------------- tests

  it('expires a planned failover at exactly 72 h whichever day and hour of the week it is requested at (every 23 h for a week), changing nothing in either region', async () => {
    const before = await posture();
    expect(before).toEqual(baseline);
    await withWorker({ kind: 'sandbox' }, async () => {
      const first = await sb.env.currentTimeMs();
      const runs: Array<{ h: WorkflowHandle; asked: number }> = [];
      const misses: string[] = [];
      // What happens when, in workflow time: the requests, and a look at each one a minute before its expiry.
      const steps: Array<{ at: number; act: () => Promise<void> }> = [];
      // Eight requests 23 h apart: every day of the week, each an hour earlier in the day than the last.
      for (let t = first; t < first + 7 * DAY; t += 23 * HOUR) {
        steps.push({
          at: t,
          act: async () => {
            const h = await startFailover('planned');
            const asked = await askedAt(h);
            runs.push({ h, asked });
            steps.push({
              at: asked + EXPIRY - MINUTE,
              act: async () => {
                const s = await statusOf(h);
                if (s.phase !== 'awaiting_approval' || s.outcome !== null) misses.push(`${h.workflowId} (asked ${weekday(asked)} ${iso(asked)}): ${s.phase}/${s.outcome} at 71h59m`);
              },
            });
          },
        });
      }
      while (steps.length > 0) {
        steps.sort((a, b) => a.at - b.at);
        const next = steps.shift()!;
        await sleepUntil(next.at);
        await next.act();
      }
      for (const { h, asked } of runs) {
        const s = await endedBy(h, runs[runs.length - 1].asked + EXPIRY + MINUTE);
        const after = Date.parse(s.endedAt!) - asked;
        const label = `${h.workflowId} (asked ${weekday(asked)} ${iso(asked)})`;
        if (s.outcome !== 'expired' || s.phase !== 'expired' || after < EXPIRY || after >= EXPIRY + 5 * SECOND) misses.push(`${label}: ${s.outcome}/${s.phase} ${Math.round(after / 1000)} s after asking`);
        if (s.error !== 'no approval within 3d') misses.push(`${label}: error ${s.error}`);
        if (s.report.fenced !== null || s.dnsSwitchedAt !== null || s.approvals.length) misses.push(`${label}: fenced ${s.report.fenced}, DNS switched ${s.dnsSwitchedAt}, ${s.approvals.length} decisions`);
        if (!/DNS still answers us-east-1/.test(s.report.state ?? '') || !/us-east-1 untouched/.test(s.report.state ?? '')) misses.push(`${label}: state ${s.report.state}`);
        const writes = writesIn(await historyFacts(h));
        if (writes.length) misses.push(`${label} wrote: ${writes.join('; ')}`);
      }
      expect(misses).toEqual([]);
      expect(runs).toHaveLength(8);
      expect(new Set(runs.map((r) => weekday(r.asked))).size).toBe(7);
      expect(new Set(runs.map((r) => new Date(r.asked).getUTCHours())).size).toBe(8);
      expect(await posture()).toEqual(before);
      for (const r of [runs[0], runs[runs.length - 1]]) await replayAll(r.h);
    });
  }, 240_000);

  it("counts an approval sent with the start (in the run's first task): it never waits for approval; cancelled while it waits for the replica to catch up, it undoes the fence", async () => {
    const before = await posture();
    expect(before).toEqual(baseline);
    // Replication lags 2 s and never catches up: the run waits in its catch-up loop until cancelled.
    await withWorker({ kind: 'stuck', seconds: 2 }, async () => {
      const { h, accepted } = await startWith('planned', failoverApprovalUpdate, byRemi('go'));
      expect(accepted).toMatchObject({ phase: 'planning', outcome: null, approvals: [{ by: 'remi', decision: 'approve' }] });

      const catching = await reaches(h, 'catching_up');
      expect(catching).toMatchObject({ pending: [], report: { fenced: true }, dnsSwitchedAt: null });
      expect(stepOf(catching, 'approval')).toMatchObject({ outcome: 'ok', detail: 'approved by remi', durationSeconds: 0 });
      expect(catching.preflight.every((c) => c.ok)).toBe(true);
      // Fenced: us-east-1 takes no writes.
      const fenced = await posture();
      expect(fenced).toMatchObject({ primaryServices: { blue: 0, green: 0 }, primary: { readOnly: true }, replica: before.replica, dns: before.dns });
      expect(fenced.fencedTags.primary).toEqual(before.primaryServices);

      await sleepingInCatchUp(h);
      const cancelled = await cancel(h, 'the change window closed');
      expect(cancelled.timeline.map((e) => e.type)).toContain('cancel_requested');
      const s = await ends(h);
      expect(s).toMatchObject({ outcome: 'cancelled', phase: 'cancelled', error: 'cancelled by remi: the change window closed', dnsSwitchedAt: null, report: { fenced: true } });
      expect(stepOf(s, 'catch-up')).toMatchObject({ outcome: 'cancelled', detail: 'cancelled by remi' });
      expect(s.report.cleanup).toEqual([expect.stringMatching(/^us-east-1 unfenced \(blue \d+, green \d+\); DNS on us-east-1$/), 'us-west-2 back to standby (blue 0, green 0)']);

      const facts = await historyFacts(h);
      // It never waited on the 72 h expiry.
      const timers = facts.filter((f) => f.type === 'TIMER_STARTED').map((f) => f.timerSeconds ?? 0);
      expect(Math.max(...timers)).toBeLessThan(EXPIRY / SECOND);
      expect(facts.filter((f) => f.type === 'ACTIVITY_TASK_CANCEL_REQUESTED')).toEqual([]);
      // Nothing promoted or scaled in us-west-2; DNS only set (as it was) by the compensation.
      expect(scheduled(facts, 'promoteReplica')).toEqual([]);
      expect(scheduled(facts, 'scaleService')).toEqual([]);
      expect(scheduled(facts, 'setDnsPrimary').map((f) => f.summary)).toEqual([`'${spec.dns.primarySetIdentifier}' PRIMARY again`]);
      expect(troubles(facts)).toEqual([]);
      expect(await posture()).toEqual(before);
      await replayAll(h);
    });
  }, 180_000);

  it('takes only decisions signed with the key it carries, each signature once, by the people it carries with their roles; its history replays', async () => {
    const before = await posture();
    expect(before).toEqual(baseline);
    const { secret, publicKey } = decisionKeyPair(newDecisionSecret());
    const sign = <T extends object>(update: string, id: string, d: T) => signDecision(secret, id, update, d, Date.now());
    /** The validator's refusal, or 'accepted'. */
    const outcomeOf = (sent: Promise<unknown>): Promise<string> =>
      sent.then(() => 'accepted', (err: unknown) => {
        if (err instanceof WorkflowUpdateFailedError) return err.cause?.message ?? err.message;
        throw err;
      });
    // Replication lags 2 s and never catches up: once approved, the run waits in its catch-up loop until cancelled.
    await withWorker({ kind: 'stuck', seconds: 2 }, async () => {
      const input: FailoverInput = {
        ...(await failoverInput('planned')),
        people: [
          { name: 'rosa', roles: ['release-manager', 'on-call'] },
          { name: 'remi', roles: ['release-manager', 'on-call'] },
          { name: 'oscar', roles: ['on-call'] },
          { name: 'ada', roles: ['admin'] },
        ],
        cancelRoles: ['release-manager'],
        decisionKey: publicKey,
      };
      const h = await sb.env.client.workflow.start('failover', { workflowId: input.id, taskQueue, args: [input] });
      started.push(h);
      await askedAt(h);

      // While it waits for approval (a timer, nothing in flight): what it refuses.
      expect(await outcomeOf(decide(h, byRemi('unsigned')))).toMatch(/^the decision is not signed by Baton's API/);
      expect(await outcomeOf(decide(h, sign('approval', 'failover:api:prod:planned-20000101T000000Z', byRemi('another run'))))).toMatch(/signature does not verify/);
      // The roles are the run's: ada claims release-manager, the run knows her as admin.
      expect(await outcomeOf(decide(h, sign('approval', input.id, { decision: 'approve', by: 'ada', roles: ['release-manager'], comment: null })))).toBe('ada (roles admin) may not decide on this failover: it needs role release-manager');
      expect(await outcomeOf(decide(h, sign('approval', input.id, { ...byRemi('who?'), by: 'mallory' })))).toBe('mallory is not among the people this failover knows (fixed when it started)');
      // oscar is known, on call, but neither the requester, a release manager nor an admin.
      expect(await outcomeOf(executeUpdateOnce(h, failoverCancelUpdate, [sign('cancel', input.id, { reason: 'not mine', by: 'oscar' })]))).toBe("oscar may not cancel rosa's failover (the requester, release-manager or admin may)");
      expect(await outcomeOf(executeUpdateOnce(h, failoverCancelUpdate, [{ reason: 'forged', by: 'rosa' }]))).toMatch(/^the decision is not signed by Baton's API/);
      expect(await statusOf(h)).toMatchObject({ phase: 'awaiting_approval', outcome: null, approvals: [] });

      const approval = sign('approval', input.id, { ...byRemi('go'), roles: [] });
      const approved = await decide(h, approval);
      expect(approved.approvals).toEqual([expect.objectContaining({ by: 'remi', decision: 'approve', roles: ['release-manager', 'on-call'] })]);
      await reaches(h, 'catching_up');
      await sleepingInCatchUp(h);
      expect(await outcomeOf(decide(h, approval))).toBe('this signed decision was used already (a replayed copy)');

      await sleepingInCatchUp(h);
      await executeUpdateOnce(h, failoverCancelUpdate, [sign('cancel', input.id, { reason: 'the change window closed', by: 'rosa' })]);
      const s = await ends(h);
      expect(s).toMatchObject({ outcome: 'cancelled', phase: 'cancelled', error: 'cancelled by rosa: the change window closed', dnsSwitchedAt: null });
      expect(await posture()).toEqual(before);
      // The signatures it spent are spent again on replay (handlers replay; validators do not).
      await replayAll(h);
    });
  }, 240_000);

  it("acts on a cancel sent with the start (in the run's first task): it ends cancelled at once, having changed nothing", async () => {
    const before = await posture();
    expect(before).toEqual(baseline);
    await withWorker({ kind: 'sandbox' }, async () => {
      const { h, accepted } = await startWith('planned', failoverCancelUpdate, { reason: 'wrong service', by: 'remi' });
      expect(accepted).toMatchObject({ phase: 'planning', outcome: null });
      const s = await ends(h);
      expect(s).toMatchObject({ outcome: 'cancelled', phase: 'cancelled', error: 'cancelled by remi: wrong service', approvals: [], dnsSwitchedAt: null, report: { fenced: null, cleanup: [] } });
      expect(s.report.state).toMatch(/^DNS still answers us-east-1; .*; us-east-1 untouched$/);
      expect(Date.parse(s.endedAt!) - Date.parse(s.startedAt)).toBeLessThan(MINUTE);
      expect(s.report.steps.map((x) => x.name)).not.toContain('preflight');
      const facts = await historyFacts(h);
      expect(writesIn(facts)).toEqual([]);
      expect(facts.filter((f) => f.type === 'TIMER_FIRED' || f.type === 'ACTIVITY_TASK_CANCEL_REQUESTED')).toEqual([]);
      expect(await posture()).toEqual(before);
      await replayAll(h);
    });
  }, 120_000);

  /** Starts an emergency on a worker that serves us-west-2 only, and lets it find us-east-1 silent; returns when its confirmation's expiry started. */
  async function emergencyUnfenced(): Promise<{ h: WorkflowHandle; asked: number }> {
    const h = await startFailover('emergency');
    await reaches(h, 'fencing');
    // The fence waits for a us-east-1 worker that never comes, at most its schedule-to-close.
    const s = await skipUntil(h, 'the confirmation', '15s', (x) => x.phase === 'awaiting_confirmation', 8);
    expect(s).toMatchObject({ outcome: null, report: { fenced: false, confirmedBy: null }, pending: [`a second person with role on-call confirms promoting while us-east-1 is unfenced`] });
    expect(s.timeline.map((e) => e.type)).toContain('unfenced');
    const timer = await longestTimer(h);
    expect(timer?.timerSeconds).toBe(EXPIRY / SECOND);
    return { h, asked: timer!.at };
  }

  /** No call into us-east-1 was ever taken (no worker serves it) and none wrote in us-west-2. */
  function expectEastSilentAndNothingWritten(facts: HistoryFact[]): void {
    const eastQueue = regionQueue(taskQueue, spec.primaryRegion);
    const east = scheduled(facts).filter((f) => f.taskQueue === eastQueue);
    expect(east.map((f) => f.activityType)).toEqual(['fenceServices']);
    expect(facts.filter((f) => f.type === 'ACTIVITY_TASK_STARTED' && east.some((e) => e.id === f.scheduledEventId))).toEqual([]);
    expect(facts.filter((f) => f.type === 'ACTIVITY_TASK_TIMED_OUT')).toHaveLength(1);
    expect(scheduled(facts).filter((f) => f.taskQueue !== eastQueue && WRITES.includes(f.activityType ?? ''))).toEqual([]);
  }

  it('waits 72 h for a second person to confirm an emergency whose primary region does not answer, then ends expired without promoting (fenced: false)', async () => {
    const before = await posture();
    expect(before).toEqual(baseline);
    await withWorker({ kind: 'sandbox' }, async () => {
      const { h, asked } = await emergencyUnfenced();
      // Whoever started it may not confirm it.
      const self = await decide(h, { decision: 'approve', by: 'rosa', roles: ['release-manager', 'on-call'], comment: 'mine' }).then(() => null, (err: unknown) => err);
      expect(self).toBeInstanceOf(WorkflowUpdateFailedError);
      expect((self as WorkflowUpdateFailedError).cause?.message).toMatch(/rosa started this failover; a second person must confirm/);

      // Two and a half days on, at night, still waiting.
      await sleepUntil(asked + 61 * HOUR + 37 * MINUTE);
      expect(await statusOf(h)).toMatchObject({ phase: 'awaiting_confirmation', outcome: null, approvals: [] });
      await sleepUntil(asked + EXPIRY - MINUTE);
      expect(await statusOf(h)).toMatchObject({ phase: 'awaiting_confirmation', outcome: null });

      const s = await endedBy(h, asked + EXPIRY + MINUTE);
      expect(s).toMatchObject({ outcome: 'expired', phase: 'expired', error: 'no confirmation within 3d', dnsSwitchedAt: null, report: { fenced: false, confirmedBy: null, rpoSeconds: null } });
      const after = Date.parse(s.endedAt!) - asked;
      expect(after).toBeGreaterThanOrEqual(EXPIRY);
      expect(after).toBeLessThan(EXPIRY + 5 * SECOND);
      expect(s.report.state).toBe(`DNS still answers us-east-1; ${spec.database.replica.instanceId} in us-west-2 is available, still a replica; ${spec.compute.cluster} in us-west-2 wants blue 0, green 0 (running 0, 0); us-east-1 unfenced`);
      expect(await resultOf(h)).toMatchObject({ outcome: 'expired', fenced: false, rpoSeconds: null, error: 'no confirmation within 3d' });
      expectEastSilentAndNothingWritten(await historyFacts(h));
      // The replica is still a replica, DNS unchanged, nothing scaled.
      expect(await posture()).toEqual(before);
      await replayAll(h);
    }, [spec.region]);
  }, 180_000);

  it("ends cancelled, changing nothing, when an unfenced emergency is cancelled while it waits for the second person's confirmation", async () => {
    const before = await posture();
    expect(before).toEqual(baseline);
    await withWorker({ kind: 'sandbox' }, async () => {
      const { h, asked } = await emergencyUnfenced();
      await sleepUntil(asked + 7 * HOUR);
      // Waiting on the expiry timer: no activity of the run's is in flight.
      await cancel(h, 'us-east-1 is back');
      const s = await ends(h);
      expect(s).toMatchObject({ outcome: 'cancelled', phase: 'cancelled', error: 'cancelled by remi: us-east-1 is back', dnsSwitchedAt: null, report: { fenced: false, confirmedBy: null, cleanup: [] } });
      expect(s.report.state).toMatch(/^DNS still answers us-east-1; .* still a replica; .*; us-east-1 unfenced$/);
      expect(Date.parse(s.endedAt!) - asked).toBeLessThan(7 * HOUR + MINUTE);
      expectEastSilentAndNothingWritten(await historyFacts(h));
      expect(await posture()).toEqual(before);
      await replayAll(h);
    }, [spec.region]);
  }, 180_000);

  // Once the run has decided to end (a Stop: expired, rejected, or failed before anything
  // changed) it still reads the state to report before it finishes, up to 45 s when a region does
  // not answer. A cancel then must be refused: accepted, it would promise what the run no longer does.
  it('refuses a cancel that arrives after the approval expired, while the run reads the state it ends in', async () => {
    const before = await posture();
    expect(before).toEqual(baseline);
    // Only us-east-1 answers: the end-of-run read of us-west-2 waits out its schedule-to-close.
    await withWorker({ kind: 'sandbox' }, async () => {
      const h = await startFailover('planned');
      const asked = await askedAt(h);
      await sleepUntil(asked + EXPIRY);
      const ending = await until(`${h.workflowId} to decide it expired`, () => statusOf(h), (x) => x.timeline.some((e) => e.type === 'expired'), 30_000);
      expect(ending).toMatchObject({ outcome: null, phase: 'awaiting_approval' });
      const answer = await cancel(h, 'too late').then(
        (s) => `accepted (phase ${s.phase}, outcome ${s.outcome})`,
        (err: unknown) => `refused: ${(err as WorkflowUpdateFailedError).cause?.message}`,
      );
      const s = await ends(h);
      expect(await posture()).toEqual(before);
      expect(answer).toMatch(/^refused: the failover is ending \(phase awaiting_approval\)/);
      expect(s.outcome).toBe('expired');
    }, [spec.primaryRegion]);
  }, 180_000);

  it('gives up when the replica never reports lag 0 within the 10-minute catch-up, and unfences the primary: DNS unchanged, primary writable, services back', async () => {
    const before = await posture();
    expect(before).toEqual(baseline);
    // Replication is stalled 4 s behind (under the 30 s RPO, so preflight passes) and never catches up.
    await withWorker({ kind: 'stuck', seconds: 4 }, async () => {
      const h = await startFailover('planned');
      const asked = await askedAt(h);
      // Approved the next day, early in the morning.
      await sleepUntil(asked + 26 * HOUR + 13 * MINUTE);
      await decide(h, byRemi('go'));
      const catching = await reaches(h, 'catching_up');
      const from = Date.parse(stepOf(catching, 'catch-up').startedAt);

      // A minute before the deadline it is still fenced and reading.
      await sleepUntil(from + CATCH_UP - MINUTE);
      expect(await statusOf(h)).toMatchObject({ phase: 'catching_up', outcome: null });
      expect((await posture()).primary).toMatchObject({ readOnly: true });

      const s = await endedBy(h, from + CATCH_UP + MINUTE);
      expect(s).toMatchObject({ outcome: 'failed', phase: 'failed', dnsSwitchedAt: null, report: { fenced: true, rpoSeconds: null } });
      expect(s.error).toMatch(new RegExp(`^${spec.database.replica.instanceId} did not catch up within 10m \\(ReplicaLag 4 s at \\S+\\)$`));
      const step = stepOf(s, 'catch-up');
      expect(step.outcome).toBe('failed');
      expect(step.durationSeconds).toBeGreaterThanOrEqual(CATCH_UP / SECOND);
      expect(s.report.cleanup).toEqual([expect.stringMatching(/^us-east-1 unfenced \(blue \d+, green \d+\); DNS on us-east-1$/), 'us-west-2 back to standby (blue 0, green 0)']);

      const facts = await historyFacts(h);
      // Read every 5 s (the reads take a little time of their own) until the first read that ends
      // at or after the 10 minutes: it gives up then, not a poll earlier or later.
      const reads = scheduled(facts, 'readReplicaLag').filter((f) => /since the fence/.test(f.summary ?? ''));
      expect(reads.length).toBeGreaterThanOrEqual(CATCH_UP / CATCH_UP_POLL - 5);
      expect(reads.length).toBeLessThanOrEqual(CATCH_UP / CATCH_UP_POLL);
      for (let i = 1; i < reads.length; i++) {
        expect(reads[i].at - reads[i - 1].at).toBeGreaterThanOrEqual(CATCH_UP_POLL);
        expect(reads[i].at - reads[i - 1].at).toBeLessThan(CATCH_UP_POLL + SECOND);
      }
      const gaveUp = eventAt(s, 'failed');
      expect(gaveUp - from).toBeGreaterThanOrEqual(CATCH_UP);
      expect(reads.at(-2)!.at - from).toBeLessThan(CATCH_UP);
      expect(gaveUp - reads.at(-1)!.at).toBeLessThan(SECOND);
      expect(scheduled(facts, 'promoteReplica')).toEqual([]);
      expect(scheduled(facts, 'scaleService')).toEqual([]);
      expect(scheduled(facts, 'setDnsPrimary').map((f) => f.summary)).toEqual([`'${spec.dns.primarySetIdentifier}' PRIMARY again`]);
      expect(troubles(facts)).toEqual([]);
      expect(await resultOf(h)).toMatchObject({ outcome: 'failed', fenced: true });
      expect(await posture()).toEqual(before);
      await replayAll(h);
    });
  }, 240_000);

  it('fails over planned, monitors us-west-2 for 10 minutes with a smoke test every 30 s, completes; a failback (monitored as long) brings both regions back as found', async () => {
    const before = await posture();
    expect(before).toEqual(baseline);
    await withWorker({ kind: 'sandbox' }, async () => {
      const h = await startFailover('planned');
      const asked = await askedAt(h);
      await sleepUntil(asked + 3 * HOUR + 11 * MINUTE);
      await decide(h, byRemi('go'));
      const monitoring = await reaches(h, 'monitoring', 120_000);
      const during = await posture();
      expect(during).toMatchObject({
        dns: { [spec.dns.primarySetIdentifier]: 'SECONDARY', [spec.dns.secondarySetIdentifier]: 'PRIMARY' },
        replica: { status: 'available', replicates: null },
        primary: { readOnly: true },
        primaryServices: { blue: 0, green: 0 },
      });
      expect(during.fencedTags.primary).toEqual(before.primaryServices);
      expect(Math.max(during.drServices.blue, during.drServices.green)).toBe(spec.productionCount);

      const s = await skipUntil(h, 'the end of the monitoring', '1m', (x) => x.outcome !== null, 15);
      expect(s, s.error ?? '').toMatchObject({ outcome: 'succeeded', phase: 'completed', report: { fenced: true, rpoSeconds: 0, confirmedBy: null } });
      expect(stepOf(s, 'catch-up').detail).toMatch(/^ReplicaLag 0 at /);
      const monitor = stepOf(s, 'monitor');
      expect(monitor).toMatchObject({ outcome: 'ok', detail: '20 samples passed (analysis and smoke)', startedAt: stepOf(monitoring, 'monitor').startedAt });
      expect(s.samples.map((x) => x.verdict)).toEqual(Array(MONITOR / MONITOR_EVERY).fill('pass'));
      expect(monitor.durationSeconds).toBeGreaterThanOrEqual(MONITOR / SECOND);
      expect(monitor.durationSeconds).toBeLessThan(MONITOR / SECOND + 5);

      // One smoke test of us-west-2 every 30 s on the clock from when DNS moved, the 20th when the
      // 10 minutes are up: the time each sample takes does not push the next ones later.
      const facts = await historyFacts(h);
      const smokes = scheduled(facts, 'smokeTest').filter((f) => f.summary === 'Monitor us-west-2');
      expect(smokes).toHaveLength(MONITOR / MONITOR_EVERY);
      const watchFrom = Date.parse(monitor.startedAt);
      smokes.forEach((f, i) => expect(f.at - watchFrom, `smoke test ${i + 1}`).toBeGreaterThanOrEqual((i + 1) * MONITOR_EVERY));
      smokes.forEach((f, i) => expect(f.at - watchFrom, `smoke test ${i + 1}`).toBeLessThan((i + 1) * MONITOR_EVERY + SECOND));
      expect(smokes.every((f) => f.taskQueue === regionQueue(taskQueue, spec.region))).toBe(true);
      // Each smoke test followed by the analysis of the window that ends then.
      const analyses = scheduled(facts, 'measure').filter((f) => f.summary === 'Analyse us-west-2 (blue)');
      expect(analyses).toHaveLength(smokes.length);
      analyses.forEach((f, i) => expect(f.at - smokes[i].at, `analysis ${i + 1}`).toBeGreaterThanOrEqual(0));
      analyses.forEach((f, i) => expect(f.at - smokes[i].at, `analysis ${i + 1}`).toBeLessThan(SECOND));
      expect(s.samples.map((x) => Date.parse(x.at))).toEqual(smokes.map((f) => expect.closeTo(f.at, -3)));
      expect(Date.parse(s.dnsSwitchedAt!)).toBeLessThanOrEqual(watchFrom);
      expect(scheduled(facts, 'promoteReplica')).toHaveLength(1);
      expect(scheduled(facts, 'setDnsPrimary')).toHaveLength(1);
      expect(troubles(facts)).toEqual([]);
      expect(await resultOf(h)).toMatchObject({ outcome: 'succeeded', fenced: true, rpoSeconds: 0 });
      await replayAll(h);

      // Home again: a failback approved with its start, monitored as long, leaves both regions as found.
      const { h: back } = await startWith('failback', failoverApprovalUpdate, byRemi('home'));
      await reaches(back, 'monitoring', 120_000);
      const b = await skipUntil(back, 'the end of the failback', '1m', (x) => x.outcome !== null, 15);
      expect(b, b.error ?? '').toMatchObject({ outcome: 'succeeded', report: { fenced: true, rpoSeconds: 0 } });
      expect(stepOf(b, 'monitor')).toMatchObject({ outcome: 'ok', detail: '20 samples passed (analysis and smoke)' });
      expect(scheduled(await historyFacts(back), 'smokeTest').filter((f) => f.summary === 'Monitor us-east-1')).toHaveLength(MONITOR / MONITOR_EVERY);
      expect(b.report.cleanup.some((c) => /final snapshot/.test(c))).toBe(true);
      expect(troubles(await historyFacts(back))).toEqual([]);
      expect(await posture()).toEqual(before);
      await replayAll(back);
    });
  }, 300_000);
});
