// Activities that talk to other Baton runs through Temporal: the release train finding and
// boarding releases, a deployment taking over an earlier one's tail, and the freezes declared
// through the API (read from their registry, and sent to every running release).
import { ApplicationFailure, Context } from '@temporalio/activity';
import { TypedSearchAttributes } from '@temporalio/common';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { DeploymentSpec, Outcome } from '../src/domain/types';
import { mergeFreezes, trainRunId, type Freeze } from '../src/domain/release';
import {
  BatonEnvironment,
  BatonKind,
  BatonPhase,
  BatonService,
  BatonVersion,
  FREEZE_REGISTRY_ID,
  deploymentStatusQuery,
  deploymentTakeoverUpdate,
  freezesQuery,
  releaseDepartUpdate,
  releaseFreezesSignal,
  releaseTrainLeftSignal,
  type ApiFreezes,
  type TakeoverResult,
  type WaitingRelease,
} from '../workflows/messages';
import type { ActivityDeps } from './deps';

export interface TakeoverAnswer {
  /** taken_over: done; none: nothing to take over (the earlier deployment has ended); refused: it may not be taken over now. */
  outcome: 'taken_over' | 'none' | 'refused';
  result: TakeoverResult | null;
  message: string;
}

/** The effective freezes: the worker's config and the API's, and the registry's revision. */
export interface CurrentFreezes {
  freezes: Freeze[];
  revision: number;
}

/** Where another run stands: running, or how it ended (its outcome when it reports one). */
export interface RunState {
  running: boolean;
  outcome: Outcome | null;
  status: string;
}

export function releaseActivities(deps: ActivityDeps) {
  const temporal = (): Client => {
    if (!deps.temporal) throw ApplicationFailure.create({ type: 'WorkerMisconfigured', message: 'this worker has no Temporal client (trains, freezes and tail takeover need one)', nonRetryable: true });
    return deps.temporal;
  };

  /** The registry's freezes, or none when nobody has declared one yet (the registry starts with the first). */
  async function apiFreezes(): Promise<ApiFreezes> {
    try {
      return await temporal().workflow.getHandle(FREEZE_REGISTRY_ID).query(freezesQuery);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return { freezes: [], revision: 0 };
      throw err;
    }
  }

  /** Every running release's id. */
  async function runningReleases(): Promise<string[]> {
    if (deps.runningReleases) return deps.runningReleases();
    const ids: string[] = [];
    for await (const wf of temporal().workflow.list({ query: `BatonKind = 'release' AND ExecutionStatus = 'Running'` })) ids.push(wf.workflowId);
    return ids;
  }

  /** Signals each running release; one that ended in between is skipped. Returns how many were told. */
  async function tellRunningReleases(send: (id: string) => Promise<void>): Promise<number> {
    let told = 0;
    for (const id of await runningReleases()) {
      try {
        await send(id);
        told++;
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      }
      Context.current().heartbeat(told);
    }
    return told;
  }

  return {
    // ------------------------------------------------------------ release train
    /** Releases ready for this environment's train, from the search attributes they keep current. */
    async findWaitingReleases(environment: string): Promise<WaitingRelease[]> {
      if (deps.findWaitingReleases) return deps.findWaitingReleases(environment);
      const query = `BatonKind = 'release' AND BatonPhase = 'waiting_for_train' AND BatonEnvironment = '${environment}' AND ExecutionStatus = 'Running'`;
      const found: WaitingRelease[] = [];
      for await (const wf of temporal().workflow.list({ query })) {
        const service = wf.searchAttributes?.BatonService?.[0];
        found.push({ id: wf.workflowId, service: typeof service === 'string' ? service : '', startedAt: wf.startTime.toISOString() });
      }
      return found;
    },

    /**
     * Boards one release; a refusal (not ready after all, frozen) is an answer, not a failure.
     * The Update's id is the train's and the release's: a retried activity gets the first answer
     * instead of a refusal ("already boarded"), so the train never loses track of a boarding.
     */
    async departRelease(id: string, environment: string, departure: string, trainId: string, freezes: Freeze[]): Promise<{ accepted: boolean; message: string }> {
      for (let attempt = 1; ; attempt++) {
        try {
          await temporal().workflow.getHandle(id).executeUpdate(releaseDepartUpdate, {
            args: [{ environment, departure, trainId, freezes }],
            updateId: `depart:${trainId}:${id}`,
          });
          return { accepted: true, message: 'boarded' };
        } catch (err) {
          if (err instanceof WorkflowUpdateFailedError) return { accepted: false, message: err.cause?.message ?? err.message };
          // "update … not found": the Update itself was lost on its way (Temporal's test server does
          // that now and then), not the release. Sent again with the same id, it is applied once.
          // Still lost after five: the activity fails and is retried, never reported as an ended release.
          if (err instanceof WorkflowNotFoundError && /^update .* not found/.test(err.message)) {
            if (attempt < 5) continue;
            throw err;
          }
          if (err instanceof WorkflowNotFoundError) return { accepted: false, message: 'the release has ended' };
          throw err;
        }
      }
    },

    /** Whether the run of this departure has ended (it boards no more); false when it has not departed. */
    async trainHasLeft(environment: string, departureMs: number): Promise<boolean> {
      try {
        const d = await temporal().workflow.getHandle(trainRunId(environment, departureMs)).describe();
        return d.status.name !== 'RUNNING';
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return false;
        throw err;
      }
    },

    // ------------------------------------------------------------ deployment lanes
    /**
     * Starts a lane's deployment as a workflow of its own (not a child: its tail outlives the
     * lane). An id already running is refused (`started: false`): the lane reports it.
     */
    async startDeploymentRun(spec: DeploymentSpec, owner: string | null, lane: string, taskQueue: string): Promise<{ started: boolean; message: string }> {
      try {
        await temporal().workflow.start('deployment', {
          workflowId: spec.id,
          taskQueue,
          args: [{ spec, owner, lane }],
          workflowIdConflictPolicy: 'FAIL',
          staticSummary: `Deploy ${spec.service} ${spec.version} to ${spec.environment}`,
          staticDetails: `Requested by ${spec.requestedBy}${owner ? ` for ${owner}` : ''}. Image \`${spec.image}\`, plan \`${spec.plan.name}\`, region ${spec.compute.region}. Lane ${lane}.`,
          typedSearchAttributes: new TypedSearchAttributes([
            { key: BatonKind, value: 'deployment' },
            { key: BatonService, value: spec.service },
            { key: BatonEnvironment, value: spec.environment },
            { key: BatonVersion, value: spec.version },
            { key: BatonPhase, value: 'starting' },
          ]),
        });
        return { started: true, message: `started ${spec.id}` };
      } catch (err) {
        if (err instanceof WorkflowExecutionAlreadyStartedError) return { started: false, message: `${spec.id} is already running (an earlier deployment of this version, still in its tail?)` };
        throw err;
      }
    },

    /** Whether a run is still going, and if not, how it ended. */
    async runState(id: string): Promise<RunState> {
      const handle = temporal().workflow.getHandle(id);
      const d = await handle.describe();
      if (d.status.name === 'RUNNING') return { running: true, outcome: null, status: 'running' };
      const outcome = await handle.query(deploymentStatusQuery).then((st) => st.outcome, () => null);
      return { running: false, outcome, status: d.status.name.toLowerCase() };
    },

    // ------------------------------------------------------------ tail takeover
    /** Asks the deployment that put the live version there to hand its tail over to `by`. */
    async takeOverTail(previousId: string, by: string): Promise<TakeoverAnswer> {
      try {
        const result = await temporal().workflow.getHandle(previousId).executeUpdate(deploymentTakeoverUpdate, { args: [{ by }], updateId: `takeover:${by}` });
        return { outcome: 'taken_over', result, message: `took over the tail of ${previousId}` };
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return { outcome: 'none', result: null, message: `${previousId} has ended: no tail to take over` };
        if (err instanceof WorkflowUpdateFailedError) return { outcome: 'refused', result: null, message: err.cause?.message ?? err.message };
        throw err;
      }
    },

    // ------------------------------------------------------------ freezes
    /** Every freeze in force or to come: the worker's config and those declared through the API. */
    async currentFreezes(): Promise<CurrentFreezes> {
      const api = await apiFreezes();
      return { freezes: mergeFreezes(deps.freezes, api.freezes), revision: api.revision };
    },

    /**
     * Tells every running release the API's freezes (so a freeze takes effect without a
     * restart). Returns how many were told. A release that ended in between is skipped.
     */
    async broadcastFreezes(freezes: ApiFreezes): Promise<number> {
      return tellRunningReleases((id) => temporal().workflow.getHandle(id).signal(releaseFreezesSignal, freezes));
    },

    /** Tells every running release that this departure boards no more (its run has ended). */
    async announceTrainLeft(environment: string, departure: string): Promise<number> {
      return tellRunningReleases((id) => temporal().workflow.getHandle(id).signal(releaseTrainLeftSignal, { environment, departure }));
    },
  };
}
