// The composition root: config → providers → activities → Worker. The only place that builds
// real AWS and Slack clients for activities.
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker, type LogEntry, type LogLevel } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import { ConfigError, loadConfig, temporalConnectConfig, type BatonConfig } from './config';
import { createProviders } from './providers/factory';
import { workflowBundle } from './temporal/bundle';
import { syncDrillSchedules } from './temporal/drills';
import { syncTrainSchedules, type SyncResult } from './temporal/schedules';

export interface BatonWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
}

export async function createBatonWorker(opts: BatonWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    workflowBundle: await workflowBundle(),
    activities: createActivities(opts.deps),
  });
}

/** Repeated on every entry and known from the worker's start line. */
const HIDDEN_LOG_FIELDS = new Set(['sdkComponent', 'taskQueue', 'namespace', 'runId', 'taskToken']);

/** One line per log entry: time, level, message, then the entry's fields as compact JSON. */
function logLine(entry: LogEntry): void {
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
  const client = new Client({ connection: clientConnection, namespace: temporal.namespace });
  try {
    // Each configured release train is a Temporal Schedule; create or update them to match config.
    const trains = await syncTrainSchedules(client, config);
    console.log(`worker: release trains: ${syncSummary(trains)}`);
    const drills = await syncDrillSchedules(client, config);
    if (drills.length) console.log(`worker: restore drills: ${drills.join(', ')}`);
    const worker = await createBatonWorker({ connection, namespace: temporal.namespace, taskQueue: config.temporal.taskQueue, deps: { ...providers, temporal: client, freezes: config.freezes, links: linksOf(config, temporal.namespace) } });
    console.log(`worker: serving task queue '${config.temporal.taskQueue}' on ${temporal.address} (namespace ${temporal.namespace})`);
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
