import { describe, expect, it } from 'vitest';
import { ESLint } from 'eslint';
import { resolve } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

const root = resolve(__dirname, '../..');

describe('workflow code', () => {
  it('bundles for the Temporal sandbox (no Node built-ins, no I/O clients)', async () => {
    const bundle = await bundleWorkflowCode({
      workflowsPath: resolve(root, 'workflows'),
      logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} },
    });
    expect(bundle.code).toContain('deploymentLane');
    expect(bundle.code.length).toBeGreaterThan(1000);
  }, 120_000);

  it('is linted against Node built-ins and SDK clients', async () => {
    const eslint = new ESLint({ cwd: root });
    const bad = ["import { readFileSync } from 'node:fs';", "import { ECSClient } from '@aws-sdk/client-ecs';", 'export const x = [readFileSync, ECSClient];', ''].join('\n');
    const [result] = await eslint.lintText(bad, { filePath: resolve(root, 'workflows/bad-example.ts') });
    const rules = result.messages.map((m) => m.ruleId);
    expect(rules.filter((r) => r === 'no-restricted-imports')).toHaveLength(2);
  }, 60_000);
});
