// The composition root: config → providers → activities → Worker. The only place that builds
// real AWS and Slack clients for activities.
import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { DefaultLogger, NativeConnection, Runtime, Worker, type ActivityInterceptorsFactory, type LogEntry, type LogLevel } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import { configRegions, ConfigError, loadConfig, temporalConnectConfig, workerRegions, type BatonConfig } from './config';
import { regionQueue } from './domain/regions';
import { createProviders } from './providers/factory';
import { workflowBundle } from './temporal/bundle';
import { dataConverterOf } from './temporal/codec';
import { syncDrillSchedules, syncFailoverDrillSchedules } from './temporal/drills';
import { syncReadinessSchedule } from './temporal/readiness';
import { syncTrainSchedules, type SyncResult } from './temporal/schedules';

export interface BatonWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  /** The main queue: every workflow, and the activities that act on no AWS region. */
  taskQueue: string;
  /**
   * The AWS regions whose queues (`<taskQueue>-<region>`, src/domain/regions.ts) this worker
   * also serves: the activities that act on them. `[]`: the main queue only.
   */
  regions: readonly string[];
  deps: ActivityDeps;
  /**
   * How payloads are encoded (dataConverterOf(runtime): encrypted when BATON_CODEC_KEYS is set);
   * the same as the clients' that start and read the workflows. Default: the SDK's, plaintext.
   */
  dataConverter?: DataConverter;
  /** Activity interceptors of every queue's worker (tracing, or a test's record of the runs it served). */
  activityInterceptors?: ActivityInterceptorsFactory[];
}

/** The workers of one Baton worker process, run and stopped together. */
export interface BatonWorker {
  /** The queues served: the main queue first, then one per region. */
  readonly taskQueues: readonly string[];
  /** Runs every queue's worker until shutdown() or a signal; when one stops (or fails), the others stop too. */
  run(): Promise<void>;
  /** Runs until `fn` settles, then shuts down and returns its result (as Worker.runUntil). */
  runUntil<R>(fn: Promise<R> | (() => Promise<R>)): Promise<R>;
  /** Starts a graceful shutdown of every queue's worker: each finishes the tasks it holds. */
  shutdown(): void;
}

/**
 * The main queue's worker runs the workflows and every activity; each region's worker runs
 * the activities only (the same functions: which of them reach its queue is the workflows'
 * choice). A worker in a DR region is given only its own region, so it never picks up work
 * for a region it may not be able to reach, and still runs every workflow.
 */
export async function createBatonWorker(opts: BatonWorkerOptions): Promise<BatonWorker> {
  const activities = createActivities(opts.deps);
  const common = { connection: opts.connection, namespace: opts.namespace, activities, dataConverter: opts.dataConverter, ...(opts.activityInterceptors ? { interceptors: { activity: opts.activityInterceptors } } : {}) };
  const workers: Worker[] = [await Worker.create({ ...common, taskQueue: opts.taskQueue, workflowBundle: await workflowBundle() })];
  for (const region of new Set(opts.regions)) workers.push(await Worker.create({ ...common, taskQueue: regionQueue(opts.taskQueue, region) }));
  return together(workers);
}

function together(workers: Worker[]): BatonWorker {
  let running: Promise<void> | null = null;
  const shutdown = () => {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
  };
  const run = (): Promise<void> =>
    (running ??= (async () => {
      // Each worker's run() marks it RUNNING before its first await, so shutdown() reaches all.
      const results = await Promise.allSettled(workers.map((w) => w.run().finally(shutdown)));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    })());
  return {
    taskQueues: workers.map((w) => w.options.taskQueue),
    run,
    shutdown,
    async runUntil<R>(fn: Promise<R> | (() => Promise<R>)): Promise<R> {
      const stopped = run();
      let settled: PromiseSettledResult<R> | undefined;
      void (async () => (typeof fn === 'function' ? fn() : fn))()
        .then(
          (value) => (settled = { status: 'fulfilled', value }),
          (reason: unknown) => (settled = { status: 'rejected', reason }),
        )
        .finally(shutdown);
      await stopped;
      if (!settled) throw new Error(`the workers of ${workers[0].options.taskQueue} stopped before the function they ran for had settled`);
      if (settled.status === 'rejected') throw settled.reason;
      return settled.value;
    },
  };
}

/** Repeated on every entry and known from the worker's start line. */
const HIDDEN_LOG_FIELDS = new Set(['sdkComponent', 'taskQueue', 'namespace', 'runId', 'taskToken']);

/** The SDK's warning for a worker with activities only: what each region's worker is by design. */
const REGION_WORKER_NOTICE = 'No workflows registered, not polling for workflow tasks';

/** One line per log entry: time, level, message, then the entry's fields as compact JSON. */
function logLine(entry: LogEntry): void {
  if (entry.message === REGION_WORKER_NOTICE) return;
  const fields = Object.fromEntries(Object.entries(entry.meta ?? {}).filter(([k]) => !HIDDEN_LOG_FIELDS.has(k)));
  const time = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
  const extra = Object.keys(fields).length ? ` ${JSON.stringify(fields, (_k, v: unknown) => (v instanceof Error ? v.message : v))}` : '';
  const line = `${time} ${entry.level} ${entry.message}${extra}`;
  if (entry.level === 'WARN' || entry.level === 'ERROR') console.error(line);
  else console.log(line);
}

/** `created train-prod; unchanged train-staging`, or `none configured`. */
function syncSummary(r: SyncResult): string {
  const parts = (['created', 'updated', 'unchanged'] as const).filter((k) => r[k].length).map((k) => `${k} ${r[k].join(', ')}`);
  return parts.join('; ') || 'none configured';
}

/** Bases of the links in Slack messages: the API as people reach it, and the Temporal UI. */
function linksOf(config: BatonConfig, namespace: string): NonNullable<ActivityDeps['links']> {
  const host = config.api.host === '0.0.0.0' || config.api.host === '::' ? '127.0.0.1' : config.api.host;
  return { namespace, temporalUiUrl: config.api.temporalUiUrl, apiUrl: config.api.publicUrl ?? `http://${host}:${config.api.port}` };
}

async function main(): Promise<void> {
  const { config, runtime } = loadConfig();
  Runtime.install({ logger: new DefaultLogger(runtime.logLevel.toUpperCase() as LogLevel, logLine) });
  const providers = createProviders({
    awsEndpoint: runtime.awsEndpoint,
    slack: { botToken: runtime.slack.botToken, apiUrl: runtime.slack.apiUrl },
    defaultChannel: config.notifications.channel,
    postgres: runtime.postgres,
  });
  if (runtime.slack.botToken && !config.notifications.channel) {
    console.error('worker: SLACK_BOT_TOKEN is set but the config has no notifications.slackChannel: notifications go to the log');
  }
  const temporal = temporalConnectConfig();
  const connection = await NativeConnection.connect(temporal.connectionOptions);
  // The release train's activities find and board releases through a client.
  const clientConnection = await Connection.connect(temporal.connectionOptions);
  const dataConverter = dataConverterOf(runtime);
  const client = new Client({ connection: clientConnection, namespace: temporal.namespace, dataConverter });
  try {
    // Each configured release train is a Temporal Schedule; create or update them to match config.
    const trains = await syncTrainSchedules(client, config);
    console.log(`worker: release trains: ${syncSummary(trains)}`);
    const drills = await syncDrillSchedules(client, config, runtime.decisionPublicKey);
    if (drills.length) console.log(`worker: restore drills: ${drills.join(', ')}`);
    const drDrills = await syncFailoverDrillSchedules(client, config, runtime.decisionPublicKey);
    if (drDrills.length) console.log(`worker: DR drills: ${drDrills.join(', ')}`);
    if (await syncReadinessSchedule(client, config)) console.log(`worker: DR readiness: schedule 'readiness' every ${config.readiness.everySeconds} s`);
    const regions = workerRegions(config, runtime);
    const unused = regions.filter((r) => !configRegions(config).includes(r));
    if (unused.length) console.error(`worker: BATON_REGIONS names ${unused.join(', ')}, which no service or database in the config uses`);
    const worker = await createBatonWorker({ connection, namespace: temporal.namespace, taskQueue: config.temporal.taskQueue, regions, dataConverter, deps: { ...providers, temporal: client, freezes: config.freezes, links: linksOf(config, temporal.namespace), allowed: config } });
    const [main, ...perRegion] = worker.taskQueues;
    const alsoServed = perRegion.length ? `, and the activities of ${regions.join(', ')} on ${perRegion.map((q) => `'${q}'`).join(', ')}` : ', and no region\'s activities';
    const payloads = runtime.codec ? `; payloads encrypted with key '${runtime.codec.keys[0].id}'` : '';
    console.log(`worker: serving task queue '${main}' on ${temporal.address} (namespace ${temporal.namespace})${alsoServed}${payloads}`);
    await worker.run(); // returns after SIGINT/SIGTERM, once in-flight tasks are done
  } finally {
    await connection.close();
    await clientConnection.close();
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    if (err instanceof ConfigError) console.error(`worker: ${err.message}`);
    else console.error('worker: failed:', err);
    process.exit(1);
  });
}
