// Reading a run's status cheaply, for every kind of run (deployments, releases, restores,
// failovers). A status query on a closed run makes a worker replay the run's whole history,
// and queries on one running run are answered one at a time by the worker that holds it, so
// under load the API must not send one query per request. A workflow's state, and so its
// status, changes only with its history (its clock too moves only when a workflow task runs),
// so this process keeps the last status it read of each id, with the run id and the history
// length it was read at, and each read asks Temporal one describe (answered by the server, not
// a worker) and queries only when the run has new events:
// - a finished run's status is what it kept in its memo as it ended (workflows/final-status.ts);
//   runs that ended without that memo (started before it existed, terminated) are queried once;
// - a running run's status is queried again once its history has grown; reads that arrive
//   while a lookup is in flight share its answer (single flight), and this process's own actions
//   on a run make the next read ask afresh, so an operator who acted reads what the action did.
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { QueryDefinition } from '@temporalio/common';
import { FINAL_STATUS_MEMO } from '../../workflows/final-status';

/** How many runs' statuses this process keeps (the least recently read go first). */
const MAX_KEPT = 2000;

interface Kept {
  runId: string;
  /** The run's history length when its status was read: the status of that history. */
  historyLength: number;
  status: unknown;
}

interface Reads {
  /** Per id: the lookup in flight, if any. */
  inFlight: Map<string, Promise<unknown>>;
  /** Per id: the status last read of its latest run. */
  kept: Map<string, Kept>;
}

/** Per client (each talks to its own Temporal namespace, where ids mean their own runs). */
const byClient = new WeakMap<Client, Reads>();

function readsOf(client: Client): Reads {
  let reads = byClient.get(client);
  if (!reads) {
    reads = { inFlight: new Map(), kept: new Map() };
    byClient.set(client, reads);
  }
  return reads;
}

/** The run does not exist: the caller names it (a NotFoundError of its own kind). */
export class NoSuchRun extends Error {
  override name = 'NoSuchRun';
}

/**
 * The status of run `id`: what this process read last if the run has had no event since, else
 * its memo once it has finished, else its `query`; one lookup at a time per id. Throws
 * NoSuchRun for an unknown id.
 */
export function readStatus<T>(client: Client, id: string, query: QueryDefinition<T>): Promise<T> {
  const { inFlight, kept } = readsOf(client);
  const flying = inFlight.get(id);
  if (flying) return flying as Promise<T>;
  const lookup = lookUp(client, kept, id, query);
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

async function lookUp<T>(client: Client, kept: Map<string, Kept>, id: string, query: QueryDefinition<T>): Promise<T> {
  try {
    const d = await client.workflow.getHandle(id).describe();
    const last = kept.get(id);
    // Most recently read last: the oldest is the first to go.
    kept.delete(id);
    if (last && last.runId === d.runId && last.historyLength === d.historyLength) {
      kept.set(id, last);
      return last.status as T;
    }
    const memo = d.status.name === 'RUNNING' ? undefined : d.memo?.[FINAL_STATUS_MEMO];
    const status = memo !== undefined ? (memo as T) : await client.workflow.getHandle(id, d.runId).query(query);
    kept.set(id, { runId: d.runId, historyLength: d.historyLength, status });
    if (kept.size > MAX_KEPT) kept.delete(kept.keys().next().value as string);
    return status;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new NoSuchRun(`no run '${id}'`);
    throw err;
  }
}
