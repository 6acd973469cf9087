// Slack's two endpoints: `POST /slack/interactions` (the approval buttons and the rejection
// modal) and `POST /slack/commands` (`/baton ...`). Slack authenticates with a signature over
// the raw body (src/slack/verify.ts), not a bearer token, so this plugin sits outside /v1 and
// keeps its own body parser: every body arrives as the exact string Slack signed.
//
// Invariants:
//  - Nothing happens before the signature is verified: a request that fails is a 401 and no
//    Update is sent, no Slack call is made. A signed request from another workspace or app than
//    the configured ones (config `notifications.slackTeamId` / `slackAppId`) is a 403.
//  - Answers go only to Slack: a command's response_url must be on hooks.slack.com (or on the
//    configured Slack API URL's host, as with a local fake); any other is dropped and logged.
//  - The same rules as the API: a Slack user maps to a config person, a decision gets the
//    API's first check (a role the gate names), then is the same signed release Update with
//    that person's name and roles, so the gate's validator decides.
//  - Slack wants an answer within 3 s. Interactions are acknowledged at once and finished in
//    the background; commands answer directly when done within `replyWithinMs`, else say
//    "Working on it…" and post the answer to the command's response_url later. Background
//    work is tracked, and closing the app waits for it.
//  - A replayed or double-clicked interaction decides once: the Update id comes from the
//    interaction (the approval message and the clicker; the rejection modal's view).
import type { FastifyBaseLogger, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { Client } from '@temporalio/client';
import { gateFor, type BatonConfig, type Permission, type Person } from '../../config';
import type { DeploymentStatus } from '../../domain/deployment';
import { formatDuration } from '../../domain/durations';
import { SLACK_ACTIONS, type RunKind } from '../../domain/notices';
import { createSlackClient } from '../../providers/slack';
import { parseCommand, USAGE, type SlashCommand } from '../../slack/commands';
import { escapeMrkdwn, linksText, rejectModal, runLinks } from '../../slack/blocks';
import { verifySlackSignature } from '../../slack/verify';
import {
  BadRequestError,
  ConflictError,
  NotFoundError,
  actAs,
  deployAs,
  getDeploymentStatus,
  runningDeployment,
  serviceEnvironment,
} from '../../temporal/deployments';
import { listFreezes } from '../../temporal/freezes';
import type { DecisionSigner } from '../../temporal/signer';
import { ForbiddenError, decide, getReleaseStatus } from '../../temporal/releases';
import { BatonEnvironment, BatonKind, BatonService, type ReleaseStatus } from '../../../workflows/messages';
import { may, rolesWith } from '../auth';
import { ApiError, checkMayDecide, isTemporalUnavailable, type ErrorBody } from '../errors';

export interface SlackRoutesOptions {
  client: Client;
  config: BatonConfig;
  /** Signs each decision a click or command makes (the runs refuse unsigned ones). */
  signer: DecisionSigner;
  /** Without it every request is refused (401): Slack is not configured. */
  signingSecret?: string;
  /** Without it, what would be posted to Slack (ephemeral refusals, the modal) is logged instead. */
  botToken?: string;
  /** Slack's Web API base URL; tests point it at a local fake. */
  apiUrl?: string;
  /** How long a command may take before it is answered "Working on it…". Default 2500 ms. */
  replyWithinMs?: number;
}

/** A slash command's answer (also what is POSTed to its response_url when late). */
export interface CommandAnswer {
  response_type: 'ephemeral' | 'in_channel';
  text: string;
}

const FORM = 'application/x-www-form-urlencoded';
/** Slack's payloads carry the whole message they came from; more than the API's 64 KiB. */
const BODY_LIMIT = 1024 * 1024;
const SLACK_TIMEOUT_MS = 10_000;
/**
 * The deadline of the Temporal calls of work Slack does not wait for (late command answers,
 * decisions from clicks): longer than a request's, since nobody's connection hangs on it.
 */
const SLACK_WORK_DEADLINE_MS = 20_000;
/** Where Slack's response_urls point. */
const SLACK_RESPONSE_HOST = 'hooks.slack.com';
/** The longest comment the API takes with a decision. */
const MAX_COMMENT = 2000;

// ---------------------------------------------------------------- payloads (the parts we read)
const ButtonValue = Type.Object({ release: Type.String({ minLength: 1, maxLength: 200 }), environment: Type.String({ minLength: 1, maxLength: 64 }) });
const ModalMeta = Type.Object({ ...ButtonValue.properties, channel: Type.String({ minLength: 1 }), messageTs: Type.String({ minLength: 1 }) });
const User = Type.Object({ id: Type.String({ minLength: 1 }) });
const Interaction = Type.Object({ type: Type.String(), user: User });
const BlockActions = Type.Object({
  type: Type.Literal('block_actions'),
  user: User,
  trigger_id: Type.Optional(Type.String()),
  channel: Type.Optional(Type.Object({ id: Type.String() })),
  container: Type.Optional(Type.Object({ channel_id: Type.Optional(Type.String()), message_ts: Type.Optional(Type.String()), thread_ts: Type.Optional(Type.String()) })),
  message: Type.Optional(Type.Object({ ts: Type.Optional(Type.String()), thread_ts: Type.Optional(Type.String()) })),
  actions: Type.Array(Type.Object({ action_id: Type.String(), value: Type.Optional(Type.String()) })),
});
const InputValue = Type.Object({ value: Type.Optional(Type.Union([Type.String(), Type.Null()])) });
const ViewSubmission = Type.Object({
  type: Type.Literal('view_submission'),
  user: User,
  view: Type.Object({
    id: Type.String({ minLength: 1 }),
    callback_id: Type.String(),
    private_metadata: Type.String(),
    state: Type.Object({ values: Type.Record(Type.String(), Type.Record(Type.String(), InputValue)) }),
  }),
});

/** What each command needs, in the words of the API's 403. */
const NEEDS: Record<'status' | 'deploy' | 'rollback', { permission: Permission; does: string }> = {
  status: { permission: 'read', does: 'read statuses' },
  deploy: { permission: 'deploy', does: 'start deployments' },
  rollback: { permission: 'deploy', does: 'act on deployments' },
};

function errorBody(code: string, message: string): ErrorBody {
  return { error: { code, message } };
}

/** Slack's mrkdwn treats &, < and > as markup; text from people and workflows goes through this. */
const esc = escapeMrkdwn;

export const slackRoutes: FastifyPluginAsync<SlackRoutesOptions> = async (app, opts) => {
  const { client, config, signingSecret, signer } = opts;
  const replyWithinMs = opts.replyWithinMs ?? 2500;
  const slack = opts.botToken ? createSlackClient({ botToken: opts.botToken, apiUrl: opts.apiUrl, timeoutMs: SLACK_TIMEOUT_MS }) : null;

  // ---- background work: tracked, so closing the app leaves nothing running
  const inFlight = new Set<Promise<void>>();
  const track = (log: FastifyBaseLogger, what: string, work: () => Promise<void>): void => {
    const p = withSlackDeadline(work)
      .catch((err: unknown) => log.error({ err }, `slack: ${what} failed`))
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };
  app.addHook('onClose', async () => {
    while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
  });

  // ---- the raw body, for the signature; this scope only (the rest of the API stays JSON)
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(FORM, { parseAs: 'string', bodyLimit: BODY_LIMIT }, (_req, body, done) => done(null, body));
  // Anything else is kept raw too, so it is verified (401) before it is refused (400).
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: BODY_LIMIT }, (_req, body, done) => done(null, body));

  // ---- verify first: a failure is a 401 and nothing else happens
  app.addHook('preHandler', async (request, reply) => {
    if (!signingSecret) {
      return reply.code(401).send(errorBody('unauthorized', 'Slack is not configured here: set SLACK_SIGNING_SECRET'));
    }
    const verdict = verifySlackSignature({
      signingSecret,
      timestamp: header(request, 'x-slack-request-timestamp'),
      signature: header(request, 'x-slack-signature'),
      rawBody: typeof request.body === 'string' ? request.body : '',
      nowMs: Date.now(),
    });
    if (!verdict.ok) {
      request.log.warn({ reason: verdict.reason }, 'slack: request refused');
      return reply.code(401).send(errorBody('unauthorized', `not a verified Slack request: ${verdict.reason}`));
    }
    return undefined;
  });

  function withSlackDeadline<T>(work: () => Promise<T>): Promise<T> {
    return client.connection.withDeadline(Date.now() + SLACK_WORK_DEADLINE_MS, work);
  }

  // ---- whose request: a verified signature proves the app's secret; these prove which workspace and app
  const expected = config.slack;
  function checkOrigin(teamId: string | undefined, appId: string | undefined): void {
    if (expected.teamId !== null && teamId !== expected.teamId) {
      throw new ApiError(403, 'forbidden', `this Baton takes Slack requests from workspace ${expected.teamId} only, not ${teamId ?? 'an unnamed one'}`);
    }
    if (expected.appId !== null && appId !== expected.appId) {
      throw new ApiError(403, 'forbidden', `this Baton takes Slack requests for app ${expected.appId} only, not ${appId ?? 'an unnamed one'}`);
    }
  }

  // ---- where answers may go: Slack's hooks host, and the host of the configured Slack API (a local fake in tests)
  const answerHosts = new Set([SLACK_RESPONSE_HOST]);
  if (opts.apiUrl) answerHosts.add(new URL(opts.apiUrl).host);
  const mayAnswerTo = (url: string): boolean => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return false;
    }
    if (parsed.username || parsed.password) return false;
    if (parsed.host === SLACK_RESPONSE_HOST) return parsed.protocol === 'https:';
    return answerHosts.has(parsed.host) && (parsed.protocol === 'https:' || parsed.protocol === 'http:');
  };

  // ---- people and Slack calls
  const personOf = (slackUserId: string): Person | null => config.people.find((p) => p.slackUserId === slackUserId) ?? null;
  const notLinked = (slackUserId: string) =>
    `Your Slack account (${slackUserId}) is not linked to a Baton person, so Baton cannot act for you. `
    + `Ask a Baton admin to add \`slackUserId: ${slackUserId}\` to your entry under \`people\` in Baton's config.`;

  async function ephemeral(log: FastifyBaseLogger, to: { channel: string; user: string; threadTs?: string }, text: string): Promise<void> {
    if (!slack) {
      log.info({ channel: to.channel, user: to.user, text }, 'slack: no SLACK_BOT_TOKEN; ephemeral message not posted');
      return;
    }
    try {
      await slack.chat.postEphemeral({ channel: to.channel, user: to.user, text, ...(to.threadTs ? { thread_ts: to.threadTs } : {}) });
    } catch (err) {
      log.warn({ err, channel: to.channel, user: to.user }, 'slack: could not post an ephemeral message');
    }
  }

  /** Why a decision was not recorded, for the person who tried; unexpected errors are logged. */
  function refusalText(log: FastifyBaseLogger, err: unknown, what: string): string {
    if (err instanceof ForbiddenError || err instanceof ConflictError || err instanceof NotFoundError || err instanceof BadRequestError) {
      return `${what} was not recorded: ${esc(err.message)}`;
    }
    log.error({ err }, 'slack: sending a decision failed');
    if (isTemporalUnavailable(err)) return `${what} was not recorded: Temporal is not reachable; try again shortly.`;
    return `${what} was not recorded: Baton failed unexpectedly (it has been logged); try again shortly.`;
  }

  /**
   * The API's first check on a decision (POST /v1/releases/:id/approvals): a person who holds
   * none of the roles that could ever decide on the gate is refused with the roles it needs.
   * Without it the run answers alone, and it knows only the people its gates name, so all it
   * could tell such a person is that it does not know them.
   */
  function checkMayDecideOn(person: Person, release: string, environment: string): void {
    const service = /^release:([^:]+):[^:]+$/.exec(release)?.[1];
    const gate = service ? gateFor(config, service, environment) : null;
    if (!gate) return;
    const hotfixRole = config.hotfix && gate.stabilitySeconds > 0 ? [config.hotfix.approvalRole] : [];
    try {
      checkMayDecide(person, [...gate.approvals.map((r) => r.role), ...hotfixRole], `gate '${environment}'`);
    } catch (err) {
      throw err instanceof ApiError ? new ForbiddenError(err.message) : err;
    }
  }

  const withLinks = (text: string, kind: RunKind, id: string): string => {
    const links = linksText(runLinks(kind, id, { temporalUiUrl: config.api.temporalUiUrl, apiUrl: config.api.publicUrl, namespace: client.options.namespace }));
    return links ? `${text}\n${links}` : text;
  };

  // ================================================================ interactions
  app.post('/slack/interactions', {
    schema: {
      summary: 'Slack interactivity: approval buttons and the rejection modal',
      description: 'Called by Slack, verified by the signing secret (not a bearer token). Answers at once; the decision is sent to the release in the background.',
      tags: ['slack'],
      security: [],
    },
  }, async (request, reply) => {
    const form = formOf(request);
    const text = form.get('payload');
    if (!text) throw badRequest('payload', 'payload: missing (Slack sends interactions as a form field `payload`)');
    const payload = parseJson(text, 'payload');
    if (!Value.Check(Interaction, payload)) throw badRequest('payload', 'payload: not a Slack interaction (needs type and user.id)');
    const origin = payload as { team?: { id?: unknown } | null; api_app_id?: unknown };
    checkOrigin(stringOrUndefined(origin.team?.id), stringOrUndefined(origin.api_app_id));

    if (payload.type === 'block_actions') {
      if (!Value.Check(BlockActions, payload)) throw badRequest('payload', 'payload: not a valid block_actions payload (needs actions)');
      return blockActions(request, reply, payload);
    }
    const callbackId = (payload as { view?: { callback_id?: unknown } }).view?.callback_id;
    if (payload.type === 'view_submission' && callbackId === SLACK_ACTIONS.rejectModal) {
      if (!Value.Check(ViewSubmission, payload)) throw badRequest('payload', 'payload: not a valid view_submission payload (needs view.id, view.private_metadata, view.state)');
      return rejectSubmitted(request, reply, payload);
    }
    // Anything else (other shortcuts, a closed modal...) needs nothing from us.
    return reply.code(200).send();
  });

  function blockActions(request: FastifyRequest, reply: FastifyReply, payload: Static<typeof BlockActions>): FastifyReply {
    const action = payload.actions.find((a) => a.action_id === SLACK_ACTIONS.approve || a.action_id === SLACK_ACTIONS.reject);
    // Other buttons (links to the Temporal UI...) need nothing from us.
    if (!action) return reply.code(200).send();
    const value = parseJson(action.value ?? '', 'actions.0.value');
    if (!Value.Check(ButtonValue, value)) throw badRequest('actions.0.value', 'actions.0.value: not {release, environment}');
    const channel = payload.channel?.id ?? payload.container?.channel_id;
    const messageTs = payload.container?.message_ts ?? payload.message?.ts;
    if (!channel || !messageTs) throw badRequest('payload', 'payload: an approval button must come with its channel and message');
    const userId = payload.user.id;
    const threadTs = payload.container?.thread_ts ?? payload.message?.thread_ts;
    const to = { channel, user: userId, ...(threadTs ? { threadTs } : {}) };
    const log = request.log;
    void reply.code(200).send();

    const { release, environment } = value;
    if (action.action_id === SLACK_ACTIONS.reject) {
      track(log, 'opening the rejection modal', async () => {
        if (!personOf(userId)) return ephemeral(log, to, notLinked(userId));
        const view = rejectModal({ release, environment, channel, messageTs }, releaseTitle(release));
        if (!slack) return void log.info({ release, environment, user: userId }, 'slack: no SLACK_BOT_TOKEN; rejection modal not opened');
        if (!payload.trigger_id) return void log.warn({ release, environment }, 'slack: a reject click without trigger_id; cannot open the modal');
        await slack.views.open({ trigger_id: payload.trigger_id, view });
      });
      return reply;
    }

    track(log, 'an approval', async () => {
      const person = personOf(userId);
      if (!person) return ephemeral(log, to, notLinked(userId));
      const what = `Your approval of *${esc(environment)}* for \`${esc(release)}\``;
      try {
        // One approval per person, message and gate, however often Slack delivers the click.
        const updateId = `slack:approve:${environment}:${userId}:${messageTs}`;
        checkMayDecideOn(person, release, environment);
        await decide(client, release, { environment, decision: 'approve', comment: null, by: person.name, roles: [...person.roles] }, { updateId, signer });
        log.info({ release, environment, by: person.name }, 'slack: approval recorded');
      } catch (err) {
        await ephemeral(log, to, refusalText(log, err, what));
      }
    });
    return reply;
  }

  function rejectSubmitted(request: FastifyRequest, reply: FastifyReply, payload: Static<typeof ViewSubmission>): FastifyReply {
    const meta = parseJson(payload.view.private_metadata, 'view.private_metadata');
    if (!Value.Check(ModalMeta, meta)) throw badRequest('view.private_metadata', 'view.private_metadata: not {release, environment, channel, messageTs}');
    const reason = (payload.view.state.values[SLACK_ACTIONS.reasonBlock]?.[SLACK_ACTIONS.reasonInput]?.value ?? '').trim();
    // Answered in the modal itself, which stays open.
    if (!reason) return reply.code(200).send({ response_action: 'errors', errors: { [SLACK_ACTIONS.reasonBlock]: 'Say why you reject: the reason ends the release and is recorded.' } });
    if (reason.length > MAX_COMMENT) {
      return reply.code(200).send({ response_action: 'errors', errors: { [SLACK_ACTIONS.reasonBlock]: `At most ${MAX_COMMENT} characters, please.` } });
    }
    const userId = payload.user.id;
    const to = { channel: meta.channel, user: userId };
    const log = request.log;
    void reply.code(200).send();

    track(log, 'a rejection', async () => {
      const person = personOf(userId);
      if (!person) return ephemeral(log, to, notLinked(userId));
      const { release, environment } = meta;
      try {
        checkMayDecideOn(person, release, environment);
        await decide(
          client,
          release,
          { environment, decision: 'reject', comment: reason, by: person.name, roles: [...person.roles] },
          { updateId: `slack:reject:${payload.view.id}`, signer },
        );
        log.info({ release, environment, by: person.name }, 'slack: rejection recorded');
      } catch (err) {
        await ephemeral(log, to, refusalText(log, err, `Your rejection of *${esc(environment)}* for \`${esc(release)}\``));
      }
    });
    return reply;
  }

  // ================================================================ slash commands
  app.post('/slack/commands', {
    schema: {
      summary: 'Slack slash command /baton: status, deploy, rollback, approve',
      description: 'Called by Slack, verified by the signing secret (not a bearer token). Each command is checked against the person\'s roles.',
      tags: ['slack'],
      security: [],
    },
  }, async (request, reply) => {
    const form = formOf(request);
    if (form.get('ssl_check') === '1') return reply.code(200).send();
    checkOrigin(form.get('team_id') ?? undefined, form.get('api_app_id') ?? undefined);
    const userId = form.get('user_id');
    if (!userId) throw badRequest('user_id', 'user_id: missing (Slack sends it with every command)');
    const command = parseCommand(form.get('text') ?? '');
    const triggerId = form.get('trigger_id') ?? undefined;
    let responseUrl = form.get('response_url') ?? undefined;
    if (responseUrl !== undefined && !mayAnswerTo(responseUrl)) {
      request.log.warn({ url: responseUrl }, `slack: response_url is not on ${[...answerHosts].join(' or ')}; answering directly only`);
      responseUrl = undefined;
    }
    const log = request.log;

    const work = withSlackDeadline(() => answer(log, command, userId, triggerId));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), replyWithinMs);
    });
    const first = responseUrl ? await Promise.race([work, late]) : await work;
    clearTimeout(timer);
    if (first) return reply.code(200).send(first);

    track(log, 'a late command answer', async () => {
      const final = await work;
      await postToResponseUrl(log, responseUrl as string, final);
    });
    return reply.code(200).send({ response_type: 'ephemeral', text: 'Working on it…' } satisfies CommandAnswer);
  });

  async function postToResponseUrl(log: FastifyBaseLogger, url: string, body: CommandAnswer): Promise<void> {
    if (!mayAnswerTo(url)) return void log.warn({ url }, `slack: response_url is not on ${[...answerHosts].join(' or ')}; answer dropped`);
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(SLACK_TIMEOUT_MS),
    });
    if (!res.ok) log.warn({ status: res.status }, 'slack: response_url refused the answer');
  }

  /** The answer to a command; never throws (an unexpected failure is logged and answered). */
  async function answer(log: FastifyBaseLogger, command: SlashCommand, userId: string, triggerId: string | undefined): Promise<CommandAnswer> {
    const privately = (text: string): CommandAnswer => ({ response_type: 'ephemeral', text });
    const publicly = (text: string): CommandAnswer => ({ response_type: 'in_channel', text });
    if (command.kind === 'help') return privately(esc(USAGE));
    if (command.kind === 'invalid') return privately(esc(command.message));
    const person = personOf(userId);
    if (!person) return privately(notLinked(userId));
    if (command.kind !== 'approve') {
      const { permission, does } = NEEDS[command.kind];
      if (!may(config, person, permission)) {
        return privately(esc(`${person.name} (${person.roles.join(', ')}) may not ${does} (needs ${rolesWith(config, permission).join(' or ')})`));
      }
    }
    try {
      switch (command.kind) {
        case 'status':
          return privately(await statusText(command.service, command.environment));
        case 'deploy': {
          const { service, version, environment } = command;
          // The same policy as the API; break-glass is not offered in Slack (it needs a recorded reason: use the API).
          const { id } = await deployAs(client, config, person, { service, environment, version }, await listFreezes(client, config), signer);
          return publicly(withLinks(`${esc(person.name)} started *Deploy ${esc(service)} ${esc(version)} to ${esc(environment)}* (\`${esc(id)}\`).`, 'deployment', id));
        }
        case 'rollback': {
          const { service, environment } = command;
          serviceEnvironment(config, service, environment);
          const id = await runningDeployment(client, service, environment);
          if (!id) return privately(`Nothing is deploying ${esc(service)} to ${esc(environment)} now, so there is nothing to roll back.`);
          const status = await actAs(client, config, person, id, { action: 'rollback', reason: `rollback from Slack by ${person.name}` }, signer);
          return publicly(withLinks(`${esc(person.name)} is rolling back \`${esc(id)}\` (it was ${esc(status.phase)}).`, 'deployment', id));
        }
        case 'approve':
          return await approveCommand(command.release, command.comment, person, triggerId, publicly, privately);
        default: {
          const never: never = command;
          return privately(`unknown command ${String(never)}`);
        }
      }
    } catch (err) {
      if (err instanceof BadRequestError || err instanceof NotFoundError || err instanceof ConflictError || err instanceof ForbiddenError) {
        return privately(esc(err.message));
      }
      log.error({ err, command }, 'slack: command failed');
      if (isTemporalUnavailable(err)) return privately('Temporal is not reachable; try again shortly.');
      return privately('Baton failed unexpectedly (it has been logged); try again shortly.');
    }
  }

  async function approveCommand(
    release: string,
    comment: string | undefined,
    person: Person,
    triggerId: string | undefined,
    publicly: (text: string) => CommandAnswer,
    privately: (text: string) => CommandAnswer,
  ): Promise<CommandAnswer> {
    if (comment && comment.length > MAX_COMMENT) return privately(`The comment is too long: at most ${MAX_COMMENT} characters.`);
    const before = await getReleaseStatus(client, release);
    const environment = before.environment;
    if (before.outcome !== null) return privately(`\`${esc(release)}\` has ended (${before.outcome}); there is nothing to approve.`);
    if (!environment) return privately(`\`${esc(release)}\` has no gate open now.`);
    const what = `Your approval of *${esc(environment)}* for \`${esc(release)}\``;
    let after: ReleaseStatus;
    try {
      checkMayDecideOn(person, release, environment);
      after = await decide(
        client,
        release,
        { environment, decision: 'approve', comment: comment ?? null, by: person.name, roles: [...person.roles] },
        { ...(triggerId ? { updateId: `slack:cmd:${triggerId}` } : {}), signer },
      );
    } catch (err) {
      if (err instanceof ForbiddenError || err instanceof ConflictError) return privately(`${what} was not recorded: ${esc(err.message)}`);
      throw err;
    }
    const gate = after.environments.find((e) => e.environment === environment)?.gate;
    const approvers = (gate?.approvals ?? []).filter((a) => a.environment === environment && a.decision === 'approve').map((a) => a.by);
    const lines = [`${esc(person.name)} approved *${esc(environment)}* for \`${esc(release)}\`${comment ? `: ${esc(comment)}` : ''}.`];
    if (approvers.length) lines.push(`Approved by ${esc(approvers.join(', '))}.`);
    if (gate?.pending.length) lines.push(`Still waiting: ${esc(gate.pending.join('; '))}.`);
    else if (gate) lines.push(`The ${esc(environment)} gate has all it needs.`);
    return publicly(withLinks(lines.join('\n'), 'release', release));
  }

  // ---- status: the lane's running deployment, else the newest one visibility knows
  async function latestDeployment(service: string, environment: string): Promise<string | null> {
    // Names are checked against config (lower-case letters, digits, '-'), so they need no quoting.
    const query = `${BatonKind.name} = 'deployment' AND ${BatonService.name} = '${service}' AND ${BatonEnvironment.name} = '${environment}'`;
    let newest: { id: string; at: number } | null = null;
    let seen = 0;
    for await (const run of client.workflow.list({ query, pageSize: 50 })) {
      const at = run.startTime.getTime();
      if (!newest || at > newest.at) newest = { id: run.workflowId, at };
      if (++seen >= 200) break;
    }
    return newest?.id ?? null;
  }

  async function statusText(service: string, environment: string): Promise<string> {
    serviceEnvironment(config, service, environment);
    const running = await runningDeployment(client, service, environment);
    const id = running ?? (await latestDeployment(service, environment));
    if (!id) return `No deployment of ${esc(service)} to ${esc(environment)} yet.`;
    const status = await getDeploymentStatus(client, id);
    const now = status.liveAt && status.outcome === null ? `Live, in its tail (${status.phase})` : 'Deploying now';
    const lines = [running ? `${now}: ${summaryLine(status)}` : `Latest: ${summaryLine(status)}`, ...detailLines(status)];
    return withLinks(lines.join('\n'), 'deployment', id);
  }
};

function summaryLine(s: DeploymentStatus): string {
  return `*Deploy ${esc(s.service)} ${esc(s.version)} to ${esc(s.environment)}* (\`${esc(s.id)}\`), requested by ${esc(s.requestedBy)}`;
}

function detailLines(s: DeploymentStatus): string[] {
  const lines = [`Phase: ${s.phase}${s.paused && s.phase !== 'paused' ? ' (paused)' : ''}${s.outcome ? ` · outcome: ${s.outcome}` : ''}`];
  if (s.weights) {
    const colours = s.targetColour ? ` (new version on ${s.targetColour}${s.liveColour ? `, ${s.liveColour} live` : ''})` : '';
    lines.push(`Traffic: blue ${s.weights.blue} % · green ${s.weights.green} %${colours}`);
  }
  if (s.step && s.outcome === null) lines.push(`Step ${s.step.index}/${s.step.total}: ${esc(s.step.description)}`);
  if (s.soak && s.outcome === null) {
    const kind = s.soak.kind.replace('_', ' ');
    lines.push(`${kind[0].toUpperCase()}${kind.slice(1)} left: ${formatDuration(s.soak.remainingSeconds)} of ${formatDuration(s.soak.durationSeconds)}${s.soak.paused ? ' (paused)' : ''}`);
  }
  const last = s.analysis.samples.at(-1);
  if (last && s.outcome === null) lines.push(`Last analysis: ${last.verdict} (${esc(last.message)})`);
  if (s.rollback) lines.push(`Rolled back: ${esc(s.rollback.reason)}`);
  if (s.error) lines.push(`Error: ${esc(s.error)}`);
  return lines;
}

/** "release:web:1.4.2" → "Release web 1.4.2", without a round trip (a trigger_id lasts 3 s). */
function releaseTitle(id: string): string {
  const [, service, version] = id.split(':');
  return service && version ? `Release ${service} ${version}` : id;
}

function stringOrUndefined(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function header(request: FastifyRequest, name: string): string | undefined {
  const v = request.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function badRequest(field: string, message: string): BadRequestError {
  return new BadRequestError(field, message);
}

/** The verified body as form fields; anything but a form is a 400. */
function formOf(request: FastifyRequest): URLSearchParams {
  const type = (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== FORM) throw badRequest('body', `body: must be ${FORM}, as Slack sends it`);
  return new URLSearchParams(typeof request.body === 'string' ? request.body : '');
}

function parseJson(text: string, field: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw badRequest(field, `${field}: is not valid JSON`);
  }
}
