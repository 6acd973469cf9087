// Locates (installing on first use) the pinned servers: the Temporal CLI, moto and the Java
// time-skipping test server; and, for the API fuzz test only, schemathesis. scripts/install-servers.sh does the work and is idempotent.
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

export interface Toolchain {
  temporal: string;
  moto: string;
  testServer?: string;
  /** The schemathesis CLI, when asked for. */
  schemathesis?: string;
}

export const REPO_ROOT = resolve(__dirname, '..', '..');

export function ensureToolchain(opts: { java?: boolean; schemathesis?: boolean } = {}): Toolchain {
  const args = [resolve(REPO_ROOT, 'scripts/install-servers.sh'), '--print-env'];
  if (!opts.java) args.push('--no-java');
  if (opts.schemathesis) args.push('--schemathesis');
  let out: string;
  try {
    out = execFileSync('bash', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  } catch {
    throw new Error('installing the local servers failed (see the message above)');
  }
  const vars: Record<string, string> = {};
  for (const m of out.matchAll(/^export (\w+)='([^']*)'$/gm)) vars[m[1]] = m[2];
  return {
    temporal: vars.BATON_TEMPORAL_BIN,
    moto: vars.BATON_MOTO_BIN,
    testServer: vars.BATON_TEST_SERVER_BIN,
    schemathesis: vars.BATON_SCHEMATHESIS_BIN,
  };
}
