// A deployment started since the fold (workflows/patches.ts) takes the patches before it behind
// one marker, and its path awaits less: its timed waits are `timedCondition`, and it awaits
// `maybeContinueAsNew` only when due. Where a coroutine resumes decides the order of a task's
// commands, and a run's replay depends on that order: a run recorded before the fold (eleven
// patch markers, an operator's pause and resume in a soak) replays the code it ran. A new run,
// on the time-skipping server, writes the fold's marker (and those of patches written since)
// and behaves as before: pause, resume, the cancelled soak timer, the tail.
import { describe, expect, it } from 'vitest';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../../src/temporal/bundle';
import { buildDeploymentSpec, startDeployment } from '../../src/temporal/deployments';
import { deploymentActionUpdate, deploymentStatusQuery } from '../../workflows/messages';
import { appMetrics, healthy } from '../harness/app-metrics';
import { allFacts, factsOf, fixtureHistory, listedPhases, patchMarkers, replayAll, type HistoryFact } from '../harness/history';
import { useTimeSkippingSandbox } from '../harness/time-skipping';
import { ROUTINE_CLEAR_OF_PATH_PATCH } from '../../workflows/thread';
import { executeUpdateOnce, until } from '../harness/wait';

const PLAN = {
  steps: [{ shift: 10 }, { soak: '30m' }, { shift: 50 }, { soak: '10m' }, { shift: 100 }],
  analysis: { interval: '5m', window: '5m', failureLimit: 2, inconclusiveLimit: 5, lag: '0s' },
  keepPreviousFor: '10m',
  standbyFor: '10m',
  standbyCount: 1,
  stableTimeout: '2m',
};

/** The timers of the first soak (10 %) that were cancelled. */
function cancelledSoakTimers(facts: HistoryFact[]): HistoryFact[] {
  const soakTimers = new Set(facts.filter((f) => f.type === 'TIMER_STARTED' && f.summary?.startsWith('Soak 10 %')).map((f) => f.timerId));
  return facts.filter((f) => f.type === 'TIMER_CANCELED' && soakTimers.has(f.timerId));
}

describe('a deployment recorded before the fold', () => {
  it('replays with a marker for each patch, its pause and resume in a soak', async () => {
    const history = fixtureHistory('deployment-before-folded-patches');
    const facts = factsOf(history);
    expect(patchMarkers(facts)).toHaveLength(11);
    expect(patchMarkers(facts)).not.toContain('deployment-fold-1');
    expect(facts.filter((f) => f.type === 'WORKFLOW_EXECUTION_UPDATE_ACCEPTED')).toHaveLength(2);
    expect(listedPhases(facts)).toContain('paused');
    expect(cancelledSoakTimers(facts)).toHaveLength(2);
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, 'deploy:web:prod:4.2.0');
  });
});

describe('a deployment started since the fold (time-skipping server)', () => {
  const sb = useTimeSkippingSandbox(PLAN);

  it('writes the fold\'s marker for the eleven, holds on a pause in a soak and goes on when resumed', async () => {
    const t = sb.files.config.services.web.environments.prod;
    const metrics = appMetrics(sb.aws.providers.routerFor(t.traffic), () => healthy);
    const { facts, outcome, held } = await sb.withWorker(metrics, async () => {
      const spec = buildDeploymentSpec(sb.files.config, { service: 'web', environment: 'prod', version: '4.3.0', requestedBy: 'ada' });
      const { id } = await startDeployment(sb.env.client, sb.files.taskQueue, spec);
      const handle = sb.env.client.workflow.getHandle(id);
      await until('the 10 % soak', () => handle.query(deploymentStatusQuery), (st) => st.phase === 'soaking', 20_000, 50);
      await sb.env.sleep('12m');
      await executeUpdateOnce(handle, deploymentActionUpdate, [{ action: 'pause', reason: 'look', actor: 'rosa' }]);
      await sb.env.sleep('2h');
      const held = await handle.query(deploymentStatusQuery);
      await executeUpdateOnce(handle, deploymentActionUpdate, [{ action: 'resume', reason: 'ok', actor: 'rosa' }]);
      await handle.result();
      await replayAll(handle);
      return { facts: await allFacts(handle), outcome: (await handle.query(deploymentStatusQuery)).outcome, held };
    });

    // The fold's marker stands for the eleven; a patch written since is not in it and writes its own.
    const markers = patchMarkers(facts);
    expect(markers[0]).toBe('deployment-fold-1');
    expect(markers.slice(1).every((id) => id === ROUTINE_CLEAR_OF_PATH_PATCH)).toBe(true);
    // The pause held the soak: 12 of its 30 minutes had passed, 18 were left when it resumed.
    expect(held.phase).toBe('paused');
    expect(held.soak).toMatchObject({ kind: 'soak', paused: true, remainingSeconds: 18 * 60 });
    expect(outcome).toBe('succeeded');
    // The soak's timers cancelled as condition's were (the run recorded before cancels the same
    // two): the one running at the pause, and the next sample's (samples go on while paused) at the resume.
    expect(cancelledSoakTimers(facts)).toHaveLength(2);
    // The path and the tail as before: the keep, the standby, the retirement.
    expect(listedPhases(facts)).toEqual(['starting', 'deploying', 'smoke_testing', 'soaking', 'paused', 'soaking', 'keeping_previous', 'standby', 'retiring', 'completed']);
  });
});
