// Real servers for tests. Each helper returns something with stop(); tests stop what they start.
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { Client, Connection } from '@temporalio/client';
import { ensureToolchain } from '../../src/local/toolchain';
import { SEARCH_ATTRIBUTES, startTemporalDevServer, type TemporalDevServer } from '../../src/local/servers';

export { startMoto, startTemporalDevServer } from '../../src/local/servers';
export { freePort } from '../../src/local/processes';

/** Temporal's Java time-skipping test server (no schedules, no visibility listing). */
export async function startTimeSkipping(): Promise<TestWorkflowEnvironment> {
  quietWorkerLogs();
  const { testServer } = ensureToolchain({ java: true });
  if (!testServer) throw new Error('the Java test server is not installed');
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: testServer } },
  });
  try {
    // The dev server takes --search-attribute flags; the test server registers them by API.
    const keyword = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
    await env.connection.operatorService.addSearchAttributes({
      namespace: env.namespace ?? 'default',
      searchAttributes: Object.fromEntries(Object.keys(SEARCH_ATTRIBUTES).map((k) => [k, keyword])),
    });
  } catch (err) {
    await env.teardown();
    throw err;
  }
  return env;
}

export const searchAttributeNames = Object.keys(SEARCH_ATTRIBUTES);

let runtimeInstalled = false;

/** Workers in tests log warnings and errors only (call before the first worker or connection). */
export function quietWorkerLogs(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    /* a runtime already exists in this process: keep it */
  }
}

type Stoppable = { stop(): Promise<void> } | { teardown(): Promise<void> };

/** Starts two things side by side; if either fails, stops the one that started, then throws. */
export async function startTogether<A extends Stoppable, B extends Stoppable>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [ra, rb] = await Promise.allSettled([a, b]);
  if (ra.status === 'fulfilled' && rb.status === 'fulfilled') return [ra.value, rb.value];
  for (const r of [ra, rb]) {
    if (r.status !== 'fulfilled') continue;
    const started: Stoppable = r.value;
    await ('stop' in started ? started.stop() : started.teardown()).catch((err: unknown) => console.error('harness: stop failed:', err));
  }
  throw ra.status === 'rejected' ? ra.reason : (rb as PromiseRejectedResult).reason;
}

export interface TemporalWithClient {
  server: TemporalDevServer;
  client: Client;
  /** Closes the client's connection, then stops the server. */
  stop(): Promise<void>;
}

/** A Temporal dev server and a client connected to it (for API tests that need no worker). */
export async function startTemporalWithClient(): Promise<TemporalWithClient> {
  const server = await startTemporalDevServer();
  try {
    const connection = await Connection.connect({ address: server.address });
    return {
      server,
      client: new Client({ connection }),
      async stop() {
        await connection.close();
        await server.stop();
      },
    };
  } catch (err) {
    await server.stop();
    throw err;
  }
}
