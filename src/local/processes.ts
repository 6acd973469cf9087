// Child processes for the local sandbox and the test harness: started in their own process
// group so that stopping one stops everything it spawned, and never left behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { once } from 'node:events';

export interface Managed {
  name: string;
  child: ChildProcess;
  /** Last lines of output, for error messages. */
  output(): string;
  stop(): Promise<void>;
}

const live = new Set<Managed>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort: if the parent dies without stopping its children, kill their groups.
  process.on('exit', () => {
    for (const m of live) killGroup(m.child, 'SIGKILL');
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Echo the child's output to ours, prefixed with its name. */
  echo?: boolean;
}

export function startProcess(name: string, command: string, args: string[], opts: StartOptions = {}): Managed {
  installExitHook();
  const child = spawn(command, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    detached: true, // own process group
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const collect = (chunk: Buffer) => {
    const text = chunk.toString();
    for (const line of text.split('\n')) {
      if (!line) continue;
      lines.push(line);
      if (lines.length > 200) lines.shift();
      if (opts.echo) process.stdout.write(`[${name}] ${line}\n`);
    }
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  child.on('error', (err) => lines.push(`spawn error: ${err.message}`));
  const managed: Managed = {
    name,
    child,
    output: () => {
      // A Go panic's stack runs longer than the tail: keep its first line, which says why.
      const tail = lines.slice(-40);
      const panic = lines.find((l) => /^(panic|fatal error): /.test(l));
      return (panic && !tail.includes(panic) ? [panic, '...', ...tail] : tail).join('\n');
    },
    async stop() {
      live.delete(managed);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      killGroup(child, 'SIGTERM');
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 8000);
      await exited;
      clearTimeout(timer);
      // Whatever else is left in the group (grandchildren) goes too.
      killGroup(child, 'SIGKILL');
    },
  };
  live.add(managed);
  return managed;
}

/** A free TCP port on loopback (bound then released). */
/** Ports handed out by this process; the OS may offer a just-released port again before its user binds it. */
const handedOut = new Set<number>();

/** A port free now on loopback, never one this process handed out before. */
export async function freePort(): Promise<number> {
  for (;;) {
    const srv = createServer();
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const address = srv.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    srv.close();
    await once(srv, 'close');
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

function canConnect(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** The process exited while it was starting, before it was ready. */
export class ExitedAtStart extends Error {
  override name = 'ExitedAtStart';
}

/**
 * Runs `start` again (`tries` in all) when the server it starts exits while starting. A port
 * picked free (freePort) can be taken by another process starting at the same moment before
 * the server binds it ("address already in use"): each try picks its ports afresh. A server
 * that does not answer in time is not tried again: that is not a race.
 */
export async function startRetryingExits<T>(start: () => Promise<T>, tries = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (attempt < tries && err instanceof ExitedAtStart) continue;
      throw err;
    }
  }
}

/**
 * Starts a server on the port the caller chose (`chosen`, tried once) or on a free one, tried
 * again on another (startRetryingExits) when it exits while starting: the port was taken first.
 */
export function startOnPort<T>(chosen: number | undefined, startOn: (port: number) => Promise<T>): Promise<T> {
  if (chosen !== undefined) return startOn(chosen);
  return startRetryingExits(async () => startOn(await freePort()));
}

/** Throws ExitedAtStart if `m` has exited while waiting for it to be ready (for `what`). */
export function failIfExited(m: Managed, what: string): void {
  if (m.child.exitCode === null && m.child.signalCode === null) return;
  throw new ExitedAtStart(`${m.name} exited (${m.child.exitCode ?? m.child.signalCode}) before ${what}:\n${m.output()}`);
}

/** Waits until `port` accepts connections; fails early if the process exits. */
export async function waitForPort(m: Managed, port: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    failIfExited(m, `listening on ${port}`);
    if (await canConnect(port)) return;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`${m.name} did not listen on ${port} within ${timeoutMs} ms:\n${m.output()}`);
}

export async function waitForHttp(url: string, timeoutMs = 60_000, m?: Managed): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (m) failIfExited(m, `${url} answered`);
    try {
      const res = await fetch(url);
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms (${last})${m ? `:\n${m.output()}` : ''}`);
}
