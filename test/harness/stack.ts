// A whole Baton on loopback for tests that need more than one server: the Temporal dev server,
// moto seeded with the sandbox's infrastructure, the sandbox control server (smoke tests,
// faults, region outages), optionally the metrics feeder, and Baton workers — in this process
// or as a real child process a test can kill. With `regionWorkers`, as `npm start` runs it: AWS
// through a region gate, and one in-process worker per region, so a test can take a region out.
// stop() stops everything it started.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { configRegions, readRuntimeEnv, resolveConfig, type BatonConfig } from '../../src/config';
import { dataConverterOf } from '../../src/temporal/codec';
import { startProcess, type Managed } from '../../src/local/processes';
import { REPO_ROOT } from '../../src/local/toolchain';
import { startMoto, startTemporalDevServer, type MotoServer, type TemporalDevServer } from '../../src/local/servers';
import { createProviders, type Providers } from '../../src/providers/factory';
import { createSlackNotifier } from '../../src/providers/slack';
import type { TrafficRouter } from '../../src/providers/types';
import type { MetricsSpec } from '../../src/domain/types';
import { startControlServer, type RegionControl, type RegionState } from '../../src/sandbox/control';
import { FaultStore } from '../../src/sandbox/faults';
import { sandboxDatabasesDoc, seedRdsInstance, startSandboxPostgres } from '../../src/sandbox/databases';
import type { LocalPostgres } from '../../src/local/postgres';
import { cloudWatchPut, feedTargets, rdsDescribe, startFeeder } from '../../src/sandbox/feeder';
import { startRegionGate, type RegionGate } from '../../src/sandbox/region-gate';
import { newToken, sandboxConfigDoc, sandboxPeople, type SandboxPerson } from '../../src/sandbox/sandbox-config';
import { pushSandboxImage, seedSandbox, type SeededTarget } from '../../src/sandbox/seed';
import { createEcrRegistry } from '../../src/providers/ecr';
import type { ImageRegistry } from '../../src/providers/types';
import { createBatonWorker, type BatonWorker } from '../../src/worker';
import { quietWorkerLogs, startTogether } from './servers';

export const MOTO_CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' };

export interface SandboxTokens {
  admin: string;
  deployer: string;
  viewer: string;
  releaseManager: string;
  releaseManager2: string;
  qa: string;
  product: string;
  developer: string;
  /** The CI principal: attests `ci` and `security-scan`. */
  ci: string;
}

/** The sandbox people's tokens by role; the second release manager is `releaseManager2`. */
export function tokensByRole(people: SandboxPerson[]): SandboxTokens {
  const withRole = (role: string) => people.filter((p) => p.roles.includes(role)).map((p) => p.token);
  const [releaseManager, releaseManager2] = withRole('release-manager');
  return {
    admin: withRole('admin')[0],
    deployer: withRole('deployer')[0],
    viewer: withRole('viewer')[0],
    releaseManager,
    releaseManager2,
    qa: withRole('qa')[0],
    product: withRole('product')[0],
    developer: withRole('developer')[0],
    ci: withRole('ci')[0],
  };
}

export interface StackOptions {
  /** Plan (YAML shape) for every service and environment; default: the sandbox plan. */
  plan?: Record<string, unknown>;
  /** Write CloudWatch datapoints for whichever colours take traffic, and every read replica's ReplicaLag. */
  feeder?: boolean;
  /**
   * As `npm start` runs: every AWS call of the workers (and of `providers`) goes through a region
   * gate, and instead of one worker, one in-process worker per region of the config, each
   * serving that region's queue and the main queue; `outage(region)` takes a region out.
   */
  regionWorkers?: boolean;
  /** Start an in-process worker at once (default true). */
  worker?: boolean;
  /** Post to this (fake) Slack Web API instead of the log, to `channel`, updating a run's message at most every `updateEvery`. */
  slack?: { apiUrl: string; channel: string; updateEvery?: string };
  /** Freezes in the config file (YAML shape `{from, to, environments, reason}`); default none. */
  freezes?: FreezeDoc[];
  /**
   * Run the sandbox's databases: a private PostgreSQL with the example `orders` databases, and
   * the example RDS instance in moto; the object's keys override each database's config
   * (YAML shape, e.g. `{watch: '4s', retention: '3s'}`).
   */
  databases?: Record<string, unknown>;
  /**
   * Encrypt payloads (BATON_CODEC_KEYS with a fresh key): the stack's client, its workers and
   * spawned workers all use the codec, and `codecKeys` is the variable's value for an API.
   */
  codec?: boolean;
  /** Also serve the Temporal Web UI (`temporal.uiUrl`), with this remote codec endpoint if given. */
  ui?: { codecEndpoint?: string };
}

/** A freeze as the config file writes it. */
export interface FreezeDoc {
  from: string;
  to: string;
  environments: string[];
  reason: string;
}

/** The bot token tests give workers (the fake Slack accepts any). */
export const TEST_SLACK_TOKEN = 'xoxb-test-token';

export interface Stack {
  client: Client;
  config: BatonConfig;
  configFile: string;
  taskQueue: string;
  /** Each sandbox person's token, by role (two release managers); every person exactly once. */
  people: SandboxTokens;
  temporal: TemporalDevServer;
  moto: MotoServer;
  /** What the workers use: through the region gate with `regionWorkers` (so an out region fails), else moto directly. */
  providers: Providers;
  /** Providers that talk to moto directly, whatever is out: to set up and check what is really there. */
  motoProviders: Providers;
  /** The region gate in front of moto, with `regionWorkers`; else null. */
  gate: RegionGate | null;
  /** With `regionWorkers`: each region's in-process worker, to stop or start one. */
  workers: RegionWorkers;
  /** With `regionWorkers`: every AWS call into `region` fails (Route 53 excepted) and its worker stops. Safe to repeat. */
  outage(region: string): Promise<void>;
  /** Ends the outage: AWS calls into `region` work again and its worker starts. Safe to repeat. */
  endOutage(region: string): Promise<void>;
  faults: FaultStore;
  targets: SeededTarget[];
  /** "CI pushed this image": a new image of `service` tagged `version` in moto's ECR (a new digest each time); answers its digest. */
  pushImage(service: string, version: string): Promise<string>;
  /** moto's ECR, where an API built with `buildApp({..., registry: stack.registry})` resolves releases' tags. */
  registry: ImageRegistry;
  /** The sandbox's PostgreSQL, when `databases` was asked for. */
  postgres: LocalPostgres | null;
  /** Starts the in-process worker, serving the config's regions (with `regionWorkers`: every region's worker); no-op when it runs. */
  startWorker(): Promise<void>;
  /** Stops the in-process worker (with `regionWorkers`: every region's) gracefully. */
  stopWorker(): Promise<void>;
  /** A worker in its own process (`tsx src/worker.ts`), as in production, with `env` added (e.g. BATON_REGIONS); kill it to simulate a crash. With `regionWorkers` its AWS goes through the gate. */
  spawnWorker(env?: Record<string, string>): Promise<Managed>;
  /** With `codec`: the BATON_CODEC_KEYS every part of the stack uses; else null. */
  codecKeys: string | null;
  stop(): Promise<void>;
}

/** One in-process worker per region of the config (startStack's `regionWorkers`). */
export interface RegionWorkers {
  /** The config's regions, each served by one worker; [] without `regionWorkers`. */
  readonly regions: readonly string[];
  /** Starts the region's worker (BATON_REGIONS=<region>, and the main queue) unless it runs. */
  start(region: string): Promise<void>;
  /** Stops the region's worker gracefully (it finishes what it holds). */
  stop(region: string): Promise<void>;
  isRunning(region: string): boolean;
}

/** moto seeded with the sandbox, the control server (smoke tests, faults, regions) and real providers. */
export interface SandboxAws {
  moto: MotoServer;
  targets: SeededTarget[];
  faults: FaultStore;
  controlUrl: string;
  providers: Providers;
  /** A new image of `service` tagged `version` in moto's ECR; answers its digest. */
  pushImage(service: string, version: string): Promise<string>;
  /** moto's ECR as the API reads it. */
  registry: ImageRegistry;
  stop(): Promise<void>;
}

/** `regions`: what the control server's /regions act on (none without). */
export async function startSandboxAws(opts: { regions?: RegionControl } = {}): Promise<SandboxAws> {
  const moto = await startMoto();
  try {
    const targets = await seedSandbox({ endpoint: moto.endpoint, credentials: MOTO_CREDENTIALS });
    const faults = new FaultStore();
    const ecr = { endpoint: moto.endpoint, credentials: MOTO_CREDENTIALS };
    const pushImage = (service: string, version: string) => pushSandboxImage(ecr, service, version);
    const control = await startControlServer({ faults, regions: opts.regions, images: async (service, version) => ({ digest: await pushImage(service, version) }) });
    const providers = createProviders({ awsEndpoint: moto.endpoint, awsCredentials: MOTO_CREDENTIALS, slack: {}, log: () => undefined });
    return {
      moto,
      targets,
      faults,
      controlUrl: control.url,
      providers,
      pushImage,
      registry: createEcrRegistry(ecr),
      async stop() {
        await control.stop();
        await moto.stop();
      },
    };
  } catch (err) {
    await moto.stop();
    throw err;
  }
}

export interface SandboxConfigFiles {
  config: BatonConfig;
  configFile: string;
  people: SandboxPerson[];
  taskQueue: string;
  dir: string;
}

/** The router of whichever configured service and environment these metrics belong to. */
export function routerOfMetrics(config: BatonConfig, providers: Providers): (spec: MetricsSpec) => TrafficRouter {
  return (spec) => {
    const key = JSON.stringify(spec.dimensions);
    for (const service of Object.values(config.services)) {
      for (const e of Object.values(service.environments)) if (JSON.stringify(e.metrics.dimensions) === key) return providers.routerFor(e.traffic);
    }
    throw new Error(`no configured environment has the metrics dimensions ${key}`);
  };
}

/** The sandbox config (people, plan) written to a temporary folder, as a worker process reads it. */
export function writeSandboxConfig(
  aws: SandboxAws,
  plan?: Record<string, unknown>,
  notifications?: Record<string, unknown>,
  freezes?: FreezeDoc[],
  databases?: (dir: string) => Record<string, unknown>,
): SandboxConfigFiles {
  const dir = mkdtempSync(join(tmpdir(), 'baton-stack-'));
  // PostgreSQL runs as its own user, which must reach its folders in here.
  chmodSync(dir, 0o755);
  const people = sandboxPeople(newToken());
  const peopleFile = join(dir, 'people.json');
  writeFileSync(peopleFile, JSON.stringify(people, null, 2));
  const taskQueue = `baton-test-${newToken().slice(0, 8)}`;
  const doc = sandboxConfigDoc({ targets: aws.targets, people, controlUrl: aws.controlUrl, peopleFile, apiPort: 0, taskQueue, plan });
  if (notifications) doc.notifications = notifications;
  if (freezes) doc.freezes = freezes;
  if (databases) doc.databases = databases(dir);
  const configFile = join(dir, 'config.yaml');
  writeFileSync(configFile, toYaml(doc));
  return { config: resolveConfig(doc), configFile, people, taskQueue, dir };
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const cleanups: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const fn of cleanups.reverse()) await fn().catch((err: unknown) => console.error('stack: stop failed:', err));
  };
  quietWorkerLogs();
  try {
    // The control server starts before the workers it acts on: it reaches them through this.
    let regionControl: RegionControl | null = null;
    const lateRegions: RegionControl = {
      list: () => regionControl?.list() ?? [],
      startOutage: (region) => regionControl!.startOutage(region),
      endOutage: (region) => regionControl!.endOutage(region),
    };
    const [temporal, aws] = await startTogether(startTemporalDevServer(opts.ui ? { ui: true, codecEndpoint: opts.ui.codecEndpoint } : {}), startSandboxAws(opts.regionWorkers ? { regions: lateRegions } : {}));
    cleanups.push(() => temporal.stop(), () => aws.stop());
    const slack = opts.slack;
    let postgres: LocalPostgres | null = null;
    let pgDir: string | null = null;
    if (opts.databases) {
      pgDir = mkdtempSync(join(tmpdir(), 'baton-pg-'));
      chmodSync(pgDir, 0o755);
      const dirToRemove = pgDir;
      cleanups.push(async () => rmSync(dirToRemove, { recursive: true, force: true }));
      postgres = await startSandboxPostgres(pgDir);
      const pg = postgres;
      cleanups.push(() => pg.stop());
      await seedRdsInstance(aws.moto.endpoint, MOTO_CREDENTIALS);
    }
    const overrides = opts.databases;
    const { config, configFile, people, taskQueue, dir } = writeSandboxConfig(
      aws,
      opts.plan,
      slack ? { slackChannel: slack.channel, ...(slack.updateEvery ? { updateEvery: slack.updateEvery } : {}) } : undefined,
      opts.freezes,
      postgres && pgDir ? () => withOverrides(sandboxDatabasesDoc(postgres!, pgDir!), overrides ?? {}) : undefined,
    );
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const { moto, faults, targets } = aws;
    const motoProviders = aws.providers;
    let gate: RegionGate | null = null;
    if (opts.regionWorkers) {
      const started = await startRegionGate({ target: moto.endpoint });
      gate = started;
      cleanups.push(() => started.stop());
    }
    const awsEndpoint = gate?.endpoint ?? moto.endpoint;
    const providers = gate ? createProviders({ awsEndpoint, awsCredentials: MOTO_CREDENTIALS, slack: {}, log: () => undefined }) : motoProviders;
    if (opts.feeder) {
      // As in the sandbox, the feeder talks to moto directly and learns of outages from the gate.
      const direct = { endpoint: moto.endpoint, credentials: MOTO_CREDENTIALS };
      const g = gate;
      const replicas = { regions: configRegions(config), describe: rdsDescribe(direct), isOut: (region: string) => g?.isOut(region) ?? false };
      const feeder = startFeeder({ targets: feedTargets(config), replicas, routerFor: motoProviders.routerFor, dr: motoProviders.dr, put: cloudWatchPut(direct), faults, intervalMs: 1000, log: () => undefined });
      cleanups.push(() => feeder.stop());
    }

    const connection = await Connection.connect({ address: temporal.address, connectTimeout: '30s' });
    cleanups.push(() => connection.close());
    const codecKeys = opts.codec ? `test-${newToken().slice(0, 6)}:${randomBytes(32).toString('base64')}` : null;
    const dataConverter = dataConverterOf(readRuntimeEnv({ BATON_CONFIG: configFile, BATON_CODEC_KEYS: codecKeys ?? undefined }));
    const client = new Client({ connection, dataConverter });

    /** In-process workers by the regions they serve: `*` for the one worker of every region. */
    const running = new Map<string, Promise<InProcessWorker>>();
    const startOne = (key: string, regions: string[]): Promise<void> => {
      if (!running.has(key)) {
        running.set(key, (async () => {
          const nc = await NativeConnection.connect({ address: temporal.address });
          const notifier = slack ? createSlackNotifier({ botToken: TEST_SLACK_TOKEN, apiUrl: slack.apiUrl, defaultChannel: slack.channel }) : providers.notifier;
          let worker: BatonWorker;
          try {
            worker = await createBatonWorker({ connection: nc, namespace: 'default', taskQueue, regions, dataConverter, deps: { ...providers, notifier, stablePollMs: 200, temporal: client, freezes: config.freezes, allowed: config } });
          } catch (err) {
            await nc.close();
            throw err;
          }
          const done = worker.run();
          done.catch((err: unknown) => console.error(`stack: the worker of ${key} failed:`, err));
          return { worker, connection: nc, done };
        })());
        // A worker that failed to start is not running: the next start tries again.
        running.get(key)!.catch(() => running.delete(key));
      }
      return running.get(key)!.then(() => undefined);
    };
    const stopOne = async (key: string): Promise<void> => {
      const starting = running.get(key);
      if (!starting) return;
      running.delete(key);
      const r = await starting;
      r.worker.shutdown();
      await r.done.catch(() => undefined); // reported when it failed
      await r.connection.close();
    };
    const regions = opts.regionWorkers ? configRegions(config) : [];
    const needRegionWorkers = (what: string) => {
      if (!opts.regionWorkers) throw new Error(`${what} needs startStack({ regionWorkers: true })`);
    };
    const knownRegion = (region: string) => {
      if (!regions.includes(region)) throw new Error(`no region '${region}' in the stack (its regions: ${regions.join(', ')})`);
    };
    const workers: RegionWorkers = {
      regions,
      async start(region) {
        needRegionWorkers('workers.start');
        knownRegion(region);
        await startOne(region, [region]);
      },
      async stop(region) {
        needRegionWorkers('workers.stop');
        knownRegion(region);
        await stopOne(region);
      },
      isRunning: (region) => running.has(region),
    };
    const startWorker = async () => {
      if (opts.regionWorkers) await Promise.all(regions.map((r) => workers.start(r)));
      else await startOne('*', configRegions(config));
    };
    const stopWorker = async () => {
      await Promise.all([...running.keys()].map(stopOne));
    };
    cleanups.push(stopWorker);

    const outage = async (region: string) => {
      needRegionWorkers('outage');
      knownRegion(region);
      // The gate first: what the worker still holds fails as it would in a real outage.
      gate!.out(region);
      await workers.stop(region);
    };
    const endOutage = async (region: string) => {
      needRegionWorkers('endOutage');
      knownRegion(region);
      gate!.restore(region);
      await workers.start(region);
    };
    regionControl = {
      list: (): RegionState[] => regions.map((region) => {
        const out = gate?.outages().find((o) => o.region === region);
        return { region, worker: { name: `worker-${region}`, running: workers.isRunning(region) }, outage: out ? { since: out.since, refused: out.refused } : null };
      }),
      startOutage: outage,
      endOutage,
    };
    const spawned: Managed[] = [];
    cleanups.push(async () => {
      for (const m of spawned) await m.stop();
    });
    const spawnWorker = async (extraEnv: Record<string, string> = {}) => {
      const m = startProcess('worker', process.execPath, ['--import', 'tsx', resolve(REPO_ROOT, 'src/worker.ts')], {
        cwd: REPO_ROOT,
        env: {
          ...process.env,
          BATON_CONFIG: configFile,
          BATON_AWS_ENDPOINT_URL: awsEndpoint,
          AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId,
          AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey,
          AWS_REGION: 'us-east-1',
          TEMPORAL_ADDRESS: temporal.address,
          TEMPORAL_NAMESPACE: 'default',
          ...(slack ? { SLACK_BOT_TOKEN: TEST_SLACK_TOKEN, SLACK_API_URL: slack.apiUrl } : {}),
          ...(codecKeys ? { BATON_CODEC_KEYS: codecKeys } : {}),
          ...extraEnv,
        },
      });
      spawned.push(m);
      await waitForOutput(m, /serving task queue/, 90_000);
      return m;
    };
    if (opts.worker ?? true) await startWorker();

    return {
      client,
      config,
      configFile,
      taskQueue,
      people: tokensByRole(people),
      temporal,
      moto,
      providers,
      motoProviders,
      gate,
      workers,
      outage,
      endOutage,
      faults,
      targets,
      pushImage: aws.pushImage,
      registry: aws.registry,
      postgres,
      startWorker,
      stopWorker,
      spawnWorker,
      codecKeys,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

interface InProcessWorker {
  worker: BatonWorker;
  connection: NativeConnection;
  done: Promise<void>;
}

/** The sandbox's databases with every database's settings overridden. */
function withOverrides(doc: Record<string, unknown>, overrides: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(doc).map(([name, d]) => [name, { ...(d as Record<string, unknown>), ...overrides }]));
}

async function waitForOutput(m: Managed, pattern: RegExp, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (pattern.test(m.output())) return;
    if (m.child.exitCode !== null || m.child.signalCode !== null) throw new Error(`${m.name} exited:\n${m.output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${m.name} did not print ${pattern} within ${timeoutMs} ms:\n${m.output()}`);
}
