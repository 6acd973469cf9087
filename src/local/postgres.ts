// A private PostgreSQL server for the sandbox and the tests, and the few helpers the PostgreSQL
// provider shares with it: where the binaries are, which OS user runs them, how to run one with a
// deadline, and how to run `postgres` itself in the foreground (stopped like our other servers).
// initdb and postgres refuse to run as root, so as root every PostgreSQL binary runs as the OS
// user `postgres` (`runuser -u postgres --`) and the directories it writes are chowned to it.
import { execFile } from 'node:child_process';
import { chmod, chown, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { failIfExited, startOnPort, startProcess, waitForPort, type Managed } from './processes';

/** How to run PostgreSQL's binaries: where they are, and as whom (null: as this process's user). */
export interface PgTools {
  binDir: string;
  osUser: string | null;
}

export interface LocalPostgres {
  host: '127.0.0.1';
  port: number;
  /** The superuser initdb created; local connections are trusted (loopback and the socket in `dir` only). */
  user: 'baton';
  binDir: string;
  dataDir: string;
  /** The Unix socket directory (inside `dir`). */
  socketDir: string;
  walArchiveDir: string;
  /** postgres://baton@127.0.0.1:port/database (no password: trust on loopback). */
  url(database: string): string;
  stop(): Promise<void>;
  process: Managed;
}

const LOCAL_USER = 'baton';

/** The highest installed PostgreSQL's bin directory, or `BATON_PG_BIN`; a clear error when there is none. */
export function findPgBinDir(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env.BATON_PG_BIN;
  if (explicit) {
    if (!existsSync(join(explicit, 'postgres'))) throw new Error(`BATON_PG_BIN=${explicit} holds no 'postgres' binary`);
    return explicit;
  }
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => /^\d+(\.\d+)?$/.test(v) && existsSync(join(root, v, 'bin', 'postgres')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) {
    throw new Error('PostgreSQL is not installed: no /usr/lib/postgresql/*/bin/postgres (install it with `apt-get install postgresql`, or set BATON_PG_BIN)');
  }
  return join(root, versions[0], 'bin');
}

/** The OS user PostgreSQL's binaries run as: `postgres` when we are root (they refuse root), else ourselves (null). */
export function defaultPgOsUser(): string | null {
  return process.getuid?.() === 0 ? 'postgres' : null;
}

/** The command line that runs `tool` from binDir as osUser. */
export function pgCommand(tools: PgTools, tool: string, args: string[]): { command: string; args: string[] } {
  const binary = join(tools.binDir, tool);
  if (tools.osUser) return { command: 'runuser', args: ['-u', tools.osUser, '--', binary, ...args] };
  return { command: binary, args };
}

export interface PgRunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A PostgreSQL tool that failed, timed out or could not start; the message names the step. */
export class PgToolError extends Error {
  constructor(
    message: string,
    readonly result: PgRunResult | null,
  ) {
    super(message);
    this.name = 'PgToolError';
  }
}

/**
 * Runs a PostgreSQL binary as the right OS user, bounded by `timeoutMs`. Resolves with its exit
 * code and output; throws (naming `step`) when it exits non-zero, unless `allowFailure`.
 */
export function runPg(
  tools: PgTools,
  tool: string,
  args: string[],
  opts: { step: string; timeoutMs: number; env?: NodeJS.ProcessEnv; allowFailure?: boolean; cwd?: string; signal?: AbortSignal },
): Promise<PgRunResult> {
  const { command, args: argv } = pgCommand(tools, tool, args);
  return new Promise((resolvePromise, reject) => {
    execFile(
      command,
      argv,
      { env: opts.env ?? process.env, timeout: opts.timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8', cwd: opts.cwd, signal: opts.signal },
      (err, stdout, stderr) => {
        const failure = err as (NodeJS.ErrnoException & { killed?: boolean; code?: number | string }) | null;
        const code = failure ? (typeof failure.code === 'number' ? failure.code : -1) : 0;
        const result = { code, stdout, stderr };
        if (failure && opts.signal?.aborted) {
          reject(new PgToolError(`${opts.step}: ${tool} stopped: cancelled`, result));
        } else if (failure?.killed) {
          reject(new PgToolError(`${opts.step}: ${tool} did not finish within ${Math.round(opts.timeoutMs / 1000)} s${tail(stderr)}`, result));
        } else if (failure && typeof failure.code !== 'number') {
          reject(new PgToolError(`${opts.step}: could not run ${tool} (${failure.message})`, result));
        } else if (code !== 0 && !opts.allowFailure) {
          reject(new PgToolError(`${opts.step}: ${tool} exited ${code}${tail(stderr || stdout)}`, result));
        } else {
          resolvePromise(result);
        }
      },
    );
  });
}

function tail(text: string, lines = 6): string {
  const kept = text.trim().split('\n').filter(Boolean).slice(-lines).join('\n');
  return kept ? `:\n${kept}` : '';
}

const ids = new Map<string, { uid: number; gid: number }>();

async function idsOf(user: string): Promise<{ uid: number; gid: number }> {
  const known = ids.get(user);
  if (known) return known;
  const read = (flag: string) =>
    new Promise<number>((ok, fail) =>
      execFile('id', [flag, user], { timeout: 5000, encoding: 'utf8' }, (err, out) => (err ? fail(new Error(`no OS user ${user}: ${err.message}`)) : ok(Number(out.trim())))),
    );
  const found = { uid: await read('-u'), gid: await read('-g') };
  ids.set(user, found);
  return found;
}

/**
 * Creates `dir` (and missing parents) and gives it to osUser, so a PostgreSQL binary running as
 * that user can write there. `mode` applies to `dir` itself (0700 for data directories).
 */
export async function ensureOwnedDir(dir: string, osUser: string | null, mode = 0o755): Promise<void> {
  await mkdir(dir, { recursive: true });
  await chmod(dir, mode);
  if (osUser) {
    const { uid, gid } = await idsOf(osUser);
    await chown(dir, uid, gid);
  }
}

/** Gives a file or directory (not its contents) to osUser. */
export async function chownTo(path: string, osUser: string | null): Promise<void> {
  if (!osUser) return;
  const { uid, gid } = await idsOf(osUser);
  await chown(path, uid, gid);
}

/** A Unix socket path must fit in 107 bytes; fail with the path rather than with postgres's error. */
export function checkSocketPath(socketDir: string, port: number): void {
  const path = join(socketDir, `.s.PGSQL.${port}`);
  if (Buffer.byteLength(path) > 107) throw new Error(`the socket path ${path} is longer than 107 bytes: use a shorter directory`);
}

/** Runs `postgres -D dataDir` in the foreground as the right OS user, with `settings` as -c options (which override the config files). */
export function spawnPostgres(tools: PgTools, name: string, dataDir: string, settings: Record<string, string>, echo = false): Managed {
  const args = ['-D', dataDir];
  for (const [key, value] of Object.entries(settings)) args.push('-c', `${key}=${value}`);
  const { command, args: argv } = pgCommand(tools, 'postgres', args);
  return startProcess(name, command, argv, { echo, env: { ...process.env, TZ: 'UTC' } });
}

/** Stops a postgres started by spawnPostgres: fast shutdown (SIGINT: clients disconnected, no waiting for them), then the process group. */
export async function stopPostgres(m: Managed, mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
  const { child } = m;
  if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
    try {
      process.kill(-child.pid, mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
    } catch {
      /* already gone */
    }
  }
  await m.stop();
}

/**
 * Waits until the server accepts a session (the port opens before it does: "the database system
 * is starting up"); fails early when the process exits.
 */
export async function waitForPostgres(m: Managed, connect: () => Client, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    failIfExited(m, 'accepting connections');
    const client = connect();
    try {
      await client.connect();
      await client.query('SELECT 1');
      return;
    } catch (err) {
      last = (err as Error).message;
    } finally {
      await client.end().catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${m.name} did not accept connections within ${timeoutMs} ms (${last}):\n${m.output()}`);
}

/** Archives one WAL file idempotently: an identical copy already there is success, a different one a failure; never a partial file. */
const ARCHIVE_SCRIPT = `#!/bin/sh
# archive-wal.sh ARCHIVE_DIR SOURCE NAME: PostgreSQL's archive_command for the local server.
# Idempotent: a file already archived with the same content succeeds, a different one fails
# (PostgreSQL retries and logs it). The copy is written beside the target, fsynced, then renamed,
# so the archive never holds a partial segment.
set -eu
dest="$1/$3"
if [ -f "$dest" ]; then exec cmp -s "$2" "$dest"; fi
tmp="$1/.$3.tmp.$$"
cp "$2" "$tmp"
sync "$tmp"
mv "$tmp" "$dest"
`;

/** Quotes a word for /bin/sh. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * Starts (initialising on first use) a private PostgreSQL in `dir`: data in dir/data (kept across
 * restarts), WAL archived to walArchiveDir (default dir/wal-archive) every archiveTimeoutSeconds
 * at the latest, listening on 127.0.0.1 only and on a socket in dir/socket. Trust authentication
 * for the superuser `baton`: this is for the sandbox and tests, never for production.
 */
export async function startPostgres(opts: {
  dir: string;
  port?: number;
  walArchiveDir?: string;
  archiveTimeoutSeconds?: number;
  echo?: boolean;
}): Promise<LocalPostgres> {
  const tools: PgTools = { binDir: findPgBinDir(), osUser: defaultPgOsUser() };
  const dir = resolve(opts.dir);
  const dataDir = join(dir, 'data');
  const socketDir = join(dir, 'socket');
  const walArchiveDir = resolve(opts.walArchiveDir ?? join(dir, 'wal-archive'));
  checkSocketPath(socketDir, opts.port ?? 65535); // the longest a free port's socket path can be

  await ensureOwnedDir(dir, tools.osUser);
  await ensureOwnedDir(socketDir, tools.osUser, 0o700);
  await ensureOwnedDir(walArchiveDir, tools.osUser, 0o700);
  const script = join(dir, 'archive-wal.sh');
  await writeFile(script, ARCHIVE_SCRIPT, { mode: 0o755 });

  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    if (existsSync(dataDir) && (await readdir(dataDir)).length > 0) {
      throw new Error(`${dataDir} exists but holds no PostgreSQL cluster (no PG_VERSION): remove it to start afresh`);
    }
    await ensureOwnedDir(dataDir, tools.osUser, 0o700);
    // 1 MB WAL segments: archive_timeout switches segments often here, and each switch archives a whole one.
    await runPg(tools, 'initdb', ['-D', dataDir, '-A', 'trust', '-U', LOCAL_USER, '-E', 'UTF8', '--locale=C.UTF-8', '--wal-segsize=1', '--no-instructions'], {
      step: `initialising the PostgreSQL cluster in ${dataDir}`,
      timeoutMs: 120_000,
    });
  } else if (!(await stat(dataDir)).isDirectory()) {
    throw new Error(`${dataDir} is not a directory`);
  }

  return startOnPort(opts.port, async (port): Promise<LocalPostgres> => {
    const proc = spawnPostgres(
      tools,
      'postgres',
      dataDir,
      {
        port: String(port),
        listen_addresses: '127.0.0.1',
        unix_socket_directories: socketDir,
        wal_level: 'replica',
        archive_mode: 'on',
        archive_command: `${shellQuote(script)} ${shellQuote(walArchiveDir)} %p %f`,
        archive_timeout: String(opts.archiveTimeoutSeconds ?? 60),
        max_wal_senders: '4',
        logging_collector: 'off',
        log_timezone: 'UTC',
        timezone: 'UTC',
      },
      opts.echo,
    );
    const connect = () => new Client({ host: '127.0.0.1', port, user: LOCAL_USER, database: 'postgres', connectionTimeoutMillis: 2000 });
    try {
      await waitForPort(proc, port, 60_000);
      await waitForPostgres(proc, connect, 60_000);
    } catch (err) {
      await stopPostgres(proc);
      throw err;
    }
    return {
      host: '127.0.0.1',
      port,
      user: LOCAL_USER,
      binDir: tools.binDir,
      dataDir,
      socketDir,
      walArchiveDir,
      url: (database) => `postgres://${LOCAL_USER}@127.0.0.1:${port}/${encodeURIComponent(database)}`,
      stop: () => stopPostgres(proc),
      process: proc,
    };
  });
}
