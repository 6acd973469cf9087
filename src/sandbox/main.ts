// `npm start`: the whole of Baton on loopback with no AWS account and no Slack workspace.
// Starts Temporal (with its UI, history in a SQLite file), moto seeded with example
// infrastructure, the region gate in front of moto, the fake application (smoke tests, faults,
// region outages) and the metrics feeder in this process, then the real workers (one per
// region of the config, as a team with workers in each region runs them) and the API as child
// processes configured exactly as in production, their AWS endpoint the region gate.
// Invariants: nothing is left running when it exits; Ctrl-C/SIGTERM stops everything in
// reverse order and exits 0; any child dying unexpectedly stops everything, exit 1, except a
// region's worker stopped by an outage, which the end of the outage starts again.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { stringify } from 'yaml';
import { configRegions, ConfigError, drSpecs, readRuntimeEnv, resolveConfig, type BatonConfig } from '../config';
import { regionQueue } from '../domain/regions';
import { decisionKeyPair, newDecisionSecret } from '../domain/signing';
import type { Colour } from '../domain/types';
import type { LocalPostgres } from '../local/postgres';
import { listDatabase, startBackup } from '../temporal/restores';
import { dataConverterOf } from '../temporal/codec';
import { startProcess, waitForHttp, type Managed } from '../local/processes';
import { startMoto, startTemporalDevServer } from '../local/servers';
import { REPO_ROOT } from '../local/toolchain';
import { createProviders } from '../providers/factory';
import type { TrafficRouterFactory } from '../providers/types';
import { startControlServer, type RegionControl } from './control';
import { FaultStore } from './faults';
import { SANDBOX_DATABASE_ENVIRONMENTS, sandboxDatabasesDoc, seedRdsInstance, startSandboxPostgres } from './databases';
import { cloudWatchPut, feedTargets, rdsDescribe, startFeeder } from './feeder';
import { startRegionGate, type RegionGate } from './region-gate';
import { sandboxConfigDoc, sandboxPeople } from './sandbox-config';
import { pushSandboxImage, seedSandbox } from './seed';

/** Printed once everything is up; the end-to-end test waits for it. */
export const READY_LINE = 'Baton sandbox is up';

const PORTS = {
  ui: { env: 'BATON_UI_PORT', fallback: 8233, what: 'the Temporal Web UI' },
  temporal: { env: 'BATON_TEMPORAL_PORT', fallback: 7233, what: 'Temporal' },
  moto: { env: 'BATON_MOTO_PORT', fallback: 5055, what: 'moto' },
  control: { env: 'BATON_CONTROL_PORT', fallback: 3001, what: 'the sandbox control server' },
  api: { env: 'BATON_API_PORT', fallback: 3000, what: 'the Baton API' },
  postgres: { env: 'BATON_PG_PORT', fallback: 5433, what: 'the sandbox PostgreSQL' },
} as const;
type PortName = keyof typeof PORTS;

/** A start-up problem the user can fix; printed as one line. */
class SandboxError extends Error {}

interface Settings {
  /** The environment the sandbox was started with; its children inherit it, minus AWS and Temporal settings. */
  env: NodeJS.ProcessEnv;
  dir: string;
  token: string | undefined;
  ports: Record<PortName, number>;
  /** Post to this Slack channel (with SLACK_BOT_TOKEN set); else notifications go to the log. */
  slackChannel: string | undefined;
}

function log(line: string): void {
  console.log(`[sandbox] ${line}`);
}

// ---------------------------------------------------------------- settings
function readPort(env: NodeJS.ProcessEnv, name: PortName): number {
  const { env: variable, fallback } = PORTS[name];
  const text = env[variable];
  if (!text) return fallback;
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65535) throw new SandboxError(`${variable}: '${text}' is not a port (1..65535)`);
  return port;
}

function readSettings(env: NodeJS.ProcessEnv): Settings {
  const ports = Object.fromEntries(Object.keys(PORTS).map((n) => [n, readPort(env, n as PortName)])) as Record<PortName, number>;
  const token = env.BATON_SANDBOX_TOKEN || undefined;
  if (token !== undefined && /\s/.test(token)) throw new SandboxError('BATON_SANDBOX_TOKEN: must not contain spaces');
  const dir = env.BATON_SANDBOX_DIR ? resolve(env.BATON_SANDBOX_DIR) : resolve(REPO_ROOT, '.baton/sandbox');
  return { env, dir, token, ports, slackChannel: env.BATON_SLACK_CHANNEL || undefined };
}

async function assertPortFree(name: PortName, port: number): Promise<void> {
  const server = createServer();
  server.listen(port, '127.0.0.1');
  try {
    await once(server, 'listening');
  } catch (err) {
    const { env, what } = PORTS[name];
    const why = (err as NodeJS.ErrnoException).code === 'EADDRINUSE' ? 'is already in use' : `cannot be used (${(err as Error).message})`;
    throw new SandboxError(`port ${port} (for ${what}) ${why}: set ${env} to another port`);
  }
  server.close();
  await once(server, 'close');
}

/** BATON_SANDBOX_TOKEN, else the token kept in the sandbox folder, else a new one (kept for next time). */
function adminToken(dir: string, fromEnv: string | undefined): string {
  if (fromEnv) return fromEnv;
  const file = resolve(dir, 'admin-token');
  if (existsSync(file)) {
    const kept = readFileSync(file, 'utf8').trim();
    if (kept) return kept;
  }
  const token = randomBytes(24).toString('base64url');
  writePrivate(file, `${token}\n`);
  return token;
}

/**
 * BATON_CODEC_KEYS, else the key kept in the sandbox folder, else a new one (kept for next
 * time: Temporal's history outlives a restart, and it stays readable only with its key).
 */
function sandboxCodecKeys(dir: string, fromEnv: string | undefined): string {
  const file = resolve(dir, 'codec-keys');
  let keys = fromEnv?.trim();
  if (!keys && existsSync(file)) keys = readFileSync(file, 'utf8').trim();
  if (!keys) {
    keys = `sandbox-${new Date().toISOString().slice(0, 10)}:${randomBytes(32).toString('base64')}`;
    writePrivate(file, `${keys}\n`);
  }
  try {
    readRuntimeEnv({ BATON_CONFIG: 'sandbox', BATON_CODEC_KEYS: keys });
  } catch (err) {
    const source = fromEnv?.trim() ? 'BATON_CODEC_KEYS' : file;
    if (err instanceof ConfigError) throw new SandboxError(`${source}: ${err.message.replace(/^BATON_CODEC_KEYS: /, '')}`);
    throw err;
  }
  return keys;
}

function writePrivate(file: string, text: string): void {
  writeFileSync(file, text, { mode: 0o600 });
  chmodSync(file, 0o600);
}

// ---------------------------------------------------------------- lifecycle
interface Stoppable {
  stop(): Promise<void>;
}

interface Part extends Stoppable {
  name: string;
  stop(): Promise<void>;
}

/** What has started so far; stopped in reverse order, each failure logged, never twice. */
class Parts {
  private readonly parts: Part[] = [];
  private stopping: Promise<void> | null = null;

  get isStopping(): boolean {
    return this.stopping !== null;
  }

  get isEmpty(): boolean {
    return this.parts.length === 0;
  }

  add(name: string, stop: () => Promise<void>): void {
    // Started while a signal was already stopping the rest: stop it at once.
    if (this.isStopping) void stop().catch(() => undefined);
    else this.parts.push({ name, stop });
  }

  /**
   * Watches a child process: if it exits on its own, `onDeath` says so (with its last output
   * unless that was echoed). `expected` says whether an exit now is one the sandbox asked for.
   */
  watch(m: Managed, onDeath: (why: string) => void, echoed: boolean, expected: () => boolean = () => false, what = m.name): void {
    m.child.once('exit', (code, signal) => {
      if (this.isStopping || expected()) return;
      const why = `${what} exited unexpectedly (${signal ?? `code ${code}`})`;
      onDeath(echoed ? why : `${why}; its last output:\n${m.output()}`);
    });
  }

  stopAll(): Promise<void> {
    this.stopping ??= (async () => {
      for (const part of [...this.parts].reverse()) {
        try {
          await part.stop();
          log(`stopped ${part.name}`);
        } catch (err) {
          log(`stopping ${part.name} failed: ${(err as Error).message}`);
        }
      }
    })();
    return this.stopping;
  }
}

// ---------------------------------------------------------------- the pieces
function writeConfig(settings: Settings, doc: Record<string, unknown>): { configPath: string; config: BatonConfig } {
  const configPath = resolve(settings.dir, 'config.yaml');
  writeFileSync(configPath, `# Written by npm start at every start; edits are overwritten.\n${stringify(doc)}`);
  try {
    return { configPath, config: resolveConfig(doc) };
  } catch (err) {
    if (err instanceof ConfigError) throw new SandboxError(`the generated ${configPath} is invalid: ${err.message}`);
    throw err;
  }
}

async function buildConfig(settings: Settings, token: string, motoEndpoint: string, uiUrl: string, pg: LocalPostgres): Promise<{ configPath: string; config: BatonConfig }> {
  const targets = await seedSandbox({ endpoint: motoEndpoint });
  await seedRdsInstance(motoEndpoint);
  const people = sandboxPeople(token);
  const peopleFile = resolve(settings.dir, 'people.json');
  writePrivate(peopleFile, `${JSON.stringify(people, null, 2)}\n`);
  const controlUrl = `http://127.0.0.1:${settings.ports.control}`;
  const doc = sandboxConfigDoc({ targets, people, controlUrl, peopleFile, apiPort: settings.ports.api });
  doc.api = { ...(doc.api as Record<string, unknown>), temporalUiUrl: uiUrl };
  doc.databases = sandboxDatabasesDoc(pg, settings.dir);
  if (settings.slackChannel) doc.notifications = { slackChannel: settings.slackChannel };
  return writeConfig(settings, doc);
}

/** The workers' and the API's environment: the sandbox's Temporal and AWS (the region gate), never the machine's AWS or Temporal settings. */
function childEnv(settings: Settings, configPath: string, awsEndpoint: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(settings.env)) if (!/^(AWS|TEMPORAL)_/.test(k)) env[k] = v;
  return {
    ...env,
    BATON_CONFIG: configPath,
    BATON_AWS_ENDPOINT_URL: awsEndpoint,
    BATON_API_PORT: String(settings.ports.api),
    AWS_ACCESS_KEY_ID: 'sandbox',
    AWS_SECRET_ACCESS_KEY: 'sandbox',
    AWS_REGION: 'us-east-1',
    TEMPORAL_ADDRESS: `127.0.0.1:${settings.ports.temporal}`,
    TEMPORAL_NAMESPACE: 'default',
    // The workers get only the public half: the drills their schedules start take only signed decisions.
    BATON_DECISION_PUBLIC_KEY: decisionKeyPair(env.BATON_DECISION_KEY ?? sandboxDecisionKey(settings.dir)).publicKey,
  };
}

/** The sandbox API's decision key: made once per sandbox directory and kept, so runs survive a restart of `npm start`. */
function sandboxDecisionKey(dir: string): string {
  const file = join(dir, 'decision.key');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const key = newDecisionSecret();
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}

/** Runs a TypeScript entry point of this repository with tsx's loader, its output prefixed. */
function startTs(name: string, entry: string, env: NodeJS.ProcessEnv): Managed {
  return startProcess(name, process.execPath, ['--import', 'tsx', entry], { cwd: REPO_ROOT, env, echo: true });
}

/** A verified base backup of each example database that has none yet, so a restore has somewhere to start. */
async function firstBackups(address: string, config: BatonConfig, codecKeys: string): Promise<void> {
  const connection = await Connection.connect({ address });
  try {
    // Its backups' inputs are encrypted like everything else the sandbox starts.
    const dataConverter = dataConverterOf(readRuntimeEnv({ BATON_CONFIG: 'sandbox', BATON_CODEC_KEYS: codecKeys }));
    const client = new Client({ connection, namespace: 'default', dataConverter });
    const started: string[] = [];
    for (const env of SANDBOX_DATABASE_ENVIRONMENTS) {
      if ((await listDatabase(client, config, 'orders', env)).backups.length > 0) continue;
      started.push((await startBackup(client, config, { environment: env, database: 'orders', takenBy: 'sandbox' })).id);
    }
    if (started.length) log(`taking the first backups: ${started.join(', ')}`);
    for (const id of started) await client.workflow.getHandle(id).result();
  } finally {
    await connection.close();
  }
}

/** temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY (@temporalio/proto is no dependency of ours). */
const ACTIVITY_TASK_QUEUE = 2;

/** Resolves once a worker polls the activities of `taskQueue` (the worker has no port to wait for). */
async function waitForWorker(address: string, taskQueue: string, worker: Managed, timeoutMs = 120_000): Promise<void> {
  const connection = await Connection.connect({ address });
  try {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (worker.child.exitCode !== null || worker.child.signalCode !== null) throw new Error(`${worker.name} exited:\n${worker.output()}`);
      const res = await connection.workflowService.describeTaskQueue({
        namespace: 'default',
        taskQueue: { name: taskQueue },
        taskQueueType: ACTIVITY_TASK_QUEUE,
      });
      if ((res.pollers ?? []).length > 0) return;
      await new Promise((r) => setTimeout(r, 300));
    }
    throw new Error(`no worker polled task queue '${taskQueue}' within ${timeoutMs / 1000} s:\n${worker.output()}`);
  } finally {
    await connection.close();
  }
}

/**
 * One worker process per region of the config: `worker-<region>` with BATON_REGIONS=<region>
 * serves that region's task queue and the main queue, as a team with workers in each region
 * runs them. An outage stops a region's worker on purpose (its exit does not stop the sandbox)
 * and the outage's end starts it again; any other exit stops the sandbox.
 */
class RegionWorkers {
  private readonly running = new Map<string, Managed>();
  /** Each region's outage changes, one after another. */
  private readonly queue = new Map<string, Promise<void>>();

  constructor(
    readonly regions: readonly string[],
    private readonly spawn: (name: string, region: string) => Managed,
    private readonly watch: (m: Managed, expected: () => boolean) => void,
    /** Whether the sandbox is stopping: then nothing starts any more. */
    private readonly stopping: () => boolean,
  ) {}

  static nameOf(region: string): string {
    return `worker-${region}`;
  }

  isRunning(region: string): boolean {
    return this.running.has(region);
  }

  /** Starts the region's worker unless it runs. */
  start(region: string): Managed {
    const running = this.running.get(region);
    if (running) return running;
    if (this.stopping()) throw new Error(`the sandbox is stopping: ${RegionWorkers.nameOf(region)} stays stopped`);
    const m = this.spawn(RegionWorkers.nameOf(region), region);
    this.running.set(region, m);
    // An exit is expected once this process is no longer the region's running worker.
    this.watch(m, () => this.running.get(region) !== m);
    return m;
  }

  /** Stops the region's worker (SIGTERM: it finishes what it holds; killed after 8 s); done when it has exited. */
  async stop(region: string): Promise<void> {
    const m = this.running.get(region);
    if (!m) return;
    this.running.delete(region);
    await m.stop();
  }

  /** Runs `fn` after the region's earlier changes, so a quick POST then DELETE act in that order. */
  serially(region: string, fn: () => Promise<void>): Promise<void> {
    const next = (this.queue.get(region) ?? Promise.resolve()).then(fn);
    this.queue.set(region, next.catch(() => undefined));
    return next;
  }
}

/** The control server's regions: an outage is the gate refusing the region's AWS calls, and its worker stopped. */
function regionControl(gate: RegionGate, workers: RegionWorkers): RegionControl {
  return {
    list: () => workers.regions.map((region) => {
      const outage = gate.outages().find((o) => o.region === region);
      return {
        region,
        worker: { name: RegionWorkers.nameOf(region), running: workers.isRunning(region) },
        outage: outage ? { since: outage.since, refused: outage.refused } : null,
      };
    }),
    startOutage: (region) => workers.serially(region, async () => {
      const already = gate.isOut(region) && !workers.isRunning(region);
      // The gate first: what the worker still holds fails as it would in a real outage.
      gate.out(region);
      await workers.stop(region);
      if (!already) log(`${region} is out: every AWS call into it fails (Route 53 excepted); ${RegionWorkers.nameOf(region)} stopped`);
    }),
    endOutage: (region) => workers.serially(region, async () => {
      const already = !gate.isOut(region) && workers.isRunning(region);
      gate.restore(region);
      workers.start(region);
      if (!already) log(`${region} is back: AWS calls into it work again; ${RegionWorkers.nameOf(region)} starting`);
    }),
  };
}

async function liveColour(routerFor: TrafficRouterFactory, config: BatonConfig, service: string, environment: string): Promise<Colour> {
  const traffic = config.services[service]?.environments[environment]?.traffic;
  if (!traffic) return 'blue';
  try {
    const w = await routerFor(traffic).getWeights();
    return w.green > w.blue ? 'green' : 'blue';
  } catch {
    return 'blue';
  }
}

function banner(settings: Settings, token: string, configPath: string, live: Colour, seconds: number, gate: RegionGate, workers: RegionWorkers, outageExample: string): string {
  const { ports } = settings;
  const served = workers.regions.map((r) => `${RegionWorkers.nameOf(r)} (${r})`).join(', ');
  // The region to take out: where a service with a DR copy runs today.
  const out = outageExample;
  const api = `http://127.0.0.1:${ports.api}`;
  const auth = `-H "Authorization: Bearer $TOKEN"`;
  const json = `-H 'content-type: application/json'`;
  return [
    '',
    `${READY_LINE} (started in ${seconds.toFixed(1)} s)`,
    `  Temporal UI    http://127.0.0.1:${ports.ui}     (gRPC 127.0.0.1:${ports.temporal})`,
    `  Baton API      ${api}`,
    `  moto (AWS)     http://127.0.0.1:${ports.moto}`,
    `  region gate    ${gate.endpoint}   (the workers' and the API's AWS endpoint: moto, unless a region is out)`,
    `  workers        ${served}`,
    `  control        http://127.0.0.1:${ports.control}   (smoke tests, faults, region outages)`,
    `  config         ${configPath}`,
    `  admin token    ${token}`,
    `  payloads       encrypted in Temporal; sign in at ${api}/codec/login to read them in the Temporal UI (README, "Encrypted payloads")`,
    '',
    'Try it:',
    `  TOKEN=${token}`,
    `  curl -s -X POST ${api}/v1/deployments ${auth} ${json} -d '{"service":"web","environment":"dev","version":"1.1.0"}'`,
    `  curl -s ${api}/v1/deployments/deploy:web:dev:1.1.0 ${auth}`,
    `When it has succeeded, make the colour it left idle (${live}) unhealthy and deploy again to watch a rollback:`,
    `  curl -s -X POST ${api}/v1/sandbox/faults ${auth} ${json} -d '{"service":"web","environment":"dev","colour":"${live}","errorRate":0.3}'`,
    `  curl -s -X POST ${api}/v1/deployments ${auth} ${json} -d '{"service":"web","environment":"dev","version":"1.2.0"}'`,
    'Staging and prod are gated: they take releases (README, "Releases"); the admin may break glass, with a reason that is recorded:',
    `  curl -s -X POST ${api}/v1/deployments ${auth} ${json} -d '{"service":"web","environment":"prod","version":"1.1.0","breakGlass":{"reason":"trying Baton"}}'`,
    'Damage a database and restore it (README, "Database restores"):',
    `  curl -s ${api}/v1/sandbox/databases ${auth}`,
    `  curl -s -X POST ${api}/v1/sandbox/faults ${auth} ${json} -d '{"environment":"staging","database":"orders","damage":"delete-rows"}'`,
    'Disaster-recovery readiness of api in prod (README, "Disaster recovery: readiness"):',
    `  curl -s ${api}/v1/failovers/readiness ${auth}`,
    `Take ${out} out (every AWS call into it fails, its worker stops), see the regions, and bring it back:`,
    `  curl -s -X POST ${api}/v1/sandbox/regions/${out}/outage ${auth}`,
    `  curl -s ${api}/v1/sandbox/regions ${auth}`,
    `  curl -s -X DELETE ${api}/v1/sandbox/regions/${out}/outage ${auth}`,
    'Ctrl-C stops everything.',
    '',
  ].join('\n');
}

// ---------------------------------------------------------------- main
/** Starts two servers in parallel; if one fails, stops the other before throwing. */
async function bothStarted<A extends Stoppable, B extends Stoppable>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [ra, rb] = await Promise.allSettled([a, b]);
  if (ra.status === 'fulfilled' && rb.status === 'fulfilled') return [ra.value, rb.value];
  for (const r of [ra, rb]) if (r.status === 'fulfilled') await r.value.stop();
  throw ra.status === 'rejected' ? ra.reason : (rb as PromiseRejectedResult).reason;
}

async function start(parts: Parts, processEnv: NodeJS.ProcessEnv, fail: (why: string) => void): Promise<void> {
  const began = Date.now();
  const settings = readSettings(processEnv);
  for (const name of Object.keys(PORTS) as PortName[]) await assertPortFree(name, settings.ports[name]);
  mkdirSync(settings.dir, { recursive: true });
  // PostgreSQL runs as its own user (never root), which must reach its folder in here.
  if (process.getuid?.() === 0) chmodSync(settings.dir, 0o755);
  const token = adminToken(settings.dir, settings.token);
  const codecKeys = sandboxCodecKeys(settings.dir, settings.env.BATON_CODEC_KEYS);

  log('starting Temporal and moto');
  const [temporal, moto] = await bothStarted(
    startTemporalDevServer({ dbFile: resolve(settings.dir, 'temporal.db'), port: settings.ports.temporal, uiPort: settings.ports.ui, ui: true, codecEndpoint: `http://127.0.0.1:${settings.ports.api}/codec` }),
    startMoto({ port: settings.ports.moto }),
  );
  parts.add('Temporal', temporal.stop);
  parts.add('moto', moto.stop);
  parts.watch(temporal.process, fail, false);
  parts.watch(moto.process, fail, false);

  log('starting PostgreSQL (the example orders databases)');
  const pg = await startSandboxPostgres(settings.dir, settings.ports.postgres);
  parts.add('PostgreSQL', pg.stop);
  parts.watch(pg.process, fail, false);

  log('seeding moto with example infrastructure');
  const { configPath, config } = await buildConfig(settings, token, moto.endpoint, temporal.uiUrl ?? `http://127.0.0.1:${settings.ports.ui}`, pg);
  // The workers and the API reach AWS through the gate, so a region can be taken out; the seed
  // and the feeder talk to moto directly.
  const gate = await startRegionGate({ target: moto.endpoint });
  parts.add('region gate', gate.stop);

  // Payloads are encrypted as in production; the UI decodes them through the API's /codec.
  const env: NodeJS.ProcessEnv = { ...childEnv(settings, configPath, gate.endpoint), BATON_CODEC_KEYS: codecKeys };
  // Every region of the config has exactly one worker.
  const workers = new RegionWorkers(
    configRegions(config),
    (name, region) => startTs(name, 'src/worker.ts', { ...env, BATON_REGIONS: region }),
    (m, expected) => parts.watch(m, fail, true, expected, `${m.name}: the worker`),
    () => parts.isStopping,
  );
  const targets = feedTargets(config);
  const faults = new FaultStore({ known: targets });
  // "CI pushed this image" (POST /v1/sandbox/images): straight to moto, whatever region is out.
  const images = async (service: string, version: string) => ({ digest: await pushSandboxImage({ endpoint: moto.endpoint }, service, version) });
  const control = await startControlServer({ port: settings.ports.control, faults, regions: regionControl(gate, workers), images });
  parts.add('control server', control.stop);
  const { routerFor, dr } = createProviders({ awsEndpoint: moto.endpoint, slack: {} });
  const feeder = startFeeder({
    targets,
    replicas: { regions: configRegions(config), describe: rdsDescribe({ endpoint: moto.endpoint }), isOut: gate.isOut },
    routerFor,
    dr,
    faults,
    put: cloudWatchPut({ endpoint: moto.endpoint }),
  });
  parts.add('metrics feeder', feeder.stop);

  const mainQueue = config.temporal.taskQueue;
  log(`starting the API and the workers: ${workers.regions.map((r) => `${RegionWorkers.nameOf(r)} serves ${r} ('${regionQueue(mainQueue, r)}')`).join(', ')}; each also serves '${mainQueue}'`);
  // The API logs every request at info; in the sandbox's shared terminal only its warnings
  // show unless BATON_LOG_LEVEL asks for more.
  const api = startTs('api', 'src/api/server.ts', { ...env, BATON_DECISION_KEY: settings.env.BATON_DECISION_KEY ?? sandboxDecisionKey(settings.dir), BATON_LOG_LEVEL: env.BATON_LOG_LEVEL ?? 'warn' });
  parts.add('API', api.stop);
  parts.watch(api, fail, true);
  for (const region of workers.regions) parts.add(RegionWorkers.nameOf(region), () => workers.stop(region));
  const apiReady = waitForHttp(`http://127.0.0.1:${settings.ports.api}/readyz`, 120_000, api);
  apiReady.catch(() => undefined); // awaited below
  // One after another: a starting worker creates the schedules (trains, drills, readiness) that
  // are missing, and two doing it at once could both try to create one.
  for (const region of workers.regions) {
    if (parts.isStopping) return; // a signal arrived; its shutdown is under way
    await waitForWorker(temporal.address, regionQueue(mainQueue, region), workers.start(region));
  }
  await apiReady;

  await firstBackups(temporal.address, config, codecKeys);
  const live = await liveColour(routerFor, config, 'web', 'dev');
  const outageExample = drSpecs(config)[0]?.primaryRegion ?? workers.regions[0];
  console.log(banner(settings, token, configPath, live, (Date.now() - began) / 1000, gate, workers, outageExample));
}

function main(): void {
  const parts = new Parts();
  const finish = (code: number) => void parts.stopAll().then(() => process.exit(code));
  const fail = (why: string) => {
    if (parts.isStopping) return;
    console.error(`[sandbox] ${why}`);
    if (!parts.isEmpty) console.error('[sandbox] stopping everything');
    finish(1);
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (parts.isStopping) return; // npm and the terminal may both deliver Ctrl-C
      log(`${signal}: stopping`);
      finish(0);
    });
  }
  start(parts, process.env, fail).catch((err: unknown) => {
    if (parts.isStopping) return; // a signal arrived during start-up; its shutdown is under way
    fail(err instanceof SandboxError ? err.message : `start-up failed: ${(err as Error).stack ?? String(err)}`);
  });
}

if (require.main === module) main();
