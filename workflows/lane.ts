/**
 * The deployment lane of one service in one environment (`lane:<service>:<environment>`).
 *
 * Invariant: at most one deployment per service+environment progresses at a time, even under
 * racing starts. The lane's workflow id is started with a FAIL conflict policy, so Temporal
 * itself admits one lane per id. The lane starts the deployment (a workflow of its own, not
 * a child: its tail outlives the lane) and ends when the deployment is LIVE, or has ended
 * without going live. The tail (keep, standby, retire) never blocks the next deployment,
 * which takes it over.
 *
 * The deployment tells the lane its milestones (signals). Should one never come (a deployment
 * terminated by hand), the lane looks at the run itself every few minutes.
 * Cancelling the lane before live cancels the deployment (which rolls back) and waits until it
 * has ended, so the lane never frees the lane while a change is half-applied.
 */
import {
  ApplicationFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { ErrorType } from '../src/domain/errors';
import { BatonOutcome, BatonPhase, deploymentMilestoneSignal, laneCurrentQuery, laneStartedUpdate, type DeploymentMilestone, type LaneInput } from './messages';

export interface LaneResult {
  deploymentId: string;
  /** live: the deployment reached 100 % verified (its tail goes on); else how it ended. */
  outcome: 'live' | 'succeeded' | 'rolled_back' | 'failed' | 'cancelled';
  /** When the new colour took all the traffic (null if it never did). */
  liveAt: string | null;
  /** Why it did not go live, in words. */
  reason: string | null;
}

const act = proxyActivities<Activities>({ startToCloseTimeout: '30s', retry: { maximumInterval: '10s', maximumAttempts: 10 } });

/** How often the lane looks at a deployment that has told it nothing. */
const CHECK_EVERY_MS = 5 * 60_000;
/**
 * Added to CHECK_EVERY_MS. A deployment's milestones come just after its timers, a whole number
 * of minutes (of sample intervals) after it started, and the lane starts its check a moment
 * after starting it: every fifth minute, a milestone came a few hundred milliseconds before the
 * check was due and cancelled its timer as it was about to fire, which wedges Temporal's
 * time-skipping test server (test/workflows/timer-race.test.ts). Checks 5 min 13 s apart fall
 * clear of those minutes. Runs recorded before check every 5 minutes (LANE_CHECK_OFFSET_PATCH).
 */
const CHECK_OFFSET_MS = 13_000;
export const LANE_CHECK_OFFSET_PATCH = 'lane-check-offset';

export async function deploymentLane({ spec, owner }: LaneInput): Promise<LaneResult> {
  let started = false;
  let startError: string | null = null;
  let heard: DeploymentMilestone | null = null;

  setHandler(laneCurrentQuery, () => ({ deploymentId: spec.id }));
  setHandler(deploymentMilestoneSignal, (m: DeploymentMilestone) => {
    if (m.deploymentId !== spec.id) return;
    if (heard === null || m.milestone === 'ended') heard = m;
  });
  setHandler(laneStartedUpdate, async () => {
    await condition(() => started || startError !== null);
    if (startError) throw ApplicationFailure.create({ type: ErrorType.LaneBusy, message: startError, nonRetryable: true });
    return { deploymentId: spec.id };
  });

  const lane = workflowInfo().workflowId;
  const answer = await act.startDeploymentRun(spec, owner ?? null, lane, workflowInfo().taskQueue);
  if (!answer.started) {
    startError = `could not start ${spec.id}: ${answer.message}`;
    return finish({ deploymentId: spec.id, outcome: 'failed', liveAt: null, reason: startError });
  }
  started = true;

  /** The time between two checks, the patch asked at the first (every run reaches it at the same point). */
  let checkMs: number | null = null;
  /** Waits for the deployment to go live or end; looks at the run itself when it stays silent. */
  async function milestone(): Promise<DeploymentMilestone> {
    for (;;) {
      checkMs ??= patched(LANE_CHECK_OFFSET_PATCH) ? CHECK_EVERY_MS + CHECK_OFFSET_MS : CHECK_EVERY_MS;
      if (await condition(() => heard !== null, checkMs)) return heard as unknown as DeploymentMilestone;
      const run = await act.runState(spec.id);
      if (!run.running && heard === null) {
        return { deploymentId: spec.id, milestone: 'ended', at: new Date(Date.now()).toISOString(), liveAt: null, outcome: run.outcome ?? 'failed', stillLive: false, handedOverTo: null, reason: `the deployment run ended (${run.status}) without saying how` };
      }
    }
  }

  try {
    const m = await milestone();
    if (m.milestone === 'live') return finish({ deploymentId: spec.id, outcome: 'live', liveAt: m.liveAt, reason: null });
    return finish({ deploymentId: spec.id, outcome: laneOutcome(m.outcome), liveAt: m.liveAt, reason: m.reason });
  } catch (err) {
    if (!isCancellation(err)) throw err;
    // Cancelled before live: the deployment rolls back; the lane frees only once it has ended.
    await CancellationScope.nonCancellable(async () => {
      await getExternalWorkflowHandle(spec.id).cancel().catch(() => undefined);
      const m = await milestone();
      if (m.milestone === 'live') await condition(() => heard?.milestone === 'ended', 10 * 60_000);
      upsertSearchAttributes([
        { key: BatonPhase, value: 'done' },
        { key: BatonOutcome, value: 'cancelled' },
      ]);
      await condition(allHandlersFinished);
    });
    throw err;
  }
}

async function finish(result: LaneResult): Promise<LaneResult> {
  upsertSearchAttributes([
    { key: BatonPhase, value: 'done' },
    { key: BatonOutcome, value: result.outcome },
  ]);
  await condition(allHandlersFinished);
  return result;
}

function laneOutcome(outcome: string | null): LaneResult['outcome'] {
  return outcome === 'succeeded' || outcome === 'rolled_back' || outcome === 'cancelled' ? outcome : 'failed';
}
