// The API process as it runs in production (`tsx src/api/server.ts`): configured from the
// environment, listening where it is told, ready against Temporal, closing cleanly on SIGTERM.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config';
import { freePort, startTemporalDevServer } from '../harness/servers';

const root = resolve(__dirname, '../..');
const example = resolve(root, 'config/example.yaml');

describe('API configuration from the environment', () => {
  it('takes BATON_API_HOST and BATON_API_PORT over the file', () => {
    expect(loadConfig({ BATON_CONFIG: example }).config.api).toMatchObject({ host: '127.0.0.1', port: 3000 });
    expect(loadConfig({ BATON_CONFIG: example, BATON_API_HOST: '0.0.0.0', BATON_API_PORT: '4000' }).config.api).toMatchObject({ host: '0.0.0.0', port: 4000 });
  });

  it('names BATON_API_PORT when it is not a port', () => {
    for (const port of ['abc', '70000', '-1', '3000.5']) {
      expect(() => loadConfig({ BATON_CONFIG: example, BATON_API_PORT: port })).toThrow(ConfigError);
      expect(() => loadConfig({ BATON_CONFIG: example, BATON_API_PORT: port })).toThrow(/^BATON_API_PORT: /);
    }
  });
});

describe('the API server process', () => {
  let temporal: Awaited<ReturnType<typeof startTemporalDevServer>>;
  beforeAll(async () => {
    temporal = await startTemporalDevServer();
  });
  afterAll(async () => {
    await temporal?.stop();
  });

  function start(env: Record<string, string>): { child: ChildProcess; output: () => string } {
    const child = spawn(process.execPath, ['--import', 'tsx', resolve(root, 'src/api/server.ts')], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    return { child, output: () => out };
  }

  async function waitForOutput(output: () => string, pattern: RegExp, child: ChildProcess): Promise<void> {
    const deadline = Date.now() + 60_000;
    while (!pattern.test(output())) {
      if (child.exitCode !== null) throw new Error(`server exited early:\n${output()}`);
      if (Date.now() > deadline) throw new Error(`server did not print ${pattern}:\n${output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('listens on BATON_API_PORT, is ready against Temporal, and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const { child, output } = start({ BATON_CONFIG: example, BATON_API_PORT: String(port), TEMPORAL_ADDRESS: temporal.address, BATON_DECISION_KEY: 'ab'.repeat(32) });
    try {
      await waitForOutput(output, /api: listening on http:\/\/127\.0\.0\.1:\d+/, child);
      expect(output()).toContain(`127.0.0.1:${port}`);
      // Temporal answers, but no worker polls the task queue: not ready, and it says why.
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(503);
      expect(JSON.stringify(await ready.json())).toMatch(/worker/);
      const anonymous = await fetch(`http://127.0.0.1:${port}/v1/deployments/deploy:web:prod:1.0.0`);
      expect(anonymous.status).toBe(401);
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = await exited;
      expect(code).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('refuses to start without a config, with one line on stderr and exit 1', async () => {
    const { child, output } = start({});
    const [code] = await once(child, 'exit');
    expect(code).toBe(1);
    expect(output().trim()).toBe('api: BATON_CONFIG is not set: point it at the YAML config file (see README)');
  });

  it('refuses to start without a decision key, or with a malformed one', async () => {
    for (const [key, says] of [[undefined, /BATON_DECISION_KEY is not set/], ['not-hex', /BATON_DECISION_KEY: must be 32 bytes as 64 hex digits/]] as const) {
      const { child, output } = start({ BATON_CONFIG: example, TEMPORAL_ADDRESS: temporal.address, ...(key ? { BATON_DECISION_KEY: key } : {}) });
      const [code] = await once(child, 'exit');
      expect(code).toBe(1);
      expect(output()).toMatch(says);
    }
  });
});
