// The HTTP API as a factory (fastify/demo): buildApp() registers every plugin explicitly and
// never listens, so tests drive it with inject() and server.ts owns the socket.
import Fastify, { type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import rateLimit from '@fastify/rate-limit';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Client } from '@temporalio/client';
import { hashToken, type BatonConfig, type Permission } from '../config';
import { version } from '../../package.json';
import { authorize } from './auth';
import { decisionSigner } from '../temporal/signer';
import { newDecisionSecret } from '../domain/signing';
import { ApiError, errorHandler, notFoundHandler } from './errors';
import { createApiMetrics } from './metrics';
import { codecRoutes } from './routes/codec';
import { deploymentRoutes } from './routes/deployments';
import { failoverRoutes } from './routes/failovers';
import { freezeRoutes } from './routes/freezes';
import { operationsRoutes } from './routes/operations';
import { releaseRoutes } from './routes/releases';
import { restoreRoutes } from './routes/restores';
import { sandboxRoutes } from './routes/sandbox';
import { scheduleRoutes } from './routes/schedules';
import { slackRoutes } from './routes/slack';
import type { ImageRegistry } from '../providers/types';

export interface AppDeps {
  client: Client;
  config: BatonConfig;
  /** Log (pino, JSON lines) at this level, or not at all. Default false. */
  logger?: boolean | { level: string };
  /** How long /readyz waits for Temporal. Default 2 s. */
  readyTimeoutMs?: number;
  /**
   * How recently a worker must have polled the main task queue (workflow and activity tasks)
   * for /readyz to answer 200; null: /readyz does not look at workers. Default 2 minutes.
   */
  readyWorkersWithinMs?: number | null;
  /**
   * The deadline of every call to Temporal a request makes: past it the request is answered 503
   * instead of waiting on a stuck or unreachable server. Default 4 s.
   */
  temporalDeadlineMs?: number;
  /**
   * Slack (from the environment): the signing secret that /slack/* requests must be signed
   * with (none: they are refused), the bot token for answering (none: answers are logged), the
   * Web API URL, and how long a slash command may take before it is answered "Working on it…"
   * (default 2500 ms).
   */
  slack?: { signingSecret?: string; botToken?: string; apiUrl?: string; replyWithinMs?: number };
  /**
   * The secret half of the decision key (hex, BATON_DECISION_KEY): every decision the API sends a
   * run is signed with it, and runs it starts carry the public half. Default: one new key per
   * process (fine for tests; server.ts insists on a stable one, or running runs would refuse its
   * decisions after a restart).
   */
  decisionKey?: string;
  /**
   * Where a starting release resolves its tag to the digest every environment deploys. Default:
   * ECR through the standard AWS credential chain (server.ts passes BATON_AWS_ENDPOINT_URL's).
   */
  registry?: ImageRegistry;
}

/** Without a configured key, one per process: every app built here signs alike (tests build several). */
let processKey: string | null = null;
function processDecisionKey(): string {
  processKey ??= newDecisionSecret();
  return processKey;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { client, config } = deps;
  const app = Fastify({
    logger: deps.logger ?? false,
    bodyLimit: 64 * 1024,
    // Ids are long (a deployment id with a 64-character version is 137); the schemas bound them.
    routerOptions: { maxParamLength: 512 },
    ajv: {
      // Refuse what the schemas do not describe, rather than silently dropping or converting it.
      customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false },
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  // JSON in and out: anything else is a 415, not a string the schemas then puzzle over.
  app.removeContentTypeParser('text/plain');
  app.decorateRequest('person', null);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);

  // Every handler's calls to Temporal share one deadline (gRPC carries it, so it covers queries,
  // Updates' long polls and retries alike): a stuck server is a 503, never a hung request. The
  // client only notices a passed deadline at its next retry of a refused call (backing off up to
  // 5 s), so the handler is also raced against the deadline itself.
  // Before any route: onRoute only sees routes added after it.
  const temporalDeadlineMs = deps.temporalDeadlineMs ?? DEFAULT_TEMPORAL_DEADLINE_MS;
  app.addHook('onRoute', (route) => {
    const handler = route.handler;
    route.handler = async function withTemporalDeadline(request, reply) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new ApiError(503, 'unavailable', `Temporal did not answer within ${temporalDeadlineMs / 1000} s; try again shortly`)), temporalDeadlineMs + 250);
      });
      try {
        return await Promise.race([client.connection.withDeadline(Date.now() + temporalDeadlineMs, async () => handler.call(this, request, reply)), late]);
      } finally {
        clearTimeout(timer);
      }
    };
  });
  // The route table as registered, each route with the permission it declares (routeTable()).
  const routes: RouteEntry[] = [];
  routeTables.set(app, routes);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url, permission: route.config?.permission ?? null });
  });

  await limitRequests(app, config);

  // Swagger collects routes as they are added, so it comes first.
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Baton API',
        version,
        description: 'Blue/green deployments on AWS ECS, run as durable Temporal workflows. Errors are `{error: {code, message}}`.',
      },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearerAuth: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  const metrics = createApiMetrics(app, client, { countTimeoutMs: deps.readyTimeoutMs ?? 2000 });
  await app.register(operationsRoutes, {
    client,
    config,
    metrics,
    readyTimeoutMs: deps.readyTimeoutMs,
    readyWorkersWithinMs: deps.readyWorkersWithinMs === undefined ? DEFAULT_READY_WORKERS_WITHIN_MS : deps.readyWorkersWithinMs,
  });
  // Slack signs its requests instead of sending a token: outside /v1, with its own body parser.
  const signer = decisionSigner(deps.decisionKey ?? processDecisionKey());
  await app.register(slackRoutes, { client, config, signer, ...deps.slack });
  // The Temporal UI's remote codec, when the client encrypts payloads: a token or a session cookie, outside /v1.
  await app.register(codecRoutes, { client, config });

  // Everything under /v1 needs a token and a role (each route names its permission).
  await app.register(async (v1) => {
    v1.addHook('onRequest', authorize(config));
    await v1.register(deploymentRoutes, { client, config, signer });
    await v1.register(releaseRoutes, { client, config, signer, registry: deps.registry });
    await v1.register(freezeRoutes, { client, config });
    await v1.register(restoreRoutes, { client, config, signer });
    await v1.register(scheduleRoutes, { client, config });
    await v1.register(failoverRoutes, { client, config, signer });
    if (config.sandbox) await v1.register(sandboxRoutes, { config, sandbox: config.sandbox });
  }, { prefix: '/v1' });

  return app;
}

/** A route of the app: one method, its full URL (with the prefix), and the permission its config names. */
export interface RouteEntry {
  method: string;
  url: string;
  /** `config.permission`; null on routes that need none (health, Slack's signed ones, ...). */
  permission: Permission | null;
}

const routeTables = new WeakMap<FastifyInstance, RouteEntry[]>();

/**
 * Every route buildApp registered (HEAD twins of GET routes included), in order: what the
 * authorization matrix test walks, so a route that forgets its permission cannot go unnoticed.
 */
export function routeTable(app: FastifyInstance): readonly RouteEntry[] {
  return routeTables.get(app) ?? [];
}

const DEFAULT_TEMPORAL_DEADLINE_MS = 4000;
/**
 * An idle worker's polls are long polls of about a minute, so its last poll may be a minute old;
 * twice that means no worker is polling any more.
 */
const DEFAULT_READY_WORKERS_WITHIN_MS = 120_000;

/** Health checks are never limited: an orchestrator probing them must always get an answer. */
const UNLIMITED = new Set(['/healthz', '/readyz']);

/**
 * Requests per client address and per bearer token (config `api.rateLimit`), counted in this
 * process. Over either limit: 429 with Retry-After, before authentication, so guessing tokens
 * is limited too.
 */
async function limitRequests(app: FastifyInstance, config: BatonConfig): Promise<void> {
  const { perAddress, perToken, windowSeconds } = config.api.rateLimit;
  await app.register(rateLimit, { global: false });
  const timeWindow = windowSeconds * 1000;
  const byAddress = app.createRateLimit({ max: perAddress, timeWindow, keyGenerator: (request) => `address:${request.ip}` });
  // Keyed by the token's hash: the limiter's memory never holds a credential.
  const byToken = app.createRateLimit({ max: perToken, timeWindow, keyGenerator: (request) => `token:${hashToken(bearerOf(request.headers.authorization) ?? '')}` });
  const window = windowSeconds % 60 === 0 ? `${windowSeconds / 60} min` : `${windowSeconds} s`;
  app.addHook('onRequest', async (request, reply) => {
    if (UNLIMITED.has(request.routeOptions.url ?? '')) return;
    const checks: Array<[typeof byAddress, string]> = [[byAddress, `from ${request.ip}`]];
    if (bearerOf(request.headers.authorization)) checks.push([byToken, 'with this token']);
    for (const [limit, who] of checks) {
      const verdict = await limit(request);
      if (verdict.isAllowed || !verdict.isExceeded) continue;
      void reply.header('retry-after', String(verdict.ttlInSeconds));
      throw new ApiError(429, 'too_many_requests', `too many requests ${who}: at most ${verdict.max} per ${window}; retry in ${verdict.ttlInSeconds} s`);
    }
  });
}

function bearerOf(header: string | undefined): string | null {
  return /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '')?.[1] ?? null;
}
