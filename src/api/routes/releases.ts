// Releases: start one, read its status, post checks, approve or reject a gate, cancel. Who may
// approve is the gate's business (the workflow's validator), not a route permission: any caller
// who may read a release may submit a decision, as themselves, with their roles from config.
import type { Client } from '@temporalio/client';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { gateFor, type BatonConfig } from '../../config';
import { buildReleaseInput, cancelRelease, decide, getReleaseStatus, postCheck, resolveReleaseDigest, startRelease } from '../../temporal/releases';
import { createEcrRegistry } from '../../providers/ecr';
import { RegistryError, type ImageRegistry } from '../../providers/types';
import { caller } from '../auth';
import { attestRefusal, cancelRefusal, checkRuleOf } from '../../domain/policy';
import { ForbiddenError } from '../../temporal/deployments';
import type { DecisionSigner } from '../../temporal/signer';
import { ApiError, checkMayDecide } from '../errors';
import {
  ApprovalBody,
  CheckBody,
  ReleaseActionBody,
  ReleaseParams,
  ReleaseStatusSchema,
  StartReleaseBody,
  StartReleaseReply,
} from '../release-schemas';
import { ErrorReply, withErrors } from '../schemas';
import { runLinksOf } from '../run-links';

export interface ReleaseRoutesOptions {
  client: Client;
  config: BatonConfig;
  signer: DecisionSigner;
  /** Where a starting release resolves its tag to a digest; default ECR with the standard AWS settings (credential chain, region). */
  registry?: ImageRegistry;
}

export const releaseRoutes: FastifyPluginAsyncTypebox<ReleaseRoutesOptions> = async (app, { client, config, signer, registry = createEcrRegistry({}) }) => {
  const links = runLinksOf('releases', ['checks', 'approvals', 'actions'] as const, config, client);

  app.post('/releases', {
    config: { permission: 'release', does: 'start releases' },
    schema: {
      summary: 'Start promoting a version through the environments',
      description:
        'Promotes one version of one service through the configured environments in order (e.g. dev → staging → prod), '
        + 'each behind its gate. A second start of a running release gets 409 with its id; an ended one may be started again. '
        + 'The tag is resolved to its digest in the registry (ECR) when the release starts, and every environment deploys that digest: '
        + '400 for `latest` or a tag the registry does not have; a `digest` given by the caller is deployed as is, but 409 when the registry says the tag points elsewhere; '
        + '503 when the registry does not answer.',
      tags: ['releases'],
      body: StartReleaseBody,
      response: withErrors({ 201: StartReleaseReply, 409: ErrorReply, 503: ErrorReply }),
    },
  }, async (request, reply) => {
    const { service, version, hotfix } = request.body;
    let digest: string;
    try {
      digest = await resolveReleaseDigest(config, { service, version, digest: request.body.digest }, registry);
    } catch (err) {
      if (err instanceof RegistryError) throw new ApiError(503, 'unavailable', `${err.message}; try again shortly, or give the digest (digest: sha256:...)`);
      throw err;
    }
    const input = buildReleaseInput(config, { service, version, hotfix, digest, requestedBy: caller(request).name }, signer);
    const { id } = await startRelease(client, config.temporal.taskQueue, input);
    const status = await getReleaseStatus(client, id);
    const l = links(id);
    return reply.code(201).header('location', l.self).send({ id, status, links: l });
  });

  app.get('/releases/:id', {
    config: { permission: 'read' },
    schema: {
      summary: 'A release\'s status',
      description: 'Every environment\'s gate (checks with links, approvals with who, when and comment, what is pending in plain words, the next train) and deployment.',
      tags: ['releases'],
      params: ReleaseParams,
      response: withErrors({ 200: ReleaseStatusSchema, 404: ErrorReply }),
    },
  }, async (request, reply) => {
    return reply.code(200).send(await getReleaseStatus(client, request.params.id));
  });

  app.post('/releases/:id/checks', {
    config: { permission: 'read', does: 'post release checks' },
    schema: {
      summary: 'Record a pre-promotion check',
      description:
        'A named attestation (CI, security scan, release notes). The newest record of each name counts: a failed check blocks its gates until a newer passing one arrives. '
        + 'Who may attest is the check\'s rule (config `checks.<name>.attestedBy`; a check config does not name: whoever may start releases): 403 for anyone else, '
        + 'and for the release\'s requester attesting a check a gate requires (unless the check allows it). A release keeps at most 100 results.',
      tags: ['releases'],
      params: ReleaseParams,
      body: CheckBody,
      response: withErrors({ 200: ReleaseStatusSchema, 404: ErrorReply, 409: ErrorReply }),
    },
  }, async (request, reply) => {
    const { name, status, url } = request.body;
    const person = caller(request);
    // The run judges again (by its own snapshot); refusing here first answers a clear 403 without sending anything.
    const release = await getReleaseStatus(client, request.params.id);
    const required = config.promotion.some((env) => gateFor(config, release.service, env)?.checks.includes(name) ?? false);
    const why = attestRefusal(checkRuleOf(config, name), person, { name, requestedBy: release.requestedBy, required });
    if (why) throw new ForbiddenError(why.message);
    const updated = await postCheck(client, request.params.id, { name, status, url: url ?? null, by: person.name }, { signer });
    return reply.code(200).send(updated);
  });

  app.post('/releases/:id/approvals', {
    config: { permission: 'read', does: 'decide on releases' },
    schema: {
      summary: 'Approve or reject a gate, as the caller',
      description:
        'The gate\'s rules decide: 403 for a caller without a role the gate needs or the release\'s requester approving their own release; '
        + '409 for a second decision by the same person, a gate that is not open, or one that has expired. A refused decision changes nothing. '
        + 'A rejection ends the release.',
      tags: ['releases'],
      params: ReleaseParams,
      body: ApprovalBody,
      response: withErrors({ 200: ReleaseStatusSchema, 404: ErrorReply, 409: ErrorReply }),
    },
  }, async (request, reply) => {
    const person = caller(request);
    const { environment, decision, comment } = request.body;
    // Who could ever decide on this gate (its rules' roles; the hotfix role where it waives stability), before its state.
    const service = /^release:([^:]+):[^:]+$/.exec(request.params.id)?.[1];
    const gate = service ? gateFor(config, service, environment) : null;
    if (gate) {
      const hotfixRole = config.hotfix && gate.stabilitySeconds > 0 ? [config.hotfix.approvalRole] : [];
      checkMayDecide(person, [...gate.approvals.map((r) => r.role), ...hotfixRole], `gate '${environment}'`);
    }
    const updated = await decide(client, request.params.id, {
      environment,
      decision,
      comment: comment ?? null,
      by: person.name,
      roles: [...person.roles],
    }, { signer });
    return reply.code(200).send(updated);
  });

  app.post('/releases/:id/actions', {
    config: { permission: 'read', does: 'cancel releases' },
    schema: {
      summary: 'Cancel a release',
      description: 'A deployment in flight rolls back. 409 once the release has ended. Only the requester, a holder of a cancel role (config `cancel.roles`, default release-manager) or an admin may cancel (403).',
      tags: ['releases'],
      params: ReleaseParams,
      body: ReleaseActionBody,
      response: withErrors({ 200: ReleaseStatusSchema, 404: ErrorReply, 409: ErrorReply }),
    },
  }, async (request, reply) => {
    const { reason } = request.body;
    const person = caller(request);
    const why = cancelRefusal(config.cancelRoles, person, (await getReleaseStatus(client, request.params.id)).requestedBy, 'release');
    if (why) throw new ForbiddenError(why.message);
    return reply.code(200).send(await cancelRelease(client, request.params.id, { reason, by: person.name }, { signer }));
  });
};
