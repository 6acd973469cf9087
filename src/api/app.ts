// The HTTP API as a factory (fastify/demo): buildApp() registers every plugin explicitly and
// never listens, so tests drive it with inject() and server.ts owns the socket.
import Fastify, { type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Client } from '@temporalio/client';
import type { BatonConfig } from '../config';
import { version } from '../../package.json';
import { authorize } from './auth';
import { errorHandler, notFoundHandler } from './errors';
import { createApiMetrics } from './metrics';
import { deploymentRoutes } from './routes/deployments';
import { failoverRoutes } from './routes/failovers';
import { freezeRoutes } from './routes/freezes';
import { operationsRoutes } from './routes/operations';
import { releaseRoutes } from './routes/releases';
import { restoreRoutes } from './routes/restores';
import { sandboxRoutes } from './routes/sandbox';
import { scheduleRoutes } from './routes/schedules';
import { slackRoutes } from './routes/slack';

export interface AppDeps {
  client: Client;
  config: BatonConfig;
  /** Log (pino, JSON lines) at this level, or not at all. Default false. */
  logger?: boolean | { level: string };
  /** How long /readyz waits for Temporal. Default 2 s. */
  readyTimeoutMs?: number;
  /**
   * Slack (from the environment): the signing secret that /slack/* requests must be signed
   * with (none: they are refused), the bot token for answering (none: answers are logged), the
   * Web API URL, and how long a slash command may take before it is answered "Working on it…"
   * (default 2500 ms).
   */
  slack?: { signingSecret?: string; botToken?: string; apiUrl?: string; replyWithinMs?: number };
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { client, config } = deps;
  const app = Fastify({
    logger: deps.logger ?? false,
    bodyLimit: 64 * 1024,
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
  await app.register(operationsRoutes, { client, config, metrics, readyTimeoutMs: deps.readyTimeoutMs });
  // Slack signs its requests instead of sending a token: outside /v1, with its own body parser.
  await app.register(slackRoutes, { client, config, ...deps.slack });

  // Everything under /v1 needs a token and a role (each route names its permission).
  await app.register(async (v1) => {
    v1.addHook('onRequest', authorize(config));
    await v1.register(deploymentRoutes, { client, config });
    await v1.register(releaseRoutes, { client, config });
    await v1.register(freezeRoutes, { client, config });
    await v1.register(restoreRoutes, { client, config });
    await v1.register(scheduleRoutes, { client, config });
    await v1.register(failoverRoutes, { client, config });
    if (config.sandbox) await v1.register(sandboxRoutes, { config, sandbox: config.sandbox });
  }, { prefix: '/v1' });

  return app;
}
