// A deployment lists in BatonPhase the phases it waits in. An ALB shift, over within its one
// call, is no longer listed (tail.test.ts checks what new runs list), and an operator's pause or
// resume is listed at once (updates-dev.test.ts). Runs started before wrote other commands: a
// new worker that picks one up must write the same ones, or the run fails its replay. These
// histories were recorded by the code before each change.
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { workflowBundle } from '../../src/temporal/bundle';
import { factsOf, fixtureHistory, listedPhases } from '../harness/history';

describe('deployments recorded before quick phases went unlisted', () => {
  for (const [traffic, service] of [['alb', 'web'], ['route53', 'api']]) {
    it(`replay (${traffic}), listing every shift as it began`, async () => {
      const history = fixtureHistory(`deployment-before-quick-phases-${traffic}`);
      expect(listedPhases(factsOf(history)).filter((p) => p === 'shifting')).toHaveLength(3);
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, `deploy:${service}:prod:4.0.0`);
    });
  }

  it('replay a pause and a resume in a soak, recorded when neither was listed', async () => {
    const history = fixtureHistory('deployment-before-actions-list-phase');
    const facts = factsOf(history);
    expect(facts.filter((f) => f.type === 'WORKFLOW_EXECUTION_UPDATE_ACCEPTED')).toHaveLength(2);
    expect(listedPhases(facts)).not.toContain('paused');
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, 'deploy:web:prod:4.1.0');
  });
});
