// Failovers to a service's disaster-recovery region. For now, readiness: the latest result of
// the `readiness` schedule's checks (src/temporal/readiness.ts) for every service environment
// with `dr` config. The checks themselves run in the worker (workflows/readiness.ts).
import type { Client } from '@temporalio/client';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { BatonConfig } from '../../config';
import { latestReadiness } from '../../temporal/readiness';
import { ReadinessReply, type ReadinessReplyT } from '../failover-schemas';
import { withErrors } from '../schemas';

export interface FailoverRoutesOptions {
  client: Client;
  config: BatonConfig;
}

export const failoverRoutes: FastifyPluginAsyncTypebox<FailoverRoutesOptions> = async (app, { client, config }) => {
  app.get('/failovers/readiness', {
    config: { permission: 'read' },
    schema: {
      summary: 'Disaster-recovery readiness of every service with `dr` config',
      description:
        'The latest checks of the `readiness` schedule: the DR cluster and services exist, they can scale to the production count, the read replica exists '
        + 'and its ReplicaLag is under the RPO (no datapoint fails), and the Route 53 failover records exist with a TTL under the RTO. Each check says what it saw.',
      tags: ['failovers'],
      response: withErrors({ 200: ReadinessReply }),
    },
  }, async (_request, reply) => {
    const entries = await latestReadiness(client, config);
    const services: ReadinessReplyT['services'] = entries.map((e) => ({
      service: e.service,
      environment: e.environment,
      primaryRegion: e.primaryRegion,
      drRegion: e.drRegion,
      checkedAt: e.report?.checkedAt ?? null,
      ok: e.report?.ok ?? false,
      checks: e.report?.checks ?? [],
      failing: e.report ? [...e.report.failing] : ['not-checked'],
    }));
    const failing = services.flatMap((s) =>
      s.checkedAt === null
        ? [{ service: s.service, environment: s.environment, check: 'not-checked', detail: 'readiness has not checked this service environment yet' }]
        : s.checks.filter((c) => !c.ok).map((c) => ({ service: s.service, environment: s.environment, check: c.name, detail: c.detail })),
    );
    const times = services.map((s) => s.checkedAt).filter((t): t is string => t !== null).sort();
    return reply.code(200).send({
      ok: failing.length === 0,
      checkedAt: times.at(-1) ?? null,
      everySeconds: config.readiness.everySeconds,
      failing,
      services,
    });
  });
};
