// createActivities(deps) → the activity functions, grouped by concern. Only worker.ts builds
// real providers; tests pass real clients pointed at the local emulators.
import { ApplicationFailure, Context, sleep as activitySleep } from '@temporalio/activity';
import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ErrorType } from '../src/domain/errors';
import { releaseDepartUpdate, releaseStatusQuery, type WaitingRelease } from '../workflows/messages';
import type { Colour, ComputeTarget, Measurement, MetricsSpec, TrafficRouterSpec, Weights } from '../src/domain/types';
import type {
  Compute,
  DeployImageRequest,
  MetricsProvider,
  Notifier,
  ServiceState,
  SmokeResult,
  SmokeTester,
  TrafficRouterFactory,
} from '../src/providers/types';
import { NotifierRateLimited } from '../src/providers/types';
import type { Card, MessageRef } from '../src/domain/notices';
import { cardLinks, renderCard, renderReply } from '../src/slack/blocks';

export interface ActivityDeps {
  compute: Compute;
  routerFor: TrafficRouterFactory;
  metrics: MetricsProvider;
  smoke: SmokeTester;
  notifier: Notifier;
  /** How often waitForStable polls ECS; real AWS: a few seconds. */
  stablePollMs?: number;
  /** For the release train: finding waiting releases (visibility) and boarding them (updates). */
  temporal?: Client;
  /** Bases of the links in Slack messages: the Temporal UI (and namespace) and the API. */
  links?: { temporalUiUrl?: string; apiUrl?: string; namespace: string };
}

export interface PostMessageRequest {
  channel?: string;
  /** A card to render, else `text` as a plain reply. */
  card?: Card;
  text?: string;
  threadTs?: string;
  /** Set on a run's parent message: tags it so a retried post finds it again. */
  runId?: string;
}

/** The notifier's failures, as Temporal should retry them: a rate limit waits as long as Slack asks. */
async function notifying<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof NotifierRateLimited) {
      throw ApplicationFailure.create({ type: ErrorType.NotifierRateLimited, message: err.message, nextRetryDelay: `${err.retryAfterSeconds}s` });
    }
    throw err;
  }
}

/** Errors that no retry can fix become non-retryable failures with a stable type. */
async function classify<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ApplicationFailure) throw err;
    const e = err as Error;
    if (e?.name === ErrorType.InfrastructureMismatch) {
      throw ApplicationFailure.create({ type: ErrorType.InfrastructureMismatch, message: e.message, nonRetryable: true });
    }
    throw err;
  }
}

export function createActivities(deps: ActivityDeps) {
  const pollMs = deps.stablePollMs ?? 3000;
  const linksOf = (card: Card) => cardLinks(card, { namespace: 'default', ...deps.links });

  return {
    // ------------------------------------------------------------ traffic
    async readWeights(spec: TrafficRouterSpec): Promise<Weights> {
      return classify(() => deps.routerFor(spec).getWeights());
    },

    /** Write, then verify: returns only once the router reads back exactly `weights`. */
    async shiftTraffic(spec: TrafficRouterSpec, weights: Weights): Promise<Weights> {
      return classify(async () => {
        const router = deps.routerFor(spec);
        await router.setWeights(weights);
        if (!(await router.verify(weights))) {
          const seen = await router.getWeights();
          // Retryable: the write is set-to-value, so trying again is safe.
          throw ApplicationFailure.create({
            type: ErrorType.TrafficVerifyFailed,
            message: `wrote blue ${weights.blue} / green ${weights.green} but read back blue ${seen.blue} / green ${seen.green}`,
          });
        }
        return weights;
      });
    },

    // ------------------------------------------------------------ compute
    async describeService(target: ComputeTarget, colour: Colour): Promise<ServiceState> {
      return classify(() => deps.compute.describe(target, colour));
    },

    async deployImage(req: DeployImageRequest): Promise<ServiceState> {
      return classify(() => deps.compute.deployImage(req));
    },

    async scaleService(target: ComputeTarget, colour: Colour, desiredCount: number): Promise<ServiceState> {
      return classify(() => deps.compute.scale(target, colour, desiredCount));
    },

    /** Polls until the service is stable; the activity's start-to-close timeout bounds it. */
    async waitForStable(target: ComputeTarget, colour: Colour): Promise<ServiceState> {
      return classify(async () => {
        for (;;) {
          const state = await deps.compute.describe(target, colour);
          Context.current().heartbeat({ runningCount: state.runningCount, desiredCount: state.desiredCount });
          if (state.stable) return state;
          await activitySleep(pollMs); // throws when the activity is cancelled
        }
      });
    },

    // ------------------------------------------------------------ checks
    async smokeTest(url: string): Promise<SmokeResult> {
      const result = await deps.smoke.check(url);
      if (!result.ok) {
        throw ApplicationFailure.create({ type: ErrorType.SmokeTestFailed, message: `smoke test ${url}: ${result.detail}` });
      }
      return result;
    },

    async measure(spec: MetricsSpec, colour: Colour, windowSeconds: number, endIso?: string): Promise<Measurement> {
      try {
        return await deps.metrics.measure(spec, colour, windowSeconds, endIso ? new Date(endIso) : undefined);
      } catch (err) {
        throw ApplicationFailure.create({ type: ErrorType.MetricsUnavailable, message: (err as Error).message });
      }
    },

    // ------------------------------------------------------------ release train
    /** Releases ready for this environment's train, from the search attributes they keep current. */
    async findWaitingReleases(environment: string): Promise<WaitingRelease[]> {
      const client = temporalOf(deps);
      const query = `BatonKind = 'release' AND BatonPhase = 'waiting_for_train' AND BatonEnvironment = '${environment}' AND ExecutionStatus = 'Running'`;
      const found: WaitingRelease[] = [];
      for await (const wf of client.workflow.list({ query })) {
        const service = wf.searchAttributes?.BatonService?.[0];
        found.push({ id: wf.workflowId, service: typeof service === 'string' ? service : '', startedAt: wf.startTime.toISOString() });
      }
      return found;
    },

    /** Boards one release; a refusal (not ready after all) is an answer, not a failure. */
    async departRelease(id: string, environment: string, departure: string): Promise<{ accepted: boolean; message: string }> {
      try {
        await temporalOf(deps).workflow.getHandle(id).executeUpdate(releaseDepartUpdate, { args: [{ environment, departure }] });
        return { accepted: true, message: 'boarded' };
      } catch (err) {
        if (err instanceof WorkflowUpdateFailedError) return { accepted: false, message: err.cause?.message ?? err.message };
        throw err;
      }
    },

    /** How a boarded release's deployment to `environment` stands: null while it runs. */
    async releaseDeploymentOutcome(id: string, environment: string): Promise<{ outcome: string | null; message: string }> {
      const status = await temporalOf(deps).workflow.getHandle(id).query(releaseStatusQuery);
      const stage = status.environments.find((e) => e.environment === environment);
      const outcome = stage?.deployment?.outcome ?? (status.outcome && status.outcome !== 'succeeded' ? status.outcome : null);
      return { outcome, message: outcome ? (stage?.deployment?.reason ?? status.reason ?? outcome) : 'deploying' };
    },

    // ------------------------------------------------------------ notifications
    /**
     * Posts a run's card (its parent message, or a keyed card in its thread) or a reply. A retry
     * of a parent post first looks for the message a lost attempt may have posted, so a run has
     * one parent message.
     */
    async postMessage(m: PostMessageRequest): Promise<MessageRef> {
      return notifying(async () => {
        if (m.runId && Context.current().info.attempt > 1) {
          // A rate limit applies to the post too: wait for it. Any other failure to look (e.g. a
          // channel given by name, which history does not take) must not stop the post.
          const found = await deps.notifier.findRunMessage(m.channel, m.runId).catch((err: unknown) => {
            if (err instanceof NotifierRateLimited) throw err;
            return null;
          });
          if (found) return found;
        }
        const body = m.card ? renderCard(m.card, linksOf(m.card)) : renderReply(m.text ?? '');
        return deps.notifier.post({ channel: m.channel, threadTs: m.threadTs, runId: m.runId, ...body });
      });
    },

    /** Re-renders a card into the message it was posted as. */
    async updateMessage(ref: MessageRef, card: Card): Promise<void> {
      return notifying(() => deps.notifier.update(ref, renderCard(card, linksOf(card))));
    },
  };
}

function temporalOf(deps: ActivityDeps): Client {
  if (!deps.temporal) throw ApplicationFailure.create({ type: 'WorkerMisconfigured', message: 'this worker has no Temporal client for the release train', nonRetryable: true });
  return deps.temporal;
}

export type Activities = ReturnType<typeof createActivities>;
