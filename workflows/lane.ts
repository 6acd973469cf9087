/**
 * The deployment lane of one service in one environment (`lane:<service>:<environment>`).
 *
 * Invariant: at most one deployment per service+environment is in flight, even under racing
 * starts. The lane's workflow id is started with a FAIL conflict policy, so Temporal itself
 * admits one lane per id; the lane runs the deployment as its child and ends with it.
 * Terminating a lane cancels (never abandons) its deployment, which then rolls back.
 */
import {
  ApplicationFailure,
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  setHandler,
  startChild,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { TypedSearchAttributes } from '@temporalio/common';
import { ErrorType } from '../src/domain/errors';
import { deployment, type DeploymentResult } from './deployment';
import {
  BatonEnvironment,
  BatonKind,
  BatonOutcome,
  BatonPhase,
  BatonService,
  BatonVersion,
  laneCurrentQuery,
  laneStartedUpdate,
  type LaneInput,
} from './messages';

export interface LaneResult {
  deploymentId: string;
  outcome: string;
  /** When the new colour took all the traffic (null if it never did). */
  liveAt: string | null;
  /** Why it did not succeed, in words. */
  reason: string | null;
}

export async function deploymentLane({ spec }: LaneInput): Promise<LaneResult> {
  let started = false;
  let startError: string | null = null;

  setHandler(laneCurrentQuery, () => ({ deploymentId: spec.id }));
  setHandler(laneStartedUpdate, async () => {
    await condition(() => started || startError !== null);
    if (startError) throw ApplicationFailure.create({ type: ErrorType.LaneBusy, message: startError, nonRetryable: true });
    return { deploymentId: spec.id };
  });

  let outcome = 'failed';
  let liveAt: string | null = null;
  let reason: string | null = null;
  try {
    const child = await startChild(deployment, {
      workflowId: spec.id,
      args: [{ spec }],
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      staticSummary: `Deploy ${spec.service} ${spec.version} to ${spec.environment}`,
      staticDetails: `Requested by ${spec.requestedBy}. Image \`${spec.image}\`, plan \`${spec.plan.name}\`, region ${spec.compute.region}.`,
      typedSearchAttributes: new TypedSearchAttributes([
        { key: BatonKind, value: 'deployment' },
        { key: BatonService, value: spec.service },
        { key: BatonEnvironment, value: spec.environment },
        { key: BatonVersion, value: spec.version },
        { key: BatonPhase, value: 'starting' },
      ]),
    });
    started = true;
    try {
      const result: DeploymentResult = await child.result();
      outcome = result.outcome;
      liveAt = result.liveAt;
    } catch (err) {
      outcome = outcomeOf(err);
      reason = reasonOf(err);
    }
  } catch (err) {
    startError = `could not start ${spec.id}: ${(err as Error).message}`;
  }
  upsertSearchAttributes([
    { key: BatonPhase, value: 'done' },
    { key: BatonOutcome, value: outcome },
  ]);
  await condition(allHandlersFinished);
  return { deploymentId: spec.id, outcome, liveAt, reason };
}

/** The innermost message of a child's failure: the deployment's own account of what happened. */
function reasonOf(err: unknown): string {
  let e = err as { cause?: unknown; message?: string } | undefined;
  let message = String(err);
  while (e) {
    if (e.message) message = e.message;
    e = e.cause as typeof e;
  }
  return message;
}

/** The deployment fails its run when it rolls back; read which way it ended from the failure type. */
function outcomeOf(err: unknown): string {
  let e = err as { cause?: unknown; type?: string; name?: string } | undefined;
  while (e) {
    if (e.type === ErrorType.RolledBack) return 'rolled_back';
    if (e.name === 'CancelledFailure') return 'cancelled';
    e = e.cause as typeof e;
  }
  return 'failed';
}
