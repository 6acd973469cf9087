// Self-managed PostgreSQL behind the DatabaseProvider interface: base backups (pg_basebackup,
// WAL from the live cluster's archive) and logical dumps (pg_dump), point-in-time restores into a
// scratch cluster, and a switch by renaming databases in the live cluster.
//
// Invariants:
// - Never written over: a restore builds a new database (the copy, `<database>_r_<hash>`) beside
//   the original; only switchTo/switchBack rename, and both do all their renames in ONE
//   transaction, so a crash leaves either the before or the after, never half of it.
// - Safe to repeat: backups are keyed by backupId (`backup.json` is written last, so a directory
//   without it is half-made and redone), restores by restoreId (the copy's COMMENT is a tag written
//   last, naming the restore and its answer), and the switches converge from what exists (which
//   database names exist and the tags on them), not from what they were told.
// - Bounded: every query has a statement and client timeout, every binary a deadline, and errors
//   name the database and the step. The password comes from the options only and never appears in
//   a returned value (urls carry no credentials).
// - Point-in-time restores replay the archive in a scratch cluster that listens on a private Unix
//   socket only (no TCP) and is removed when done; its database is dumped from there and restored
//   into the live cluster as the copy.
// - Instants: a base backup's consistentAt is the server's clock read just after pg_basebackup
//   returned (so every commit it holds is earlier, and any target at or after it is past the
//   consistent point); its manifest is read from a test restore to that consistent point
//   (recovery_target=immediate), exactly what a restore of it "as taken" holds. The reachable
//   range runs from the oldest verified base backup whose WAL is archived without a gap to the
//   newest commit in the archive (pg_waldump). Recovery to a time stops at the first commit after
//   it, so a restore whose target has no later commit archived yet commits an empty transaction
//   on the live cluster and switches WAL first.
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client, escapeIdentifier, escapeLiteral } from 'pg';
import type {
  BackupInfo,
  BackupKind,
  BackupManifest,
  DatabaseTarget,
  Inventory,
  PostgresTarget,
  RestoredCopy,
  RestoreRequest,
  SwitchState,
  TableFacts,
  VerificationResult,
  VerifySpec,
} from '../domain/database';
import { ErrorType } from '../domain/errors';
import {
  checkSocketPath,
  chownTo,
  defaultPgOsUser,
  ensureOwnedDir,
  runPg,
  shellQuote,
  spawnPostgres,
  stopPostgres,
  type PgTools,
} from '../local/postgres';
import type { Managed } from '../local/processes';
import { currentAbortSignal } from './aws';
import type { DatabaseProvider } from './database';

/**
 * The point in time asked for cannot be reached from this backup and the archived WAL (before
 * the backup is consistent, after the last archived commit, or the archive ends first). No retry
 * changes that: activities should fail it as non-retryable.
 */
export const RESTORE_TARGET_UNREACHABLE = ErrorType.RestoreTargetUnreachable;

export interface PostgresTimeouts {
  /** Opening a session. */
  connectMs: number;
  /** One statement on a live or scratch cluster (DDL, catalog reads, the switch). */
  queryMs: number;
  /** One long step: pg_basebackup, pg_dump, pg_restore, pg_amcheck, copying a data directory, a manifest's table scans. */
  longMs: number;
  /** A scratch cluster replaying the archive to its target. */
  recoveryMs: number;
  /** A WAL segment reaching the archive. */
  archiveMs: number;
}

const DEFAULT_TIMEOUTS: PostgresTimeouts = {
  connectMs: 10_000,
  queryMs: 60_000,
  longMs: 4 * 3600_000,
  recoveryMs: 4 * 3600_000,
  archiveMs: 120_000,
};

export interface PostgresDatabasesOptions {
  /** PostgreSQL's binaries (pg_basebackup, pg_dump, postgres, ...), the same major version as the servers. */
  binDir: string;
  /** The OS user the binaries run as; default: `postgres` when we are root (postgres refuses root), else ourselves. null: ourselves. */
  osUser?: string | null;
  /** The database user's password (config reads it from the environment); none for trust or .pgpass. */
  password?: string;
  timeouts?: Partial<PostgresTimeouts>;
  /** Echo scratch clusters' server output. */
  echo?: boolean;
}

// ------------------------------------------------------------------------------------ names

/** A short, stable hash of an id: names the copy and the scratch directory. */
function shortHash(id: string): string {
  return createHash('sha256').update(id).digest('hex').slice(0, 10);
}

/** The copy a restore makes: `<database>_r_<hash of restoreId>`, at most 63 bytes (PostgreSQL's identifier limit). */
export function copyName(database: string, restoreId: string): string {
  const suffix = `_r_${shortHash(restoreId)}`;
  let base = database;
  while (Buffer.byteLength(base + suffix) > 63) base = base.slice(0, -1);
  return base + suffix;
}

/** A backup's directory under backupDir: the id where it is a safe file name, else a sanitised form plus a hash. */
export function backupDirName(backupId: string): string {
  const safe = backupId.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_').slice(0, 80);
  return safe === backupId ? safe : `${safe}-${shortHash(backupId)}`;
}

// ------------------------------------------------------------------------------------ errors

function typed(name: string, message: string): Error {
  const err = new Error(message);
  err.name = name;
  return err;
}

const mismatch = (message: string) => typed(ErrorType.InfrastructureMismatch, message);
const refused = (message: string) => typed(ErrorType.InvalidTransition, message);
const unreachable = (message: string) => typed(RESTORE_TARGET_UNREACHABLE, message);

/** Prefixes an error's message with the step it happened in, keeping its name and SQLSTATE. */
function inStep(step: string, err: unknown): Error {
  const e = err as Error & { code?: string };
  if (e instanceof Error && e.message.startsWith(step)) return e;
  const wrapped = new Error(`${step}: ${e?.message ?? String(err)}`, { cause: err }) as Error & { code?: string };
  if (e?.name && e.name !== 'Error' && e.name !== 'error') wrapped.name = e.name;
  if (e?.code) wrapped.code = e.code;
  return wrapped;
}

// ------------------------------------------------------------------------------------ time

/** A PostgreSQL timestamp text in UTC with microseconds ('YYYY-MM-DD HH:MM:SS.ffffff') → ISO-8601, rounded UP to the millisecond. */
function isoCeil(text: string): string {
  const m = /^(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?/.exec(text.trim());
  if (!m) throw new Error(`cannot read the timestamp '${text}'`);
  const micros = Number((m[7] ?? '').padEnd(6, '0'));
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) + Math.ceil(micros / 1000);
  return new Date(ms).toISOString();
}

/** An ISO-8601 instant as recovery_target_time reads it ('2024-05-01 12:00:00.123+00': it refuses a trailing 'Z'). */
function pgTimestamp(iso: string): string {
  return `${new Date(iso).toISOString().replace('T', ' ').replace('Z', '')}+00`;
}

/** SQL rendering a timestamptz as UTC text with microseconds, for isoCeil. */
const utcText = (expr: string) => `to_char((${expr}) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Stops a wait when the activity running it is cancelled (the signal of the caller's withAbortSignal, if any). */
function throwIfCancelled(step: string): void {
  if (currentAbortSignal()?.aborted) throw new Error(`${step}: cancelled`);
}

// ------------------------------------------------------------------------------------ WAL

/** '0/C00028' → a byte position. */
function parseLsn(lsn: string): bigint {
  const [hi, lo] = lsn.split('/');
  return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
}

interface Segment {
  timeline: number;
  segno: bigint;
  name: string;
}

function segmentName(timeline: number, segno: bigint, segBytes: number): string {
  const perId = 0x100000000n / BigInt(segBytes);
  const hex = (n: bigint | number, width = 8) => n.toString(16).toUpperCase().padStart(width, '0');
  return hex(timeline) + hex(segno / perId) + hex(segno % perId);
}

function parseSegment(name: string, segBytes: number): Segment | null {
  const m = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$/.exec(name);
  if (!m) return null;
  const perId = 0x100000000n / BigInt(segBytes);
  return { timeline: parseInt(m[1], 16), segno: BigInt(`0x${m[2]}`) * perId + BigInt(`0x${m[3]}`), name };
}

/** The archive's segments on its newest timeline, and the contiguous run that ends with the newest one. */
interface ArchiveView {
  timeline: number;
  segBytes: number;
  /** Oldest to newest, contiguous (no gap), ending with the newest archived segment. */
  run: Segment[];
}

// ------------------------------------------------------------------------------------ records

/** What backup.json holds: the BackupInfo the interface returns, plus what a restore needs. */
interface BackupRecord extends BackupInfo {
  postgres: {
    database: string;
    /** 'data' (a base backup's data directory) or 'dump.pgdump' (a logical dump), relative to the backup's directory. */
    path: string;
    serverVersion: number;
    systemIdentifier: string | null;
    /** Base backups: the WAL the backup needs, from backup_manifest. */
    wal: { timeline: number; startLsn: string; endLsn: string; segBytes: number } | null;
    /** Logical backups: the database's own properties at the snapshot (base backups carry them in their data). */
    props: DbProps | null;
  };
}

function publicInfo(r: BackupRecord): BackupInfo {
  return {
    id: r.id,
    kind: r.kind,
    consistentAt: r.consistentAt,
    replayable: r.replayable,
    sizeBytes: r.sizeBytes,
    manifest: r.manifest,
    verified: r.verified,
    takenBy: r.takenBy,
  };
}

/** The tag (COMMENT ON DATABASE) a finished copy carries: it names the restore and holds its answer. */
interface CopyTag {
  baton: 'restored-copy';
  restoreId: string;
  backupId: string;
  pointInTime: string | null;
  lastCommitAt: string | null;
}

/** The tag the original carries while set aside; its own comment is kept to be put back. */
interface SetAsideTag {
  baton: 'set-aside';
  restoreId: string;
  previousComment: string | null;
}

type Tag = CopyTag | SetAsideTag;

function parseTag(comment: string | null): Tag | null {
  if (!comment || !comment.startsWith('{')) return null;
  try {
    const t = JSON.parse(comment) as Tag;
    return t && (t.baton === 'restored-copy' || t.baton === 'set-aside') && typeof t.restoreId === 'string' ? t : null;
  } catch {
    return null;
  }
}

/** A database's own properties: what CREATE DATABASE, GRANT ... ON DATABASE and ALTER DATABASE SET give it (pg_restore without --create does not). */
interface DbProps {
  encoding: string;
  collate: string;
  ctype: string;
  /** PostgreSQL 15+: 'c' (libc) or 'i' (ICU). */
  localeProvider: string | null;
  icuLocale: string | null;
  owner: string;
  /** null: the default privileges. */
  grants: { grantee: string | null; privilege: string; grantable: boolean }[] | null;
  /** pg_db_role_setting entries for the database and every role: 'name=value'. */
  settings: string[];
}

// ------------------------------------------------------------------------------------ the provider

export function createPostgresDatabases(opts: PostgresDatabasesOptions): DatabaseProvider {
  const tools: PgTools = { binDir: opts.binDir, osUser: opts.osUser === undefined ? defaultPgOsUser() : opts.osUser };
  const timeouts: PostgresTimeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
  const toolEnv: NodeJS.ProcessEnv = { ...process.env, TZ: 'UTC', PGCONNECT_TIMEOUT: String(Math.ceil(timeouts.connectMs / 1000)) };
  if (opts.password !== undefined) toolEnv.PGPASSWORD = opts.password;

  /** One run of an id at a time in this worker: a retried activity waits for the attempt still running instead of racing it. */
  const inflight = new Map<string, Promise<unknown>>();
  function single<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const running = inflight.get(key) as Promise<T> | undefined;
    if (running) return running;
    const p = fn().finally(() => inflight.delete(key));
    inflight.set(key, p);
    return p;
  }

  function pgTarget(target: DatabaseTarget): PostgresTarget {
    if (target.kind !== 'postgres') throw mismatch(`the PostgreSQL database provider cannot handle a '${target.kind}' target`);
    return target;
  }

  // ------------------------------------------------------------ sessions

  interface Endpoint {
    host: string;
    port: number;
    user: string;
  }

  async function withClient<T>(at: Endpoint, database: string, step: string, fn: (c: Client) => Promise<T>, queryMs = timeouts.queryMs): Promise<T> {
    const client = new Client({
      host: at.host,
      port: at.port,
      user: at.user,
      database,
      password: at.host.startsWith('/') ? undefined : opts.password,
      connectionTimeoutMillis: timeouts.connectMs,
      statement_timeout: queryMs,
      query_timeout: queryMs + 5_000,
      application_name: 'baton',
    });
    client.on('error', () => undefined); // a server that goes away mid-session surfaces in the query that fails
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => undefined);
      throw inStep(`${step}: connecting to database ${database} on ${at.host}:${at.port} as ${at.user}`, err);
    }
    try {
      return await fn(client);
    } catch (err) {
      throw inStep(step, err);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** A session on the cluster's maintenance database ('postgres', or template1 where it was dropped). */
  async function withAdmin<T>(at: Endpoint, step: string, fn: (c: Client) => Promise<T>): Promise<T> {
    try {
      return await withClient(at, 'postgres', step, fn);
    } catch (err) {
      if ((err as { code?: string }).code !== '3D000') throw err;
      return withClient(at, 'template1', step, fn);
    }
  }

  /** A PostgreSQL binary under the caller's cancellation: a cancelled activity stops it. */
  const tool = (name: string, args: string[], o: { step: string; timeoutMs: number; allowFailure?: boolean }) =>
    runPg(tools, name, args, { ...o, env: toolEnv, signal: currentAbortSignal() });

  const connArgs = (at: Endpoint) => ['-h', at.host, '-p', String(at.port), '-U', at.user, '-w'];

  // ------------------------------------------------------------ the archive

  async function readArchive(t: PostgresTarget): Promise<ArchiveView | null> {
    let names: string[];
    try {
      names = await readdir(t.walArchiveDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw inStep(`reading the WAL archive ${t.walArchiveDir}`, err);
    }
    const walNames = names.filter((n) => /^[0-9A-F]{24}$/.test(n)).sort();
    if (walNames.length === 0) return null;
    const segBytes = (await stat(join(t.walArchiveDir, walNames[walNames.length - 1]))).size;
    if (segBytes < 1 << 20 || (segBytes & (segBytes - 1)) !== 0) throw new Error(`the WAL archive ${t.walArchiveDir} holds a segment of ${segBytes} bytes: not a WAL segment`);
    const segments = walNames.map((n) => parseSegment(n, segBytes)).filter((s): s is Segment => s !== null);
    const timeline = Math.max(...segments.map((s) => s.timeline));
    const onTimeline = segments.filter((s) => s.timeline === timeline).sort((a, b) => (a.segno < b.segno ? -1 : 1));
    const run = [onTimeline[onTimeline.length - 1]];
    for (let i = onTimeline.length - 2; i >= 0 && onTimeline[i].segno === run[0].segno - 1n; i--) run.unshift(onTimeline[i]);
    return { timeline, segBytes, run };
  }

  /** The newest commit time in the archived WAL (pg_waldump on the newest segments, newest first), rounded up to the millisecond; null if none. */
  async function lastArchivedCommit(t: PostgresTarget, view: ArchiveView, maxSegments = 64): Promise<string | null> {
    const segments = view.run.slice(-maxSegments).reverse();
    for (const seg of segments) {
      // pg_waldump stops with an error at the end of the valid WAL (a switched segment's zeroed tail): read what it printed.
      const out = await tool('pg_waldump', ['--rmgr=Transaction', join(t.walArchiveDir, seg.name)], {
        step: `reading commits in WAL segment ${seg.name}`,
        timeoutMs: timeouts.queryMs,
        allowFailure: true,
      });
      let last: string | null = null;
      for (const m of out.stdout.matchAll(/desc: COMMIT\S*\D*?(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) UTC/g)) {
        const at = isoCeil(m[1]);
        if (last === null || at > last) last = at;
      }
      if (last) return last;
    }
    return null;
  }

  async function waitForArchived(t: PostgresTarget, segment: string, step: string): Promise<void> {
    const deadline = Date.now() + timeouts.archiveMs;
    while (!existsSync(join(t.walArchiveDir, segment))) {
      throwIfCancelled(step);
      if (Date.now() > deadline) {
        const why = await withAdmin(t, step, (c) => c.query(`SELECT last_failed_wal, last_failed_time::text FROM pg_stat_archiver`)).catch(() => null);
        const failed = why?.rows[0]?.last_failed_wal ? ` (pg_stat_archiver: last failed ${why.rows[0].last_failed_wal} at ${why.rows[0].last_failed_time})` : '';
        throw new Error(`${step}: WAL segment ${segment} did not reach the archive ${t.walArchiveDir} within ${timeouts.archiveMs / 1000} s${failed}; is archive_command working?`);
      }
      await sleep(100);
    }
  }

  /**
   * Recovery to a time stops at the first commit after it, so the archive must hold one: when it
   * does not yet, commit an empty transaction on the live cluster (after `at`), switch WAL
   * segments and wait for the archive.
   */
  async function ensureCommitAfter(t: PostgresTarget, at: string): Promise<void> {
    const view = await readArchive(t);
    const last = view ? await lastArchivedCommit(t, view) : null;
    if (last !== null && last > at) return;
    const step = `making the WAL after ${at} reach the archive for ${t.database}`;
    const segment = await withAdmin(t, step, async (c) => {
      for (let waited = 0; ; waited += 50) {
        const { rows } = await c.query(
          `SELECT clock_timestamp() > $1::timestamptz AS past, $1::timestamptz - clock_timestamp() > interval '2 seconds' AS far, ${utcText('clock_timestamp()')} AS now`,
          [at],
        );
        if (rows[0].past) break;
        throwIfCancelled(step);
        if (rows[0].far || waited >= 2000) throw unreachable(`pointInTime ${at} is in the future (the server's clock reads ${isoCeil(rows[0].now)})`);
        await sleep(50);
      }
      await c.query('SELECT pg_current_xact_id()'); // an xid makes its commit write a commit record, timed now
      const { rows } = await c.query('SELECT pg_walfile_name(pg_current_wal_lsn()) AS segment');
      await c.query('SELECT pg_switch_wal()');
      return rows[0].segment as string;
    });
    await waitForArchived(t, segment, step);
  }

  // ------------------------------------------------------------ backups on disk

  const backupPath = (t: PostgresTarget, backupId: string) => join(t.backupDir, backupDirName(backupId));

  async function readRecord(t: PostgresTarget, backupId: string): Promise<BackupRecord | null> {
    try {
      const record = JSON.parse(await readFile(join(backupPath(t, backupId), 'backup.json'), 'utf8')) as BackupRecord;
      return record.id === backupId ? record : null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw inStep(`reading backup ${backupId} of ${t.database}`, err);
    }
  }

  async function listRecords(t: PostgresTarget): Promise<BackupRecord[]> {
    let dirs: string[];
    try {
      dirs = await readdir(t.backupDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw inStep(`listing backups in ${t.backupDir}`, err);
    }
    const records: BackupRecord[] = [];
    for (const d of dirs) {
      try {
        const r = JSON.parse(await readFile(join(t.backupDir, d, 'backup.json'), 'utf8')) as BackupRecord;
        if (r.postgres?.database === t.database) records.push(r);
      } catch {
        /* no backup.json: half-made or not a backup */
      }
    }
    return records.sort((a, b) => a.consistentAt.localeCompare(b.consistentAt));
  }

  async function writeRecord(dir: string, record: BackupRecord): Promise<void> {
    const tmp = join(dir, 'backup.json.tmp');
    await writeFile(tmp, JSON.stringify(record, null, 2));
    await rename(tmp, join(dir, 'backup.json'));
  }

  async function sizeOf(path: string): Promise<number> {
    const s = await stat(path);
    if (!s.isDirectory()) return s.size;
    let total = 0;
    for (const entry of await readdir(path)) total += await sizeOf(join(path, entry));
    return total;
  }

  // ------------------------------------------------------------ manifest facts

  /** Output formats pinned so a row's text, and so its checksum, is the same in every session. */
  async function pinFormats(c: Client): Promise<void> {
    await c.query(`SET TimeZone TO 'UTC'; SET DateStyle TO 'ISO, YMD'; SET IntervalStyle TO 'postgres'; SET extra_float_digits TO 1; SET bytea_output TO 'hex'; SET lc_monetary TO 'C'`);
  }

  /** Row count and checksum (md5 over the rows' md5s in sorted order) of one table; null when it does not exist. */
  async function tableFacts(c: Client, table: string): Promise<TableFacts | null> {
    const { rows } = await c.query('SELECT to_regclass($1)::text AS rel', [table]);
    const rel = rows[0].rel as string | null;
    if (!rel) return null;
    const facts = await c.query(
      `SELECT count(*)::text AS rows, md5(coalesce(string_agg(md5(t::text), '' ORDER BY md5(t::text)), '')) AS checksum FROM ${rel} AS t`,
    );
    return { rows: Number(facts.rows[0].rows), checksum: facts.rows[0].checksum as string };
  }

  async function manifestOf(c: Client, database: string, critical: string[]): Promise<BackupManifest | null> {
    if (critical.length === 0) return null;
    await pinFormats(c);
    const manifest: BackupManifest = {};
    for (const table of critical) {
      const facts = await tableFacts(c, table);
      if (!facts) throw mismatch(`critical table ${table} does not exist in database ${database}`);
      manifest[table] = facts;
    }
    return manifest;
  }

  // ------------------------------------------------------------ database properties

  async function readDbProps(c: Client, database: string): Promise<DbProps | null> {
    const { rows } = await c.query(
      `SELECT pg_encoding_to_char(d.encoding) AS encoding, d.datcollate AS collate, d.datctype AS ctype,
              to_jsonb(d)->>'datlocprovider' AS provider, to_jsonb(d)->>'daticulocale' AS icu,
              pg_get_userbyid(d.datdba) AS owner,
              CASE WHEN d.datacl IS NULL THEN NULL ELSE coalesce((
                SELECT json_agg(json_build_object('grantee', CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END,
                                                  'privilege', a.privilege_type, 'grantable', a.is_grantable))
                FROM aclexplode(d.datacl) a WHERE a.grantee <> d.datdba), '[]'::json) END AS grants,
              coalesce((SELECT array_agg(CASE WHEN s.setrole = 0 THEN '' ELSE pg_get_userbyid(s.setrole) END || E'\\t' || x)
                        FROM pg_db_role_setting s, unnest(s.setconfig) x WHERE s.setdatabase = d.oid), '{}') AS settings
       FROM pg_database d WHERE d.datname = $1`,
      [database],
    );
    if (rows.length === 0) return null;
    const r = rows[0];
    return {
      encoding: r.encoding,
      collate: r.collate,
      ctype: r.ctype,
      localeProvider: r.provider ?? null,
      icuLocale: r.icu ?? null,
      owner: r.owner,
      grants: r.grants,
      settings: r.settings,
    };
  }

  /** GUCs whose values are lists: their stored text is already SQL list syntax and must not be quoted as one string. */
  const LIST_SETTINGS = new Set(['search_path', 'temp_tablespaces', 'session_preload_libraries', 'local_preload_libraries']);

  async function createDatabase(c: Client, name: string, props: DbProps): Promise<void> {
    const { rows } = await c.query(`SELECT rolsuper FROM pg_roles WHERE rolname = current_user`);
    const superuser = rows[0]?.rolsuper === true;
    const ownerExists = (await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [props.owner])).rowCount === 1;
    let sql = `CREATE DATABASE ${escapeIdentifier(name)} WITH TEMPLATE template0 ENCODING ${escapeLiteral(props.encoding)} LC_COLLATE ${escapeLiteral(props.collate)} LC_CTYPE ${escapeLiteral(props.ctype)}`;
    if (props.localeProvider === 'i' && props.icuLocale) sql += ` LOCALE_PROVIDER icu ICU_LOCALE ${escapeLiteral(props.icuLocale)}`;
    if (superuser && ownerExists) sql += ` OWNER ${escapeIdentifier(props.owner)}`;
    await c.query(sql);
  }

  async function applyDbProps(c: Client, name: string, props: DbProps): Promise<void> {
    const db = escapeIdentifier(name);
    const roleExists = async (role: string) => (await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role])).rowCount === 1;
    if (props.grants) {
      await c.query(`REVOKE ALL ON DATABASE ${db} FROM PUBLIC`);
      for (const g of props.grants) {
        if (g.grantee !== null && !(await roleExists(g.grantee))) continue;
        const who = g.grantee === null ? 'PUBLIC' : escapeIdentifier(g.grantee);
        await c.query(`GRANT ${g.privilege} ON DATABASE ${db} TO ${who}${g.grantable ? ' WITH GRANT OPTION' : ''}`);
      }
    }
    for (const entry of props.settings) {
      const [role, setting] = entry.split('\t');
      const eq = setting.indexOf('=');
      const key = setting.slice(0, eq);
      const value = setting.slice(eq + 1);
      if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(key)) continue;
      if (role && !(await roleExists(role))) continue;
      const rendered = LIST_SETTINGS.has(key.toLowerCase()) ? value : escapeLiteral(value);
      await c.query(`ALTER ${role ? `ROLE ${escapeIdentifier(role)} IN ` : ''}DATABASE ${db} SET ${key} = ${rendered}`);
    }
  }

  // ------------------------------------------------------------ scratch clusters

  interface Scratch {
    at: Endpoint;
    dir: string;
    process: Managed;
  }

  const SCRATCH_PORT = 5432; // no TCP: the port only names the socket, in a directory of its own

  /**
   * Removes a scratch directory, first stopping a cluster still running in it: one a worker that
   * was killed left behind (its postmaster.pid names it).
   */
  async function removeScratch(dir: string): Promise<void> {
    const pidFile = join(dir, 'data', 'postmaster.pid');
    const pid = existsSync(pidFile) ? Number((await readFile(pidFile, 'utf8')).split('\n')[0]) : NaN;
    if (Number.isInteger(pid) && pid > 0) {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (cmdline.includes('postgres') && cmdline.includes(join(dir, 'data'))) {
        try {
          process.kill(pid, 'SIGQUIT'); // immediate shutdown: the postmaster stops its backends
        } catch {
          /* gone meanwhile */
        }
        for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) await sleep(50);
      }
    }
    await rm(dir, { recursive: true, force: true });
  }

  /** Settings a hot standby needs at least as high as the primary had them (pg_controldata of the backup). */
  async function standbyMinimums(dataDir: string): Promise<Record<string, string>> {
    const out = await tool('pg_controldata', [dataDir], { step: 'reading the backup\'s control file', timeoutMs: timeouts.queryMs });
    const read = (label: string) => Number(new RegExp(`^${label} setting:\\s+(\\d+)`, 'm').exec(out.stdout)?.[1] ?? NaN);
    const settings: Record<string, string> = {};
    const pairs: [string, string, number][] = [
      ['max_connections', 'max_connections', 100],
      ['max_worker_processes', 'max_worker_processes', 8],
      ['max_wal_senders', 'max_wal_senders', 10],
      ['max_prepared_xacts', 'max_prepared_transactions', 0],
      ['max_locks_per_xact', 'max_locks_per_transaction', 64],
    ];
    for (const [label, guc, fallback] of pairs) {
      const v = read(label);
      settings[guc] = String(Number.isFinite(v) ? Math.max(v, fallback) : fallback);
    }
    return settings;
  }

  /**
   * Copies a base backup into dir/data and replays the archive in a private cluster until it is
   * paused at the target ('immediate': the backup's consistent point). Fails with
   * RESTORE_TARGET_UNREACHABLE when recovery ends before the target. The caller stops it.
   */
  async function recoverInScratch(t: PostgresTarget, record: BackupRecord, dir: string, recoveryTarget: { time: string } | 'immediate', what: string): Promise<Scratch> {
    const step = `${what}: recovering backup ${record.id} of ${t.database} in ${dir}`;
    const dataDir = join(dir, 'data');
    const socketDir = join(dir, 'socket');
    checkSocketPath(socketDir, SCRATCH_PORT);
    await removeScratch(dir);
    await ensureOwnedDir(dir, tools.osUser, 0o700);
    await ensureOwnedDir(socketDir, tools.osUser, 0o700);
    await new Promise<void>((ok, fail) =>
      execFile('cp', ['-a', join(backupPath(t, record.id), record.postgres.path), dataDir], { timeout: timeouts.longMs, signal: currentAbortSignal() }, (err) =>
        err ? fail(inStep(`${step}: copying the backup's data directory`, err)) : ok(),
      ),
    );
    await ensureOwnedDir(dataDir, tools.osUser, 0o700);
    const files: [string, string][] = [
      [join(dataDir, 'recovery.signal'), ''],
      [join(dir, 'pg_hba.conf'), 'local all all trust\n'],
      [join(dir, 'pg_ident.conf'), ''],
    ];
    if (!existsSync(join(dataDir, 'postgresql.conf'))) files.push([join(dataDir, 'postgresql.conf'), '']); // a cluster configured from /etc
    for (const [path, text] of files) {
      await writeFile(path, text, { mode: 0o600 });
      await chownTo(path, tools.osUser);
    }
    const target: Record<string, string> =
      recoveryTarget === 'immediate' ? { recovery_target: 'immediate' } : { recovery_target_time: pgTimestamp(recoveryTarget.time), recovery_target_inclusive: 'true' };
    const proc = spawnPostgres(
      tools,
      `postgres-scratch ${what}`,
      dataDir,
      {
        ...(await standbyMinimums(dataDir)),
        port: String(SCRATCH_PORT),
        listen_addresses: '',
        unix_socket_directories: socketDir,
        unix_socket_permissions: '0700',
        hba_file: join(dir, 'pg_hba.conf'),
        ident_file: join(dir, 'pg_ident.conf'),
        archive_mode: 'off',
        restore_command: `cp ${shellQuote(t.walArchiveDir)}/%f %p`,
        recovery_target_timeline: 'current',
        recovery_target_action: 'pause',
        ...target,
        hot_standby: 'on',
        primary_conninfo: '',
        primary_slot_name: '',
        shared_buffers: '128MB',
        ssl: 'off',
        logging_collector: 'off',
        log_destination: 'stderr',
        cluster_name: 'baton-scratch',
      },
      opts.echo,
    );
    const scratch: Scratch = { at: { host: socketDir, port: SCRATCH_PORT, user: t.user }, dir, process: proc };
    try {
      await waitForPause(scratch, step, recoveryTarget === 'immediate' ? 'its consistent point' : recoveryTarget.time);
    } catch (err) {
      await stopPostgres(proc, 'immediate');
      throw err;
    }
    return scratch;
  }

  async function waitForPause(s: Scratch, step: string, targetText: string): Promise<void> {
    const deadline = Date.now() + timeouts.recoveryMs;
    let last = '';
    for (;;) {
      throwIfCancelled(step);
      const { child } = s.process;
      if (child.exitCode !== null || child.signalCode !== null) {
        const out = s.process.output();
        if (/recovery ended before configured recovery target was reached|requested recovery stop point is before consistent recovery point/.test(out)) {
          throw unreachable(`${step}: the archived WAL does not reach ${targetText} (recovery ended before the target):\n${lastLines(out)}`);
        }
        throw new Error(`${step}: the scratch cluster exited during recovery (${child.exitCode ?? child.signalCode}):\n${lastLines(out)}`);
      }
      if (Date.now() > deadline) throw new Error(`${step}: recovery did not pause at ${targetText} within ${timeouts.recoveryMs / 1000} s (${last})`);
      try {
        const state = await withClient(s.at, 'template1', step, async (c) => (await c.query('SELECT pg_is_in_recovery() AS r, pg_get_wal_replay_pause_state() AS p')).rows[0], 5_000);
        if (!state.r) throw new Error(`${step}: the scratch cluster left recovery instead of pausing at ${targetText}`);
        if (state.p === 'paused') return;
        last = `replay ${state.p}`;
      } catch (err) {
        if ((err as Error).message.includes('left recovery')) throw err;
        last = (err as Error).message; // not accepting connections before it is consistent
      }
      await sleep(150);
    }
  }

  // ------------------------------------------------------------ backups

  async function takeBase(t: PostgresTarget, req: { backupId: string; critical: string[]; takenBy: string }, dir: string): Promise<BackupRecord> {
    const what = `base backup ${req.backupId} of ${t.database}`;
    const facts = await withClient(t, t.database, `${what}: checking the live cluster`, async (c) => {
      const { rows } = await c.query(
        `SELECT current_setting('server_version_num')::int AS version, current_setting('archive_mode') AS archive,
                (SELECT system_identifier::text FROM pg_control_system()) AS sysid,
                (SELECT count(*) FROM pg_tablespace WHERE spcname NOT IN ('pg_default', 'pg_global'))::int AS tablespaces`,
      );
      for (const table of req.critical) {
        if (!(await c.query('SELECT to_regclass($1) AS r', [table])).rows[0].r) throw mismatch(`${what}: critical table ${table} does not exist`);
      }
      return rows[0];
    });
    if (facts.archive === 'off') throw mismatch(`${what}: archive_mode is off on ${t.host}:${t.port}; point-in-time restores need WAL archived to ${t.walArchiveDir}`);
    if (facts.tablespaces > 0) throw mismatch(`${what}: the cluster has tablespaces outside its data directory, which this provider does not back up`);

    await tool('pg_basebackup', [...connArgs(t), '-D', join(dir, 'data'), '-Fp', '-X', 'none', '--manifest-checksums=SHA256', '-c', 'fast', '-l', `baton ${req.backupId}`.slice(0, 100)], {
      step: `${what}: pg_basebackup`,
      timeoutMs: timeouts.longMs,
    });
    // The backup ended before this instant, so every commit it holds is earlier: a target at or after it is past the consistent point.
    const consistentAt = await withAdmin(t, `${what}: reading the server's clock`, async (c) => isoCeil((await c.query(`SELECT ${utcText('clock_timestamp()')} AS now`)).rows[0].now));
    const manifestFile = JSON.parse(await readFile(join(dir, 'data', 'backup_manifest'), 'utf8')) as { 'WAL-Ranges': { Timeline: number; 'Start-LSN': string; 'End-LSN': string }[] };
    const range = manifestFile['WAL-Ranges'][manifestFile['WAL-Ranges'].length - 1];
    const segBytes = await withAdmin(t, `${what}: reading the WAL segment size`, async (c) => Number((await c.query('SELECT bytes_per_wal_segment FROM pg_control_init()')).rows[0].bytes_per_wal_segment));
    const endSegment = segmentName(range.Timeline, (parseLsn(range['End-LSN']) - 1n) / BigInt(segBytes), segBytes);
    await waitForArchived(t, endSegment, `${what}: archiving its last WAL segment`); // pg_basebackup waited for it too; this reads it back

    const record: BackupRecord = {
      id: req.backupId,
      kind: 'base',
      consistentAt,
      replayable: true,
      sizeBytes: await sizeOf(join(dir, 'data')),
      manifest: null,
      verified: { ok: false, detail: '' },
      takenBy: req.takenBy,
      postgres: {
        database: t.database,
        path: 'data',
        serverVersion: facts.version,
        systemIdentifier: facts.sysid,
        wal: { timeline: range.Timeline, startLsn: range['Start-LSN'], endLsn: range['End-LSN'], segBytes },
        props: null,
      },
    };
    const checked = await verifyBase(t, record);
    if (!checked.ok) return { ...record, verified: { ok: false, detail: checked.detail } };

    // Restoring it proves it restores, and gives the manifest exactly as a restore of it will hold the data.
    const scratchDir = join(t.scratchDir, `b-${shortHash(req.backupId)}`);
    try {
      const scratch = await recoverInScratch(t, record, scratchDir, 'immediate', `test restore of ${what}`);
      try {
        record.manifest = await withClient(scratch.at, t.database, `${what}: reading the manifest in the test restore`, (c) => manifestOf(c, t.database, req.critical), timeouts.longMs);
      } finally {
        await stopPostgres(scratch.process, 'immediate');
      }
    } finally {
      await removeScratch(scratchDir);
    }
    record.verified = { ok: true, detail: `${checked.detail}; restored to its consistent point in a scratch cluster` };
    return record;
  }

  async function takeLogical(t: PostgresTarget, req: { backupId: string; critical: string[]; takenBy: string }, dir: string): Promise<BackupRecord> {
    const what = `logical backup ${req.backupId} of ${t.database}`;
    const dump = join(dir, 'dump.pgdump');
    const record = await withClient(
      t,
      t.database,
      what,
      async (c) => {
        // One snapshot for the dump and the manifest: the transaction exporting it stays open while pg_dump runs.
        await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
        const { rows } = await c.query(`SELECT pg_export_snapshot() AS snapshot, ${utcText('clock_timestamp()')} AS at, current_setting('server_version_num')::int AS version`);
        await tool('pg_dump', [...connArgs(t), '-d', t.database, '-Fc', `--snapshot=${rows[0].snapshot}`, '-f', dump], {
          step: `${what}: pg_dump`,
          timeoutMs: timeouts.longMs,
        });
        const manifest = await manifestOf(c, t.database, req.critical);
        const props = await readDbProps(c, t.database);
        await c.query('COMMIT');
        const r: BackupRecord = {
          id: req.backupId,
          kind: 'logical',
          consistentAt: isoCeil(rows[0].at),
          replayable: false,
          sizeBytes: 0,
          manifest,
          verified: { ok: false, detail: '' },
          takenBy: req.takenBy,
          postgres: { database: t.database, path: 'dump.pgdump', serverVersion: rows[0].version, systemIdentifier: null, wal: null, props },
        };
        return r;
      },
      timeouts.longMs,
    );
    record.sizeBytes = await sizeOf(dump);
    record.verified = await verifyDump(t, record);
    return record;
  }

  async function verifyBase(t: PostgresTarget, record: BackupRecord): Promise<{ ok: boolean; detail: string }> {
    const data = join(backupPath(t, record.id), record.postgres.path);
    try {
      // -w: pg_verifybackup also parses the WAL the backup needs, from the archive a restore will read.
      const out = await tool('pg_verifybackup', ['-w', t.walArchiveDir, data], { step: `pg_verifybackup of backup ${record.id}`, timeoutMs: timeouts.longMs, allowFailure: true });
      const text = (out.stdout + out.stderr).trim().split('\n').filter(Boolean).slice(-5).join('; ');
      const wal = record.postgres.wal ? ` (WAL ${record.postgres.wal.startLsn} to ${record.postgres.wal.endLsn} read from the archive)` : '';
      return out.code === 0 ? { ok: true, detail: `pg_verifybackup: ${text}${wal}` } : { ok: false, detail: `pg_verifybackup failed: ${text}` };
    } catch (err) {
      return { ok: false, detail: `pg_verifybackup could not run: ${(err as Error).message}` };
    }
  }

  async function verifyDump(t: PostgresTarget, record: BackupRecord): Promise<{ ok: boolean; detail: string }> {
    const dump = join(backupPath(t, record.id), record.postgres.path);
    try {
      const out = await tool('pg_restore', ['-l', dump], { step: `reading the table of contents of backup ${record.id}`, timeoutMs: timeouts.longMs, allowFailure: true });
      if (out.code !== 0) return { ok: false, detail: `pg_restore -l failed: ${out.stderr.trim().split('\n').slice(-3).join('; ')}` };
      const entries = out.stdout.split('\n').filter((l) => /^\d+;/.test(l)).length;
      return { ok: true, detail: `pg_restore -l reads the dump: ${entries} entries` };
    } catch (err) {
      return { ok: false, detail: `pg_restore -l could not run: ${(err as Error).message}` };
    }
  }

  // ------------------------------------------------------------ copies and the switch

  interface DbRow {
    name: string;
    comment: string | null;
    tag: Tag | null;
  }

  async function databases(c: Client): Promise<Map<string, DbRow>> {
    const { rows } = await c.query(`SELECT datname, shobj_description(oid, 'pg_database') AS comment FROM pg_database`);
    return new Map(rows.map((r) => [r.datname as string, { name: r.datname, comment: r.comment, tag: parseTag(r.comment) }]));
  }

  const isCopyOf = (row: DbRow | undefined, restoreId: string): row is DbRow & { tag: CopyTag } =>
    row?.tag?.baton === 'restored-copy' && row.tag.restoreId === restoreId;
  const isSetAsideOf = (row: DbRow | undefined, restoreId: string): row is DbRow & { tag: SetAsideTag } =>
    row?.tag?.baton === 'set-aside' && row.tag.restoreId === restoreId;

  function copyAnswer(t: PostgresTarget, restoreId: string, tag: CopyTag): RestoredCopy {
    const name = copyName(t.database, restoreId);
    return { name, url: `postgres://${encodeURIComponent(t.user)}@${t.host}:${t.port}/${encodeURIComponent(name)}`, lastCommitAt: tag.lastCommitAt };
  }

  async function terminate(c: Client, names: string[]): Promise<void> {
    await c.query(`SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = ANY($1) AND pid <> pg_backend_pid()`, [names]);
  }

  /** Runs `statements` in one transaction after terminating the sessions on `names`; retried while a session reconnects in between. */
  async function renameAtomically(c: Client, names: string[], statements: string[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      await terminate(c, names);
      try {
        await c.query('BEGIN');
        for (const s of statements) await c.query(s);
        await c.query('COMMIT');
        return;
      } catch (err) {
        await c.query('ROLLBACK').catch(() => undefined);
        if ((err as { code?: string }).code !== '55006' || attempt >= 10) throw err; // 55006: database is being accessed by other users
        await sleep(200 * attempt);
      }
    }
  }

  function switchState(t: PostgresTarget, restoreId: string, dbs: Map<string, DbRow>): SwitchState {
    const services = dbs.get(t.database);
    const aside = [...dbs.values()].find((r) => isSetAsideOf(r, restoreId))?.name ?? null;
    if (isCopyOf(services, restoreId)) {
      return {
        serving: 'restored',
        setAside: aside,
        detail: `${t.database} is the copy restored by ${restoreId}${aside ? `; the original is kept as ${aside}` : '; no original is kept'}`,
      };
    }
    const copy = copyName(t.database, restoreId);
    const detail = services ? `${t.database} is the original` : `no database is named ${t.database}`;
    return { serving: 'original', setAside: aside, detail: `${detail}; the copy ${dbs.has(copy) ? `waits as ${copy}` : 'does not exist'}` };
  }

  async function restoreBase(t: PostgresTarget, req: RestoreRequest, record: BackupRecord, copy: string): Promise<string | null> {
    const what = `restore ${req.restoreId} of ${t.database}`;
    if (req.pointInTime !== null) {
      if (req.pointInTime < record.consistentAt) {
        throw unreachable(`${what}: pointInTime ${req.pointInTime} is before backup ${req.backupId} is consistent (${record.consistentAt})`);
      }
      await ensureCommitAfter(t, req.pointInTime);
    }
    const dir = join(t.scratchDir, `r-${shortHash(req.restoreId)}`);
    try {
      return await recoverAndLoad(t, req, record, copy, dir);
    } finally {
      await removeScratch(dir);
    }
  }

  async function recoverAndLoad(t: PostgresTarget, req: RestoreRequest, record: BackupRecord, copy: string, dir: string): Promise<string | null> {
    const what = `restore ${req.restoreId} of ${t.database}`;
    const scratch = await recoverInScratch(t, record, dir, req.pointInTime ? { time: req.pointInTime } : 'immediate', what);
    let lastCommitAt: string | null;
    let props: DbProps;
    const dump = join(dir, 'copy.pgdump');
    try {
      const found = await withClient(scratch.at, 'template1', `${what}: reading the recovered cluster`, async (c) => {
        const { rows } = await c.query(`SELECT ${utcText('pg_last_xact_replay_timestamp()')} AS last`);
        return { last: rows[0].last as string | null, props: await readDbProps(c, t.database) };
      });
      if (!found.props) throw mismatch(`${what}: database ${t.database} did not exist at ${req.pointInTime ?? record.consistentAt}`);
      props = found.props;
      lastCommitAt = found.last ? isoCeil(found.last) : record.consistentAt;
      await tool('pg_dump', [...connArgs(scratch.at), '-d', t.database, '-Fc', '-f', dump], { step: `${what}: pg_dump from the recovered cluster`, timeoutMs: timeouts.longMs });
    } finally {
      await stopPostgres(scratch.process, 'immediate');
    }
    await loadCopy(t, what, copy, props, dump);
    return lastCommitAt;
  }

  /** Creates the copy in the live cluster and restores a dump into it (one transaction), with the database's own properties. */
  async function loadCopy(t: PostgresTarget, what: string, copy: string, props: DbProps, dump: string): Promise<void> {
    const superuser = await withAdmin(t, `${what}: creating database ${copy}`, async (c) => {
      await createDatabase(c, copy, props);
      return (await c.query('SELECT rolsuper FROM pg_roles WHERE rolname = current_user')).rows[0]?.rolsuper === true;
    });
    const args = [...connArgs(t), '-d', copy, '--single-transaction', '--exit-on-error', ...(superuser ? [] : ['--no-owner']), dump];
    await tool('pg_restore', args, { step: `${what}: pg_restore into ${copy}`, timeoutMs: timeouts.longMs });
    await withAdmin(t, `${what}: giving ${copy} the original's grants and settings`, (c) => applyDbProps(c, copy, props));
  }

  async function amcheck(t: PostgresTarget, database: string): Promise<VerificationResult> {
    const name = 'amcheck';
    try {
      const had = await withClient(t, database, `amcheck on ${database}`, async (c) => (await c.query(`SELECT 1 FROM pg_extension WHERE extname = 'amcheck'`)).rowCount === 1);
      const out = await tool('pg_amcheck', [...connArgs(t), '-d', database, '--install-missing', '--heapallindexed'], {
        step: `pg_amcheck on ${database}`,
        timeoutMs: timeouts.longMs,
        allowFailure: true,
      });
      if (!had) await withClient(t, database, `removing amcheck from ${database}`, (c) => c.query('DROP EXTENSION IF EXISTS amcheck'));
      const text = (out.stdout + out.stderr).trim();
      if (out.code === 0) return { name, kind: 'amcheck', ok: true, detail: `pg_amcheck --heapallindexed found no corruption in the tables and btree indexes of ${database}` };
      const first = text.split('\n').filter(Boolean).slice(0, 3).join('; ');
      return { name, kind: 'amcheck', ok: false, detail: out.code === 2 ? `pg_amcheck found corruption in ${database}: ${first}` : `pg_amcheck could not check ${database}: ${first}` };
    } catch (err) {
      return { name, kind: 'amcheck', ok: false, detail: `amcheck could not run: ${(err as Error).message}` };
    }
  }

  async function checkManifest(t: PostgresTarget, database: string, manifest: BackupManifest): Promise<VerificationResult> {
    const name = 'manifest';
    try {
      return await withClient(
        t,
        database,
        `comparing ${database} with the manifest`,
        async (c) => {
          await pinFormats(c);
          const tables = Object.keys(manifest);
          for (const table of tables) {
            const want = manifest[table];
            const got = await tableFacts(c, table);
            if (!got) return { name, kind: 'manifest', ok: false, detail: `${table}: missing from the copy, manifest says ${want.rows} rows` };
            if (got.rows !== want.rows) return { name, kind: 'manifest', ok: false, detail: `${table}: ${got.rows} rows, manifest says ${want.rows}` };
            if (want.checksum !== null && got.checksum !== want.checksum) {
              return { name, kind: 'manifest', ok: false, detail: `${table}: checksum ${got.checksum} differs from the manifest's ${want.checksum} (${got.rows} rows each)` };
            }
          }
          return { name, kind: 'manifest', ok: true, detail: `${tables.length} critical tables match the manifest: ${tables.map((k) => `${k} ${manifest[k].rows} rows`).join(', ')}` };
        },
        timeouts.longMs,
      );
    } catch (err) {
      return { name, kind: 'manifest', ok: false, detail: `the manifest could not be checked: ${(err as Error).message}` };
    }
  }

  async function checkAssertion(t: PostgresTarget, database: string, a: { name: string; sql: string }): Promise<VerificationResult> {
    const result = (ok: boolean, detail: string): VerificationResult => ({ name: a.name, kind: 'assertion', ok, detail });
    try {
      return await withClient(t, database, `assertion ${a.name} on ${database}`, async (c) => {
        // An assertion reads; it never changes the copy. A named (prepared) statement is one statement, so it cannot COMMIT its way out.
        await c.query('SET default_transaction_read_only = on');
        await c.query('BEGIN READ ONLY');
        try {
          const res = await c.query({ name: 'baton_assertion', text: a.sql, rowMode: 'array' });
          if (res.rows.length !== 1) return result(false, `returned ${res.rows.length} rows, expected one`);
          const value = (res.rows[0] as unknown[])[0];
          return value === true ? result(true, 'true') : result(false, `returned ${JSON.stringify(value)}, expected true`);
        } finally {
          await c.query('ROLLBACK').catch(() => undefined);
        }
      });
    } catch (err) {
      return result(false, `failed: ${(err as Error).message}`);
    }
  }

  /** Where a restore's copy lives now: its own name, the services' name (switched), or nowhere. */
  async function locateCopy(t: PostgresTarget, restoreId: string): Promise<{ name: string; tag: CopyTag } | null> {
    const dbs = await withAdmin(t, `finding the copy of restore ${restoreId}`, databases);
    const own = dbs.get(copyName(t.database, restoreId));
    if (isCopyOf(own, restoreId)) return { name: own.name, tag: own.tag };
    const services = dbs.get(t.database);
    if (isCopyOf(services, restoreId)) return { name: services.name, tag: services.tag };
    return null;
  }

  // ------------------------------------------------------------ the interface

  return {
    async inventory(target) {
      const t = pgTarget(target);
      const records = await listRecords(t);
      const view = await readArchive(t);
      let pointInTime: Inventory['pointInTime'] = null;
      if (view) {
        const first = view.run[0].segno;
        const newest = view.run[view.run.length - 1].segno;
        const replayable = records.filter((r) => {
          const wal = r.postgres.wal;
          if (r.kind !== 'base' || !r.verified.ok || !wal || wal.timeline !== view.timeline || wal.segBytes !== view.segBytes) return false;
          const start = parseLsn(wal.startLsn) / BigInt(view.segBytes);
          const end = (parseLsn(wal.endLsn) - 1n) / BigInt(view.segBytes);
          return start >= first && end <= newest; // every segment from the backup's start to the newest is archived, no gap
        });
        if (replayable.length > 0) {
          const earliest = replayable[0].consistentAt;
          const newestBackup = replayable[replayable.length - 1].consistentAt;
          const lastCommit = await lastArchivedCommit(t, view);
          let latest = lastCommit && lastCommit > newestBackup ? lastCommit : newestBackup;
          // While the live cluster answers, a restore can reach up to now: it archives the
          // current WAL first (see restore). An idle database then has no commit after its
          // last one, and its data at any later instant is the data of that commit.
          const liveNow = await withAdmin(t, `inventory of ${t.database}: reading the server's clock`, async (c) => (await c.query<{ now: Date }>('SELECT now() AS now')).rows[0].now).catch(() => null);
          if (liveNow && liveNow.toISOString() > latest) latest = liveNow.toISOString();
          pointInTime = { earliest, latest };
        }
      }
      return { backups: records.map(publicInfo), pointInTime };
    },

    async backup(target, req) {
      const t = pgTarget(target);
      const dir = backupPath(t, req.backupId);
      return single(`backup:${dir}`, async () => {
        const existing = await readRecord(t, req.backupId);
        if (existing) return publicInfo(existing);
        const kind: BackupKind = req.kind;
        if (kind !== 'base' && kind !== 'logical') throw mismatch(`backup ${req.backupId}: PostgreSQL takes 'base' or 'logical' backups, not '${kind}'`);
        await rm(dir, { recursive: true, force: true }); // half-made: redo
        await ensureOwnedDir(dir, tools.osUser, 0o700);
        const record = kind === 'base' ? await takeBase(t, req, dir) : await takeLogical(t, req, dir);
        await writeRecord(dir, record);
        return publicInfo(record);
      });
    },

    async verifyBackup(target, backupId) {
      const t = pgTarget(target);
      const record = await readRecord(t, backupId);
      if (!record) return { name: 'backup', kind: 'backup', ok: false, detail: `no backup ${backupId} of ${t.database} in ${t.backupDir}` };
      const checked = record.kind === 'base' ? await verifyBase(t, record) : await verifyDump(t, record);
      return { name: 'backup', kind: 'backup', ...checked };
    },

    async restore(target, wanted) {
      const t = pgTarget(target);
      const req: RestoreRequest = { ...wanted, pointInTime: wanted.pointInTime === null ? null : normalise(wanted.pointInTime, `restore ${wanted.restoreId}: pointInTime`) };
      const copy = copyName(t.database, req.restoreId);
      return single(`restore:${t.host}:${t.port}:${copy}`, async () => {
        const what = `restore ${req.restoreId} of ${t.database}`;
        const dbs = await withAdmin(t, `${what}: reading the databases`, databases);
        for (const row of [dbs.get(copy), dbs.get(t.database)]) {
          if (isCopyOf(row, req.restoreId)) return copyAnswer(t, req.restoreId, row.tag); // done before
        }
        const leftover = dbs.get(copy);
        if (leftover) {
          if (leftover.tag) throw mismatch(`${what}: database ${copy} exists and belongs to restore ${leftover.tag.restoreId}`);
          await withAdmin(t, `${what}: dropping the half-made ${copy}`, (c) => c.query(`DROP DATABASE IF EXISTS ${escapeIdentifier(copy)} WITH (FORCE)`));
        }
        const record = await readRecord(t, req.backupId);
        if (!record) throw mismatch(`${what}: no backup ${req.backupId} in ${t.backupDir}`);
        if (record.postgres.database !== t.database) throw mismatch(`${what}: backup ${req.backupId} is of database ${record.postgres.database}`);

        let lastCommitAt: string | null;
        if (record.kind === 'base') {
          lastCommitAt = await restoreBase(t, req, record, copy);
        } else {
          if (req.pointInTime !== null) throw unreachable(`${what}: backup ${req.backupId} is a logical dump; it restores as taken (${record.consistentAt}), not to ${req.pointInTime}`);
          if (!record.postgres.props) throw mismatch(`${what}: backup ${req.backupId} does not record the database's properties`);
          await loadCopy(t, what, copy, record.postgres.props, join(backupPath(t, record.id), record.postgres.path));
          lastCommitAt = record.consistentAt;
        }
        const tag: CopyTag = { baton: 'restored-copy', restoreId: req.restoreId, backupId: req.backupId, pointInTime: req.pointInTime, lastCommitAt };
        // The tag is written last: a copy without it is half-made, and the next attempt redoes it.
        await withAdmin(t, `${what}: tagging ${copy}`, (c) => c.query(`COMMENT ON DATABASE ${escapeIdentifier(copy)} IS ${escapeLiteral(JSON.stringify(tag))}`));
        return copyAnswer(t, req.restoreId, tag);
      });
    },

    async verify(target, restoreId, spec) {
      const t = pgTarget(target);
      let where: { name: string } | null;
      try {
        where = await locateCopy(t, restoreId);
      } catch (err) {
        return failAll(spec, `the copy could not be found: ${(err as Error).message}`);
      }
      if (!where) return failAll(spec, `restore ${restoreId} has no finished copy of ${t.database}`);
      const results: VerificationResult[] = [await amcheck(t, where.name)];
      if (spec.manifest) results.push(await checkManifest(t, where.name, spec.manifest));
      for (const a of spec.assertions) results.push(await checkAssertion(t, where.name, a));
      return results;
    },

    async serving(target, restoreId) {
      const t = pgTarget(target);
      return switchState(t, restoreId, await withAdmin(t, `reading which database serves as ${t.database}`, databases));
    },

    async switchTo(target, restoreId, setAside) {
      const t = pgTarget(target);
      const copy = copyName(t.database, restoreId);
      const step = `switching ${t.database} to the copy of restore ${restoreId}`;
      if (setAside === t.database || setAside === copy) throw refused(`${step}: the set-aside name must differ from ${t.database} and ${copy}`);
      return withAdmin(t, step, async (c) => {
        const dbs = await databases(c);
        const services = dbs.get(t.database);
        if (isCopyOf(services, restoreId)) return switchState(t, restoreId, dbs); // done before
        const own = dbs.get(copy);
        if (!isCopyOf(own, restoreId)) throw mismatch(`${step}: there is no finished copy ${copy} to switch to`);
        const statements: string[] = [];
        if (services) {
          if (dbs.has(setAside)) throw mismatch(`${step}: a database named ${setAside} already exists`);
          const tag: SetAsideTag = { baton: 'set-aside', restoreId, previousComment: services.comment };
          statements.push(`COMMENT ON DATABASE ${escapeIdentifier(t.database)} IS ${escapeLiteral(JSON.stringify(tag))}`);
          statements.push(`ALTER DATABASE ${escapeIdentifier(t.database)} RENAME TO ${escapeIdentifier(setAside)}`);
        }
        statements.push(`ALTER DATABASE ${escapeIdentifier(copy)} RENAME TO ${escapeIdentifier(t.database)}`);
        await renameAtomically(c, [t.database, copy], statements);
        return switchState(t, restoreId, await databases(c));
      });
    },

    async switchBack(target, restoreId, setAside) {
      const t = pgTarget(target);
      const copy = copyName(t.database, restoreId);
      const step = `switching ${t.database} back to the original from restore ${restoreId}`;
      return withAdmin(t, step, async (c) => {
        const dbs = await databases(c);
        if (!isCopyOf(dbs.get(t.database), restoreId)) return switchState(t, restoreId, dbs); // the original serves already
        if (dbs.has(copy)) throw mismatch(`${step}: a database named ${copy} already exists`);
        const named = dbs.get(setAside);
        if (named && !isSetAsideOf(named, restoreId)) throw mismatch(`${step}: database ${setAside} is not the original set aside by restore ${restoreId}`);
        const aside = named ?? [...dbs.values()].find((r) => isSetAsideOf(r, restoreId));
        const statements = [`ALTER DATABASE ${escapeIdentifier(t.database)} RENAME TO ${escapeIdentifier(copy)}`];
        if (aside && isSetAsideOf(aside, restoreId)) {
          statements.push(`ALTER DATABASE ${escapeIdentifier(aside.name)} RENAME TO ${escapeIdentifier(t.database)}`);
          const previous = aside.tag.previousComment;
          statements.push(`COMMENT ON DATABASE ${escapeIdentifier(t.database)} IS ${previous === null ? 'NULL' : escapeLiteral(previous)}`);
        }
        await renameAtomically(c, [t.database, ...(aside ? [aside.name] : [])], statements);
        return switchState(t, restoreId, await databases(c));
      });
    },

    async dropCopy(target, restoreId) {
      const t = pgTarget(target);
      const copy = copyName(t.database, restoreId);
      const step = `dropping the copy ${copy} of restore ${restoreId}`;
      await withAdmin(t, step, async (c) => {
        const dbs = await databases(c);
        if (isCopyOf(dbs.get(t.database), restoreId)) throw refused(`${step}: the copy serves as ${t.database}; switch back first`);
        const own = dbs.get(copy);
        if (own) {
          if (own.tag && !isCopyOf(own, restoreId)) throw mismatch(`${step}: database ${copy} belongs to restore ${own.tag.restoreId}`);
          await c.query(`DROP DATABASE IF EXISTS ${escapeIdentifier(copy)} WITH (FORCE)`);
        }
      });
      await removeScratch(join(t.scratchDir, `r-${shortHash(restoreId)}`));
    },

    async dropSetAside(target, setAside) {
      const t = pgTarget(target);
      const step = `dropping the set-aside database ${setAside}`;
      if (setAside === t.database) throw refused(`${step}: ${setAside} is the name the services use`);
      await withAdmin(t, step, async (c) => {
        const row = (await databases(c)).get(setAside);
        if (!row) return;
        if (row.tag?.baton !== 'set-aside') throw refused(`${step}: ${setAside} is not a database a restore set aside`);
        await c.query(`DROP DATABASE IF EXISTS ${escapeIdentifier(setAside)} WITH (FORCE)`);
      });
    },
  };
}

function failAll(spec: VerifySpec, why: string): VerificationResult[] {
  return [
    { name: 'amcheck', kind: 'amcheck', ok: false, detail: why },
    ...(spec.manifest ? [{ name: 'manifest', kind: 'manifest' as const, ok: false, detail: why }] : []),
    ...spec.assertions.map((a) => ({ name: a.name, kind: 'assertion' as const, ok: false, detail: why })),
  ];
}

/** An instant as ISO-8601 UTC with milliseconds, so instants compare as strings. */
function normalise(instant: string, what: string): string {
  const ms = Date.parse(instant);
  if (Number.isNaN(ms)) throw mismatch(`${what} '${instant}' is not an ISO-8601 instant`);
  return new Date(ms).toISOString();
}

function lastLines(text: string, n = 8): string {
  return text.trim().split('\n').slice(-n).join('\n');
}
