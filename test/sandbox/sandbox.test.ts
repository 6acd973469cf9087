// End to end: `npm start` (scripts/start.sh) on free ports, driven only through the API as a
// newcomer would: a deployment straight to prod (the admin breaking glass around its gate)
// succeeds, a faulty colour is rolled back with the evidence, a damaged database is restored
// to a point in time, and Ctrl-C leaves nothing behind. Also: a taken port and a dying child fail loudly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { once } from 'node:events';
import type { DeploymentStatus } from '../../src/domain/deployment';
import { otherColour } from '../../src/domain/types';
import { READY_LINE } from '../../src/sandbox/main';
import {
  apiAs,
  ctrlC,
  exitCode,
  freePorts,
  pollUntil,
  processesOf,
  startSandbox,
  stopAndClean,
  waitForLine,
  type Sandbox,
} from '../harness/sandbox';

/** Why the tests deploy straight to prod: prod is gated, so only the admin's break-glass gets there outside a release. */
const BREAK_GLASS = { reason: 'sandbox end-to-end test' };

function client(sb: Sandbox) {
  const call = apiAs(sb);
  async function deploy(service: string, version: string): Promise<string> {
    const res = await call('POST', '/v1/deployments', { service, environment: 'prod', version, breakGlass: BREAK_GLASS });
    expect(res.status, JSON.stringify(res.json)).toBe(201);
    return res.json.id as string;
  }
  async function waitForOutcome(id: string, timeoutMs = 240_000): Promise<DeploymentStatus> {
    const read = async () => {
      const res = await call<DeploymentStatus>('GET', `/v1/deployments/${encodeURIComponent(id)}`);
      return res.status === 200 ? res.json : null;
    };
    return (await pollUntil(`${id} finishing`, read, (s) => Boolean(s?.outcome), timeoutMs)) as DeploymentStatus;
  }
  return { call, deploy, waitForOutcome };
}

describe('npm start', () => {
  let sb: Sandbox;
  let api: ReturnType<typeof client>;

  beforeAll(async () => {
    sb = startSandbox('bash', ['scripts/start.sh'], await freePorts());
    api = client(sb);
    await waitForLine(sb, READY_LINE, 180_000);
  }, 200_000);

  afterAll(async () => {
    await stopAndClean(sb);
  });

  it('prints the URLs, the admin token and curl examples', () => {
    const banner = sb.log().slice(sb.log().indexOf(READY_LINE));
    expect(banner).toContain(`http://127.0.0.1:${sb.ports.BATON_UI_PORT}`);
    expect(banner).toContain(`http://127.0.0.1:${sb.ports.BATON_API_PORT}`);
    expect(banner).toContain(`http://127.0.0.1:${sb.ports.BATON_MOTO_PORT}`);
    expect(banner).toContain(`http://127.0.0.1:${sb.ports.BATON_CONTROL_PORT}`);
    expect(banner).toContain(sb.token);
    expect(banner).toMatch(/curl .*\/v1\/deployments/);
    expect(banner).toMatch(/curl .*\/v1\/deployments .*"environment":"prod".*"breakGlass":\{"reason":/);
    expect(banner).toMatch(/curl .*\/v1\/sandbox\/faults/);
  });

  it('lists the sandbox people to the admin: ada holds break-glass, ci attests the checks', async () => {
    const res = await api.call<Array<{ name: string; roles: string[]; token: string }>>('GET', '/v1/sandbox/people');
    expect(res.status).toBe(200);
    expect(JSON.stringify(res.json)).toContain(sb.token);
    const roles = Object.fromEntries(res.json.map((p) => [p.name, p.roles]));
    expect(roles).toMatchObject({ ada: ['admin', 'break-glass'], dan: ['deployer'], ci: ['ci'] });
  });

  let web: DeploymentStatus;

  it('deploys web (ALB) and api (Route 53) to prod, side by side, with break-glass (and refuses it without)', async () => {
    const gated = await api.call('POST', '/v1/deployments', { service: 'web', environment: 'prod', version: '1.1.0' });
    expect(gated.status, JSON.stringify(gated.json)).toBe(403);
    expect(JSON.stringify(gated.json)).toMatch(/prod is gated for web: deploy through a release/);

    const [webId, apiId] = [await api.deploy('web', '1.1.0'), await api.deploy('api', '1.1.0')];
    const [webDone, apiDone] = await Promise.all([api.waitForOutcome(webId), api.waitForOutcome(apiId)]);
    expect(webDone.outcome, JSON.stringify(webDone.timeline)).toBe('succeeded');
    expect(apiDone.outcome, JSON.stringify(apiDone.timeline)).toBe('succeeded');
    expect(webDone.weights).toEqual(webDone.targetColour === 'green' ? { blue: 0, green: 100 } : { blue: 100, green: 0 });
    for (const done of [webDone, apiDone]) {
      expect(done.timeline.find((e) => e.type === 'break_glass')?.message).toBe(`Break-glass by ada, around prod's gate: ${BREAK_GLASS.reason}`);
    }
    web = webDone;
  }, 300_000);

  it('rolls back a deployment whose colour errors, with the evidence', async () => {
    expect(web?.targetColour, 'needs the first deployment').toBeTruthy();
    const faulty = otherColour(web.targetColour!); // the colour the next deployment goes to
    const fault = await api.call('POST', '/v1/sandbox/faults', { service: 'web', environment: 'prod', colour: faulty, errorRate: 0.3 });
    expect(fault.status, JSON.stringify(fault.json)).toBe(200);

    const done = await api.waitForOutcome(await api.deploy('web', '1.2.0'));
    expect(done.outcome).toBe('rolled_back');
    expect(done.targetColour).toBe(faulty);
    expect(done.rollback?.evidence).toMatchObject({ metric: 'error_rate', threshold: 0.01 });
    expect(done.rollback!.evidence!.value).toBeGreaterThan(0.2);
    expect(done.weights).toEqual(faulty === 'blue' ? { blue: 0, green: 100 } : { blue: 100, green: 0 });

    const healed = await api.call('DELETE', '/v1/sandbox/faults', { service: 'web', environment: 'prod', colour: faulty });
    expect(healed.json).toEqual({ faults: [] });
  }, 300_000);

  it('restores a damaged database to a point in time before the damage, from the README\'s commands', async () => {
    const listed = async () => (await api.call<Array<{ environment: string; database: string; tables: Record<string, number> | null }>>('GET', '/v1/sandbox/databases')).json;
    const staging = async () => (await listed()).find((d) => d.environment === 'staging' && d.database === 'orders')!.tables;
    const before = await staging();
    expect(before).toEqual({ customers: 20, orders: 250 });
    const at = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 1500));
    expect((await api.call('POST', '/v1/sandbox/faults', { environment: 'staging', database: 'orders', damage: 'delete-rows' })).status).toBe(200);
    expect((await api.call('POST', '/v1/sandbox/faults', { environment: 'staging', database: 'orders', damage: 'drop-table', table: 'customers' })).status).toBe(200);
    expect(await staging()).not.toEqual(before);

    const unreachable = await api.call('POST', '/v1/restores/plan', { environment: 'staging', database: 'orders', target: { pointInTime: '2001-01-01T00:00:00Z' }, reason: 'x' });
    expect(unreachable.status).toBe(400);
    expect(JSON.stringify(unreachable.json)).toMatch(/reachable: /);
    const started = await api.call('POST', '/v1/restores', { environment: 'staging', database: 'orders', target: { pointInTime: at }, incidentAt: at, reason: 'rows deleted' });
    expect(started.status, JSON.stringify(started.json)).toBe(201);
    const id = started.json.id as string;
    const read = async () => (await api.call<{ phase: string; outcome: string | null; rpoSeconds: number | null; rtoSeconds: number | null; error: string | null }>('GET', `/v1/restores/${encodeURIComponent(id)}`)).json;
    const s = await pollUntil(`${id} restored`, read, (st) => st.phase === 'retaining' || st.outcome !== null, 180_000);
    expect(s, JSON.stringify(s)).toMatchObject({ phase: 'retaining', error: null, rpoSeconds: expect.any(Number), rtoSeconds: expect.any(Number) });
    expect(await staging()).toEqual(before);
  }, 240_000);

  it('stops everything on Ctrl-C, exits 0 and frees its ports', async () => {
    // What a terminal does: SIGINT to the whole foreground group.
    expect(await ctrlC(sb, 60_000)).toEqual({ exit: 0, groupGone: true, leftover: [], busyPorts: [] });
    expect(sb.log()).toContain('stopped Temporal');
  }, 90_000);
});

describe('npm start when something is wrong', () => {
  let sb: Sandbox | undefined;

  afterAll(async () => {
    await stopAndClean(sb);
  });

  it('refuses a taken port in one line naming the variable that moves it', async () => {
    const ports = await freePorts();
    const squatter = createServer().listen(ports.BATON_CONTROL_PORT, '127.0.0.1');
    await once(squatter, 'listening');
    try {
      const taken = startSandbox(process.execPath, ['--import', 'tsx', 'src/sandbox/main.ts'], ports);
      expect(await exitCode(taken.process, 30_000)).toBe(1);
      expect(taken.log().trim()).toBe(`[sandbox] port ${ports.BATON_CONTROL_PORT} (for the sandbox control server) is already in use: set BATON_CONTROL_PORT to another port`);
      rmSync(taken.dir, { recursive: true, force: true });
    } finally {
      squatter.close();
    }
  });

  it('stops everything with exit 1 when a child dies, naming it', async () => {
    sb = startSandbox(process.execPath, ['--import', 'tsx', 'src/sandbox/main.ts'], await freePorts());
    await waitForLine(sb, READY_LINE, 180_000);
    const worker = processesOf(sb.dir).find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('src/worker.ts'));
    expect(worker, 'the worker process').toBeDefined();
    process.kill(worker!, 'SIGKILL');
    expect(await exitCode(sb.process, 60_000)).toBe(1);
    expect(sb.log()).toMatch(/worker exited unexpectedly \(SIGKILL\)/);
    expect(processesOf(sb.dir)).toEqual([]);
  }, 240_000);
});
