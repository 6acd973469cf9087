// The real servers, started on loopback for the sandbox and the tests.
import { Connection } from '@temporalio/client';
import { failIfExited, freePort, startOnPort, startProcess, startRetryingExits, waitForHttp, waitForPort, type Managed } from './processes';
import { ensureToolchain } from './toolchain';

export const SEARCH_ATTRIBUTES = {
  BatonKind: 'Keyword',
  BatonService: 'Keyword',
  BatonEnvironment: 'Keyword',
  BatonVersion: 'Keyword',
  BatonPhase: 'Keyword',
  BatonOutcome: 'Keyword',
  BatonBreakGlass: 'Keyword',
} as const;

/**
 * Dynamic config for the dev server. It has one history shard, and a shard polls each of its
 * task queues (transfer: a task for a workflow or activity queue; timer; visibility) at most 20
 * times a second by default: under steady work every hand-off of a workflow or activity task then
 * waited for the next poll, up to 50 ms (40 activities in a row took 100 ms each instead of 15).
 * A production cluster spreads its workflows over hundreds of shards, each with that budget, so
 * the limit seldom binds there; the sandbox's one shard is given the budget of fifty.
 */
export const DEV_SERVER_DYNAMIC_CONFIG = {
  'history.transferProcessorMaxPollRPS': 1000,
  'history.timerProcessorMaxPollRPS': 1000,
  'history.visibilityProcessorMaxPollRPS': 1000,
} as const;

export interface TemporalDevServer {
  address: string;
  uiUrl: string | null;
  stop(): Promise<void>;
  process: Managed;
}

export interface TemporalDevServerOptions {
  /** The Temporal CLI to run; default: the pinned one (scripts/install-servers.sh). */
  binary?: string;
  dbFile?: string;
  port?: number;
  uiPort?: number;
  ui?: boolean;
  /** The UI's remote codec (Baton's API + `/codec`), which decrypts payloads for display; with `ui` only. */
  codecEndpoint?: string;
  echo?: boolean;
}

/**
 * Starts the dev server; again (three tries in all) when it exits while starting. Its internal
 * services pick free ports of their own as it starts: another process starting at the same
 * moment can take one first ("address already in use"), and picking one can fail outright (in
 * CI the CLI panicked building its services).
 */
export async function startTemporalDevServer(opts: TemporalDevServerOptions = {}): Promise<TemporalDevServer> {
  const binary = opts.binary ?? ensureToolchain().temporal;
  return startRetryingExits(() => startDevServerOnce(binary, opts));
}

async function startDevServerOnce(temporal: string, opts: TemporalDevServerOptions): Promise<TemporalDevServer> {
  const port = opts.port ?? (await freePort());
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--log-level', 'warn'];
  args.push('--http-port', String(await freePort()), '--metrics-port', String(await freePort()));
  let uiUrl: string | null = null;
  if (opts.ui) {
    const uiPort = opts.uiPort ?? (await freePort());
    args.push('--ui-port', String(uiPort), '--ui-ip', '127.0.0.1');
    uiUrl = `http://127.0.0.1:${uiPort}`;
    if (opts.codecEndpoint) args.push('--ui-codec-endpoint', opts.codecEndpoint);
  } else {
    args.push('--headless');
  }
  if (opts.dbFile) args.push('--db-filename', opts.dbFile);
  for (const [k, v] of Object.entries(SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${k}=${v}`);
  for (const [k, v] of Object.entries(DEV_SERVER_DYNAMIC_CONFIG)) args.push('--dynamic-config-value', `${k}=${v}`);
  // Workflows here may run for days; keep updates and history limits at server defaults.
  const proc = startProcess('temporal', temporal, args, { echo: opts.echo });
  await stopUnlessReady(proc, async () => {
    await waitForPort(proc, port, 60_000);
    await waitForFrontend(`127.0.0.1:${port}`, proc, 60_000);
    if (uiUrl) await waitForHttp(uiUrl, 60_000, proc);
  });
  return { address: `127.0.0.1:${port}`, uiUrl, process: proc, stop: () => proc.stop() };
}

/** The port accepts connections before the frontend answers; wait until it answers. */
async function waitForFrontend(address: string, proc: Managed, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    failIfExited(proc, 'answering');
    try {
      const connection = await Connection.connect({ address, connectTimeout: '5s' });
      try {
        await connection.workflowService.getSystemInfo({});
        return;
      } finally {
        await connection.close();
      }
    } catch (err) {
      last = (err as Error).message;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(`the Temporal server at ${address} did not answer within ${timeoutMs} ms (${last}):\n${proc.output()}`);
}

export interface MotoServer {
  endpoint: string;
  port: number;
  stop(): Promise<void>;
  process: Managed;
}

/**
 * Starts moto (`opts.binary`: default the pinned one) on `opts.port`, or on a free port: again on
 * another one (three tries in all) when that port is taken before moto binds it (in CI, by a dev
 * server starting beside it). A port the caller chose is tried once.
 */
export async function startMoto(opts: { port?: number; echo?: boolean; binary?: string } = {}): Promise<MotoServer> {
  const moto = opts.binary ?? ensureToolchain().moto;
  return startOnPort(opts.port, async (port) => {
    const proc = startProcess('moto', moto, ['-H', '127.0.0.1', '-p', String(port)], { echo: opts.echo });
    const endpoint = `http://127.0.0.1:${port}`;
    await stopUnlessReady(proc, () => waitForHttp(`${endpoint}/moto-api/`, 60_000, proc));
    return { endpoint, port, process: proc, stop: () => proc.stop() };
  });
}

/** A server that never became ready is stopped, not left behind. */
async function stopUnlessReady(proc: Managed, ready: () => Promise<void>): Promise<void> {
  try {
    await ready();
  } catch (err) {
    await proc.stop();
    throw err;
  }
}
