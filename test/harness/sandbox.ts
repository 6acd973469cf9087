// Helpers for the end-to-end tests of `npm start` (test/sandbox/): start the sandbox on free
// ports with its own folder and admin token, wait for it, call its API as any person, stop it
// with Ctrl-C and find out whether anything was left behind. No assertions here: the tests
// decide what to expect from the facts these return.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startProcess, type Managed } from '../../src/local/processes';
import { REPO_ROOT } from '../../src/local/toolchain';

export const PORT_VARS = ['BATON_API_PORT', 'BATON_TEMPORAL_PORT', 'BATON_UI_PORT', 'BATON_MOTO_PORT', 'BATON_CONTROL_PORT', 'BATON_PG_PORT'] as const;
export type Ports = Record<(typeof PORT_VARS)[number], number>;

export interface Sandbox {
  process: Managed;
  /** Its BATON_SANDBOX_DIR, a fresh temporary folder. */
  dir: string;
  /** The admin token (BATON_SANDBOX_TOKEN). */
  token: string;
  ports: Ports;
  /** Everything it printed so far. */
  log(): string;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function freePorts(): Promise<Ports> {
  const ports = {} as Ports;
  for (const name of PORT_VARS) ports[name] = await freePort();
  return ports;
}

/** Starts `command args` (e.g. `bash scripts/start.sh`) as the sandbox, in a temporary folder of its own. */
export function startSandbox(command: string, args: string[], ports: Ports): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), 'baton-sandbox-'));
  const token = `e2e-${Math.random().toString(36).slice(2)}`;
  const env = { ...process.env, ...Object.fromEntries(PORT_VARS.map((n) => [n, String(ports[n])])), BATON_SANDBOX_DIR: dir, BATON_SANDBOX_TOKEN: token };
  const proc = startProcess('sandbox', command, args, { cwd: REPO_ROOT, env });
  let text = '';
  proc.child.stdout?.on('data', (c: Buffer) => (text += c.toString()));
  proc.child.stderr?.on('data', (c: Buffer) => (text += c.toString()));
  return { process: proc, dir, token, ports, log: () => text };
}

export async function waitForLine(sb: Sandbox, line: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!sb.log().includes(line)) {
    if (exited(sb.process)) throw new Error(`the sandbox exited before printing '${line}':\n${sb.log().slice(-4000)}`);
    if (Date.now() > deadline) throw new Error(`no '${line}' within ${timeoutMs} ms:\n${sb.log().slice(-4000)}`);
    await sleep(250);
  }
}

export function exited(m: Managed): boolean {
  return m.child.exitCode !== null || m.child.signalCode !== null;
}

/** Its exit code (or the signal that ended it), killing it after `timeoutMs`. */
export async function exitCode(m: Managed, timeoutMs: number): Promise<number | string> {
  if (!exited(m)) {
    const timer = setTimeout(() => m.child.kill('SIGKILL'), timeoutMs);
    await once(m.child, 'exit');
    clearTimeout(timer);
  }
  return m.child.exitCode ?? (m.child.signalCode as string);
}

/** Processes whose environment names this sandbox's folder: the sandbox and everything it started. */
export function processesOf(dir: string): number[] {
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

export async function portIsFree(port: number): Promise<boolean> {
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

export function groupIsGone(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** What is left after Ctrl-C: a clean stop is `{ exit: 0, groupGone: true, leftover: [], busyPorts: [] }`. */
export interface AfterCtrlC {
  exit: number | string;
  groupGone: boolean;
  /** Processes still carrying the sandbox's folder in their environment. */
  leftover: number[];
  /** Sandbox ports still taken. */
  busyPorts: number[];
}

/** Sends SIGINT to the sandbox's whole process group, as a terminal's Ctrl-C does, and reports what is left. */
export async function ctrlC(sb: Sandbox, timeoutMs = 60_000): Promise<AfterCtrlC> {
  const pid = sb.process.child.pid!;
  process.kill(-pid, 'SIGINT');
  const exit = await exitCode(sb.process, timeoutMs);
  const busyPorts: number[] = [];
  for (const port of Object.values(sb.ports)) if (!(await portIsFree(port))) busyPorts.push(port);
  return { exit, groupGone: groupIsGone(pid), leftover: processesOf(sb.dir), busyPorts };
}

/** Stops the sandbox if it still runs and removes its folder (for afterAll). */
export async function stopAndClean(sb: Sandbox | undefined): Promise<void> {
  if (!sb) return;
  await sb.process.stop();
  rmSync(sb.dir, { recursive: true, force: true });
}

export interface Reply<T = Record<string, unknown>> {
  status: number;
  json: T;
}

export type Call = <T = Record<string, unknown>>(method: string, path: string, body?: unknown) => Promise<Reply<T>>;

/** Calls the sandbox's API with `Authorization: Bearer <token>` (the admin token unless told). */
export function apiAs(sb: Sandbox, token: string = sb.token): Call {
  const base = `http://127.0.0.1:${sb.ports.BATON_API_PORT}`;
  return async <T>(method: string, path: string, body?: unknown): Promise<Reply<T>> => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as T };
  };
}

/**
 * Polls `read` every `intervalMs` until `done` holds for what it returned; throws after
 * `timeoutMs` naming `what` and the last value read.
 */
export async function pollUntil<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number, intervalMs = 2000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await read();
    if (done(last)) return last;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms; last read: ${JSON.stringify(last)}`);
    await sleep(intervalMs);
  }
}
