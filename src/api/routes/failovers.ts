// Failovers to a service's disaster-recovery region, failbacks and drills: preview, start, read,
// approve or confirm, cancel (src/temporal/failovers.ts; the run is workflows/failover.ts). And
// readiness: the latest result of the `readiness` schedule's checks (src/temporal/readiness.ts)
// for every service environment with `dr` config.
import type { Client } from '@temporalio/client';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ownEntry, type BatonConfig } from '../../config';
import { latestReadiness } from '../../temporal/readiness';
import { cancelFailover, decideFailover, getFailoverStatus, previewFailover, startFailover } from '../../temporal/failovers';
import { cancelRefusal } from '../../domain/policy';
import { ForbiddenError } from '../../temporal/deployments';
import type { DecisionSigner } from '../../temporal/signer';
import { caller } from '../auth';
import { checkMayDecide } from '../errors';
import {
  FailoverActionBody,
  FailoverApprovalBody,
  FailoverBody,
  FailoverParams,
  FailoverPreviewSchema,
  FailoverStatusSchema,
  ReadinessReply,
  StartFailoverReply,
  type ReadinessReplyT,
} from '../failover-schemas';
import { ErrorReply, withErrors } from '../schemas';
import { runLinksOf } from '../run-links';

export interface FailoverRoutesOptions {
  client: Client;
  config: BatonConfig;
  signer: DecisionSigner;
}

export const failoverRoutes: FastifyPluginAsyncTypebox<FailoverRoutesOptions> = async (app, { client, config, signer }) => {
  const links = runLinksOf('failovers', ['approvals', 'actions'] as const, config, client);

  app.post('/failovers/plan', {
    config: { permission: 'read' },
    schema: {
      summary: 'Preview a failover, failback or drill',
      description: 'Changes nothing. The steps the run would take, the objectives, who must approve, and the latest readiness checks (the preflight the run repeats). A request the run would refuse is refused here the same way.',
      tags: ['failovers'],
      body: FailoverBody,
      response: withErrors({ 200: FailoverPreviewSchema }),
    },
  }, async (request, reply) => {
    return reply.code(200).send(await previewFailover(client, config, request.body, caller(request)));
  });

  app.post('/failovers', {
    config: { permission: 'failover', does: 'request failovers, failbacks or drills' },
    schema: {
      summary: 'Fail over to the DR region, fail back, or run a drill',
      description:
        'planned: approval (the environment\'s release rules), preflight, fence, catch up, promote, scale, smoke-test, switch DNS, monitor. '
        + 'emergency: at once, by someone with the emergency role; an unfenced primary needs a second person\'s confirmation. '
        + 'failback: approval, rebuild replication home, the same fenced switch home, DR back to standby. drill: over and back, leaving nothing behind. '
        + '409 with the running one\'s id while another failover of the service environment runs.',
      tags: ['failovers'],
      body: FailoverBody,
      response: withErrors({ 201: StartFailoverReply, 409: ErrorReply }),
    },
  }, async (request, reply) => {
    const person = caller(request);
    const { id } = await startFailover(client, config, request.body, person, person.name, signer);
    const status = await getFailoverStatus(client, id);
    const l = links(id);
    return reply.code(201).header('location', l.self).send({ id, status, links: l });
  });

  app.get('/failovers/:id', {
    config: { permission: 'read' },
    schema: { summary: 'A failover\'s status and report', tags: ['failovers'], params: FailoverParams, response: withErrors({ 200: FailoverStatusSchema, 404: ErrorReply }) },
  }, async (request, reply) => {
    return reply.code(200).send(await getFailoverStatus(client, request.params.id));
  });

  app.post('/failovers/:id/approvals', {
    config: { permission: 'read' },
    schema: {
      summary: 'Approve or reject a failover, or confirm an unfenced promotion',
      description:
        'While it waits for approval: the environment\'s release rules (a role they name, never the requester, each person once). While an emergency waits for confirmation: someone other than who started it, with the emergency role. 403 or 409 otherwise, changing nothing. '
        + 'Who may never decide (neither a role the rules name nor the emergency role) gets 403 whatever the failover\'s state; the run judges the decision again, by the people and roles it fixed when it started.',
      tags: ['failovers'],
      params: FailoverParams,
      body: FailoverApprovalBody,
      response: withErrors({ 200: FailoverStatusSchema, 404: ErrorReply, 409: ErrorReply }),
    },
  }, async (request, reply) => {
    const person = caller(request);
    // Approvers (the release rules) and confirmers (the emergency role) are all who could ever decide.
    const [, service, environment] = /^failover:([^:]+):([^:]+):/.exec(request.params.id) ?? [];
    const spec = service && environment ? ownEntry(ownEntry(config.services, service)?.dr ?? {}, environment) : undefined;
    if (spec) checkMayDecide(person, [...spec.approvals.map((r) => r.role), spec.emergency.role], 'this failover');
    // `roles` only counts for runs started without people (older runs, scheduled drills).
    const decision = { decision: request.body.decision, comment: request.body.comment ?? null, by: person.name, roles: [...person.roles] };
    return reply.code(200).send(await decideFailover(client, request.params.id, decision, { signer }));
  });

  app.post('/failovers/:id/actions', {
    config: { permission: 'read', does: 'cancel failovers' },
    schema: {
      summary: 'Cancel a failover',
      description:
        'Before DNS moves, what it changed is undone (the region left unfenced, a promoted replica rebuilt); a drill always converges back to where it started. After DNS moved, a failback is the way home. 409 once it has ended. '
        + 'Only the requester, a holder of a cancel role (config `cancel.roles`, default release-manager) or an admin may cancel (403).',
      tags: ['failovers'],
      params: FailoverParams,
      body: FailoverActionBody,
      response: withErrors({ 200: FailoverStatusSchema, 404: ErrorReply, 409: ErrorReply }),
    },
  }, async (request, reply) => {
    const person = caller(request);
    const why = cancelRefusal(config.cancelRoles, person, (await getFailoverStatus(client, request.params.id)).requestedBy, 'failover');
    if (why) throw new ForbiddenError(why.message);
    return reply.code(200).send(await cancelFailover(client, request.params.id, { reason: request.body.reason, by: person.name }, { signer }));
  });

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
