// Sandbox-only routes (registered when config.sandbox is set): fault injection, region outages
// and pushing images (what CI would do), proxied to the sandbox control server, and the example
// people with their tokens (admin only).
import { readFile } from 'node:fs/promises';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { configRegions, type BatonConfig } from '../../config';
import { BadRequestError, VERSION_PATTERN, serviceEnvironment } from '../../temporal/deployments';
import { ApiError } from '../errors';
import {
  DamageReply,
  ErrorReply,
  FaultBody,
  FaultOrDamageBody,
  FaultsReply,
  SandboxDatabasesReply,
  SandboxPeopleReply,
  SandboxRegionParams,
  SandboxRegionsReply,
  withErrors,
} from '../schemas';
import { damageDatabase, describeSandboxDatabases } from '../../sandbox/databases';
import { databaseSpec } from '../../temporal/restores';

const SandboxImageBody = Type.Object(
  {
    service: Type.String({ minLength: 1, maxLength: 64, examples: ['web'] }),
    version: Type.String({ pattern: VERSION_PATTERN, description: 'the tag to push (a tag that exists moves to the new image)', examples: ['7.1.0'] }),
  },
  { additionalProperties: false },
);

const SandboxImageReply = Type.Object(
  {
    service: Type.String(),
    version: Type.String(),
    digest: Type.String({ description: 'the new image\'s digest, which a release of this version now deploys', examples: ['sha256:5f2c…'] }),
  },
  { title: 'SandboxImage', description: 'The image pushed' },
);

export interface SandboxRoutesOptions {
  config: BatonConfig;
  sandbox: NonNullable<BatonConfig['sandbox']>;
}

const CONTROL_TIMEOUT_MS = 5000;
/** An outage waits for the region's worker to stop (gracefully, else killed after 8 s). */
const REGION_TIMEOUT_MS = 30_000;

export const sandboxRoutes: FastifyPluginAsyncTypebox<SandboxRoutesOptions> = async (app, { config, sandbox }) => {
  /** Asks the control server; its answer must match `schema` (`shape` names it in the error). */
  async function ask<S extends TSchema>(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    schema: S,
    shape: string,
    body?: unknown,
    timeoutMs = CONTROL_TIMEOUT_MS,
  ): Promise<Static<S>> {
    let res: Response;
    try {
      res = await fetch(`${sandbox.controlUrl}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      app.log.warn({ err }, 'sandbox control server unreachable');
      throw new ApiError(502, 'bad_gateway', 'the sandbox control server is not reachable');
    }
    if (res.status === 400) {
      // Our schema checks first, so this is rare; the control server's message names the field.
      const refused = (await res.json().catch(() => null)) as { error?: { message?: unknown; field?: unknown } } | null;
      const message = typeof refused?.error?.message === 'string' ? refused.error.message : 'the sandbox control server refused the request';
      throw new BadRequestError(typeof refused?.error?.field === 'string' ? refused.error.field : 'body', message);
    }
    if (!res.ok) {
      app.log.warn({ status: res.status, body: await res.text().catch(() => '') }, 'sandbox control server refused');
      throw new ApiError(502, 'bad_gateway', `the sandbox control server answered ${res.status}`);
    }
    const answer: unknown = await res.json().catch(() => null);
    if (!Value.Check(schema, answer)) throw new ApiError(502, 'bad_gateway', `the sandbox control server answered something other than ${shape}`);
    return answer;
  }

  const control = (method: 'GET' | 'POST' | 'DELETE', body?: unknown) => ask(method, '/faults', FaultsReply, '{faults: [...]}', body);
  const regions = (method: 'GET' | 'POST' | 'DELETE', path = '/regions') => ask(method, path, SandboxRegionsReply, '{regions: [...]}', undefined, REGION_TIMEOUT_MS);

  /** A fault names a configured service and environment (else 400, before the control server is asked). */
  const checkTarget = (body: { service: string; environment: string }): void => {
    serviceEnvironment(config, body.service, body.environment);
  };

  const faultSchema = (summary: string) => ({
    summary,
    tags: ['sandbox'],
    body: FaultBody,
    response: withErrors({ 200: FaultsReply, 502: ErrorReply }),
  });

  app.post('/sandbox/faults', {
    config: { permission: 'deploy', does: 'inject sandbox faults' },
    schema: {
      summary: 'Make a colour unhealthy (error rate, added latency), or damage a database (drop a table, delete rows)',
      tags: ['sandbox'],
      body: FaultOrDamageBody,
      response: withErrors({ 200: Type.Union([FaultsReply, DamageReply]), 502: ErrorReply }),
    },
  }, async (request, reply) => {
    const body = request.body;
    if ('database' in body) {
      const spec = databaseSpec(config, body.database, body.environment);
      try {
        return reply.code(200).send({ done: await damageDatabase(spec.target, body.damage, body.table) });
      } catch (err) {
        throw new BadRequestError(body.table ? 'table' : 'database', (err as Error).message);
      }
    }
    checkTarget(body);
    return reply.code(200).send(await control('POST', body));
  });

  app.get('/sandbox/databases', {
    config: { permission: 'read' },
    schema: { summary: 'The sandbox\'s databases, with a psql URL and each table\'s row count', tags: ['sandbox'], response: withErrors({ 200: SandboxDatabasesReply }) },
  }, async (_request, reply) => {
    return reply.code(200).send(await describeSandboxDatabases(config));
  });

  app.delete('/sandbox/faults', {
    config: { permission: 'deploy', does: 'heal sandbox faults' },
    schema: faultSchema('Heal a colour'),
  }, async (request, reply) => {
    checkTarget(request.body);
    return reply.code(200).send(await control('DELETE', request.body));
  });

  app.get('/sandbox/faults', {
    config: { permission: 'read' },
    schema: { summary: 'The faults in force', tags: ['sandbox'], response: withErrors({ 200: FaultsReply, 502: ErrorReply }) },
  }, async (_request, reply) => {
    return reply.code(200).send(await control('GET'));
  });

  app.get('/sandbox/regions', {
    config: { permission: 'read' },
    schema: {
      summary: 'The sandbox\'s regions: which worker serves each, whether it runs, and the outages in force',
      tags: ['sandbox'],
      response: withErrors({ 200: SandboxRegionsReply, 502: ErrorReply }),
    },
  }, async (_request, reply) => {
    return reply.code(200).send(await regions('GET'));
  });

  /** A region of the config (else 400 naming them, before the control server is asked). */
  const checkRegion = (region: string): void => {
    const known = configRegions(config);
    if (!known.includes(region)) throw new BadRequestError('region', `region: unknown region '${region}' (known: ${known.join(', ')})`);
  };

  const outageSchema = (summary: string) => ({
    summary,
    tags: ['sandbox'],
    params: SandboxRegionParams,
    response: withErrors({ 200: SandboxRegionsReply, 502: ErrorReply }),
  });

  // Idempotent, as every write: an outage already on stays on (its `since` unchanged); ending
  // one that is not on changes nothing.
  app.post('/sandbox/regions/:region/outage', {
    config: { permission: 'deploy', does: 'take sandbox regions out' },
    schema: outageSchema('Take a region out: every AWS call into it fails (503 ServiceUnavailable; Route 53, being global, still works) and its worker stops'),
  }, async (request, reply) => {
    checkRegion(request.params.region);
    return reply.code(200).send(await regions('POST', `/regions/${encodeURIComponent(request.params.region)}/outage`));
  });

  app.delete('/sandbox/regions/:region/outage', {
    config: { permission: 'deploy', does: 'bring sandbox regions back' },
    schema: outageSchema('End a region\'s outage: AWS calls into it work again and its worker starts'),
  }, async (request, reply) => {
    checkRegion(request.params.region);
    return reply.code(200).send(await regions('DELETE', `/regions/${encodeURIComponent(request.params.region)}/outage`));
  });

  app.post('/sandbox/images', {
    config: { permission: 'admin', does: 'push sandbox images' },
    schema: {
      summary: 'Push a new image of a service under a tag, as CI does after a build',
      description:
        'Releases resolve their tag to a digest in ECR when they start, so a version must be pushed before it is released. '
        + 'Each push is a new image with its own digest; pushing a tag again moves it (a release already running keeps the digest it started with).',
      tags: ['sandbox'],
      body: SandboxImageBody,
      response: withErrors({ 200: SandboxImageReply, 502: ErrorReply }),
    },
  }, async (request, reply) => {
    const { service, version } = request.body;
    if (!Object.hasOwn(config.services, service)) {
      throw new BadRequestError('service', `service: unknown service '${service}' (known: ${Object.keys(config.services).join(', ')})`);
    }
    return reply.code(200).send(await ask('POST', '/images', SandboxImageReply, '{service, version, digest}', { service, version }));
  });

  app.get('/sandbox/people', {
    config: { permission: 'admin', does: 'list sandbox people' },
    schema: { summary: 'The sandbox\'s example people and their tokens', tags: ['sandbox'], response: withErrors({ 200: SandboxPeopleReply }) },
  }, async (_request, reply) => {
    const people: unknown = JSON.parse(await readFile(sandbox.peopleFile, 'utf8'));
    if (!Value.Check(SandboxPeopleReply, people)) throw new Error(`${sandbox.peopleFile} is not a list of {name, roles, token}`);
    return reply.code(200).send(people.map((p) => ({ name: p.name, roles: p.roles, token: p.token })));
  });
};
