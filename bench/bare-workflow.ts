/**
 * The baseline of the `overhead` benchmark: a bare Temporal workflow that makes the provider
 * calls a deployment makes on its way to live, in the same order, with the same activity
 * options and the same sleeps, and nothing else: no status, no timeline, no search attributes,
 * no Slack thread, no operator actions. What Baton costs per step is the deployment's time
 * minus this one's, both measured the same way in the same run.
 *
 * It runs the activity implementations of activities/ on a worker of its own (bench/overhead.ts);
 * like workflows/, it stays deterministic and imports only @temporalio/workflow, src/domain and
 * activity types.
 */
import { ActivityCancellationType, proxyActivities, sleep, workflowInfo, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { regionQueue } from '../src/domain/regions';
import { otherColour, weightsFor, type Colour, type DeploymentSpec, type Weights } from '../src/domain/types';

export interface BareRolloutInput {
  spec: DeploymentSpec;
}

export interface BareRolloutResult {
  /** Workflow time (ms) of the task that saw the last step done: when a deployment goes live. */
  liveAtMs: number;
}

// The options workflows/deployment.ts gives the same calls.
const AWS: ActivityOptions = {
  startToCloseTimeout: '60s',
  heartbeatTimeout: '20s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 },
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
};
const MEASURE: ActivityOptions = {
  startToCloseTimeout: '30s',
  heartbeatTimeout: '20s',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumAttempts: 3 },
  cancellationType: ActivityCancellationType.TRY_CANCEL,
};

export async function bareRollout({ spec }: BareRolloutInput): Promise<BareRolloutResult> {
  const { plan } = spec;
  const inRegion = (region: string, options: ActivityOptions) => proxyActivities<Activities>({ ...options, taskQueue: regionQueue(workflowInfo().taskQueue, region) });
  const traffic = inRegion(spec.traffic.region, AWS);
  const compute = inRegion(spec.compute.region, AWS);
  const metrics = inRegion(spec.metrics.region, MEASURE);
  const stable = inRegion(spec.compute.region, { ...AWS, startToCloseTimeout: plan.stableTimeoutSeconds * 1000, heartbeatTimeout: '60s', retry: { maximumAttempts: 1 } });
  const smoke = inRegion(spec.compute.region, { ...AWS, startToCloseTimeout: '30s', retry: { maximumAttempts: 3, initialInterval: '2s' } });

  // Deploy the idle colour, as a deployment does before its first step.
  const weights = await traffic.readWeights(spec.traffic, spec);
  const live: Colour = weights.blue === 100 ? 'blue' : 'green';
  const target = otherColour(live);
  const liveState = await compute.describeService(spec.compute, live);
  const desiredCount = Math.max(1, liveState.desiredCount);
  const deployed = await compute.deployImage({ target: spec.compute, colour: target, templateColour: live, image: spec.image, desiredCount, deploymentId: spec.id });
  await stable.waitForStable(spec.compute, target, deployed.taskDefinitionArn);
  await smoke.smokeTest(spec.smokeTestUrls[target]);

  // The steps: write each weight (and wait for DNS where there is a sync token); sleep through
  // each soak, measuring the new colour at every analysis interval.
  const interval = plan.analysis.intervalSeconds;
  for (const step of plan.steps) {
    if (step.type === 'shift') {
      const w: Weights = weightsFor(target, step.weight);
      const written = await traffic.shiftTraffic(spec.traffic, w);
      if (written.syncToken) await traffic.awaitTrafficSync(spec.traffic, written.syncToken);
    } else {
      for (let n = Math.floor(step.durationSeconds / interval); n > 0; n--) {
        await sleep(interval * 1000, { summary: `Soak ${step.durationSeconds}s` });
        await metrics.measure(spec.metrics, target, plan.analysis.windowSeconds, new Date(Date.now() - plan.analysis.lagSeconds * 1000).toISOString());
      }
      const rest = step.durationSeconds - Math.floor(step.durationSeconds / interval) * interval;
      if (rest > 0) await sleep(rest * 1000, { summary: `Soak ${step.durationSeconds}s` });
    }
  }
  return { liveAtMs: Date.now() };
}
