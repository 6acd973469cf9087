// The messages Baton's workflows answer. Clients (API, CLI, Slack) import these definitions
// so names and payload types are shared with the workflows.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType, TypedSearchAttributes } from '@temporalio/common';
import type { ActionRequest, DeploymentStatus } from '../src/domain/deployment';
import type { DecisionSignature } from '../src/domain/signing';
import type { CheckRule, Holder } from '../src/domain/policy';
import type { DrSpec, ReadinessCheck, ReadinessReport } from '../src/domain/failover';
import type { FailoverMode, PlannedStep, StepRecord } from '../src/domain/failover-run';
import type { NotifySpec } from '../src/domain/notices';
import type { Colour, DeploymentSpec, Outcome, Sample, TimelineEvent } from '../src/domain/types';
import type { DatabaseSpec, RestorePlan, RestoreTarget, RunRecord } from '../src/domain/restore';
import type { RestoredCopy, VerificationResult } from '../src/domain/database';
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
/** Who deployed around a gate (break-glass); absent on every other run. */
export const BatonBreakGlass = defineSearchAttributeKey('BatonBreakGlass', SearchAttributeType.KEYWORD);

// ---------------------------------------------------------------- deployment
/** Live status of a deployment (also of a finished one: queries work on closed workflows). */
export const deploymentStatusQuery = defineQuery<DeploymentStatus>('status');

/**
 * Operator action: pause, resume, promote, extend, rollback. The validator refuses an action
 * that is not valid now (ApplicationFailure type InvalidTransition) and nothing changes.
 * Returns the status right after the action was accepted.
 */
export const deploymentActionUpdate = defineUpdate<DeploymentStatus, [ActionRequest]>('action');

/**
 * A newer deployment of the same service and environment takes over this one's tail (keep,
 * standby or retirement): this one stops touching the colours and ends; the idle colour it kept
 * is the newer one's to deploy onto. Refused while this one is progressing or rolling back.
 * Answers once this deployment has stopped touching the colours.
 */
export const deploymentTakeoverUpdate = defineUpdate<TakeoverResult, [TakeoverRequest]>('takeOver');

export interface TakeoverRequest {
  /** The newer deployment's id. */
  by: string;
}

export interface TakeoverResult {
  /** The deployment whose tail was taken over. */
  from: string;
  /** The colour it kept (hot or on standby): the one the newer deployment deploys onto. */
  colour: Colour;
  /** Where its tail was: keep, standby or retire. */
  stage: string;
}

/**
 * What a deployment tells those who wait on it (its lane, the release it belongs to): it is
 * live (100 % verified), or it has ended (how, whether it had been live, and whether a newer
 * deployment took over its tail).
 */
export const deploymentMilestoneSignal = defineSignal<[DeploymentMilestone]>('milestone');

export interface DeploymentMilestone {
  deploymentId: string;
  milestone: 'live' | 'ended';
  at: string;
  liveAt: string | null;
  outcome: Outcome | null;
  /** Ended: its version no longer serves (rolled back after live, or replaced by a newer deployment). */
  stillLive: boolean;
  /** Ended: the newer deployment that took over its tail. */
  handedOverTo: string | null;
  reason: string | null;
}

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
  /** The release this deployment belongs to (told of its milestones), if any. */
  owner?: string | null;
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

/**
 * Sent by the environment's train: board it now. The release re-evaluates its gate at that
 * moment (checks, freezes, including those the train knows of) and refuses when it is not ready.
 */
export const releaseDepartUpdate = defineUpdate<ReleaseStatus, [DepartInput]>('depart');

/**
 * A departure's run has ended (everything it boarded is live, or its window closed): it boards
 * no more, so a release says it waits for the next one. Sent by the train to running releases.
 */
export const releaseTrainLeftSignal = defineSignal<[TrainLeft]>('trainLeft');

export interface TrainLeft {
  environment: string;
  /** The departure (ISO instant) whose run ended. */
  departure: string;
}

/** The freezes declared through the API, sent by the freeze registry whenever they change (a higher revision is newer). */
export const releaseFreezesSignal = defineSignal<[ApiFreezes]>('freezes');

export interface ApiFreezes {
  freezes: Freeze[];
  /** Bumped by every declaration and lift. */
  revision: number;
}

/** Cancels the release; a deployment in flight rolls back. */
export const releaseCancelUpdate = defineUpdate<ReleaseStatus, [CancelInput]>('cancel');

export interface CheckInput extends DecisionSignature {
  name: string;
  status: CheckStatus;
  url?: string | null;
  by: string;
}

export interface ApprovalInput extends DecisionSignature {
  environment: string;
  decision: Decision;
  comment?: string | null;
  by: string;
  /**
   * The caller's roles, for runs started before releases kept their people (they judge by
   * these); a run with `people` judges by its own snapshot and ignores this.
   */
  roles?: string[];
}

export interface DepartInput {
  environment: string;
  /** The departure (ISO instant) of the train doing the boarding. */
  departure: string;
  /** The train's workflow id: the release reports to it when its deployment is live or fails. */
  trainId: string;
  /** The freezes the train knows of (config and API) at boarding. */
  freezes?: Freeze[];
}

export interface CancelInput extends DecisionSignature {
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
  /**
   * The people (names and roles) whose decisions count, fixed when the release starts: every
   * decision names only a person, and is judged by this. Absent on older runs.
   */
  people?: Holder[];
  /** Who may attest each configured check; `default` for any other name. */
  checkRules?: { named: Record<string, CheckRule>; default: CheckRule };
  /** Who besides the requester and admins may cancel the release. */
  cancelRoles?: string[];
  /** The API's decision key (Ed25519 public key, hex): every decision must be signed with it. */
  decisionKey?: string | null;
  freezes: Freeze[];
  hotfixApprovalRole: string | null;
  notify: NotifySpec;
}

export interface StageStatus {
  environment: string;
  gate: {
    state: GateState;
    openedAt: string | null;
    /** When it expires if nothing changes; null while its expiry is held (satisfied, frozen, waiting). */
    expiresAt: string | null;
    /** Expiry time left (it counts only while open, unsatisfied and unfrozen); null before it opens. */
    expiryLeftSeconds: number | null;
    /** The train it boarded. */
    boarded: { trainId: string; departure: string; at: string } | null;
    checks: Array<{ name: string; status: 'passed' | 'failed' | 'missing'; url: string | null; at: string | null }>;
    approvals: ApprovalRecord[];
    pending: string[];
    train: { environment: string; nextDeparture: string | null; nextDepartureLocal: string | null } | null;
  } | null;
  /**
   * The environment's deployment: `outcome` is `succeeded` once it is live (its tail may still
   * run); `live` turns false if it is later rolled back or replaced there.
   */
  deployment: { id: string; outcome: string | null; liveAt: string | null; live: boolean; reason: string | null } | null;
}

export interface ReleaseStatus {
  id: string;
  kind: 'release';
  service: string;
  version: string;
  hotfix: boolean;
  requestedBy: string;
  /** The image digest (`sha256:…`) every environment deploys; null for a release that deploys the tag. */
  digest: string | null;
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
  /** How often the train looks again for releases that became ready, while its window is open (default 300). */
  pollSeconds?: number;
}

/** A boarded release tells its train how its deployment went: live, or failed (rolled back, cancelled...). */
export const trainReportSignal = defineSignal<[TrainReport]>('report');

export interface TrainReport {
  releaseId: string;
  state: 'live' | 'failed';
  message: string;
}

export interface Boarding {
  releaseId: string;
  service: string;
  /** departed: boarded and deploying; live / failed: how its deployment here went; refused: not ready. */
  state: 'departed' | 'live' | 'failed' | 'refused';
  message: string;
  at: string;
}

export interface TrainStatus {
  environment: string;
  departure: string;
  windowEndsAt: string;
  boardings: Boarding[];
  /** Why the train boarded nothing (a freeze covered its departure), if so. */
  frozen: string | null;
  done: boolean;
  endedAt: string | null;
}

// ---------------------------------------------------------------- freezes
/** The one workflow that holds the freezes declared through the API. */
export const FREEZE_REGISTRY_ID = 'baton-freezes';

export const freezesQuery = defineQuery<ApiFreezes>('freezes');
/** Declares a freeze; answers it with its id. Refused (InvalidTransition, 400) for a bad period. */
export const declareFreezeUpdate = defineUpdate<Freeze, [DeclareFreezeInput]>('declare');
/** Lifts a freeze declared through the API; refused (404) for an unknown id. */
export const liftFreezeUpdate = defineUpdate<Freeze, [LiftFreezeInput]>('lift');

export interface DeclareFreezeInput {
  from: string;
  to: string;
  environments: string[];
  reason: string;
  by: string;
  /** A break-glass deployment may go ahead during this freeze. */
  allowBreakGlass?: boolean;
}

export interface LiftFreezeInput {
  id: string;
  by: string;
}

export interface FreezeRegistryInput {
  freezes?: Freeze[];
  /** The last number given to a freeze (ids are `freeze-<n>`). */
  seq?: number;
  revision?: number;
  /** Continue-as-new once the history reaches this many events (default 1000). */
  maxHistoryEvents?: number;
}

/** What the train's activities report about one release (from its status query). */
export interface WaitingRelease {
  id: string;
  service: string;
  startedAt: string;
}

// ---------------------------------------------------------------- restores and drills
export const restoreStatusQuery = defineQuery<RestoreStatus>('status');
/** An approve/reject decision on a restore (the environment's approval rules). */
export const restoreApprovalUpdate = defineUpdate<RestoreStatus, [ApprovalInput]>('approval');
/** Cancels a restore: what it changed is undone (copy dropped, switched back, services resumed). */
export const restoreCancelUpdate = defineUpdate<RestoreStatus, [CancelInput]>('cancel');

export interface RestoreRequestInput {
  environment: string;
  database: string;
  target: RestoreTarget;
  reason: string;
  /** When the data went bad: the RPO is measured from here (default: when the plan was made). */
  incidentAt: string | null;
  requestedBy: string;
}

export interface RestoreInput {
  id: string;
  mode: 'restore' | 'drill';
  request: RestoreRequestInput;
  spec: DatabaseSpec;
  notify: NotifySpec;
  /**
   * The people (names and roles) whose decisions count, fixed when the API starts the restore:
   * approvers, who may cancel, admins and the requester. Absent on older runs and scheduled
   * drills (they judge by the roles an Update carries).
   */
  people?: Holder[];
  /** Who besides the requester and admins may cancel it; absent: no ownership check (older runs, drills). */
  cancelRoles?: string[];
  /** The API's decision key (Ed25519 public key, hex): every decision must be signed with it. */
  decisionKey?: string | null;
}

export type RestorePhase =
  | 'planning'
  | 'awaiting_approval'
  | 'quiescing'
  | 'restoring'
  | 'verifying'
  | 'switching'
  | 'resuming'
  | 'smoke_testing'
  | 'watching'
  | 'retaining'
  | 'compensating'
  | 'cleaning_up'
  | 'completed'
  | 'failed'
  | 'rolled_back'
  | 'rejected'
  | 'expired'
  | 'cancelled';

export interface RestoreStatus {
  id: string;
  kind: 'restore';
  mode: 'restore' | 'drill';
  environment: string;
  database: string;
  target: RestoreTarget;
  reason: string;
  incidentAt: string | null;
  requestedBy: string;
  phase: RestorePhase;
  outcome: Outcome | null;
  /** Why it did not succeed, in words; null while all is well. */
  error: string | null;
  startedAt: string;
  endedAt: string | null;
  plan: RestorePlan | null;
  approvals: ApprovalRecord[];
  /** What the approval rules still wait for, in words. */
  pending: string[];
  /** The copy the backup was restored into, once made. */
  copy: RestoredCopy | null;
  /** The backup's own check, then integrity, the manifest and the assertions on the copy. */
  verification: VerificationResult[];
  /** The services quiesced, and the task counts they are resumed to. */
  services: Array<{ service: string; capacity: { blue: number; green: number } | null; smoke: string | null }>;
  switchedAt: string | null;
  switchedBackAt: string | null;
  /** Where the original is kept after the switch, and until when. */
  setAside: { name: string; until: string | null; dropped: boolean } | null;
  resumedAt: string | null;
  rpoSeconds: number | null;
  rtoSeconds: number | null;
  objectives: { rpoSeconds: number; rtoSeconds: number };
  rpoMet: boolean | null;
  rtoMet: boolean | null;
  /** Analysis samples while the resumed services are watched. */
  samples: Sample[];
  /** What compensation or a drill's cleanup removed or undid. */
  cleanup: string[];
  timeline: TimelineEvent[];
}

/** A database's record of finished restores and drills (`ledger:<database>:<environment>`). */
export const ledgerRecordSignal = defineSignal<[RunRecord]>('record');
export const ledgerQuery = defineQuery<{ runs: RunRecord[] }>('runs');

export function ledgerId(database: string, environment: string): string {
  return `ledger:${database}:${environment}`;
}

export interface LedgerInput {
  runs?: RunRecord[];
  maxHistoryEvents?: number;
}

// ---------------------------------------------------------------- disaster-recovery readiness
/** The one registry of readiness results: the latest report of each service environment. */
export const READINESS_REGISTRY_ID = 'readiness-registry';
/** A readiness run's reports (each replaces the previous report of its service environment). */
export const readinessRecordSignal = defineSignal<[ReadinessReport[]]>('record');
export const readinessQuery = defineQuery<{ reports: ReadinessReport[] }>('reports');

export interface ReadinessInput {
  /** Every service environment with a DR posture (config at the time the schedule was synced). */
  specs: DrSpec[];
  notify: NotifySpec;
}

export interface ReadinessRegistryInput {
  reports?: ReadinessReport[];
  /** Continue-as-new once history is this long (tests lower it). */
  maxHistoryEvents?: number;
}

// ---------------------------------------------------------------- failovers, failbacks and DR drills
export const failoverStatusQuery = defineQuery<FailoverStatus>('status');
/** An approval (the environment's release rules) or, for an unfenced emergency, a second person's confirmation. */
export const failoverApprovalUpdate = defineUpdate<FailoverStatus, [FailoverDecisionInput]>('approval');
/** Cancels a failover: before DNS moves, what it changed is undone; a drill converges back to where it started. */
export const failoverCancelUpdate = defineUpdate<FailoverStatus, [CancelInput]>('cancel');

export interface FailoverDecisionInput extends DecisionSignature {
  decision: Decision;
  comment?: string | null;
  by: string;
  /**
   * The caller's roles, for runs started without `people` (older runs, scheduled drills: they
   * judge by these); a run with `people` judges by its own snapshot and ignores this.
   */
  roles?: string[];
}

export interface FailoverRequestInput {
  service: string;
  environment: string;
  fromRegion: string;
  toRegion: string;
  reason: string;
  requestedBy: string;
  /** When the outage was detected (RTO's detection part); null: not given. */
  detectedAt: string | null;
}

export interface FailoverInput {
  id: string;
  mode: FailoverMode;
  request: FailoverRequestInput;
  spec: DrSpec;
  notify: NotifySpec;
  /**
   * The people (names and roles) whose decisions count, fixed when the API starts the failover:
   * approvers, confirmers (the emergency role), who may cancel, admins and the requester. Absent
   * on older runs and scheduled drills (they judge by the roles an Update carries).
   */
  people?: Holder[];
  /** Who besides the requester and admins may cancel it; absent: no ownership check (older runs, drills). */
  cancelRoles?: string[];
  /** The API's decision key (Ed25519 public key, hex): every decision must be signed with it. */
  decisionKey?: string | null;
}

export type FailoverPhase =
  | 'planning'
  | 'awaiting_approval'
  | 'preflight'
  | 'rebuilding'
  | 'fencing'
  | 'awaiting_confirmation'
  | 'catching_up'
  | 'promoting'
  | 'scaling'
  | 'smoke_testing'
  | 'switching_dns'
  | 'monitoring'
  | 'failing_back'
  | 'compensating'
  | 'completed'
  | 'failed'
  | 'rejected'
  | 'expired'
  | 'cancelled';

export interface FailoverReport {
  /** Each step as it ran: name, start, duration, outcome. */
  steps: StepRecord[];
  rtoSeconds: number | null;
  rpoSeconds: number | null;
  detectionSeconds: number | null;
  rtoMet: boolean | null;
  rpoMet: boolean | null;
  objectives: { rpoSeconds: number; rtoSeconds: number };
  /** Whether writes were stopped in the region left before promotion: null until tried. */
  fenced: boolean | null;
  /** Who confirmed promoting while the primary was unfenced. */
  confirmedBy: string | null;
  /** What was undone or removed (compensation, a drill's clean-up). */
  cleanup: string[];
  /** Where things stand when the run ended short of its goal, in words (DNS, database, services). */
  state: string | null;
}

export interface FailoverStatus {
  id: string;
  kind: 'failover';
  mode: FailoverMode;
  service: string;
  environment: string;
  fromRegion: string;
  toRegion: string;
  reason: string;
  requestedBy: string;
  detectedAt: string | null;
  phase: FailoverPhase;
  outcome: Outcome | null;
  error: string | null;
  startedAt: string;
  endedAt: string | null;
  plan: PlannedStep[];
  approvals: ApprovalRecord[];
  /** What the approval rules or the confirmation still wait for, in words. */
  pending: string[];
  /** The readiness checks run before anything changed. */
  preflight: ReadinessCheck[];
  /** Preflight failures an emergency went ahead despite. */
  risks: string[];
  dnsSwitchedAt: string | null;
  /** Analysis samples while the region DNS moved to is monitored (none when it has no metrics). */
  samples: Sample[];
  report: FailoverReport;
  timeline: TimelineEvent[];
}
