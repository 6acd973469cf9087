// The race Baton's timings keep clear of (CANCEL_MARGIN_MS, test/harness/history.ts). The
// time-skipping test server fires a timer while a workflow task runs, then rejects that task's
// CancelTimer for it ("invalid history builder state for action") and stops for good, its clock
// locked: a workflow test that met it hung until its timeout (CI, release.test.ts). A wait
// cancelled in a slow task a second before its timer is due ends; one cancelled 5 ms before
// wedges the server (checked last: the server is of no further use after it).
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { quietBundlerLogger } from '../../src/temporal/bundle';
import { factsOf } from '../harness/history';
import { startTimeSkipping } from '../harness/servers';
import { DeadlinePassed, within } from '../harness/wait';

/** Enough work for a workflow task of tens of milliseconds on any machine here. */
const SLOW_TASK = 60_000_000;

describe('a wait ended just before its timer fires (time-skipping server)', () => {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  const taskQueue = 'timer-race';

  beforeAll(async () => {
    env = await startTimeSkipping();
    worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: await bundleWorkflowCode({ workflowsPath: resolve(__dirname, 'timer-race-workflows.ts'), logger: quietBundlerLogger }),
    });
    running = worker.run();
  });
  afterAll(async () => {
    worker?.shutdown();
    await running?.catch(() => undefined);
    await env?.teardown();
  });

  /** The run's result, or 'hung' when it has not ended within `ms` of real time. */
  async function run(leftMs: number, id: string, ms = 8_000): Promise<string> {
    const handle = await env.client.workflow.start('endsWaitBeforeFiring', { taskQueue, workflowId: id, args: [leftMs, SLOW_TASK] });
    return within(handle.result() as Promise<string>, ms, `${id} to end`).catch((err: unknown) => {
      if (err instanceof DeadlinePassed) return 'hung';
      throw err;
    });
  }

  it('cancels a timer a second before it is due, in a slow task: the run ends', async () => {
    for (let i = 0; i < 3; i++) {
      expect(await run(1_000, `clear-${i}`)).toBe('ended by the first timer');
      const facts = factsOf(await env.client.workflow.getHandle(`clear-${i}`).fetchHistory());
      expect(facts.filter((f) => f.type === 'TIMER_CANCELED').map((f) => f.timerId)).toEqual(['2']);
    }
  }, 120_000);

  it('cancels one 5 ms before it is due: it fires while the task runs, and the server wedges', async () => {
    expect(await run(5, 'near')).toBe('hung');
  }, 60_000);
});
