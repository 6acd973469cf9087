// Polling for tests on the dev server, where things happen in real time.
import { WorkflowNotFoundError, type Client, type WorkflowExecutionDescription, type WorkflowHandle } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';

/** Reads until `ok` holds; a read that throws (no worker answering yet) is tried again. */
export async function until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 120_000, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError = '';
  while (Date.now() < deadline) {
    try {
      last = await read();
      if (ok(last)) return last;
    } catch (err) {
      lastError = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)?.slice(0, 600)}${lastError ? ` (last error: ${lastError})` : ''}`);
}

/** Waits until run `id` has closed, however it ended; its description then. */
export function untilClosed(client: Client, id: string, timeoutMs = 60_000): Promise<WorkflowExecutionDescription> {
  return until(`${id} to close`, () => client.workflow.getHandle(id).describe(), (d) => d.status.name !== 'RUNNING', timeoutMs);
}

/**
 * Sends an Update and waits for its result, sending it again (with the same id, so it is
 * applied once) when Temporal's time-skipping test server answers "update … not found": that
 * server now and then loses an Update that reaches a workflow between two workflow tasks.
 */
export async function executeUpdateOnce<Ret, Arg>(handle: WorkflowHandle, update: UpdateDefinition<Ret, [Arg]>, args: [Arg]): Promise<Ret> {
  const updateId = `test-${Math.random().toString(36).slice(2)}`;
  for (let attempt = 1; ; attempt++) {
    try {
      return await handle.executeUpdate(update, { args, updateId });
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError) || !/^update .* not found/.test(err.message) || attempt >= 5) throw err;
    }
  }
}

/** `within` found its promise still pending at the deadline. */
export class DeadlinePassed extends Error {}

/** `p`, or DeadlinePassed ("<what> within <ms> ms") once `ms` of real time have passed. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new DeadlinePassed(`${what} within ${ms} ms`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
