// End to end: a whole release of `web` through `npm start` (scripts/start.sh) on free ports,
// driven by API calls alone, each made as the sandbox person whose job it is: dev starts it,
// ci (the CI system's principal) posts the checks, quinn (qa) signs staging off, rosa and remi
// (release managers) approve prod, and ada (admin) triggers the prod train. The sandbox's `web` gates mirror the
// runbooks (src/sandbox/sandbox-config.ts): staging needs check `ci` and one qa approval;
// prod needs `ci`, `security-scan`, two release managers, 30 s of stability in staging and
// the prod train (Tuesdays 10:00 America/Los_Angeles). Each deployment takes about a minute,
// so the whole test takes a few.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentStatus } from '../../src/domain/deployment';
import { READY_LINE } from '../../src/sandbox/main';
import type { TrainSchedule } from '../../src/temporal/schedules';
import type { ReleaseStatus, StageStatus } from '../../workflows/messages';
import { apiAs, ctrlC, freePorts, pollUntil, startSandbox, stopAndClean, waitForLine, type Call, type Sandbox } from '../harness/sandbox';

const SERVICE = 'web';
const VERSION = '7.0.0';
const RELEASE_ID = `release:${SERVICE}:${VERSION}`;
const PROD_DEPLOYMENT = `deploy:${SERVICE}:prod:${VERSION}`;
/** A sandbox deployment takes about a minute; leave room for a slow machine. */
const DEPLOY_TIMEOUT = 300_000;
const PEOPLE = ['ada', 'rosa', 'remi', 'quinn', 'pia', 'dev', 'ci'] as const;
type Person = (typeof PEOPLE)[number];

function stage(status: ReleaseStatus, environment: string): StageStatus {
  const found = status.environments.find((e) => e.environment === environment);
  if (!found) throw new Error(`${status.id} has no ${environment} stage: ${JSON.stringify(status.environments)}`);
  return found;
}

/** `Tue 10:00` for an instant, read in the train's time zone. */
function inLosAngeles(iso: string): string {
  return new Intl.DateTimeFormat('en-US', { timeZone: 'America/Los_Angeles', weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(iso));
}

describe('a release of web through the sandbox, by API calls alone', () => {
  let sb: Sandbox;
  const as = {} as Record<Person, Call>;
  const took: Record<string, number> = {};
  let stepStarted = Date.now();
  const step = (name: string) => {
    took[name] = Math.round((Date.now() - stepStarted) / 1000);
    stepStarted = Date.now();
  };

  /** The release's status, read as dev (anyone may read it). */
  async function release(): Promise<ReleaseStatus> {
    const res = await as.dev<ReleaseStatus>('GET', `/v1/releases/${encodeURIComponent(RELEASE_ID)}`);
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    return res.json;
  }

  /** Polls the release until `done` holds or the release has ended (then the caller's expectations say what went wrong). */
  function releaseUntil(what: string, done: (s: ReleaseStatus) => boolean, timeoutMs = DEPLOY_TIMEOUT, intervalMs = 2000): Promise<ReleaseStatus> {
    return pollUntil(`${RELEASE_ID}: ${what}`, release, (s) => done(s) || s.outcome !== null, timeoutMs, intervalMs);
  }

  beforeAll(async () => {
    sb = startSandbox('bash', ['scripts/start.sh'], await freePorts());
    await waitForLine(sb, READY_LINE, 180_000);
    step('sandbox start');
  }, 200_000);

  afterAll(async () => {
    await stopAndClean(sb);
    console.info(`[release e2e] seconds per step: ${JSON.stringify(took)}`);
  });

  it('gives the admin every example person\'s token', async () => {
    const res = await apiAs(sb)<Array<{ name: string; roles: string[]; token: string }>>('GET', '/v1/sandbox/people');
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    const roles = Object.fromEntries(res.json.map((p) => [p.name, p.roles]));
    expect(roles).toMatchObject({
      ada: ['admin', 'break-glass'],
      rosa: ['release-manager', 'on-call'],
      remi: ['release-manager', 'on-call'],
      quinn: ['qa'],
      pia: ['product'],
      dev: ['developer'],
      ci: ['ci'],
    });
    for (const name of PEOPLE) as[name] = apiAs(sb, res.json.find((p) => p.name === name)!.token);
    expect(res.json.find((p) => p.name === 'ada')!.token).toBe(sb.token);
  });

  it('dev starts the release; dev deploys at once', async () => {
    const started = await as.dev<{ id: string; status: ReleaseStatus }>('POST', '/v1/releases', { service: SERVICE, version: VERSION });
    expect(started.status, JSON.stringify(started.json)).toBe(201);
    expect(started.json.id).toBe(RELEASE_ID);
    expect(started.json.status).toMatchObject({ service: SERVICE, version: VERSION, hotfix: false, requestedBy: 'dev', outcome: null });
    expect(started.json.status.environments.map((e) => e.environment)).toEqual(['dev', 'staging', 'prod']);
    expect(stage(started.json.status, 'dev').gate, 'dev has no gate').toBeNull();

    const s = await releaseUntil('deployed to dev', (r) => stage(r, 'dev').deployment?.outcome != null);
    expect(stage(s, 'dev').deployment, JSON.stringify(s.timeline)).toMatchObject({ id: `deploy:${SERVICE}:dev:${VERSION}`, outcome: 'succeeded' });
    expect(s.outcome).toBeNull();
    step('dev');
  }, DEPLOY_TIMEOUT + 10_000);

  it('staging asks for check ci and one qa approval; ci posts ci, quinn approves, staging deploys', async () => {
    const open = await releaseUntil('staging gate open', (r) => stage(r, 'staging').gate?.state === 'open', 60_000, 1000);
    const gate = stage(open, 'staging').gate!;
    expect(gate.state, JSON.stringify(open.timeline)).toBe('open');
    expect(gate.checks).toEqual([{ name: 'ci', status: 'missing', url: null, at: null }]);
    expect(gate.pending).toEqual(["waiting for check 'ci'", 'waiting for 1 more qa approval']);
    expect(gate.train).toBeNull();

    // The developer approves nothing (and is the requester besides).
    const refused = await as.dev('POST', `/v1/releases/${RELEASE_ID}/approvals`, { environment: 'staging', decision: 'approve' });
    expect(refused.status, JSON.stringify(refused.json)).toBe(403);

    // Nor does the developer vouch for their own build: only CI attests `ci`.
    const selfAttested = await as.dev('POST', `/v1/releases/${RELEASE_ID}/checks`, { name: 'ci', status: 'passed' });
    expect(selfAttested).toEqual({ status: 403, json: { error: { code: 'forbidden', message: "dev may not attest 'ci' (attested by ci)" } } });

    const ci = await as.ci<ReleaseStatus>('POST', `/v1/releases/${RELEASE_ID}/checks`, { name: 'ci', status: 'passed', url: 'https://ci.example.com/web/runs/7000' });
    expect(ci.status, JSON.stringify(ci.json)).toBe(200);
    expect(stage(ci.json, 'staging').gate!.checks).toMatchObject([{ name: 'ci', status: 'passed', url: 'https://ci.example.com/web/runs/7000' }]);

    const approved = await as.quinn<ReleaseStatus>('POST', `/v1/releases/${RELEASE_ID}/approvals`, { environment: 'staging', decision: 'approve', comment: 'QA sign-off: regression suite green' });
    expect(approved.status, JSON.stringify(approved.json)).toBe(200);
    expect(stage(approved.json, 'staging').gate!.approvals).toMatchObject([
      { environment: 'staging', decision: 'approve', by: 'quinn', roles: ['qa'], comment: 'QA sign-off: regression suite green' },
    ]);

    // While staging deploys, the prod gate waits (its stability clock starts when staging is live).
    const prodStates = new Set<string | undefined>();
    const s = await releaseUntil('deployed to staging', (r) => {
      if (stage(r, 'staging').deployment?.outcome != null) return true; // the prod gate may be open by now
      prodStates.add(stage(r, 'prod').gate?.state);
      return false;
    });
    expect(stage(s, 'staging').deployment, JSON.stringify(s.timeline)).toMatchObject({ id: `deploy:${SERVICE}:staging:${VERSION}`, outcome: 'succeeded' });
    expect([...prodStates]).toEqual(['waiting']);
    expect(stage(s, 'staging').gate!.state).toBe('satisfied');
    step('staging');
  }, DEPLOY_TIMEOUT + 70_000);

  let ready: ReleaseStatus;

  it('prod opens after 30 s live in staging, then asks for ci, security-scan, two release managers and the train', async () => {
    const open = await releaseUntil('prod gate open', (r) => stage(r, 'prod').gate?.state === 'open', 90_000, 500);
    const gate = stage(open, 'prod').gate!;
    expect(gate.state, JSON.stringify(open.timeline)).toBe('open');
    // Stability counts from the moment staging took all the traffic. (The staging deployment
    // itself ends later: it keeps the old colour 15 s, then on standby 15 s.)
    const liveInStaging = Date.parse(stage(open, 'staging').deployment!.liveAt!);
    const stableFor = Date.parse(gate.openedAt!) - liveInStaging;
    took['staging live → prod gate open'] = Math.round(stableFor / 1000);
    expect(stableFor, 'the gate opens after 30 s live in staging').toBeGreaterThanOrEqual(30_000);
    expect(gate.checks).toMatchObject([{ name: 'ci', status: 'passed' }, { name: 'security-scan', status: 'missing', url: null }]);
    expect(gate.pending.slice(0, 2)).toEqual(["waiting for check 'security-scan'", 'waiting for 2 more release-manager approvals']);
    expect(gate.pending[2]).toMatch(/^next train Tue 10:00 P[SD]T /);

    const scan = await as.ci('POST', `/v1/releases/${RELEASE_ID}/checks`, { name: 'security-scan', status: 'passed', url: 'https://scan.example.com/web/7.0.0' });
    expect(scan.status, JSON.stringify(scan.json)).toBe(200);
    const rosa = await as.rosa<ReleaseStatus>('POST', `/v1/releases/${RELEASE_ID}/approvals`, { environment: 'prod', decision: 'approve', comment: 'change ticket CHG-7000' });
    expect(rosa.status, JSON.stringify(rosa.json)).toBe(200);
    expect(stage(rosa.json, 'prod').gate!.pending[0]).toBe('waiting for 1 more release-manager approval');
    const remi = await as.remi<ReleaseStatus>('POST', `/v1/releases/${RELEASE_ID}/approvals`, { environment: 'prod', decision: 'approve' });
    expect(remi.status, JSON.stringify(remi.json)).toBe(200);

    ready = await releaseUntil('waiting for the prod train', (r) => r.phase === 'waiting_for_train', 60_000, 1000);
    expect(ready.phase, JSON.stringify(ready.timeline)).toBe('waiting_for_train');
    const prod = stage(ready, 'prod').gate!;
    expect(prod.state).toBe('satisfied');
    expect(prod.approvals.map((a) => [a.by, a.decision])).toEqual([['rosa', 'approve'], ['remi', 'approve']]);
    expect(prod.train).toMatchObject({ environment: 'prod', nextDepartureLocal: expect.stringMatching(/^Tue 10:00 P[SD]T$/) });
    expect(inLosAngeles(prod.train!.nextDeparture!)).toBe('Tue 10:00');
    expect(prod.pending).toHaveLength(1);
    expect(prod.pending[0]).toMatch(/^(next train|train) Tue 10:00 P[SD]T \(Tue \d{4}-\d\d-\d\d (17|18):00 UTC\)/);
    expect(stage(ready, 'prod').deployment).toBeNull();
    step('prod gate');
  }, 200_000);

  it('ada triggers the prod train; the release ships to prod and ends succeeded', async () => {
    const trains = await as.dev<{ schedules: TrainSchedule[] }>('GET', '/v1/schedules');
    expect(trains.status, JSON.stringify(trains.json)).toBe(200);
    const train = trains.json.schedules.find((t) => t.id === 'train-prod');
    expect(train, JSON.stringify(trains.json)).toMatchObject({ environment: 'prod', scheduled: true, paused: false, days: ['TUE'], at: '10:00', timeZone: 'America/Los_Angeles' });
    expect(train!.departures).toHaveLength(5);
    for (const d of train!.departures) expect(inLosAngeles(d.at)).toBe('Tue 10:00');
    // Unless that train is boarding right now, the release waits for the schedule's next departure.
    const next = stage(ready, 'prod').gate!.train!.nextDeparture!;
    if (Date.parse(next) > Date.now()) expect(train!.departures[0].at).toBe(next);

    const triggered = await as.ada<TrainSchedule>('POST', '/v1/schedules/train-prod/trigger');
    expect(triggered.status, JSON.stringify(triggered.json)).toBe(200);
    expect(triggered.json.id).toBe('train-prod');

    const done = await releaseUntil('ended', (r) => r.outcome !== null, DEPLOY_TIMEOUT + 60_000);
    expect(done.outcome, `${done.reason}\n${JSON.stringify(done.timeline)}`).toBe('succeeded');
    expect(done).toMatchObject({ phase: 'completed', reason: null, environment: null });
    for (const e of done.environments) expect(e.deployment, e.environment).toMatchObject({ id: `deploy:${SERVICE}:${e.environment}:${VERSION}`, outcome: 'succeeded' });
    expect(stage(done, 'prod').gate!.state).toBe('departed');
    expect(done.timeline.map((t) => t.type)).toContain('departed');

    const deployed = await as.dev<DeploymentStatus>('GET', `/v1/deployments/${PROD_DEPLOYMENT}`);
    expect(deployed.status, JSON.stringify(deployed.json)).toBe(200);
    // The release ends when prod is live; the deployment's tail (blue kept hot, then on standby) runs on.
    expect(deployed.json.liveAt).not.toBeNull();
    expect(deployed.json.rollback).toBeNull();
    expect(['keeping_previous', 'standby', 'retiring', 'completed']).toContain(deployed.json.phase);
    // Every start seeds blue live at 1.0.0, so the new colour is green.
    expect(deployed.json.targetColour).toBe('green');
    expect(deployed.json.weights).toEqual({ blue: 0, green: 100 });
    step('prod');
  }, DEPLOY_TIMEOUT + 90_000);

  it('stops everything on Ctrl-C, exits 0 and leaves nothing behind', async () => {
    expect(await ctrlC(sb, 60_000)).toEqual({ exit: 0, groupGone: true, leftover: [], busyPorts: [] });
    expect(sb.log()).toContain('stopped Temporal');
    step('ctrl-c');
  }, 90_000);
});
