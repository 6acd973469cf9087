// End to end: `npm start` (scripts/start.sh) on free ports, driven only through the API as a
// newcomer would: a deployment succeeds, a faulty colour is rolled back with the evidence,
// and Ctrl-C leaves nothing behind. Also: a taken port and a dying child fail loudly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DeploymentStatus } from '../../src/domain/deployment';
import { otherColour } from '../../src/domain/types';
import { freePort, startProcess, type Managed } from '../../src/local/processes';
import { REPO_ROOT } from '../../src/local/toolchain';
import { READY_LINE } from '../../src/sandbox/main';

const PORT_VARS = ['BATON_API_PORT', 'BATON_TEMPORAL_PORT', 'BATON_UI_PORT', 'BATON_MOTO_PORT', 'BATON_CONTROL_PORT'] as const;
type Ports = Record<(typeof PORT_VARS)[number], number>;

interface Sandbox {
  process: Managed;
  dir: string;
  token: string;
  ports: Ports;
  /** Everything it printed so far. */
  log(): string;
}

async function freePorts(): Promise<Ports> {
  const ports = {} as Ports;
  for (const name of PORT_VARS) ports[name] = await freePort();
  return ports;
}

function startSandbox(command: string, args: string[], ports: Ports): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), 'baton-sandbox-'));
  const token = `e2e-${Math.random().toString(36).slice(2)}`;
  const env = { ...process.env, ...Object.fromEntries(PORT_VARS.map((n) => [n, String(ports[n])])), BATON_SANDBOX_DIR: dir, BATON_SANDBOX_TOKEN: token };
  const proc = startProcess('sandbox', command, args, { cwd: REPO_ROOT, env });
  let text = '';
  proc.child.stdout?.on('data', (c: Buffer) => (text += c.toString()));
  proc.child.stderr?.on('data', (c: Buffer) => (text += c.toString()));
  return { process: proc, dir, token, ports, log: () => text };
}

async function waitForLine(sb: Sandbox, line: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!sb.log().includes(line)) {
    if (exited(sb.process)) throw new Error(`the sandbox exited before printing '${line}':\n${sb.log().slice(-4000)}`);
    if (Date.now() > deadline) throw new Error(`no '${line}' within ${timeoutMs} ms:\n${sb.log().slice(-4000)}`);
    await sleep(250);
  }
}

function exited(m: Managed): boolean {
  return m.child.exitCode !== null || m.child.signalCode !== null;
}

async function exitCode(m: Managed, timeoutMs: number): Promise<number | string> {
  if (!exited(m)) {
    const timer = setTimeout(() => m.child.kill('SIGKILL'), timeoutMs);
    await once(m.child, 'exit');
    clearTimeout(timer);
  }
  return m.child.exitCode ?? (m.child.signalCode as string);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Processes whose environment names this sandbox's folder: the sandbox and everything it started. */
function processesOf(dir: string): number[] {
  const marker = `BATON_SANDBOX_DIR=${dir}\0`;
  const pids: number[] = [];
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'latin1').includes(marker)) pids.push(Number(entry));
    } catch {
      /* gone, or not ours to read */
    }
  }
  return pids;
}

async function portIsFree(port: number): Promise<boolean> {
  const server = createServer();
  server.listen(port, '127.0.0.1');
  try {
    await once(server, 'listening');
  } catch {
    return false;
  }
  server.close();
  await once(server, 'close');
  return true;
}

function groupIsGone(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function client(sb: Sandbox) {
  const base = `http://127.0.0.1:${sb.ports.BATON_API_PORT}`;
  async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${sb.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }
  async function deploy(service: string, version: string): Promise<string> {
    const res = await call('POST', '/v1/deployments', { service, environment: 'prod', version });
    expect(res.status, JSON.stringify(res.json)).toBe(201);
    return res.json.id as string;
  }
  async function waitForOutcome(id: string, timeoutMs = 240_000): Promise<DeploymentStatus> {
    const deadline = Date.now() + timeoutMs;
    let status: DeploymentStatus | null = null;
    while (Date.now() < deadline) {
      const res = await call('GET', `/v1/deployments/${encodeURIComponent(id)}`);
      status = res.json as unknown as DeploymentStatus;
      if (res.status === 200 && status.outcome) return status;
      await sleep(2000);
    }
    throw new Error(`${id} did not finish within ${timeoutMs} ms; last status: ${JSON.stringify(status)}`);
  }
  return { call, deploy, waitForOutcome };
}

async function stopAndClean(sb: Sandbox | undefined): Promise<void> {
  if (!sb) return;
  await sb.process.stop();
  rmSync(sb.dir, { recursive: true, force: true });
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
    expect(banner).toMatch(/curl .*\/v1\/sandbox\/faults/);
  });

  it('lists the sandbox people to the admin', async () => {
    const res = await api.call('GET', '/v1/sandbox/people');
    expect(res.status).toBe(200);
    expect(JSON.stringify(res.json)).toContain(sb.token);
  });

  let web: DeploymentStatus;

  it('deploys web (ALB) and api (Route 53) to prod, side by side', async () => {
    const [webId, apiId] = [await api.deploy('web', '1.1.0'), await api.deploy('api', '1.1.0')];
    const [webDone, apiDone] = await Promise.all([api.waitForOutcome(webId), api.waitForOutcome(apiId)]);
    expect(webDone.outcome, JSON.stringify(webDone.timeline)).toBe('succeeded');
    expect(apiDone.outcome, JSON.stringify(apiDone.timeline)).toBe('succeeded');
    expect(webDone.weights).toEqual(webDone.targetColour === 'green' ? { blue: 0, green: 100 } : { blue: 100, green: 0 });
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

  it('stops everything on Ctrl-C, exits 0 and frees its ports', async () => {
    const pid = sb.process.child.pid!;
    process.kill(-pid, 'SIGINT'); // what a terminal does: the whole foreground group
    expect(await exitCode(sb.process, 60_000)).toBe(0);
    expect(sb.log()).toContain('stopped Temporal');
    expect(groupIsGone(pid)).toBe(true);
    expect(processesOf(sb.dir)).toEqual([]);
    for (const port of Object.values(sb.ports)) expect(await portIsFree(port), `port ${port}`).toBe(true);
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
