// Activities over AWS: traffic, compute, smoke tests and metrics. Each is a thin wrapper over a
// provider; what no retry can fix becomes a non-retryable failure with a stable type.
//
// Every provider call runs under the activity: its cancellation aborts the HTTP request in
// flight (withAbortSignal), and it heartbeats while the call runs, since a heartbeat is how a
// cancellation (or a heartbeat timeout) reaches a running activity. The AWS clients' own
// timeouts (src/providers/aws.ts) keep one call well inside the activities' start-to-close.
import { ApplicationFailure, Context, sleep as activitySleep } from '@temporalio/activity';
import { ErrorType } from '../src/domain/errors';
import {
  checkColour,
  checkCompute,
  checkDeploymentSpec,
  checkImage,
  checkMetrics,
  checkSmokeTestUrl,
  checkTraffic,
  deploymentScope,
  describeMismatches,
  type AllowedConfig,
  type Mismatch,
} from '../src/domain/spec-check';
import type { Colour, ComputeTarget, DeploymentSpec, Measurement, MetricsSpec, TrafficRouterSpec, Weights } from '../src/domain/types';
import { withAbortSignal } from '../src/providers/aws';
import type { DeployImageRequest, ServiceState, SmokeResult } from '../src/providers/types';
import type { ActivityDeps } from './deps';

/** How often an activity heartbeats while a provider call is in flight. */
export const CALL_HEARTBEAT_MS = 5_000;

/**
 * What a provider throws that no retry can fix: the spec does not match what exists, a restore
 * target the log cannot reach, an action refused in the state it found (a copy that serves).
 */
const NOT_RETRYABLE: string[] = [ErrorType.InfrastructureMismatch, ErrorType.RestoreTargetUnreachable, ErrorType.InvalidTransition];

/** Errors that no retry can fix become non-retryable failures with a stable type. */
async function classify<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ApplicationFailure) throw err;
    const e = err as Error;
    if (NOT_RETRYABLE.includes(e?.name)) throw ApplicationFailure.create({ type: e.name, message: e.message, nonRetryable: true });
    throw err;
  }
}

/**
 * Runs a provider call as part of the current activity: aborted when the activity is cancelled,
 * heartbeating every CALL_HEARTBEAT_MS until it settles.
 */
async function underActivity<T>(fn: () => Promise<T>): Promise<T> {
  const ctx = Context.current();
  const beat = setInterval(() => ctx.heartbeat(), CALL_HEARTBEAT_MS);
  try {
    return await withAbortSignal(ctx.cancellationSignal, fn);
  } finally {
    clearInterval(beat);
  }
}

/** A provider call under the activity, its failures classified. */
export function call<T>(fn: () => Promise<T>): Promise<T> {
  return classify(() => underActivity(fn));
}

/**
 * Refuses, before any AWS call, what the worker's config does not name (deps.allowed; absent:
 * nothing is checked): a non-retryable SpecNotAllowed failure naming each field that differs.
 * Whoever reaches Temporal can hand a workflow any spec; only the worker's config says what exists.
 */
export function allowOnly(deps: Pick<ActivityDeps, 'allowed'>, what: string, check: (allowed: AllowedConfig) => Mismatch[]): void {
  if (!deps.allowed) return;
  const scope = scopeOfRun(deps.allowed);
  const mismatches = Array.isArray(scope) ? scope : check(scope.config);
  if (!mismatches.length) return;
  const whose = Array.isArray(scope) || !scope.label ? '' : ` for ${scope.label}`;
  throw ApplicationFailure.create({
    type: ErrorType.SpecNotAllowed,
    message: `${what} refused: not what this worker's config names${whose}: ${describeMismatches(mismatches)}`,
    nonRetryable: true,
    details: [mismatches],
  });
}

/** A deployment run acts on the one service environment its id names; other runs on anything configured. */
function scopeOfRun(allowed: AllowedConfig): { config: AllowedConfig; label: string | null } | Mismatch[] {
  const info = Context.current().info;
  if (info.workflowType === 'deployment') return deploymentScope(allowed, info.workflowExecution?.workflowId ?? '');
  return { config: allowed, label: null };
}

export function awsActivities(deps: ActivityDeps) {
  const pollMs = deps.stablePollMs ?? 3000;
  const trafficAllowed = (what: string, spec: TrafficRouterSpec) => allowOnly(deps, what, (a) => checkTraffic(a, spec));
  const computeAllowed = (what: string, target: ComputeTarget, colour: Colour) => allowOnly(deps, what, (a) => [...checkCompute(a, target), ...checkColour(colour)]);
  return {
    // ------------------------------------------------------------ traffic
    /**
     * With `deployment` (a deployment's first activity): the whole spec is checked first, so a
     * spec naming anything the config does not (an image of another repository, another
     * service's cluster) is refused before the run reads, takes over or writes anything, and the
     * run fails having changed nothing. Each later activity still checks the piece it is handed.
     */
    async readWeights(spec: TrafficRouterSpec, deployment?: DeploymentSpec): Promise<Weights> {
      if (deployment !== undefined) {
        const runId = Context.current().info.workflowExecution?.workflowId ?? '';
        allowOnly(deps, 'the deployment spec', (a) => checkDeploymentSpec(a, deployment, runId));
      }
      trafficAllowed('reading traffic weights', spec);
      return call(() => deps.routerFor(spec).getWeights());
    },

    /**
     * Write, then verify: returns only once the router reads back exactly `weights`, with the
     * token to wait on until the write has reached every server (awaitTrafficSync); null: none.
     */
    async shiftTraffic(spec: TrafficRouterSpec, weights: Weights): Promise<{ weights: Weights; syncToken: string | null }> {
      trafficAllowed('shifting traffic', spec);
      return call(async () => {
        const router = deps.routerFor(spec);
        const { syncToken } = await router.setWeights(weights);
        if (!(await router.verify(weights))) {
          const seen = await router.getWeights();
          // Retryable: the write is set-to-value, so trying again is safe.
          throw ApplicationFailure.create({
            type: ErrorType.TrafficVerifyFailed,
            message: `wrote blue ${weights.blue} / green ${weights.green} but read back blue ${seen.blue} / green ${seen.green}`,
          });
        }
        return { weights, syncToken };
      });
    },

    /**
     * Polls until the traffic write with this token has reached every server that answers for
     * the router (Route 53: INSYNC); a null token returns at once. The activity's start-to-close
     * bounds the wait.
     */
    async awaitTrafficSync(spec: TrafficRouterSpec, syncToken: string | null): Promise<void> {
      trafficAllowed('waiting for a traffic change', spec);
      if (syncToken === null) return;
      const router = deps.routerFor(spec);
      for (let polls = 1; ; polls++) {
        const synced = await call(() => router.isSynced(syncToken));
        Context.current().heartbeat({ syncToken, polls });
        if (synced) return;
        await activitySleep(pollMs); // throws when the activity is cancelled
      }
    },

    /** How long clients may keep the previous answer after a write has synced (Route 53: the records' TTL; ALB: 0). */
    async trafficSettleSeconds(spec: TrafficRouterSpec): Promise<number> {
      trafficAllowed('reading the traffic settle time', spec);
      return call(() => deps.routerFor(spec).settleSeconds());
    },

    // ------------------------------------------------------------ compute
    async describeService(target: ComputeTarget, colour: Colour): Promise<ServiceState> {
      computeAllowed('describing a service', target, colour);
      return call(() => deps.compute.describe(target, colour));
    },

    async deployImage(req: DeployImageRequest): Promise<ServiceState> {
      allowOnly(deps, 'deploying an image', (a) => [...checkImage(a, req.target, req.image), ...checkColour(req.colour), ...checkColour(req.templateColour, 'templateColour')]);
      return call(() => deps.compute.deployImage(req));
    },

    async scaleService(target: ComputeTarget, colour: Colour, desiredCount: number): Promise<ServiceState> {
      computeAllowed('scaling a service', target, colour);
      return call(() => deps.compute.scale(target, colour, desiredCount));
    },

    /**
     * Polls until the service is stable and, when `expectedTaskDefinitionArn` is given, runs that
     * revision; the activity's start-to-close timeout bounds it. Fails at once, non-retryable,
     * when ECS runs another revision (its circuit breaker rolled the deployment back: waiting
     * longer would only report the old revision stable) or reports the rollout FAILED.
     *
     * The service's task definition is compared, not the primary deployment's: ECS keeps them
     * equal (UpdateService and a circuit-breaker rollback set both), and moto never updates its
     * deployments after CreateService (see src/providers/ecs.ts).
     */
    async waitForStable(target: ComputeTarget, colour: Colour, expectedTaskDefinitionArn: string | null): Promise<ServiceState> {
      computeAllowed('waiting for a service', target, colour);
      for (;;) {
        const state = await call(() => deps.compute.describe(target, colour));
        Context.current().heartbeat({
          runningCount: state.runningCount,
          desiredCount: state.desiredCount,
          deployments: state.deployments,
          rolloutState: state.primary?.rolloutState ?? null,
        });
        if (expectedTaskDefinitionArn !== null && state.taskDefinitionArn !== expectedTaskDefinitionArn) {
          throw ApplicationFailure.create({
            type: ErrorType.RevisionReverted,
            message:
              `ECS runs ${state.taskDefinitionArn} on ${state.serviceName}, not ${expectedTaskDefinitionArn} registered for this deployment: ` +
              'its deployment circuit breaker rolled it back',
            nonRetryable: true,
          });
        }
        if (state.primary?.rolloutState === 'FAILED') {
          throw ApplicationFailure.create({
            type: ErrorType.RolloutFailed,
            message: `ECS reports the rollout of ${state.primary.taskDefinitionArn} on ${state.serviceName} FAILED`,
            nonRetryable: true,
          });
        }
        if (state.stable) return state;
        await activitySleep(pollMs); // throws when the activity is cancelled
      }
    },

    // ------------------------------------------------------------ checks
    async smokeTest(url: string): Promise<SmokeResult> {
      allowOnly(deps, 'a smoke test', (a) => checkSmokeTestUrl(a, url));
      const result = await deps.smoke.check(url);
      if (!result.ok) {
        throw ApplicationFailure.create({ type: ErrorType.SmokeTestFailed, message: `smoke test ${url}: ${result.detail}` });
      }
      return result;
    },

    async measure(spec: MetricsSpec, colour: Colour, windowSeconds: number, endIso?: string): Promise<Measurement> {
      // Outside the try: a refusal is not a metrics outage (which the analysis counts as inconclusive).
      allowOnly(deps, 'reading metrics', (a) => [...checkMetrics(a, spec), ...checkColour(colour)]);
      try {
        return await underActivity(() => deps.metrics.measure(spec, colour, windowSeconds, endIso ? new Date(endIso) : undefined));
      } catch (err) {
        if (Context.current().cancellationSignal.aborted) throw err; // reported as cancelled, not as a metrics failure
        throw ApplicationFailure.create({ type: ErrorType.MetricsUnavailable, message: (err as Error).message });
      }
    },
  };
}
