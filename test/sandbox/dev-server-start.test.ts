// Starting the Temporal dev server: it picks ports for its internal services as it starts, and
// in CI it has exited at start (a port taken by another process, a panic picking one). Such a
// start is tried again, three times in all, and a failure names why (a Go panic's first line,
// not only the tail of its stack). A wrapper around the real CLI plays the failing start.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureToolchain } from '../../src/local/toolchain';
import { startTemporalDevServer } from '../../src/local/servers';

describe('starting the Temporal dev server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'baton-dev-server-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A CLI that panics on its first `failures` runs (with a stack longer than the output's tail), then is the real one. */
  function flakyCli(name: string, failures: number): { binary: string; runs: () => number } {
    const counter = join(dir, `${name}.runs`);
    writeFileSync(counter, '');
    const binary = join(dir, `${name}.sh`);
    writeFileSync(binary, [
      '#!/bin/sh',
      `echo run >> '${counter}'`,
      `if [ "$(wc -l < '${counter}')" -le ${failures} ]; then`,
      "  echo 'panic: failed assigning ephemeral port: accept tcp 127.0.0.1:41234: i/o timeout'",
      '  i=0; while [ $i -lt 60 ]; do echo "goroutine frame $i"; i=$((i+1)); done',
      '  exit 2',
      'fi',
      `exec '${ensureToolchain().temporal}' "$@"`,
      '',
    ].join('\n'));
    chmodSync(binary, 0o755);
    return { binary, runs: () => readFileSync(counter, 'utf8').split('\n').filter(Boolean).length };
  }

  it('tries again when the server exits while starting, and answers', async () => {
    const cli = flakyCli('twice', 2);
    const server = await startTemporalDevServer({ binary: cli.binary });
    try {
      expect(cli.runs()).toBe(3);
      const connection = await Connection.connect({ address: server.address });
      try {
        await connection.workflowService.getSystemInfo({});
      } finally {
        await connection.close();
      }
    } finally {
      await server.stop();
    }
  }, 120_000);

  it('gives up after three tries, naming the panic', async () => {
    const cli = flakyCli('always', 99);
    const started = startTemporalDevServer({ binary: cli.binary });
    await expect(started).rejects.toThrow(/exited \(2\) before listening on \d+:\npanic: failed assigning ephemeral port/);
    expect(cli.runs()).toBe(3);
  }, 60_000);
});
