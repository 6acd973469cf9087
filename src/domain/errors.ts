// Stable error type strings. Workflows and activities throw
// ApplicationFailure.create({ type, nonRetryable }) with these; callers match on the string,
// never on class names (which do not survive serialisation).
export const ErrorType = {
  /** An operator action that is not valid in the current phase (API: 409). */
  InvalidTransition: 'InvalidTransition',
  /** A traffic write read back different weights than were written. */
  TrafficVerifyFailed: 'TrafficVerifyFailed',
  /** The ECS service did not become stable in time. */
  ServiceNotStable: 'ServiceNotStable',
  /** ECS runs another revision than the one registered for this deployment (its circuit breaker rolled it back). */
  RevisionReverted: 'RevisionReverted',
  /** ECS reports the service's rollout FAILED. */
  RolloutFailed: 'RolloutFailed',
  /** The new colour did not pass its smoke test. */
  SmokeTestFailed: 'SmokeTestFailed',
  /** Something in the spec does not match the real infrastructure (missing service, listener...). */
  InfrastructureMismatch: 'InfrastructureMismatch',
  /** A spec naming what the worker's config does not (another cluster, image repository...): refused before any AWS call, never retried. */
  SpecNotAllowed: 'SpecNotAllowed',
  /** A metrics provider could not answer. Retried; if it keeps failing the sample is inconclusive. */
  MetricsUnavailable: 'MetricsUnavailable',
  /** The deployment ended rolled back (the run fails so the UI shows it as not a success). */
  RolledBack: 'DeploymentRolledBack',
  /** The deployment failed: nothing changed, or traffic could not be restored. */
  DeploymentFailed: 'DeploymentFailed',
  /** Another deployment holds the service+environment lane. */
  LaneBusy: 'LaneBusy',
  /** An approval refused by the gate's rules; details carry the HTTP status (403 or 409). */
  ApprovalRefused: 'ApprovalRefused',
  /** A decision that is not signed by the API, or by someone the run does not know or allow (403). */
  DecisionRefused: 'DecisionRefused',
  /** The release did not reach prod: rejected, expired, rolled back or failed. */
  ReleaseEnded: 'ReleaseEnded',
  /** A restore's target lies outside what the backups and the log can reach. */
  RestoreTargetUnreachable: 'RestoreTargetUnreachable',
  /** A restore or drill did not succeed: failed, rolled back (switched back), rejected or expired. */
  RestoreEnded: 'RestoreEnded',
  /** A failover, failback or DR drill did not succeed: failed, rejected or expired. */
  FailoverEnded: 'FailoverEnded',
  /** Slack asked us to slow down; retried after the delay it asked for. */
  NotifierRateLimited: 'NotifierRateLimited',
} as const;

export type ErrorTypeName = (typeof ErrorType)[keyof typeof ErrorType];

/** The innermost message of an error: activity failures wrap the real error, whose message is the useful one. */
export function causeMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  while (e?.cause && typeof e.cause === 'object') e = e.cause as typeof e;
  return e?.message ?? String(err);
}
