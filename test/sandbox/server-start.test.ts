// Starting the local servers. The Temporal dev server picks ports for its internal services as it
// starts, and in CI it has exited at start (a port taken by another process, a panic picking
// one); moto's free port has been taken before it bound it. Such a start is tried again, three
// times in all, and a failure names why (a Go panic's first line, not only the tail of its
// stack). Wrappers around the real binaries play the failing starts.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureToolchain } from '../../src/local/toolchain';
import { startMoto, startTemporalDevServer } from '../../src/local/servers';

describe('starting the Temporal dev server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'baton-dev-server-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /**
   * A wrapper of `real` that fails on its first `failures` runs (printing `failure`, then exiting
   * with `code`) and then is the real one; it records each run's arguments.
   */
  function flaky(name: string, real: string, failures: number, failure: string[], code: number): { binary: string; runs: () => string[] } {
    const counter = join(dir, `${name}.runs`);
    writeFileSync(counter, '');
    const binary = join(dir, `${name}.sh`);
    writeFileSync(binary, [
      '#!/bin/sh',
      `echo "$*" >> '${counter}'`,
      `if [ "$(wc -l < '${counter}')" -le ${failures} ]; then`,
      ...failure.map((line) => `  ${line}`),
      `  exit ${code}`,
      'fi',
      `exec '${real}' "$@"`,
      '',
    ].join('\n'));
    chmodSync(binary, 0o755);
    return { binary, runs: () => readFileSync(counter, 'utf8').split('\n').filter(Boolean) };
  }

  /** A CLI that panics on its first `failures` runs, with a stack longer than the output's tail. */
  const flakyCli = (name: string, failures: number) =>
    flaky(name, ensureToolchain().temporal, failures, [
      "echo 'panic: failed assigning ephemeral port: accept tcp 127.0.0.1:41234: i/o timeout'",
      'i=0; while [ $i -lt 60 ]; do echo "goroutine frame $i"; i=$((i+1)); done',
    ], 2);

  /** moto as it exits when its port was taken first. */
  const motoPortTaken = (name: string, failures: number) =>
    flaky(name, ensureToolchain().moto, failures, ["echo 'Address already in use'", "echo 'Port is in use by another program.'"], 1);

  it('tries again when the server exits while starting, and answers', async () => {
    const cli = flakyCli('twice', 2);
    const server = await startTemporalDevServer({ binary: cli.binary });
    try {
      expect(cli.runs()).toHaveLength(3);
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
    expect(cli.runs()).toHaveLength(3);
  }, 60_000);

  it('starts moto on another free port when its port was taken', async () => {
    const wrapper = motoPortTaken('moto-once', 1);
    const moto = await startMoto({ binary: wrapper.binary });
    try {
      const runs = wrapper.runs();
      expect(runs).toHaveLength(2);
      const port = (args: string) => Number(/-p (\d+)/.exec(args)?.[1]);
      expect(port(runs[1]!)).toBe(moto.port);
      expect(port(runs[0]!)).not.toBe(moto.port);
      expect((await fetch(`${moto.endpoint}/moto-api/`)).ok).toBe(true);
    } finally {
      await moto.stop();
    }
  }, 120_000);

  it('tries a port the caller chose once, naming why moto exited', async () => {
    const wrapper = motoPortTaken('moto-fixed', 99);
    await expect(startMoto({ binary: wrapper.binary, port: 1 })).rejects.toThrow(/moto exited \(1\) before .*answered:\nAddress already in use/);
    expect(wrapper.runs()).toHaveLength(1);
  }, 60_000);
});
