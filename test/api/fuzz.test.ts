// Fuzzing the live API from its own OpenAPI document with schemathesis (PyPI, pinned in
// toolchain.json, installed into the cache by scripts/install-servers.sh --schemathesis): a
// bounded number of generated requests per operation, with a fixed seed, as the admin. Every
// answer must be no 5xx and must match the schema the document gives for its status. A whole
// local Baton as `npm start` runs it (dev server, moto behind the region gate, a worker per
// region), so requests that start runs, and the sandbox's region routes, are really served.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app';
import { ensureToolchain } from '../../src/local/toolchain';
import { startStack, type Stack } from '../harness/stack';

const MAX_EXAMPLES = 20;
const SEED = 20261130;

interface Run {
  code: number | null;
  output: string;
}

/** Runs in `cwd`: schemathesis keeps its example database in the working directory. */
function run(command: string, args: string[], cwd: string, timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, NO_COLOR: '1' } }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

describe('API fuzzing with schemathesis', () => {
  let stack: Stack;
  let app: FastifyInstance;
  let base: string;
  let dir: string;
  let schemathesis: string;

  beforeAll(async () => {
    schemathesis = ensureToolchain({ schemathesis: true }).schemathesis ?? '';
    stack = await startStack({ regionWorkers: true });
    // The fuzzer sends hundreds of requests a minute with one token: well past the defaults.
    const config = { ...stack.config, api: { ...stack.config.api, rateLimit: { perToken: 1_000_000, perAddress: 1_000_000, windowSeconds: 60 } } };
    app = await buildApp({ client: stack.client, config, readyWorkersWithinMs: null, registry: stack.registry });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    dir = mkdtempSync(join(tmpdir(), 'baton-fuzz-'));
  }, 300_000);

  afterAll(async () => {
    await app?.close();
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('finds no server error and no answer that breaks its schema', async () => {
    expect(schemathesis).toMatch(/schemathesis$/);
    const junit = join(dir, 'junit.xml');
    const { code, output } = await run(schemathesis, [
      'run', `${base}/openapi.json`,
      '--url', base,
      '--checks', 'not_a_server_error,response_schema_conformance',
      '--phases', 'examples,coverage,fuzzing',
      '--max-examples', String(MAX_EXAMPLES),
      '--seed', String(SEED),
      '--header', `Authorization: Bearer ${stack.people.admin}`,
      '--request-timeout', '10',
      '--report', 'junit', '--report-junit-path', junit,
      '--no-color',
    ], dir, 240_000);
    // Its banner lines (`=== 3 warnings in 16.77s ===`) are left out: they read as a pytest run
    // that closed on no test, and CI reads closing lines.
    const summary = output.split('\n')
      .filter((l) => /operations|test cases|Seed|passed|failed|errors|Warnings|Checks/i.test(l) && !/^\s*=/.test(l))
      .join('\n');
    console.log(`schemathesis (seed ${SEED}, ${MAX_EXAMPLES} examples per operation):\n${summary}`);
    const report = readFileSync(junit, 'utf8');
    const failures = (report.match(/<failure/g) ?? []).length;
    expect({ code, failures }, output.slice(-12_000)).toEqual({ code: 0, failures: 0 });
  }, 300_000);
});
