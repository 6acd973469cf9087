// The harness's guard for a workflow test that times out (test/harness/hung.ts): the output says
// where the test's runs stood, they are ended, and the test's worker stops, so the next test
// registers its own on the same task queue. The first test here is expected to time out.
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { WorkflowHandle } from '@temporalio/client';
import { buildDeploymentSpec, startDeployment } from '../../src/temporal/deployments';
import { deploymentStatusQuery } from '../../workflows/messages';
import { routerOfMetrics } from '../harness/stack';
import { appMetrics, healthy } from '../harness/app-metrics';
import { until } from '../harness/wait';
import { useTimeSkippingSandbox } from '../harness/time-skipping';

describe('a workflow test that times out (time-skipping server)', () => {
  const sb = useTimeSkippingSandbox();
  const printed = vi.spyOn(console, 'error');
  let left: WorkflowHandle | null = null;
  const metrics = () => appMetrics(routerOfMetrics(sb.files.config, sb.aws.providers), () => healthy);

  afterAll(() => printed.mockRestore());

  it.fails('times out while its deployment soaks', async () => {
    await sb.withWorker(metrics(), async () => {
      const spec = buildDeploymentSpec(sb.files.config, { service: 'web', environment: 'dev', version: '9.0.0', requestedBy: 'ada' });
      const { id } = await startDeployment(sb.env.client, sb.files.taskQueue, spec);
      left = sb.env.client.workflow.getHandle(id);
      await until('the first soak', () => (left as WorkflowHandle).query(deploymentStatusQuery), (s) => s.phase === 'soaking', 30_000);
      await new Promise(() => undefined); // hangs, as a lost Update or a wedged server would
    });
  }, 8_000);

  it('printed where that run stood and ended it; the next test has the task queue', async () => {
    const report = printed.mock.calls.map((c) => String(c[0])).find((line) => line.startsWith('[harness] the test ended'));
    expect(report).toBeDefined();
    expect(report).toContain(`${left?.workflowId} (deployment) RUNNING`);
    // Where it stood: its last events, at workflow time (its pending soak timer, unless that just fired).
    expect(report).toMatch(new RegExp(`${left?.workflowId} \\(deployment\\) RUNNING, \\d+ events\\n(  .*\\n)*  #\\d+ \\S+ [A-Z_]+`));
    expect((await (left as WorkflowHandle).describe()).status.name).toBe('TERMINATED');
    // The worker of the test that timed out has stopped: a new one registers on the same queue
    // and runs a deployment to its end.
    const outcome = await sb.withWorker(metrics(), async () => {
      const spec = buildDeploymentSpec(sb.files.config, { service: 'api', environment: 'dev', version: '9.0.1', requestedBy: 'ada' });
      const { id } = await startDeployment(sb.env.client, sb.files.taskQueue, spec);
      const handle = sb.env.client.workflow.getHandle(id);
      await handle.result();
      return (await handle.query(deploymentStatusQuery)).outcome;
    });
    expect(outcome).toBe('succeeded');
  }, 150_000);
});
