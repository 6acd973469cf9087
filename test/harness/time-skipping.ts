// Workflow tests on Temporal's time-skipping server against moto seeded with the sandbox's
// infrastructure: one call in a describe block starts both before its tests and stops both
// after them, and builds the worker each test runs its workflows on.
import { readFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { ActivityDeps } from '../../activities';
import { configRegions } from '../../src/config';
import type { MetricsProvider } from '../../src/providers/types';
import { runTestWorker } from './hung';
import { startTimeSkipping, startTogether } from './servers';
import { startSandboxAws, writeSandboxConfig, type SandboxAws, type SandboxConfigFiles } from './stack';

/** The plans of config/example.yaml, in the YAML's shape: the runbooks' production plan is `production`. */
export const EXAMPLE_PLANS = (parseYaml(readFileSync(resolve(__dirname, '../../config/example.yaml'), 'utf8')) as { plans: Record<string, Record<string, unknown>> }).plans;

export interface TimeSkippingSandbox {
  env: TestWorkflowEnvironment;
  aws: SandboxAws;
  files: SandboxConfigFiles;
  /**
   * Runs `fn` with a Baton worker on `taskQueue` (default the config's) and the queues of the
   * config's regions, whose metrics are `metrics`, and `deps` over the sandbox's providers; the
   * worker stops when `fn` settles, or when the test ends first (a timeout): then it prints where
   * the runs it served stood and terminates them.
   */
  withWorker<T>(metrics: MetricsProvider, fn: () => Promise<T>, deps?: Partial<ActivityDeps>, taskQueue?: string): Promise<T>;
}

/** For a describe block: the servers start before its tests and stop after them. `plan` as for writeSandboxConfig. */
export function useTimeSkippingSandbox(plan?: Record<string, unknown>): TimeSkippingSandbox {
  const sb = {
    async withWorker<T>(metrics: MetricsProvider, fn: () => Promise<T>, deps: Partial<ActivityDeps> = {}, taskQueue?: string): Promise<T> {
      return runTestWorker(
        sb.env,
        {
          taskQueue: taskQueue ?? sb.files.taskQueue,
          regions: configRegions(sb.files.config),
          deps: { ...sb.aws.providers, metrics, stablePollMs: 100, temporal: sb.env.client, ...deps },
        },
        fn,
      );
    },
  } as TimeSkippingSandbox;
  beforeAll(async () => {
    [sb.env, sb.aws] = await startTogether(startTimeSkipping(), startSandboxAws());
    sb.files = writeSandboxConfig(sb.aws, plan);
  });
  afterAll(async () => {
    await sb.env?.teardown();
    await sb.aws?.stop();
    if (sb.files) rmSync(sb.files.dir, { recursive: true, force: true });
  });
  return sb;
}
