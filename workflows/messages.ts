// The messages Baton's workflows answer. Clients (API, CLI, Slack) import these definitions
// so names and payload types are shared with the workflows.
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType, TypedSearchAttributes } from '@temporalio/common';
import type { ActionRequest, DeploymentStatus } from '../src/domain/deployment';
import type { NotifySpec } from '../src/domain/notices';
import type { DeploymentSpec, Outcome, TimelineEvent } from '../src/domain/types';
import type {
  ApprovalRecord,
  CheckRecord,
  CheckStatus,
  Decision,
  Freeze,
  GateSpec,
  GateState,
  ReleaseRequest,
  TrainSpec,
} from '../src/domain/release';

// ---------------------------------------------------------------- search attributes
export const BatonKind = defineSearchAttributeKey('BatonKind', SearchAttributeType.KEYWORD);
export const BatonService = defineSearchAttributeKey('BatonService', SearchAttributeType.KEYWORD);
export const BatonEnvironment = defineSearchAttributeKey('BatonEnvironment', SearchAttributeType.KEYWORD);
export const BatonVersion = defineSearchAttributeKey('BatonVersion', SearchAttributeType.KEYWORD);
export const BatonPhase = defineSearchAttributeKey('BatonPhase', SearchAttributeType.KEYWORD);
export const BatonOutcome = defineSearchAttributeKey('BatonOutcome', SearchAttributeType.KEYWORD);

// ---------------------------------------------------------------- deployment
/** Live status of a deployment (also of a finished one: queries work on closed workflows). */
export const deploymentStatusQuery = defineQuery<DeploymentStatus>('status');

/**
 * Operator action: pause, resume, promote, extend, rollback. The validator refuses an action
 * that is not valid now (ApplicationFailure type InvalidTransition) and nothing changes.
 * Returns the status right after the action was accepted.
 */
export const deploymentActionUpdate = defineUpdate<DeploymentStatus, [ActionRequest]>('action');

// ---------------------------------------------------------------- deployment lane
/**
 * The lane (`lane:<service>:<environment>`) is what makes "one deployment per service and
 * environment" race-free: it is started with a FAIL id-conflict policy, and it runs the
 * deployment as its child. `started` returns the child's id once the child is running.
 */
export const laneStartedUpdate = defineUpdate<{ deploymentId: string }>('started');
export const laneCurrentQuery = defineQuery<{ deploymentId: string }>('current');

export interface LaneInput {
  spec: DeploymentSpec;
}

/** A lane's search attributes, set when it starts (by the API, or by a release as its child). */
export function laneSearchAttributes(spec: DeploymentSpec): TypedSearchAttributes {
  return new TypedSearchAttributes([
    { key: BatonKind, value: 'lane' },
    { key: BatonService, value: spec.service },
    { key: BatonEnvironment, value: spec.environment },
    { key: BatonVersion, value: spec.version },
    { key: BatonPhase, value: 'running' },
  ]);
}


// ---------------------------------------------------------------- release
export const releaseStatusQuery = defineQuery<ReleaseStatus>('status');

/** A check attestation (CI, security scan...). The newest record of each name counts. */
export const releaseCheckUpdate = defineUpdate<ReleaseStatus, [CheckInput]>('check');

/**
 * An approval or rejection of the open gate by the caller. The validator refuses (type
 * ApprovalRefused, details `[{status: 403|409}]`) a person without a role the gate needs, the
 * requester approving their own release, the same person twice, a gate that is not open or
 * has expired; a refused decision changes nothing and is not in the history as accepted.
 */
export const releaseApprovalUpdate = defineUpdate<ReleaseStatus, [ApprovalInput]>('approval');

/** Sent by the environment's train: board it now. Refused when the release is not ready for it. */
export const releaseDepartUpdate = defineUpdate<ReleaseStatus, [DepartInput]>('depart');

/** Cancels the release; a deployment in flight rolls back. */
export const releaseCancelUpdate = defineUpdate<ReleaseStatus, [CancelInput]>('cancel');

export interface CheckInput {
  name: string;
  status: CheckStatus;
  url?: string | null;
  by: string;
}

export interface ApprovalInput {
  environment: string;
  decision: Decision;
  comment?: string | null;
  by: string;
  /** The caller's roles, resolved from config by the API. */
  roles: string[];
}

export interface DepartInput {
  environment: string;
  /** The departure (ISO instant) of the train doing the boarding. */
  departure: string;
}

export interface CancelInput {
  reason: string;
  by: string;
}

export interface ReleaseStage {
  environment: string;
  gate: GateSpec | null;
  train: TrainSpec | null;
  deployment: DeploymentSpec;
}

export interface ReleaseInput {
  request: ReleaseRequest;
  id: string;
  stages: ReleaseStage[];
  freezes: Freeze[];
  hotfixApprovalRole: string | null;
  notify: NotifySpec;
}

export interface StageStatus {
  environment: string;
  gate: {
    state: GateState;
    openedAt: string | null;
    expiresAt: string | null;
    checks: Array<{ name: string; status: 'passed' | 'failed' | 'missing'; url: string | null; at: string | null }>;
    approvals: ApprovalRecord[];
    pending: string[];
    train: { environment: string; nextDeparture: string | null; nextDepartureLocal: string | null } | null;
  } | null;
  deployment: { id: string; outcome: string | null; liveAt: string | null; reason: string | null } | null;
}

export interface ReleaseStatus {
  id: string;
  kind: 'release';
  service: string;
  version: string;
  hotfix: boolean;
  requestedBy: string;
  phase: ReleasePhase;
  outcome: Outcome | null;
  reason: string | null;
  startedAt: string;
  endedAt: string | null;
  /** The environment being gated or deployed now. */
  environment: string | null;
  environments: StageStatus[];
  checks: CheckRecord[];
  timeline: TimelineEvent[];
}

export type ReleasePhase = 'gate_open' | 'waiting_for_train' | 'deploying' | 'completed' | 'rejected' | 'expired' | 'failed' | 'rolled_back' | 'cancelled';

// ---------------------------------------------------------------- release train
export const trainStatusQuery = defineQuery<TrainStatus>('status');

export interface TrainInput {
  environment: string;
  train: TrainSpec;
  /** How often the train looks again for releases that became ready, while its window is open. */
  pollSeconds?: number;
}

export interface Boarding {
  releaseId: string;
  service: string;
  /** departed: boarded and deploying; deployed / failed: how its deployment here ended; refused: not ready. */
  state: 'departed' | 'deployed' | 'failed' | 'refused';
  message: string;
  at: string;
}

export interface TrainStatus {
  environment: string;
  departure: string;
  windowEndsAt: string;
  boardings: Boarding[];
  done: boolean;
}

/** What the train's activities report about one release (from its status query). */
export interface WaitingRelease {
  id: string;
  service: string;
  startedAt: string;
}
