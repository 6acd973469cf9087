// Real servers for tests. Each helper returns something with stop(); tests stop what they start.
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { ensureToolchain } from '../../src/local/toolchain';
import { SEARCH_ATTRIBUTES } from '../../src/local/servers';

export { startMoto, startTemporalDevServer } from '../../src/local/servers';
export { freePort } from '../../src/local/processes';

/** Temporal's Java time-skipping test server (no schedules, no visibility listing). */
export async function startTimeSkipping(): Promise<TestWorkflowEnvironment> {
  const { testServer } = ensureToolchain({ java: true });
  if (!testServer) throw new Error('the Java test server is not installed');
  return TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: testServer } },
  });
}

export const searchAttributeNames = Object.keys(SEARCH_ATTRIBUTES);
