import { resolve } from 'node:path';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';

// A folder path: the bundler finds index.ts (tsx, tests) or index.js (compiled).
export const WORKFLOWS_PATH = resolve(__dirname, '../../workflows');

let bundle: Promise<WorkflowBundleWithSourceMap> | null = null;

/** The bundler's logger: its warnings and errors only. */
export const quietBundlerLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => console.warn(message),
  error: (message: string) => console.error(message),
};

/** Bundles the workflows once per process (the tests start several workers). */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietBundlerLogger });
  return bundle;
}
