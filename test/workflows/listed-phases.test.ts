// A deployment lists in BatonPhase the phases it waits in; an ALB shift, over within its one
// call, is no longer listed (tail.test.ts checks what new runs list). Runs started before list
// every phase as it begins: a new worker that picks one up must write the same commands, or the
// run fails its replay. These histories were recorded by that code, one on ALB, one on Route 53.
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { workflowBundle } from '../../src/temporal/bundle';
import { factsOf, fixtureHistory } from '../harness/history';

describe('deployments recorded before quick phases went unlisted', () => {
  for (const traffic of ['alb', 'route53']) {
    it(`replay (${traffic}), listing every shift as it began`, async () => {
      const history = fixtureHistory(`deployment-before-quick-phases-${traffic}`);
      const listed = factsOf(history).flatMap((f) => (f.listedPhase ? [f.listedPhase] : []));
      expect(listed.filter((p) => p === 'shifting')).toHaveLength(3);
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, 'deploy:x:prod:4.0.0');
    });
  }
});
