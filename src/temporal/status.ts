// Reading a run's status cheaply, for every kind of run (deployments, releases, restores,
// failovers). A status query on a closed run makes a worker replay the run's whole history,
// and queries on one running run are answered one at a time by the worker that holds it, so
// under load the API must not send one query per request:
// - a finished run's status is what it kept in its memo as it ended (workflows/final-status.ts),
//   read with one describe and kept here, keyed by run id (a finished run never changes; the
//   workflow id may be started again, which the run id tells apart). Runs that ended without
//   that memo (started before it existed, terminated) are queried once, then kept alike;
// - a running run's status is one query per id at a time: requests that arrive while one is
//   in flight share its answer (single flight), and this process's own actions on a run make
//   the next request ask afresh, so an operator who acted reads what the action did.
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { QueryDefinition } from '@temporalio/common';
import { FINAL_STATUS_MEMO } from '../../workflows/final-status';

/** How many finished runs' statuses this process keeps (the least recently read go first). */
const MAX_FINISHED = 2000;

interface Finished {
  runId: string;
  status: unknown;
}

interface Reads {
  /** Per id: the lookup in flight, if any. */
  inFlight: Map<string, Promise<unknown>>;
  /** Per id: the status of its last run, when that run had finished. */
  finished: Map<string, Finished>;
}

/** Per client (each talks to its own Temporal namespace, where ids mean their own runs). */
const byClient = new WeakMap<Client, Reads>();

function readsOf(client: Client): Reads {
  let reads = byClient.get(client);
  if (!reads) {
    reads = { inFlight: new Map(), finished: new Map() };
    byClient.set(client, reads);
  }
  return reads;
}

/** The run does not exist: the caller names it (a NotFoundError of its own kind). */
export class NoSuchRun extends Error {
  override name = 'NoSuchRun';
}

/**
 * The status of run `id`: from its memo or this process's cache once it has finished, else its
 * `query`, sent at most once at a time per id. Throws NoSuchRun for an unknown id.
 */
export function readStatus<T>(client: Client, id: string, query: QueryDefinition<T>): Promise<T> {
  const { inFlight, finished } = readsOf(client);
  const flying = inFlight.get(id);
  if (flying) return flying as Promise<T>;
  const lookup = lookUp(client, finished, id, query);
  inFlight.set(id, lookup);
  const land = () => {
    if (inFlight.get(id) === lookup) inFlight.delete(id);
  };
  lookup.then(land, land);
  return lookup;
}

/**
 * This process changed run `id` (an action, a decision): a lookup already in flight may predate
 * the change, so the next read starts its own.
 */
export function statusChanged(client: Client, id: string): void {
  readsOf(client).inFlight.delete(id);
}

async function lookUp<T>(client: Client, finished: Map<string, Finished>, id: string, query: QueryDefinition<T>): Promise<T> {
  let handle = client.workflow.getHandle(id);
  try {
    const d = await handle.describe();
    if (d.status.name === 'RUNNING') return await handle.query(query);
    const kept = finished.get(id);
    if (kept && kept.runId === d.runId) {
      // Most recently read last: the oldest is the first to go.
      finished.delete(id);
      finished.set(id, kept);
      return kept.status as T;
    }
    handle = client.workflow.getHandle(id, d.runId);
    const memo = d.memo?.[FINAL_STATUS_MEMO];
    const status = memo !== undefined ? (memo as T) : await handle.query(query);
    finished.set(id, { runId: d.runId, status });
    if (finished.size > MAX_FINISHED) finished.delete(finished.keys().next().value as string);
    return status;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new NoSuchRun(`no run '${id}'`);
    throw err;
  }
}
