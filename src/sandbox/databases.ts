// The sandbox's databases: a private PostgreSQL (WAL archived every few seconds) holding an
// example `orders` database for `api` in dev, staging and prod, and an example RDS instance in
// moto. Also what the sandbox-only routes do with them: list them with their tables' row counts,
// and damage one (drop a table, delete rows) so a newcomer can watch a restore bring it back.
import { join } from 'node:path';
import { CreateDBInstanceCommand, DescribeDBInstancesCommand, DBInstanceNotFoundFault } from '@aws-sdk/client-rds';
import { Client } from 'pg';
import type { BatonConfig } from '../config';
import type { DatabaseTarget, PostgresTarget } from '../domain/database';
import { startPostgres, type LocalPostgres } from '../local/postgres';
import { createAwsClients, type AwsCredentials } from '../providers/aws';
import { SANDBOX_REGIONS } from './seed';

/** The sandbox's environments, each with its own `orders` database in the one cluster. */
export const SANDBOX_DATABASE_ENVIRONMENTS = ['dev', 'staging', 'prod'] as const;
/** The example RDS instance (moto) of the `billing` database in prod. */
export const SANDBOX_RDS_INSTANCE = 'billing-prod';
/** How often the sandbox's PostgreSQL archives WAL at the latest: a restore can reach a few seconds ago. */
const ARCHIVE_TIMEOUT_SECONDS = 5;

export const pgDatabaseName = (environment: string) => `orders_${environment}`;

/** Starts the sandbox's PostgreSQL (data kept in dir across restarts) and creates the example databases once. */
export async function startSandboxPostgres(dir: string, port?: number): Promise<LocalPostgres> {
  const pg = await startPostgres({ dir: join(dir, 'postgres'), walArchiveDir: join(dir, 'postgres-wal'), archiveTimeoutSeconds: ARCHIVE_TIMEOUT_SECONDS, port });
  try {
    for (const env of SANDBOX_DATABASE_ENVIRONMENTS) await ensureOrders(pg, pgDatabaseName(env));
  } catch (err) {
    await pg.stop();
    throw err;
  }
  return pg;
}

async function ensureOrders(pg: LocalPostgres, database: string): Promise<void> {
  await withClient(pg.url('postgres'), async (c) => {
    const { rowCount } = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount) await c.query(`CREATE DATABASE ${database}`);
  });
  await withClient(pg.url(database), async (c) => {
    await c.query(`CREATE TABLE IF NOT EXISTS customers (id int PRIMARY KEY, name text NOT NULL)`);
    await c.query(`CREATE TABLE IF NOT EXISTS orders (
      id serial PRIMARY KEY,
      customer_id int NOT NULL REFERENCES customers(id),
      amount_cents int NOT NULL CHECK (amount_cents > 0),
      created_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await c.query<{ n: string }>('SELECT count(*) AS n FROM customers');
    if (Number(rows[0].n) > 0) return;
    await c.query(`INSERT INTO customers SELECT i, 'customer ' || i FROM generate_series(1, 20) AS i`);
    // A week of orders, the newest a minute ago, so "orders in the last day" holds.
    await c.query(`INSERT INTO orders (customer_id, amount_cents, created_at)
      SELECT 1 + (i % 20), 100 + (i * 37) % 9900, now() - make_interval(mins => i * 40 + 1) FROM generate_series(0, 249) AS i`);
  });
}

async function withClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: url, connectionTimeoutMillis: 5000, statement_timeout: 30_000 });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Creates the example RDS instance in moto if it is missing (automated backups on, so it can be restored to a point in time). */
export async function seedRdsInstance(endpoint: string, credentials?: AwsCredentials): Promise<void> {
  const rds = createAwsClients({ endpoint, credentials }).rds(SANDBOX_REGIONS.primary);
  try {
    await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: SANDBOX_RDS_INSTANCE }));
    return;
  } catch (err) {
    if (!(err instanceof DBInstanceNotFoundFault) && (err as Error).name !== 'DBInstanceNotFoundFault' && (err as Error).name !== 'DBInstanceNotFound') throw err;
  }
  await rds.send(new CreateDBInstanceCommand({
    DBInstanceIdentifier: SANDBOX_RDS_INSTANCE,
    DBInstanceClass: 'db.t3.micro',
    Engine: 'postgres',
    AllocatedStorage: 20,
    MasterUsername: 'billing',
    MasterUserPassword: 'sandbox-only-password',
    BackupRetentionPeriod: 7,
  }));
}

/** The `databases:` section of the sandbox's config (YAML shape). */
export function sandboxDatabasesDoc(pg: LocalPostgres, dir: string): Record<string, unknown> {
  const environments: Record<string, unknown> = {};
  for (const env of SANDBOX_DATABASE_ENVIRONMENTS) {
    environments[env] = {
      postgres: {
        host: pg.host,
        port: pg.port,
        database: pgDatabaseName(env),
        user: pg.user,
        backupDir: join(dir, 'backups', `orders-${env}`),
        walArchiveDir: pg.walArchiveDir,
        scratchDir: join(dir, 'restore-scratch'),
      },
    };
  }
  return {
    orders: {
      services: ['api'],
      critical: ['orders', 'customers'],
      assertions: [
        { name: 'orders in the last day', sql: "SELECT count(*) > 0 FROM orders WHERE created_at > now() - interval '1 day'" },
        { name: 'every order has its customer', sql: 'SELECT NOT EXISTS (SELECT 1 FROM orders o LEFT JOIN customers c ON c.id = o.customer_id WHERE c.id IS NULL)' },
      ],
      objectives: { rpo: '1m', rto: '5m' },
      watch: '20s',
      sample: '5s',
      retention: '2m',
      drill: { cron: '0 4 * * *', timeZone: 'America/Los_Angeles', maxAge: '2d' },
      environments,
    },
    billing: {
      objectives: { rpo: '5m', rto: '1h' },
      watch: '0s',
      retention: '2m',
      environments: { prod: { rds: { region: SANDBOX_REGIONS.primary, instanceId: SANDBOX_RDS_INSTANCE, switch: 'rename' } } },
    },
  };
}

// ---------------------------------------------------------------- sandbox routes

export interface SandboxDatabase {
  environment: string;
  database: string;
  kind: DatabaseTarget['kind'];
  /** psql's connection string (postgres), or the instance's id (RDS, which moto does not run). */
  url: string;
  /** Each table's row count; null where the sandbox cannot read rows (RDS in moto). */
  tables: Record<string, number> | null;
}

const pgUrl = (t: PostgresTarget, database = t.database) => `postgres://${t.user}@${t.host}:${t.port}/${database}`;

/** Every configured database with its tables' row counts. */
export async function describeSandboxDatabases(config: Pick<BatonConfig, 'databases'>): Promise<SandboxDatabase[]> {
  const out: SandboxDatabase[] = [];
  for (const [database, envs] of Object.entries(config.databases)) {
    for (const [environment, spec] of Object.entries(envs)) {
      const t = spec.target;
      if (t.kind === 'rds') {
        out.push({ environment, database, kind: 'rds', url: `rds:${t.region}/${t.instanceId}`, tables: null });
        continue;
      }
      const tables = await withClient(pgUrl(t), async (c) => {
        const { rows } = await c.query<{ name: string }>("SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1");
        const counts: Record<string, number> = {};
        for (const { name } of rows) counts[name] = Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM "${name}"`)).rows[0].n);
        return counts;
      });
      out.push({ environment, database, kind: 'postgres', url: pgUrl(t), tables });
    }
  }
  return out;
}

export type Damage = 'drop-table' | 'delete-rows';

/** Damages a sandbox database: drops a table, or deletes half its rows; answers what it did. */
export async function damageDatabase(target: DatabaseTarget, damage: Damage, table = 'orders'): Promise<string> {
  if (target.kind !== 'postgres') throw new Error(`the sandbox damages only PostgreSQL databases (this one is ${target.kind})`);
  if (!/^[a-z_][a-z0-9_]*$/.test(table)) throw new Error(`'${table}' is not a table name`);
  return withClient(pgUrl(target), async (c) => {
    const { rowCount } = await c.query("SELECT 1 FROM pg_tables WHERE schemaname = 'public' AND tablename = $1", [table]);
    if (!rowCount) throw new Error(`${target.database} has no table '${table}'`);
    if (damage === 'drop-table') {
      await c.query(`DROP TABLE "${table}" CASCADE`);
      return `dropped table ${table} in ${target.database}`;
    }
    const deleted = await c.query(`DELETE FROM "${table}" WHERE ctid IN (SELECT ctid FROM "${table}" TABLESAMPLE BERNOULLI (50))`);
    return `deleted ${deleted.rowCount ?? 0} rows from ${table} in ${target.database}`;
  });
}
