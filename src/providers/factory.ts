// Builds the providers the worker's activities use, from runtime settings: AWS (real, or a
// local stand-in when an endpoint is given) and Slack, or the log when there is no token.
import type { DatabaseTarget } from '../domain/database';
import type { TrafficRouterSpec } from '../domain/types';
import { defaultPgOsUser, findPgBinDir } from '../local/postgres';
import { createAlbRouter } from './alb';
import { createAwsClients, type AwsClients } from './aws';
import { createCloudWatchMetrics } from './cloudwatch';
import { createAwsDrInspector } from './dr';
import { createAwsDrOperator } from './dr-ops';
import { createEcsCompute } from './ecs';
import type { DatabaseProvider } from './database';
import { createLogNotifier } from './log-notifier';
import { createPostgresDatabases } from './postgres';
import { createRdsDatabases } from './rds';
import { createRoute53Router } from './route53';
import { createSlackNotifier } from './slack';
import { createHttpSmokeTester } from './smoke';
import type { Compute, DrInspector, DrOperator, MetricsProvider, Notifier, SmokeTester, TrafficRouter, TrafficRouterFactory } from './types';

export interface ProviderOptions {
  awsEndpoint?: string; // local AWS stand-in (moto); undefined = real AWS
  awsCredentials?: { accessKeyId: string; secretAccessKey: string }; // optional explicit credentials (tests against moto pass these)
  slack: { botToken?: string; apiUrl?: string };
  defaultChannel?: string;
  log?: (line: string) => void;
  /** PostgreSQL's binaries (default: the highest installed), and the password for its connections (PGPASSWORD). */
  postgres?: { binDir?: string; password?: string };
}

export interface Providers {
  compute: Compute;
  routerFor: TrafficRouterFactory;
  metrics: MetricsProvider;
  smoke: SmokeTester;
  notifier: Notifier;
  databases: DatabaseProvider;
  dr: DrInspector;
  drOps: DrOperator;
}

export function createProviders(opts: ProviderOptions): Providers {
  const aws = createAwsClients({ endpoint: opts.awsEndpoint, credentials: opts.awsCredentials });
  return {
    compute: createEcsCompute(aws.ecs),
    routerFor: (spec) => routerFor(aws, spec),
    metrics: createCloudWatchMetrics(aws.cloudwatch),
    smoke: createHttpSmokeTester(),
    dr: createAwsDrInspector(aws),
    // moto answers at once; real RDS promotes, creates and renames in minutes.
    drOps: createAwsDrOperator(aws, opts.awsEndpoint ? { pollMs: 250 } : {}),
    // Slack needs a token and somewhere to post; without either, notifications go to the log.
    notifier: opts.slack.botToken && opts.defaultChannel
      ? createSlackNotifier({ botToken: opts.slack.botToken, apiUrl: opts.slack.apiUrl, defaultChannel: opts.defaultChannel })
      : createLogNotifier({ defaultChannel: opts.defaultChannel, sink: opts.log }),
    databases: createDatabases({
      // moto answers at once; real RDS takes minutes, so poll it gently.
      rds: () => createRdsDatabases(aws, opts.awsEndpoint ? { pollMs: 250 } : {}),
      // PostgreSQL's binaries are looked for when a PostgreSQL database is first used, so a
      // worker that serves none needs none installed.
      postgres: () => createPostgresDatabases({ binDir: opts.postgres?.binDir ?? findPgBinDir(), osUser: defaultPgOsUser(), password: opts.postgres?.password }),
    }),
  };
}

/** One provider over both kinds of database: each call goes to the adapter of its target's kind, built on first use. */
export function createDatabases(build: Record<DatabaseTarget['kind'], () => DatabaseProvider>): DatabaseProvider {
  const made: Partial<Record<DatabaseTarget['kind'], DatabaseProvider>> = {};
  const of = (t: DatabaseTarget): DatabaseProvider => (made[t.kind] ??= build[t.kind]());
  return {
    inventory: (t) => of(t).inventory(t),
    backup: (t, req) => of(t).backup(t, req),
    verifyBackup: (t, id) => of(t).verifyBackup(t, id),
    restore: (t, req) => of(t).restore(t, req),
    verify: (t, id, spec) => of(t).verify(t, id, spec),
    serving: (t, id) => of(t).serving(t, id),
    switchTo: (t, id, aside) => of(t).switchTo(t, id, aside),
    switchBack: (t, id, aside) => of(t).switchBack(t, id, aside),
    dropCopy: (t, id) => of(t).dropCopy(t, id),
    dropSetAside: (t, aside) => of(t).dropSetAside(t, aside),
  };
}

function routerFor(aws: AwsClients, spec: TrafficRouterSpec): TrafficRouter {
  switch (spec.type) {
    case 'alb':
      return createAlbRouter(aws.elb(spec.region), spec);
    case 'route53':
      return createRoute53Router(aws.route53(spec.region), spec);
    default: {
      const unknown: never = spec;
      throw new Error(`unknown traffic router type ${JSON.stringify(unknown)}`);
    }
  }
}
