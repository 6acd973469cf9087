// Slack's endpoints on a whole local Baton (Temporal dev server, moto seeded with the sandbox,
// a real worker), with a local fake of Slack's Web API for what Baton posts back (ephemeral
// refusals, the rejection modal, late command answers). Every request is built and signed as
// Slack would send it. The config gives web and api a gate before dev, so a release is at an
// open gate as soon as it starts; deployments soak for an hour, so nothing moves by itself:
//  - release:web:5.0.0 (dev gate: 2 release managers) takes the button approvals;
//  - release:api:5.0.0 (dev gate: 1 qa) is approved with `/baton approve`;
//  - release:web:5.0.1 is rejected through the modal;
//  - api in staging, which this config leaves without a gate so that a deployer may deploy
//    there directly (Slack follows the API's policy), is deployed, inspected and rolled back
//    with slash commands; deploying into a gated environment is refused, break-glass included.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { parse as parseYaml } from 'yaml';
import { buildApp } from '../../src/api/app';
import { resolveConfig, type BatonConfig } from '../../src/config';
import { SLACK_ACTIONS, type ApprovalButtonValue } from '../../src/domain/notices';
import { getDeploymentStatus } from '../../src/temporal/deployments';
import { getReleaseStatus } from '../../src/temporal/releases';
import type { ReleaseStatus } from '../../workflows/messages';
import { authed, type Answer } from '../harness/api';
import { startFakeSlack, type FakeSlack, type SlackCall } from '../harness/fake-slack';
import { commandBody, interactionBody, slackHeaders, type SignOptions } from '../harness/slack-signing';
import { startTogether } from '../harness/servers';
import { startStack, type Stack } from '../harness/stack';
import { unchanged } from '../harness/fixtures';
import { until } from '../harness/wait';

const SECRET = 'a-signing-secret-for-tests';
const PLAN = { steps: [{ shift: 50 }, { soak: '1h' }, { shift: 100 }], analysis: { interval: '30m' } };
const CHANNEL = 'C0RELEASES';
const THREAD = '1700000000.000001';
const UI = 'http://127.0.0.1:8233';
const PUBLIC = 'https://baton.example.com';

// The sandbox's people, as Slack knows them.
const ROSA = 'U0ROSA';
const REMI = 'U0REMI';
const QUINN = 'U0QUINN';
const DAN = 'U0DAN';
const ADA = 'U0ADA';
const VAL = 'U0VAL';
const STRANGER = 'U0STRANGER';

const WEB = 'release:web:5.0.0';
const API = 'release:api:5.0.0';
const WEB_REJECTED = 'release:web:5.0.1';

interface ConfigDoc {
  services: Record<string, { gates?: Record<string, unknown> }>;
  api: Record<string, unknown>;
}

/**
 * The stack's config with a gate before dev for web and api, no gate before api's staging (the
 * lane the slash commands deploy into directly), and links to the UI and the API.
 */
function slackConfig(stack: Stack): BatonConfig {
  const doc = parseYaml(readFileSync(stack.configFile, 'utf8')) as ConfigDoc;
  doc.services.web.gates = { ...doc.services.web.gates, dev: { approvals: [{ role: 'release-manager', count: 2 }] } };
  doc.services.api.gates = { ...doc.services.api.gates, dev: { approvals: [{ role: 'qa', count: 1 }] }, staging: null };
  doc.api = { ...doc.api, temporalUiUrl: UI, publicUrl: PUBLIC };
  return resolveConfig(doc);
}

const devGate = (s: ReleaseStatus) => {
  const gate = s.environments.find((e) => e.environment === 'dev')?.gate;
  if (!gate) throw new Error(`${s.id} has no gate before dev`);
  return gate;
};

describe('Slack: interactions and /baton commands on a real worker', () => {
  let stack: Stack;
  let fake: FakeSlack;
  let config: BatonConfig;
  let app: FastifyInstance;
  let seq = 0;

  const slackApp = (extra: { signingSecret?: string; replyWithinMs?: number } = {}) =>
    buildApp({ client: stack.client, config, registry: stack.registry, slack: { signingSecret: SECRET, botToken: 'xoxb-test', apiUrl: fake.apiUrl, ...extra } });

  /** Runs `fn` against an app of its own, then closes it: closing waits for the background work. */
  async function drained(fn: (a: FastifyInstance) => Promise<void>): Promise<void> {
    const own = await slackApp();
    try {
      await fn(own);
    } finally {
      await own.close();
    }
  }

  beforeAll(async () => {
    [stack, fake] = await startTogether(startStack({ plan: PLAN }), startFakeSlack());
    config = slackConfig(stack);
    app = await slackApp();
    const dev = authed(app, stack.people.developer);
    for (const [service, version] of [['web', '5.0.0'], ['api', '5.0.0'], ['web', '5.0.1']]) {
      await stack.pushImage(service, version); // what CI would have pushed
      const res = await dev.post('/v1/releases', { service, version });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    }
    for (const id of [WEB, API, WEB_REJECTED]) await waitForRelease(id, 'at its dev gate', (s) => devGate(s).state === 'open');
  }, 300_000);

  afterAll(async () => {
    await app?.close();
    await stack?.stop();
    await fake?.stop();
  }, 120_000);

  const release = (id: string) => getReleaseStatus(stack.client, id);
  const waitForRelease = (id: string, what: string, ok: (s: ReleaseStatus) => boolean) => until(`${id} to be ${what}`, () => release(id), ok, 60_000);

  /** Sends a signed form body as Slack would. */
  async function send(path: string, body: string, opts: SignOptions & { app?: FastifyInstance; headers?: Record<string, string> } = {}): Promise<Answer> {
    const res = await (opts.app ?? app).inject({ method: 'POST', url: path, payload: body, headers: { ...slackHeaders(SECRET, body, opts), ...opts.headers } });
    const json = String(res.headers['content-type'] ?? '').includes('json');
    return { status: res.statusCode, body: json ? res.json() : res.body, headers: res.headers };
  }

  /** A click on an approval message's button, as Slack posts it. */
  function click(user: string, action: 'approve' | 'reject', value: ApprovalButtonValue, messageTs: string) {
    seq++;
    return {
      type: 'block_actions',
      team: { id: 'T0BATON', domain: 'baton' },
      user: { id: user, username: user.toLowerCase(), team_id: 'T0BATON' },
      api_app_id: 'A0BATON',
      container: { type: 'message', message_ts: messageTs, channel_id: CHANNEL, is_ephemeral: false, thread_ts: THREAD },
      trigger_id: `1000${seq}.2000.abc${seq}`,
      channel: { id: CHANNEL, name: 'releases' },
      message: { type: 'message', ts: messageTs, thread_ts: THREAD, text: 'Approval needed' },
      response_url: fake.responseUrl(),
      actions: [{
        type: 'button',
        block_id: 'approval',
        action_id: SLACK_ACTIONS[action] as string,
        value: JSON.stringify(value),
        text: { type: 'plain_text', text: action === 'approve' ? 'Approve' : 'Reject' },
        action_ts: `${1700000100 + seq}.${String(seq).padStart(6, '0')}`,
      }],
    };
  }

  /** `/baton <text>` typed by `user`; the answer is the direct reply. */
  function command(user: string, text: string) {
    seq++;
    return commandBody({
      token: 'legacy', team_id: 'T0BATON', channel_id: CHANNEL, channel_name: 'releases', user_id: user, user_name: user.toLowerCase(),
      command: '/baton', text, response_url: fake.responseUrl(), trigger_id: `3000${seq}.4000.def${seq}`, api_app_id: 'A0BATON',
    });
  }
  const baton = async (user: string, text: string, a?: FastifyInstance) => {
    const res = await send('/slack/commands', command(user, text), { app: a });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body as { response_type: string; text: string };
  };

  const ephemeralsTo = (user: string): SlackCall[] => fake.accepted('chat.postEphemeral').filter((c) => c.args.user === user);
  const waitForEphemeral = async (user: string, before: number): Promise<SlackCall> => {
    const calls = await until(`an ephemeral message to ${user}`, async () => ephemeralsTo(user), (c) => c.length > before, 15_000);
    return calls[calls.length - 1];
  };

  describe('approval buttons', () => {
    const gate = { release: WEB, environment: 'dev' };
    const MESSAGE = '1700000000.000100';

    it('refuses a forged signature with 401, answering nothing and changing nothing', async () => {
      const before = await release(WEB);
      const calls = fake.calls.length;
      const res = await send('/slack/interactions', interactionBody(click(ROSA, 'approve', gate, MESSAGE)), { secret: 'not-our-secret' });
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: { code: 'unauthorized', message: 'not a verified Slack request: X-Slack-Signature does not match' } });
      expect(fake.calls.length).toBe(calls);
      expect(unchanged(await release(WEB))).toEqual(unchanged(before));
    });

    it('refuses a request signed more than five minutes ago with 401, changing nothing', async () => {
      const before = await release(WEB);
      const calls = fake.calls.length;
      const sixMinutesAgo = Math.floor(Date.now() / 1000) - 360;
      const res = await send('/slack/interactions', interactionBody(click(ROSA, 'approve', gate, MESSAGE)), { timestamp: sixMinutesAgo });
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ error: { code: 'unauthorized', message: expect.stringMatching(/X-Slack-Request-Timestamp is 36\ds from now/) } });
      expect(fake.calls.length).toBe(calls);
      expect(unchanged(await release(WEB))).toEqual(unchanged(before));
    });

    it('tells a Slack user who is no Baton person so, privately, and changes nothing', async () => {
      const before = await release(WEB);
      const res = await send('/slack/interactions', interactionBody(click(STRANGER, 'approve', gate, MESSAGE)));
      expect(res.status).toBe(200);
      const told = await waitForEphemeral(STRANGER, 0);
      expect(told.args).toMatchObject({ channel: CHANNEL, user: STRANGER, thread_ts: THREAD, text: expect.stringMatching(/^Your Slack account \(U0STRANGER\) is not linked to a Baton person/) });
      expect(unchanged(await release(WEB))).toEqual(unchanged(before));
    });

    it('refuses a person without the gate\'s role privately, with the gate\'s reason, and changes nothing', async () => {
      const before = await release(WEB);
      const res = await send('/slack/interactions', interactionBody(click(DAN, 'approve', gate, MESSAGE)));
      expect(res.status).toBe(200);
      const told = await waitForEphemeral(DAN, 0);
      expect(told.args).toMatchObject({ channel: CHANNEL, user: DAN });
      expect(told.args.text).toBe("Your approval of *dev* for `release:web:5.0.0` was not recorded: dan (roles deployer) may not decide on gate 'dev': it needs role release-manager");
      expect(unchanged(await release(WEB))).toEqual(unchanged(before));
    });

    let rosasClick: string;
    let rosasHeaders: Record<string, string>;

    it('records an approval by button, acknowledging Slack at once', async () => {
      rosasClick = interactionBody(click(ROSA, 'approve', gate, MESSAGE));
      rosasHeaders = slackHeaders(SECRET, rosasClick);
      const started = Date.now();
      const res = await app.inject({ method: 'POST', url: '/slack/interactions', payload: rosasClick, headers: rosasHeaders });
      expect(Date.now() - started).toBeLessThan(1500);
      expect(res.statusCode).toBe(200);
      expect(res.body).toBe('');

      const approved = await waitForRelease(WEB, 'approved by rosa', (s) => devGate(s).approvals.length > 0);
      expect(devGate(approved).approvals).toEqual([
        { environment: 'dev', decision: 'approve', by: 'rosa', roles: ['release-manager', 'on-call'], comment: null, at: expect.any(String) },
      ]);
      expect(devGate(approved)).toMatchObject({ state: 'open', pending: ['waiting for 1 more release-manager approval'] });
      expect(ephemeralsTo(ROSA)).toEqual([]);
    });

    it('counts a replayed request once, and says nothing about it', async () => {
      await drained(async (own) => {
        for (let i = 0; i < 2; i++) {
          const res = await own.inject({ method: 'POST', url: '/slack/interactions', payload: rosasClick, headers: rosasHeaders });
          expect(res.statusCode).toBe(200);
        }
      });
      const after = await release(WEB);
      expect(devGate(after).approvals.map((a) => a.by)).toEqual(['rosa']);
      // Not even a "you already approved": the Update with the interaction's id ran once.
      expect(ephemeralsTo(ROSA)).toEqual([]);
    });

    it('counts a double click (two clicks on one message) once, and the second approval satisfies the gate', async () => {
      await drained(async (own) => {
        const clicks = [click(REMI, 'approve', gate, MESSAGE), click(REMI, 'approve', gate, MESSAGE)];
        expect(clicks[0].actions[0].action_ts).not.toBe(clicks[1].actions[0].action_ts);
        const answers = await Promise.all(clicks.map((c) => send('/slack/interactions', interactionBody(c), { app: own })));
        expect(answers.map((a) => a.status)).toEqual([200, 200]);
      });
      const after = await release(WEB);
      expect(devGate(after).approvals.map((a) => a.by)).toEqual(['rosa', 'remi']);
      expect(devGate(after).state).not.toBe('open');
      expect(ephemeralsTo(REMI)).toEqual([]);
    });

    it('refuses a second approval from a new message by the same person privately, as the API would (409)', async () => {
      const before = await release(WEB);
      const res = await send('/slack/interactions', interactionBody(click(ROSA, 'approve', gate, '1700000000.000200')));
      expect(res.status).toBe(200);
      const told = await waitForEphemeral(ROSA, 0);
      expect(told.args.text).toMatch(/^Your approval of \*dev\* for `release:web:5.0.0` was not recorded: gate 'dev' is not open/);
      expect(devGate(await release(WEB)).approvals).toEqual(devGate(before).approvals);
    });
  });

  describe('rejection through the modal', () => {
    const gate = { release: WEB_REJECTED, environment: 'dev' };
    const MESSAGE = '1700000000.000300';

    /** The view_submission Slack sends when the modal it was given is submitted with `reason`. */
    const submission = (user: string, view: Record<string, unknown>, reason: string | null) => ({
      type: 'view_submission',
      team: { id: 'T0BATON' },
      user: { id: user },
      api_app_id: 'A0BATON',
      trigger_id: `5000${++seq}.6000.ghi`,
      view: {
        ...view,
        id: 'V0REJECT1',
        state: { values: { [SLACK_ACTIONS.reasonBlock]: { [SLACK_ACTIONS.reasonInput]: { type: 'plain_text_input', value: reason } } } },
      },
    });

    let view: Record<string, unknown>;

    it('opens the modal that asks for a reason when Reject is clicked', async () => {
      const before = fake.accepted('views.open').length;
      const payload = click(ROSA, 'reject', gate, MESSAGE);
      const res = await send('/slack/interactions', interactionBody(payload));
      expect(res.status).toBe(200);
      const opened = await until('views.open', async () => fake.accepted('views.open'), (c) => c.length > before, 15_000);
      const call = opened[opened.length - 1];
      expect(call.args.trigger_id).toBe(payload.trigger_id);
      view = call.args.view as Record<string, unknown>;
      expect(view).toMatchObject({ type: 'modal', callback_id: SLACK_ACTIONS.rejectModal });
      expect(JSON.parse(String(view.private_metadata))).toEqual({ release: WEB_REJECTED, environment: 'dev', channel: CHANNEL, messageTs: MESSAGE });
      expect(devGate(await release(WEB_REJECTED)).approvals).toEqual([]);
    });

    it('keeps the modal open when the reason is blank, changing nothing', async () => {
      const before = await release(WEB_REJECTED);
      const res = await send('/slack/interactions', interactionBody(submission(ROSA, view, '   ')));
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ response_action: 'errors', errors: { [SLACK_ACTIONS.reasonBlock]: expect.stringMatching(/reason/) } });
      expect(unchanged(await release(WEB_REJECTED))).toEqual(unchanged(before));
    });

    it('records the rejection with its reason, once, when the modal is submitted (twice)', async () => {
      await drained(async (own) => {
        const body = interactionBody(submission(ROSA, view, 'dev smoke tests are flaky on 5.0.1'));
        for (let i = 0; i < 2; i++) {
          const res = await send('/slack/interactions', body, { app: own });
          expect(res.status).toBe(200);
          expect(res.body).toBe('');
        }
      });
      const rejected = await waitForRelease(WEB_REJECTED, 'rejected', (s) => s.outcome === 'rejected');
      expect(devGate(rejected).approvals).toEqual([
        { environment: 'dev', decision: 'reject', by: 'rosa', roles: ['release-manager', 'on-call'], comment: 'dev smoke tests are flaky on 5.0.1', at: expect.any(String) },
      ]);
      expect(rejected.reason).toMatch(/dev smoke tests are flaky on 5\.0\.1/);
    });
  });

  describe('/baton commands', () => {
    it('answers help, and a bad command with what is wrong and the usage', async () => {
      expect(await baton(VAL, 'help')).toEqual({ response_type: 'ephemeral', text: expect.stringMatching(/^Usage:\n/) });
      const bad = await baton(VAL, 'deploy api 6.0.0');
      expect(bad).toEqual({ response_type: 'ephemeral', text: expect.stringMatching(/^deploy is missing &lt;environment&gt;/) });
      expect(bad.text).toContain('/baton rollback &lt;service&gt; &lt;environment&gt;');
    });

    it('tells a Slack user who is no Baton person so', async () => {
      expect(await baton(STRANGER, 'status api staging')).toEqual({ response_type: 'ephemeral', text: expect.stringMatching(/^Your Slack account \(U0STRANGER\) is not linked/) });
    });

    it('says when nothing has been deployed yet, and names unknown services and environments', async () => {
      expect(await baton(VAL, 'status api staging')).toEqual({ response_type: 'ephemeral', text: 'No deployment of api to staging yet.' });
      expect((await baton(VAL, 'status nope staging')).text).toBe("service: unknown service 'nope' (known: web, api)");
      expect((await baton(VAL, 'status api moon')).text).toBe("environment: service 'api' has no environment 'moon' (known: dev, staging, prod)");
    });

    it('refuses a viewer\'s deploy in the API\'s words, starting nothing', async () => {
      expect(await baton(VAL, 'deploy api 6.0.0 staging')).toEqual({
        response_type: 'ephemeral',
        text: 'val (viewer) may not start deployments (needs deployer or admin or release-manager)',
      });
      await expect(getDeploymentStatus(stack.client, 'deploy:api:staging:6.0.0')).rejects.toThrow(/no deployment/);
    });

    it('refuses bad input clearly', async () => {
      expect((await baton(DAN, 'deploy api 6.0.0 moon')).text).toMatch(/^environment: service 'api' has no environment 'moon'/);
      expect((await baton(DAN, 'deploy api 6.0.0+x staging')).text).toMatch(/^'6\.0\.0\+x' is not a valid version/);
    });

    it('refuses a deploy the API would refuse, in its words, and offers no break-glass, starting nothing', async () => {
      // Gated: a deployer goes through a release.
      expect((await baton(DAN, 'deploy web 6.0.0 staging')).text).toBe(
        "staging is gated for web: deploy through a release (POST /v1/releases), which passes its checks, approvals and train; in an emergency, a person with role 'break-glass' may send breakGlass: {reason}",
      );
      // Out of a deployer's environments.
      expect((await baton(DAN, 'deploy api 6.0.0 prod')).text).toMatch(/^dan \(deployer\) may not deploy to prod \(needs .*release-manager/);
      // The admin holds break-glass, but Slack takes no reason, so a gated environment stays shut.
      expect(await baton(ADA, 'deploy api 6.0.0 prod')).toEqual({ response_type: 'ephemeral', text: expect.stringMatching(/^prod is gated for api: deploy through a release/) });
      for (const id of ['deploy:web:staging:6.0.0', 'deploy:api:prod:6.0.0']) {
        await expect(getDeploymentStatus(stack.client, id)).rejects.toThrow(/no deployment/);
      }
    });

    it('deploys for a deployer, in the channel, and the lane is busy afterwards', async () => {
      const answer = await baton(DAN, 'deploy api 6.0.0 staging');
      expect(answer).toEqual({
        response_type: 'in_channel',
        text: 'dan started *Deploy api 6.0.0 to staging* (`deploy:api:staging:6.0.0`).\n'
          + `<${UI}/namespaces/default/workflows/deploy%3Aapi%3Astaging%3A6.0.0|Temporal UI> · <${PUBLIC}/v1/deployments/deploy%3Aapi%3Astaging%3A6.0.0|API status>`,
      });
      expect(await getDeploymentStatus(stack.client, 'deploy:api:staging:6.0.0')).toMatchObject({ requestedBy: 'dan', outcome: null });
      expect(await baton(DAN, 'deploy api 6.0.1 staging')).toEqual({
        response_type: 'ephemeral',
        text: 'api is already deploying to staging (deploy:api:staging:6.0.0)',
      });
    });

    it('shows the running deployment: phase, traffic, step, soak left, links', async () => {
      await until('api 6.0.0 to soak', () => getDeploymentStatus(stack.client, 'deploy:api:staging:6.0.0'), (s) => s.phase === 'soaking', 60_000);
      const { response_type, text } = await baton(VAL, 'status api staging');
      expect(response_type).toBe('ephemeral');
      const lines = text.split('\n');
      expect(lines[0]).toBe('Deploying now: *Deploy api 6.0.0 to staging* (`deploy:api:staging:6.0.0`), requested by dan');
      expect(lines).toContain('Phase: soaking');
      expect(lines.find((l) => l.startsWith('Traffic: '))).toMatch(/^Traffic: blue 50 % · green 50 % \(new version on (green, blue|blue, green) live\)$/);
      expect(lines.find((l) => l.startsWith('Step '))).toBe('Step 2/3: Soak for 1h');
      expect(lines.find((l) => l.startsWith('Soak left: '))).toMatch(/^Soak left: (59m\d+s|1h) of 1h$/);
      expect(lines[lines.length - 1]).toContain('|Temporal UI> · <https://baton.example.com/v1/deployments/deploy%3Aapi%3Astaging%3A6.0.0|API status>');
    });

    it('answers "Working on it…" when slower than Slack waits, then posts the answer to the response_url', async () => {
      const before = fake.responses.length;
      const slow = await slackApp({ replyWithinMs: 0 });
      try {
        expect(await baton(VAL, 'status api staging', slow)).toEqual({ response_type: 'ephemeral', text: 'Working on it…' });
      } finally {
        await slow.close(); // waits for the late answer
      }
      expect(fake.responses.length).toBe(before + 1);
      expect(fake.responses[before].body).toMatchObject({ response_type: 'ephemeral', text: expect.stringMatching(/^Deploying now: \*Deploy api 6\.0\.0 to staging\*/) });
    });

    it('refuses a viewer\'s rollback, changing nothing', async () => {
      expect((await baton(VAL, 'rollback api staging')).text).toBe('val (viewer) may not act on deployments (needs deployer or admin or release-manager)');
      expect((await getDeploymentStatus(stack.client, 'deploy:api:staging:6.0.0')).phase).toBe('soaking');
    });

    it('rolls back the running deployment for a deployer, with the reason recorded', async () => {
      const answer = await baton(DAN, 'rollback api staging');
      expect(answer.response_type).toBe('in_channel');
      expect(answer.text).toMatch(/^dan is rolling back `deploy:api:staging:6\.0\.0` \(it was soaking\)\.\n<http/);
      const done = await until('the rollback', () => getDeploymentStatus(stack.client, 'deploy:api:staging:6.0.0'), (s) => s.outcome !== null, 60_000);
      expect(done).toMatchObject({ outcome: 'rolled_back', rollback: { reason: 'rollback requested by dan (rollback from Slack by dan)', requestedBy: 'dan' } });
    });

    it('shows the latest deployment once none runs, and says there is nothing to roll back', async () => {
      await until('the lane to close', () => baton(VAL, 'status api staging'), (a) => a.text.startsWith('Latest: '), 30_000);
      const { text } = await baton(VAL, 'status api staging');
      expect(text.split('\n').slice(0, 3)).toEqual([
        'Latest: *Deploy api 6.0.0 to staging* (`deploy:api:staging:6.0.0`), requested by dan',
        'Phase: rolled_back · outcome: rolled_back',
        expect.stringMatching(/^Traffic: /),
      ]);
      expect(text).toContain('Rolled back: rollback requested by dan (rollback from Slack by dan)');
      expect(await baton(DAN, 'rollback api staging')).toEqual({ response_type: 'ephemeral', text: 'Nothing is deploying api to staging now, so there is nothing to roll back.' });
    });

    it('refuses an approval by someone the gate does not name, privately, changing nothing', async () => {
      const before = await release(API);
      expect(await baton(DAN, `approve ${API}`)).toEqual({
        response_type: 'ephemeral',
        text: "Your approval of *dev* for `release:api:5.0.0` was not recorded: dan (roles deployer) may not decide on gate 'dev': it needs role qa",
      });
      expect(unchanged(await release(API))).toEqual(unchanged(before));
    });

    it('approves the open gate for a person the gate names, in the channel, with the comment', async () => {
      const answer = await baton(QUINN, `approve ${API} exploratory testing done`);
      expect(answer.response_type).toBe('in_channel');
      expect(answer.text.split('\n').slice(0, 3)).toEqual([
        'quinn approved *dev* for `release:api:5.0.0`: exploratory testing done.',
        'Approved by quinn.',
        'The dev gate has all it needs.',
      ]);
      expect(devGate(await release(API)).approvals).toEqual([
        { environment: 'dev', decision: 'approve', by: 'quinn', roles: ['qa'], comment: 'exploratory testing done', at: expect.any(String) },
      ]);
    });

    it('says so when there is no such release', async () => {
      expect(await baton(QUINN, 'approve release:web:9.9.9')).toEqual({ response_type: 'ephemeral', text: "no release 'release:web:9.9.9'" });
    });
  });

  describe('requests that are not Slack\'s', () => {
    it('answers 400 to a signed body that is not a Slack payload, before doing anything', async () => {
      const calls = fake.calls.length;
      const notJson = await send('/slack/interactions', 'payload=%7Bnot+json');
      expect(notJson).toMatchObject({ status: 400, body: { error: { code: 'bad_request', message: 'payload: is not valid JSON' } } });
      const noPayload = await send('/slack/interactions', 'something=else');
      expect(noPayload).toMatchObject({ status: 400, body: { error: { code: 'bad_request', message: expect.stringMatching(/^payload: missing/) } } });
      const noUser = await send('/slack/interactions', interactionBody({ type: 'block_actions', actions: [] }));
      expect(noUser).toMatchObject({ status: 400, body: { error: { code: 'bad_request' } } });
      const badValue = click(ROSA, 'approve', { release: WEB, environment: 'dev' }, '1700000000.000900');
      badValue.actions[0].value = '{"release": 42}';
      expect(await send('/slack/interactions', interactionBody(badValue))).toMatchObject({ status: 400, body: { error: { message: 'actions.0.value: not {release, environment}' } } });
      const json = await send('/slack/commands', JSON.stringify({ text: 'status api staging' }), { headers: { 'content-type': 'application/json' } });
      expect(json).toMatchObject({ status: 400, body: { error: { message: 'body: must be application/x-www-form-urlencoded, as Slack sends it' } } });
      expect(fake.calls.length).toBe(calls);
    });

    it('refuses an unsigned body with 401 before reading it', async () => {
      const res = await app.inject({ method: 'POST', url: '/slack/commands', payload: 'payload=%7Bnot+json', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      expect(res.statusCode).toBe(401);
      expect(res.json()).toEqual({ error: { code: 'unauthorized', message: 'not a verified Slack request: missing X-Slack-Request-Timestamp' } });
    });

    it('acknowledges interactions it has nothing to do with', async () => {
      const link = click(ROSA, 'approve', { release: WEB, environment: 'dev' }, '1700000000.000901');
      link.actions[0].action_id = 'baton.open-ui';
      expect(await send('/slack/interactions', interactionBody(link))).toMatchObject({ status: 200, body: '' });
      expect(await send('/slack/interactions', interactionBody({ type: 'view_closed', user: { id: ROSA }, view: { id: 'V1', callback_id: 'other' } }))).toMatchObject({ status: 200, body: '' });
    });

    it('refuses everything, 401, when no signing secret is configured', async () => {
      const unconfigured = await buildApp({ client: stack.client, config });
      try {
        const body = command(DAN, 'deploy api 6.0.2 staging');
        const res = await send('/slack/commands', body, { app: unconfigured });
        expect(res).toMatchObject({ status: 401, body: { error: { code: 'unauthorized', message: 'Slack is not configured here: set SLACK_SIGNING_SECRET' } } });
      } finally {
        await unconfigured.close();
      }
    });

    it('leaves the rest of the API as it was: a form body to /v1 is still a 415', async () => {
      const res = await authed(app, stack.people.deployer).inject({
        method: 'POST',
        url: '/v1/deployments',
        payload: 'service=api&environment=prod&version=1.0.1',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(res.status).toBe(415);
    });
  });
});
