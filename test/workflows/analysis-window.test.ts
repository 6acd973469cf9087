// A deployment's analysis reads only its own version's metrics: datapoints the new colour carried
// from before this deployment's first traffic shift (an earlier run that sent it traffic, then
// rolled back) neither roll it back nor pass it. Real Temporal dev server, moto's CloudWatch fed
// by the sandbox feeder once traffic moves, and datapoints of an earlier version written here.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowHandle } from '@temporalio/client';
import { buildDeploymentSpec, startDeployment } from '../../src/temporal/deployments';
import type { DeploymentStatus } from '../../src/domain/deployment';
import { cloudWatchPut, metricData, type TrafficSample } from '../../src/sandbox/feeder';
import { deploymentStatusQuery } from '../../workflows/messages';
import { MOTO_CREDENTIALS, startStack, type Stack } from '../harness/stack';
import { replayAll } from '../harness/history';

/** The analysis looks back 40 s, 3 s behind now, every 2 s: the first sample of a soak ends before its shift. */
const PLAN = {
  steps: [{ shift: 50 }, { soak: '10s' }, { shift: 100 }],
  analysis: { interval: '2s', window: '40s', lag: '3s', failureLimit: 2, inconclusiveLimit: 10 },
  keepPreviousFor: '2s',
  standbyFor: '1s',
  standbyCount: 1,
  stableTimeout: '1m',
  drainMargin: '1s',
};

describe('the analysis window starts at the first traffic shift (dev server)', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ feeder: true, plan: PLAN });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  /** Datapoints for green from an earlier version, a few seconds before now (well inside the window of the first samples). */
  async function earlierVersionOnGreen(environment: string, each: TrafficSample): Promise<void> {
    const spec = stack.config.services.web.environments[environment].metrics;
    const put = cloudWatchPut({ endpoint: stack.moto.endpoint, credentials: MOTO_CREDENTIALS });
    const now = Date.now();
    // At least 2 s before the deployment starts, so before its first shift by more than CloudWatch's rounding to the second.
    const data = [2, 3, 4, 5, 6].flatMap((s) => metricData(spec, 'green', each, new Date(now - s * 1000)));
    await put(spec.region, { Namespace: spec.namespace, MetricData: data });
  }

  async function deploy(environment: string, version: string): Promise<{ handle: WorkflowHandle; status: DeploymentStatus; failure: Error | null }> {
    const spec = buildDeploymentSpec(stack.config, { service: 'web', environment, version, requestedBy: 'ada' });
    const { id } = await startDeployment(stack.client, stack.taskQueue, spec);
    const handle = stack.client.workflow.getHandle(id);
    const failure = await handle.result().then(() => null, (err: unknown) => err as Error);
    return { handle, status: await handle.query(deploymentStatusQuery), failure };
  }

  const weightsOf = (environment: string) => stack.providers.routerFor(stack.config.services.web.environments[environment].traffic).getWeights();
  const analyses = (status: DeploymentStatus) => status.timeline.filter((e) => e.type.startsWith('analysis_'));

  it('goes live on healthy metrics after its shift, although green breached before it', async () => {
    expect(await weightsOf('prod')).toEqual({ blue: 100, green: 0 });
    // Half of every request failed on green before this deployment: a breach, were it read.
    await earlierVersionOnGreen('prod', { requests: 200, errors: 100, latencyMs: 80 });

    const { handle, status, failure } = await deploy('prod', '7.0.0');

    expect(failure).toBeNull();
    expect(status.outcome).toBe('succeeded');
    expect(status.liveAt).not.toBeNull();
    expect(await weightsOf('prod')).toEqual({ blue: 0, green: 100 });
    const seen = analyses(status);
    expect(seen.filter((e) => e.type === 'analysis_fail')).toEqual([]);
    // The first sample's window ended before the shift: nothing read, and it says why.
    expect(seen[0].type).toBe('analysis_inconclusive');
    expect(seen[0].message).toMatch(/no datapoints since the first shift at \S+Z: the window ends at \S+Z, before it/);
    // Later ones read only the seconds since the shift, and say so.
    expect(seen.some((e) => e.type === 'analysis_pass' && /since the first shift at \S+Z \(\d+s of the 40s window\)/.test(e.message))).toBe(true);
    await replayAll(handle);
  });

  it('still rolls back on a breach after its shift, which healthy datapoints from before it would hide', async () => {
    expect(await weightsOf('staging')).toEqual({ blue: 100, green: 0 });
    // Many healthy requests on green before this deployment, which would dilute its breach below 1 %.
    await earlierVersionOnGreen('staging', { requests: 20_000, errors: 0, latencyMs: 80 });
    // The new version fails a fifth of its requests (below the smoke test's 50 %: only the analysis sees it).
    stack.faults.set({ service: 'web', environment: 'staging', colour: 'green', errorRate: 0.2 });
    try {
      const { handle, status, failure } = await deploy('staging', '7.1.0');

      expect(failure).not.toBeNull();
      expect(status.outcome).toBe('rolled_back');
      expect(status.liveAt).toBeNull();
      expect(status.rollback?.reason).toMatch(/^since the first shift at \S+Z \(\d+s of the 40s window\): error rate 20 % > 1 %/);
      expect(status.rollback?.evidence).toEqual({ metric: 'error_rate', value: 0.2, threshold: 0.01 });
      expect(await weightsOf('staging')).toEqual({ blue: 100, green: 0 });
      await replayAll(handle);
    } finally {
      stack.faults.clear({ service: 'web', environment: 'staging', colour: 'green' });
    }
  });
});
