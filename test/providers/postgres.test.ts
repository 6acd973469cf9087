import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { startPostgres, type LocalPostgres } from '../../src/local/postgres';
import { copyName, createPostgresDatabases, RESTORE_TARGET_UNREACHABLE } from '../../src/providers/postgres';
import type { DatabaseProvider } from '../../src/providers/database';
import type { BackupInfo, PostgresTarget } from '../../src/domain/database';
import { ErrorType } from '../../src/domain/errors';
import { withAbortSignal } from '../../src/providers/aws';
import { until } from '../harness/wait';

const failure = (name: string, text: string | RegExp) => expect.objectContaining({ name, message: expect.stringMatching(text) });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('self-managed PostgreSQL: backups, point-in-time restore, verification and the rename switch', () => {
  let dir: string;
  let pg: LocalPostgres;
  let db: DatabaseProvider;
  let target: PostgresTarget;
  let base: BackupInfo;
  /** The instant between the write after the backup and the next one: what the restore must bring back. */
  let between: string;
  /** Just before that write after the backup: the restored copy's last commit is later. */
  let beforeWrite: string;

  async function sql<T = Record<string, unknown>>(database: string, text: string, params: unknown[] = []): Promise<T[]> {
    const client = new Client({ connectionString: pg.url(database) });
    await client.connect();
    try {
      return (await client.query(text, params)).rows as T[];
    } finally {
      await client.end();
    }
  }
  const orderIds = async (database: string) => (await sql<{ ids: number[] | null }>(database, 'SELECT array_agg(id ORDER BY id) AS ids FROM orders'))[0].ids ?? [];
  const hasTable = async (database: string, table: string) => (await sql<{ r: string | null }>(database, 'SELECT to_regclass($1)::text AS r', [table]))[0].r !== null;
  const databaseNames = async () => (await sql<{ datname: string }>('postgres', 'SELECT datname FROM pg_database ORDER BY datname')).map((r) => r.datname);
  const ownProperties = async (database: string) =>
    (
      await sql(
        'postgres',
        `SELECT pg_encoding_to_char(d.encoding) AS encoding, d.datcollate, d.datctype, pg_get_userbyid(d.datdba) AS owner,
                (SELECT array_agg(a::text ORDER BY a::text) FROM unnest(d.datacl) a) AS acl,
                (SELECT array_agg(coalesce(r.rolname, '') || ':' || array_to_string(s.setconfig, ';') ORDER BY r.rolname NULLS FIRST)
                   FROM pg_db_role_setting s LEFT JOIN pg_roles r ON r.oid = s.setrole WHERE s.setdatabase = d.oid) AS settings
         FROM pg_database d WHERE d.datname = $1`,
        [database],
      )
    )[0];
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
  const serverNow = async () => (await sql<{ now: Date }>('postgres', 'SELECT clock_timestamp() AS now'))[0].now;
  const insertOrders = (from: number, to: number) =>
    sql('orders_test', `INSERT INTO orders (id, customer_id, amount, placed_at) SELECT g, 1 + g % 10, g * 1.5, now() FROM generate_series($1::int, $2::int) g`, [from, to]);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'baton-pg-'));
    chmodSync(dir, 0o755); // the postgres OS user reaches its directories through it
    pg = await startPostgres({ dir: join(dir, 'pg'), archiveTimeoutSeconds: 1 });
    target = {
      kind: 'postgres',
      host: pg.host,
      port: pg.port,
      database: 'orders_test',
      user: pg.user,
      backupDir: join(dir, 'backups'),
      walArchiveDir: pg.walArchiveDir,
      scratchDir: join(dir, 'scratch'),
    };
    db = createPostgresDatabases({ binDir: pg.binDir });
    await sql('postgres', 'CREATE DATABASE orders_test');
    await sql('orders_test', 'CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL)');
    await sql('orders_test', 'CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customers, amount numeric NOT NULL, placed_at timestamptz NOT NULL)');
    await sql('orders_test', `INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 10) g`);
    await insertOrders(1, 100);
    // The database's own grants and settings, which a dump without --create leaves behind.
    await sql('postgres', 'CREATE ROLE orders_app LOGIN');
    await sql('postgres', 'GRANT CONNECT ON DATABASE orders_test TO orders_app');
    await sql('postgres', 'REVOKE CONNECT ON DATABASE orders_test FROM PUBLIC');
    await sql('postgres', `ALTER DATABASE orders_test SET search_path = "$user", public, extra`);
    await sql('postgres', `ALTER DATABASE orders_test SET work_mem = '8MB'`);
    await sql('postgres', `ALTER ROLE orders_app IN DATABASE orders_test SET statement_timeout = '5s'`);
  });

  afterAll(async () => {
    await pg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('takes a verified base backup whose manifest is the data as restored from it', async () => {
    base = await db.backup(target, { backupId: 'base-1', kind: 'base', critical: ['orders', 'customers'], takenBy: 'test' });
    expect(base).toMatchObject({
      id: 'base-1',
      kind: 'base',
      replayable: true,
      takenBy: 'test',
      verified: { ok: true, detail: expect.stringContaining('backup successfully verified') },
      manifest: { orders: { rows: 100, checksum: expect.stringMatching(/^[0-9a-f]{32}$/) }, customers: { rows: 10, checksum: expect.stringMatching(/^[0-9a-f]{32}$/) } },
    });
    expect(base.sizeBytes).toBeGreaterThan(1_000_000);
    expect(Date.parse(base.consistentAt)).toBeLessThanOrEqual((await serverNow()).getTime() + 1);
    expect(readdirSync(target.scratchDir)).toEqual([]); // the test restore is cleaned up
  });

  it('returns the same backup when asked again with its id, without taking another', async () => {
    const started = Date.now();
    expect(await db.backup(target, { backupId: 'base-1', kind: 'base', critical: ['orders', 'customers'], takenBy: 'someone else' })).toEqual(base);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(readdirSync(target.backupDir)).toEqual(['base-1']);
  });

  it('lists the backup and a point-in-time range that covers an instant after it', async () => {
    beforeWrite = (await serverNow()).toISOString();
    await insertOrders(101, 150); // after the backup: only the WAL archive has it
    await sleep(30);
    between = (await serverNow()).toISOString();
    await sleep(30);
    await insertOrders(151, 200);
    // The damage: rows deleted, a table dropped.
    await sql('orders_test', 'DELETE FROM orders WHERE id <= 50');
    await sql('orders_test', 'ALTER TABLE orders DROP CONSTRAINT orders_customer_id_fkey');
    await sql('orders_test', 'DROP TABLE customers');

    const inventory = await until('the archive to hold the commits after the instant', () => db.inventory(target), (inv) => !!inv.pointInTime && inv.pointInTime.latest > between, 20_000);
    expect(inventory.backups).toEqual([base]);
    expect(inventory.pointInTime?.earliest).toBe(base.consistentAt);
    expect(inventory.pointInTime!.earliest < between).toBe(true);
  });

  it('restores to the instant between the writes: exactly the data of that moment, beside the original', async () => {
    const copy = await db.restore(target, { restoreId: 'restore-1', backupId: 'base-1', pointInTime: between });
    const name = copyName('orders_test', 'restore-1');
    expect(copy).toEqual({ name, url: `postgres://baton@127.0.0.1:${pg.port}/${name}`, lastCommitAt: expect.any(String) });
    expect(copy.lastCommitAt! <= between).toBe(true);
    expect(copy.lastCommitAt! > beforeWrite).toBe(true); // the RPO is measured from the write it replayed

    expect(await orderIds(name)).toEqual(range(1, 150));
    expect(await sql(name, 'SELECT count(*)::int AS n FROM customers')).toEqual([{ n: 10 }]);
    expect(await ownProperties(name)).toEqual({
      encoding: 'UTF8',
      datcollate: 'C.UTF-8',
      datctype: 'C.UTF-8',
      owner: 'baton',
      acl: ['=T/baton', 'baton=CTc/baton', 'orders_app=c/baton'],
      settings: [':search_path="$user", public, extra;work_mem=8MB', 'orders_app:statement_timeout=5s'],
    });
    expect(await ownProperties(name)).toEqual(await ownProperties('orders_test'));
    // The original is untouched: still damaged.
    expect(await orderIds('orders_test')).toEqual(range(51, 200));
    expect(await hasTable('orders_test', 'customers')).toBe(false);
    expect(readdirSync(target.scratchDir)).toEqual([]);
  });

  it('answers a repeated restore with the same copy without redoing it', async () => {
    const name = copyName('orders_test', 'restore-1');
    const oid = async () => (await sql<{ oid: string }>('postgres', 'SELECT oid::text FROM pg_database WHERE datname = $1', [name]))[0].oid;
    const before = await oid();
    const started = Date.now();
    const again = await db.restore(target, { restoreId: 'restore-1', backupId: 'base-1', pointInTime: between });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(again.name).toBe(name);
    expect(await oid()).toBe(before);
  });

  it('verifies the copy: amcheck and the assertions pass; a false, a failing or a many-row assertion fails closed', async () => {
    const ok = await db.verify(target, 'restore-1', {
      manifest: null,
      assertions: [
        { name: 'orders are back', sql: 'SELECT count(*) = 150 FROM orders' },
        { name: 'customers are back', sql: 'SELECT count(*) = 10 FROM customers' },
      ],
    });
    expect(ok).toEqual([
      { name: 'amcheck', kind: 'amcheck', ok: true, detail: expect.stringContaining('no corruption') },
      { name: 'orders are back', kind: 'assertion', ok: true, detail: 'true' },
      { name: 'customers are back', kind: 'assertion', ok: true, detail: 'true' },
    ]);
    const bad = await db.verify(target, 'restore-1', {
      manifest: null,
      assertions: [
        { name: 'false', sql: 'SELECT count(*) > 1000 FROM orders' },
        { name: 'broken', sql: 'SELECT count(*) > 0 FROM no_such_table' },
        { name: 'two rows', sql: 'SELECT true FROM generate_series(1, 2)' },
        { name: 'writes', sql: 'DELETE FROM orders RETURNING true' },
        { name: 'escapes', sql: 'COMMIT; DELETE FROM orders; SELECT true' },
      ],
    });
    expect(bad.slice(1)).toEqual([
      { name: 'false', kind: 'assertion', ok: false, detail: 'returned false, expected true' },
      { name: 'broken', kind: 'assertion', ok: false, detail: expect.stringContaining('relation "no_such_table" does not exist') },
      { name: 'two rows', kind: 'assertion', ok: false, detail: 'returned 2 rows, expected one' },
      { name: 'writes', kind: 'assertion', ok: false, detail: expect.stringContaining('read-only transaction') },
      { name: 'escapes', kind: 'assertion', ok: false, detail: expect.stringContaining('cannot insert multiple commands') },
    ]);
    expect(await orderIds(copyName('orders_test', 'restore-1'))).toEqual(range(1, 150));
    expect(await db.verify(target, 'no-such-restore', { manifest: null, assertions: [] })).toEqual([
      { name: 'amcheck', kind: 'amcheck', ok: false, detail: expect.stringContaining('no finished copy') },
    ]);
  });

  it('switches: the copy answers under the original name, the damaged original is set aside; switching again changes nothing', async () => {
    const aside = 'orders_test_pre_restore_1';
    const expected = { serving: 'restored', setAside: aside, detail: expect.stringContaining(`kept as ${aside}`) };
    expect(await db.serving(target, 'restore-1')).toMatchObject({ serving: 'original', setAside: null });
    expect(await db.switchTo(target, 'restore-1', aside)).toEqual(expected);
    expect(await db.switchTo(target, 'restore-1', aside)).toEqual(expected);
    expect(await db.serving(target, 'restore-1')).toEqual(expected);

    expect(await orderIds('orders_test')).toEqual(range(1, 150));
    expect(await hasTable('orders_test', 'customers')).toBe(true);
    expect(await orderIds(aside)).toEqual(range(51, 200));
    expect(await databaseNames()).not.toContain(copyName('orders_test', 'restore-1'));
    // Verification finds the copy where it serves.
    expect((await db.verify(target, 'restore-1', { manifest: null, assertions: [{ name: 'back', sql: 'SELECT count(*) = 150 FROM orders' }] })).map((r) => r.ok)).toEqual([true, true]);
  });

  it('refuses to drop the copy while it serves, or the name the services use', async () => {
    await expect(db.dropCopy(target, 'restore-1')).rejects.toEqual(failure(ErrorType.InvalidTransition, /serves as orders_test/));
    await expect(db.dropSetAside(target, 'orders_test')).rejects.toEqual(failure(ErrorType.InvalidTransition, /name the services use/));
    expect(await orderIds('orders_test')).toEqual(range(1, 150));
  });

  it('switches back: the original serves again under its name, the copy under its own; switching back again changes nothing', async () => {
    const aside = 'orders_test_pre_restore_1';
    const name = copyName('orders_test', 'restore-1');
    const expected = { serving: 'original', setAside: null, detail: `orders_test is the original; the copy waits as ${name}` };
    expect(await db.switchBack(target, 'restore-1', aside)).toEqual(expected);
    expect(await db.switchBack(target, 'restore-1', aside)).toEqual(expected);
    expect(await orderIds('orders_test')).toEqual(range(51, 200));
    expect(await orderIds(name)).toEqual(range(1, 150));
    expect(await databaseNames()).not.toContain(aside);
    // The original's own comment is back (none), not the set-aside tag.
    expect(await sql('postgres', `SELECT shobj_description(oid, 'pg_database') AS c FROM pg_database WHERE datname = 'orders_test'`)).toEqual([{ c: null }]);
  });

  it('drops the copy once it does not serve, and again without complaint', async () => {
    await db.dropCopy(target, 'restore-1');
    await db.dropCopy(target, 'restore-1');
    expect(await databaseNames()).not.toContain(copyName('orders_test', 'restore-1'));
  });

  it('fails clearly, leaving nothing behind, for a point in time no backup and archive reach', async () => {
    const future = new Date(Date.now() + 3600_000).toISOString();
    await expect(db.restore(target, { restoreId: 'restore-future', backupId: 'base-1', pointInTime: future })).rejects.toEqual(failure(RESTORE_TARGET_UNREACHABLE, /in the future/));
    const early = new Date(Date.parse(base.consistentAt) - 60_000).toISOString();
    await expect(db.restore(target, { restoreId: 'restore-early', backupId: 'base-1', pointInTime: early })).rejects.toEqual(failure(RESTORE_TARGET_UNREACHABLE, /before backup base-1 is consistent/));
    await expect(db.restore(target, { restoreId: 'restore-none', backupId: 'no-such-backup', pointInTime: null })).rejects.toEqual(failure(ErrorType.InfrastructureMismatch, /no backup no-such-backup/));
    expect((await databaseNames()).filter((n) => n.includes('_r_'))).toEqual([]);
    expect(readdirSync(target.scratchDir)).toEqual([]);
  });

  it('restores to the latest instant of the reachable range: the data as it is now, damage included', async () => {
    const { pointInTime } = await db.inventory(target);
    const copy = await db.restore(target, { restoreId: 'restore-latest', backupId: 'base-1', pointInTime: pointInTime!.latest });
    // While the live cluster answers, the range reaches now; the copy holds the last commit before it.
    expect(Date.parse(pointInTime!.latest)).toBeGreaterThan(Date.now() - 5_000);
    expect(Date.parse(copy.lastCommitAt!)).toBeLessThanOrEqual(Date.parse(pointInTime!.latest));
    expect(await orderIds(copy.name)).toEqual(range(51, 200));
    expect(await hasTable(copy.name, 'customers')).toBe(false);
    await db.dropCopy(target, 'restore-latest');
  });

  it('stops a cancelled restore, its scratch cluster included, leaving nothing behind', async () => {
    const controller = new AbortController();
    const restoring = withAbortSignal(controller.signal, () => db.restore(target, { restoreId: 'restore-cancelled', backupId: 'base-1', pointInTime: null }));
    const outcome = restoring.then(
      () => 'finished',
      (err: Error) => err.message,
    );
    await until('the restore to build its scratch cluster', async () => (existsSync(target.scratchDir) ? readdirSync(target.scratchDir) : []), (d) => d.length > 0, 20_000);
    controller.abort();
    expect(await outcome).toMatch(/cancelled/);
    expect(readdirSync(target.scratchDir)).toEqual([]);
    expect(await databaseNames()).not.toContain(copyName('orders_test', 'restore-cancelled'));
    expect((await sql('postgres', 'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', ['baton']))[0]).toEqual({ n: 0 });
  });

  it('stops and removes a scratch cluster that a killed worker left behind', async () => {
    const hash = copyName('orders_test', 'restore-orphaned').split('_r_')[1];
    const orphan = await startPostgres({ dir: join(target.scratchDir, `r-${hash}`) }); // what a scratch cluster looks like on disk
    try {
      await db.dropCopy(target, 'restore-orphaned');
      await until('the orphaned cluster to stop', async () => orphan.process.child.exitCode ?? orphan.process.child.signalCode, (code) => code !== null, 10_000);
      expect(readdirSync(target.scratchDir)).toEqual([]);
    } finally {
      await orphan.stop();
    }
  });

  it('restores a base backup as taken, matching its manifest', async () => {
    const copy = await db.restore(target, { restoreId: 'restore-as-taken', backupId: 'base-1', pointInTime: null });
    expect(await orderIds(copy.name)).toEqual(range(1, 100));
    const results = await db.verify(target, 'restore-as-taken', { manifest: base.manifest, assertions: [] });
    expect(results).toEqual([
      expect.objectContaining({ kind: 'amcheck', ok: true }),
      { name: 'manifest', kind: 'manifest', ok: true, detail: '2 critical tables match the manifest: orders 100 rows, customers 10 rows' },
    ]);
    expect(await db.verifyBackup(target, 'base-1')).toEqual({ name: 'backup', kind: 'backup', ok: true, detail: expect.stringContaining('backup successfully verified') });
    await db.dropCopy(target, 'restore-as-taken');
  });

  it('restores a logical backup checked against its manifest; a doctored manifest fails naming the table', async () => {
    // What a crashed attempt leaves behind is redone: a backup directory without backup.json, a copy without its tag.
    mkdirSync(join(target.backupDir, 'dump-1'));
    writeFileSync(join(target.backupDir, 'dump-1', 'dump.pgdump'), 'half');
    await sql('postgres', `CREATE DATABASE ${copyName('orders_test', 'restore-dump')}`);

    const dump = await db.backup(target, { backupId: 'dump-1', kind: 'logical', critical: ['orders'], takenBy: 'test' });
    expect(dump).toMatchObject({ kind: 'logical', replayable: false, verified: { ok: true }, manifest: { orders: { rows: 150 } } });
    expect(await db.verifyBackup(target, 'dump-1')).toMatchObject({ ok: true, detail: expect.stringContaining('pg_restore -l reads the dump') });
    await expect(db.restore(target, { restoreId: 'restore-dump-pitr', backupId: 'dump-1', pointInTime: between })).rejects.toEqual(failure(RESTORE_TARGET_UNREACHABLE, /logical dump/));

    const copy = await db.restore(target, { restoreId: 'restore-dump', backupId: 'dump-1', pointInTime: null });
    expect(copy.lastCommitAt).toBe(dump.consistentAt);
    expect(await orderIds(copy.name)).toEqual(range(51, 200));
    const manifest = dump.manifest!;
    expect(await db.verify(target, 'restore-dump', { manifest, assertions: [] })).toEqual([
      expect.objectContaining({ kind: 'amcheck', ok: true }),
      { name: 'manifest', kind: 'manifest', ok: true, detail: '1 critical tables match the manifest: orders 150 rows' },
    ]);
    const fewer = await db.verify(target, 'restore-dump', { manifest: { orders: { rows: 120, checksum: manifest.orders.checksum } }, assertions: [] });
    expect(fewer[1]).toEqual({ name: 'manifest', kind: 'manifest', ok: false, detail: 'orders: 150 rows, manifest says 120' });
    const altered = await db.verify(target, 'restore-dump', { manifest: { orders: { rows: 150, checksum: '0'.repeat(32) } }, assertions: [] });
    expect(altered[1]).toMatchObject({ ok: false, detail: expect.stringMatching(/^orders: checksum [0-9a-f]{32} differs from the manifest's 0{32}/) });
    const missing = await db.verify(target, 'restore-dump', { manifest: { ...manifest, customers: { rows: 10, checksum: null } }, assertions: [] });
    expect(missing[1]).toMatchObject({ ok: false, detail: 'customers: missing from the copy, manifest says 10 rows' });
  });

  it('drops a set-aside original after the switch, and refuses a database no restore set aside', async () => {
    await db.switchTo(target, 'restore-dump', 'orders_test_old');
    await expect(db.dropSetAside(target, 'postgres')).rejects.toEqual(failure(ErrorType.InvalidTransition, /not a database a restore set aside/));
    await db.dropSetAside(target, 'orders_test_old');
    await db.dropSetAside(target, 'orders_test_old');
    expect(await databaseNames()).toEqual(['orders_test', 'postgres', 'template0', 'template1']);
    expect(await db.serving(target, 'restore-dump')).toEqual({ serving: 'restored', setAside: null, detail: 'orders_test is the copy restored by restore-dump; no original is kept' });
  });
});
