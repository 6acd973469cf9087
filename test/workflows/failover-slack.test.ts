// DR failovers as Slack sees them, on a whole local Baton: the Temporal dev server, moto seeded
// with the sandbox in two regions behind the region gate, one worker per region, the metrics
// feeder publishing ReplicaLag, the API through app.inject(), and a stand-in for Slack's Web API
// that records every call. A run keeps one thread: its message (the run card, posted once and
// updated to the outcome), and replies in order (the start, an approval request, the DNS switches
// with RTO and RPO, a cancel, the outcome). The card links to the Temporal UI and the API like
// other runs' when the worker's config has those bases (a worker process as `npm start` runs it).
// A drill while Slack answers errors completes and converges all the same. Every test leaves
// both regions as it found them.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { WorkflowFailedError } from '@temporalio/client';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { buildApp } from '../../src/api/app';
import { resolveConfig, type BatonConfig } from '../../src/config';
import { formatDuration } from '../../src/domain/durations';
import type { DrSpec } from '../../src/domain/failover';
import type { FailoverStatus } from '../../workflows/messages';
import { authed, type ApiCaller } from '../harness/api';
import { startFakeSlack, type FakeMessage, type FakeSlack, type SlackCall } from '../harness/fake-slack';
import { historyFacts, scheduled } from '../harness/history';
import { startStack, type Stack } from '../harness/stack';
import { until } from '../harness/wait';
import { drPosture } from '../harness/dr';
import { motoClients } from '../harness/aws';

const CHANNEL = 'C0FAILOVERS';
const UI = 'http://127.0.0.1:8233';
const PUBLIC = 'https://baton.example.com';

interface Block {
  type: string;
  text?: { text: string };
  fields?: Array<{ text: string }>;
  elements?: Array<{ text?: string }>;
}

/** Every piece of text a message's blocks show, in order. */
function shown(m: FakeMessage): string[] {
  const out: string[] = [];
  for (const b of (m.blocks ?? []) as Block[]) {
    if (b.text) out.push(b.text.text);
    for (const f of b.fields ?? []) out.push(f.text);
    for (const e of b.elements ?? []) if (e.text) out.push(e.text);
  }
  return out;
}

describe('Slack threads of DR failovers and drills (dev server, moto, two regions, fake Slack)', () => {
  let slack: FakeSlack;
  let stack: Stack;
  let config: BatonConfig;
  let configDir: string;
  let linkedConfigFile: string;
  let app: FastifyInstance;
  let rosa: ApiCaller; // release manager and on call
  let spec: DrSpec;

  beforeAll(async () => {
    slack = await startFakeSlack();
    stack = await startStack({ regionWorkers: true, feeder: true, slack: { apiUrl: slack.apiUrl, channel: CHANNEL, updateEvery: '1s' } });
    // The stack's config with the bases of the links in Slack messages, as a deployment's config has them.
    const doc = parseYaml(readFileSync(stack.configFile, 'utf8')) as { api: Record<string, unknown> };
    doc.api = { ...doc.api, temporalUiUrl: UI, publicUrl: PUBLIC };
    configDir = mkdtempSync(join(tmpdir(), 'baton-failover-slack-'));
    linkedConfigFile = join(configDir, 'config.yaml');
    writeFileSync(linkedConfigFile, toYaml(doc));
    config = resolveConfig(doc);
    app = await buildApp({ client: stack.client, config });
    rosa = authed(app, stack.people.releaseManager);
    spec = config.services.api.dr.prod;
  }, 300_000);

  afterAll(async () => {
    await app?.close();
    await stack?.stop();
    await slack?.stop();
    if (configDir) rmSync(configDir, { recursive: true, force: true });
  }, 120_000);

  beforeEach(() => slack.setMode({ kind: 'ok' }));

  const title = (mode: 'drill' | 'planned') => `${mode === 'drill' ? 'DR drill' : 'Failover'} of api prod: us-east-1 → us-west-2`;
  const objective = (seconds: number) => formatDuration(seconds);

  async function start(mode: 'drill' | 'planned', reason: string): Promise<{ id: string; links: Record<string, string> }> {
    const res = await rosa.post<{ id: string; links: Record<string, string> }>('/v1/failovers', { service: 'api', environment: 'prod', mode, reason, fromRegion: 'us-east-1', toRegion: 'us-west-2' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body;
  }

  const status = async (id: string) => (await rosa.get<FailoverStatus>(`/v1/failovers/${id}`)).body;
  const phaseIs = (id: string, phases: string[]) => until(`failover ${id} in ${phases.join('/')}`, () => status(id), (s) => phases.includes(s.phase), 240_000);
  /** The run's result (its thread closed: every Slack call it makes is made), then its status. */
  async function closed(id: string): Promise<FailoverStatus> {
    await stack.client.workflow.getHandle(id).result().catch((err: unknown) => {
      if (!(err instanceof WorkflowFailedError)) throw err;
    });
    return status(id);
  }

  /** The run's message: posted outside any thread, tagged with the run's id. */
  const parentsOf = (id: string): FakeMessage[] =>
    [...slack.messages.values()].filter((m) => m.threadTs === null && (m.metadata as { event_payload?: { id?: string } } | null)?.event_payload?.id?.startsWith(`${id}#`));
  const repliesTo = (ts: string): FakeMessage[] => [...slack.messages.values()].filter((m) => m.threadTs === ts);
  const posts = (calls: SlackCall[]) => calls.filter((c) => c.method === 'chat.postMessage');

  const posture = () => drPosture(spec, stack.motoProviders, motoClients(stack.moto));

  it('tells a drill in its own thread: one message updated to SUCCEEDED with RTO and RPO; the start, both DNS switches and the success with steps and clean-up as replies', async () => {
    const before = await posture();
    const since = slack.calls.length;
    const { id } = await start('drill', 'quarterly DR drill');
    const s = await closed(id);
    expect(s.outcome, s.error ?? '').toBe('succeeded');
    const calls = slack.calls.slice(since);

    // One message for the run, posted once; every other post is a reply in its thread.
    expect(parentsOf(id)).toHaveLength(1);
    const [parent] = parentsOf(id);
    expect(posts(calls).filter((c) => c.args.thread_ts === undefined)).toHaveLength(1);
    expect(posts(calls).filter((c) => c.args.thread_ts !== undefined && c.args.thread_ts !== parent.ts)).toEqual([]);
    expect(calls.filter((c) => !c.ok)).toEqual([]);

    // Updated in place as it went, never anything else.
    const updates = calls.filter((c) => c.method === 'chat.update');
    expect(updates.every((c) => c.args.ts === parent.ts && c.args.channel === CHANNEL)).toBe(true);
    const phases = updates.map((c) => String(c.args.text));
    expect(phases.some((t) => / — (fencing|catching_up|promoting|scaling|smoke_testing|switching_dns|monitoring|failing_back|rebuilding)$/.test(t)), phases.join('\n')).toBe(true);
    expect(phases.at(-1)).toBe(`${title('drill')} — succeeded`);

    // The card's end: the outcome in the header, phase completed, RTO and RPO against their objectives.
    const rto = formatDuration(s.report.rtoSeconds as number);
    expect(s.report.rpoSeconds).toBe(0);
    expect(parent.text).toBe(`${title('drill')} — succeeded`);
    expect(parent.updates).toBe(updates.length);
    const card = shown(parent);
    expect(card[0]).toBe(`:white_check_mark: ${title('drill')} — succeeded`);
    expect(card).toContain('*Phase*\ncompleted');
    expect(card).toContain(`*Requested by*\n${s.requestedBy}`);
    const lines = card.find((t) => t.startsWith('• Reason:')) ?? '';
    expect(lines.split('\n')).toEqual(expect.arrayContaining([
      '• Reason: quarterly DR drill',
      '• us-east-1 fenced',
      `• RTO ${rto} (objective ${objective(spec.objectives.rtoSeconds)})`,
      `• RPO 0s (objective ${objective(spec.objectives.rpoSeconds)})`,
    ]));
    expect(lines).toMatch(/^• OK clean-up/m);

    // The replies, in order: the start, over to us-west-2 with RTO and RPO, home again, the success.
    const steps = s.report.steps.map((x) => `${x.name} ${x.durationSeconds}s`).join(', ');
    expect(s.report.steps.map((x) => x.name)).toContain('clean-up');
    expect(s.report.cleanup).toContain('both regions as found (services, databases, DNS)');
    expect(repliesTo(parent.ts).map((m) => m.text)).toEqual([
      `:test_tube: ${title('drill')}, requested by ${s.requestedBy}: quarterly DR drill`,
      `:globe_with_meridians: DNS switched to us-west-2. RTO ${rto} (objective ${objective(spec.objectives.rtoSeconds)}), RPO 0s`,
      ':globe_with_meridians: DNS switched back to us-east-1',
      `:white_check_mark: ${title('drill')} succeeded. RTO ${rto} (objective ${objective(spec.objectives.rtoSeconds)}), RPO 0s (objective ${objective(spec.objectives.rpoSeconds)}); fenced. Steps: ${steps}. Cleaned up: ${s.report.cleanup.join('; ')}`,
    ]);

    expect(await posture()).toEqual(before);
  }, 420_000);

  it('asks for approval in the thread, naming what it waits for; a cancel before approval is told, ends the run cancelled and changes nothing; the card links to the Temporal UI and the API', async () => {
    const before = await posture();
    const regions = stack.workers.regions;
    // A worker process as `npm start` runs it (its config gives the links' bases), serving every region.
    for (const r of regions) await stack.workers.stop(r);
    const schedules = async () => {
      const ids: string[] = [];
      for await (const sc of stack.client.schedule.list()) ids.push(sc.scheduleId);
      return ids;
    };
    const schedulesBefore = await schedules();
    let worker: Awaited<ReturnType<Stack['spawnWorker']>> | null = null;
    let id = '';
    try {
      worker = await stack.spawnWorker({ BATON_CONFIG: linkedConfigFile, BATON_REGIONS: regions.join(',') });
      const since = slack.calls.length;
      const started = await start('planned', 'east maintenance window');
      id = started.id;
      const { links } = started;
      const waiting = await phaseIs(id, ['awaiting_approval']);
      expect(waiting.pending.length).toBeGreaterThan(0);

      const asked = `:raised_hand: Needs approval: ${waiting.pending.join('; ')} (POST /v1/failovers/${id}/approvals)`;
      const parent = await until('the run message, showing the wait, with the approval request in its thread', async () => parentsOf(id)[0], (p) => p !== undefined && repliesTo(p.ts).some((m) => m.text === asked) && shown(p).some((t) => t.includes('awaiting_approval')));
      expect(repliesTo(parent.ts).map((m) => m.text)).toEqual([`:twisted_rightwards_arrows: ${title('planned')}, requested by ${waiting.requestedBy}: east maintenance window`, asked]);
      expect(shown(parent).join('\n')).toContain(`• Waiting for: ${waiting.pending.join('; ')}`);

      // Laid out like other runs' cards: header, phase and requester, facts, then the links.
      const uiLink = `${UI}/namespaces/default/workflows/${encodeURIComponent(id)}`;
      const apiLink = `${PUBLIC}/v1/failovers/${encodeURIComponent(id)}`;
      expect(links.temporalUi).toBe(uiLink);
      expect((parent.blocks as Block[]).map((b) => b.type)).toEqual(['header', 'section', 'section', 'context']);
      expect(shown(parent)[0]).toBe(`:hourglass_flowing_sand: ${title('planned')}`);
      expect(shown(parent).at(-1)).toBe(`<${uiLink}|Temporal UI> · <${apiLink}|API status>`);
      expect(await posture()).toEqual(before);

      const cancel = await rosa.post<FailoverStatus>(`/v1/failovers/${id}/actions`, { action: 'cancel', reason: 'maintenance postponed' });
      expect(cancel.status, JSON.stringify(cancel.body)).toBe(200);
      const s = await closed(id);
      expect(s.outcome).toBe('cancelled');
      expect(s.error).toBe(`cancelled by ${s.requestedBy}: maintenance postponed`);
      expect(s.report.fenced).toBeNull();

      // The cancel and the outcome, with where things stand, follow in the thread.
      const replies = repliesTo(parent.ts).map((m) => m.text);
      expect(replies.slice(2)).toEqual([
        `:octagonal_sign: Cancel requested by ${s.requestedBy}: maintenance postponed`,
        `:x: ${title('planned')} cancelled: cancelled by ${s.requestedBy}: maintenance postponed. ${s.report.state}`,
      ]);
      expect(s.report.state).toMatch(/^DNS still answers us-east-1; api-prod-db-replica in us-west-2 is available, still a replica.*; us-east-1 untouched$/);

      // The card ends cancelled, says why, and still links.
      const card = shown(parentsOf(id)[0]);
      expect(card[0]).toBe(`:no_entry: ${title('planned')} — cancelled`);
      expect(card).toContain(`:warning: *cancelled by ${s.requestedBy}: maintenance postponed*`);
      expect(card).toContain('*Phase*\ncancelled');
      expect(card.at(-1)).toBe(`<${uiLink}|Temporal UI> · <${apiLink}|API status>`);
      // A cancelled run waits for nothing.
      expect(s.pending, 'the status of a cancelled run').toEqual([]);
      expect(card.join('\n'), 'the card of a cancelled run').not.toContain('Waiting for');

      const calls = slack.calls.slice(since);
      expect(posts(calls).filter((c) => c.args.thread_ts === undefined)).toHaveLength(1);
      expect(posts(calls).filter((c) => c.args.thread_ts !== undefined && c.args.thread_ts !== parent.ts)).toEqual([]);
      expect(calls.filter((c) => c.method === 'chat.update').every((c) => c.args.ts === parent.ts)).toBe(true);
      expect(await posture()).toEqual(before);
    } finally {
      // A run an assertion left waiting is cancelled (it changed nothing), so the next test can start.
      if (id && (await status(id)).outcome === null) {
        await rosa.post(`/v1/failovers/${id}/actions`, { action: 'cancel', reason: 'test cleanup' });
        await closed(id);
      }
      await worker?.stop();
      for (const r of regions) await stack.workers.start(r);
      // The worker process made its schedules (trains, readiness): they go with it.
      for (const sid of await schedules()) if (!schedulesBefore.includes(sid)) await stack.client.schedule.getHandle(sid).delete();
    }
  }, 420_000);

  it('completes a drill and converges while Slack answers 503 to every call: no step waits for Slack, and the end only briefly', async () => {
    const before = await posture();
    slack.setMode({ kind: 'http-error', status: 503 });
    const since = slack.calls.length;
    try {
      const { id } = await start('drill', 'drill while Slack is down');
      const s = await closed(id);
      expect(s.outcome, s.error ?? '').toBe('succeeded');
      expect(s.report).toMatchObject({ fenced: true, rpoSeconds: 0, rpoMet: true, rtoMet: true });
      expect(s.report.steps.every((x) => x.outcome === 'ok')).toBe(true);
      expect(s.report.cleanup).toContain('both regions as found (services, databases, DNS)');
      expect(await posture()).toEqual(before);

      // Slack was tried, answered only errors, and holds nothing of this run.
      const tried = slack.calls.slice(since);
      expect(tried.length).toBeGreaterThan(0);
      expect(tried.every((c) => c.status === 503)).toBe(true);
      expect(parentsOf(id)).toHaveLength(0);
      // The run went on while its first Slack call was still failing: it never waited for one.
      const handle = stack.client.workflow.getHandle(id);
      const facts = await historyFacts(handle);
      const firstPost = scheduled(facts, 'postMessage')[0];
      const gaveUp = facts.find((f) => f.type === 'ACTIVITY_TASK_STARTED' && f.scheduledEventId === firstPost.id);
      const meanwhile = scheduled(facts).filter((f) => f.id > firstPost.id && f.id < (gaveUp?.id ?? 0) && !['postMessage', 'updateMessage'].includes(f.activityType ?? ''));
      expect(meanwhile.length, 'activities of the run scheduled while Slack was being tried').toBeGreaterThan(0);
      // The run ended, then gave Slack at most its bounded last chance (30 s, and a call in flight).
      const closeTime = (await handle.describe()).closeTime as Date;
      expect(closeTime.getTime() - Date.parse(s.endedAt as string)).toBeLessThan(65_000);
    } finally {
      slack.setMode({ kind: 'ok' });
    }
  }, 420_000);
});
