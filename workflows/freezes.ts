/**
 * The freezes declared through the API (`baton-freezes`): one long-lived workflow holds them,
 * so a freeze survives restarts of the API and the worker and takes effect on running
 * releases without one. Config freezes stay in config; this holds only the API's.
 *
 * Invariants:
 * - Declaring and lifting are Updates: the validator refuses a bad period or an unknown id,
 *   and nothing changes; an accepted one is recorded before the answer (who, when, why).
 * - Every change bumps the revision and is sent to every running release (an activity that
 *   lists them and signals each); a release keeps the highest revision it has seen, and reads
 *   the registry itself when it starts and before it deploys, so no release misses a freeze.
 * - Freezes that have ended are dropped at the next change. History stays bounded by
 *   continue-as-new, carrying the freezes, the id counter and the revision.
 */
import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { ErrorType } from '../src/domain/errors';
import { INSTANT_RULE, parseInstant } from '../src/domain/instants';
import type { Freeze } from '../src/domain/release';
import { declareFreezeUpdate, freezesQuery, liftFreezeUpdate, type DeclareFreezeInput, type FreezeRegistryInput, type LiftFreezeInput } from './messages';

const act = proxyActivities<Activities>({ startToCloseTimeout: '2m', retry: { maximumInterval: '30s', maximumAttempts: 10 } });

/** Why a declared period is refused, or null. Pure; the API checks environments against config first. */
export function whyFreezeRefused(f: Pick<DeclareFreezeInput, 'from' | 'to' | 'environments' | 'reason'>, nowMs: number): string | null {
  const from = parseInstant(f.from);
  const to = parseInstant(f.to);
  if (from === null) return `from: '${f.from}' is not ${INSTANT_RULE}`;
  if (to === null) return `to: '${f.to}' is not ${INSTANT_RULE}`;
  if (to <= from) return `to: must be after from (${f.from})`;
  if (to <= nowMs) return `to: ${f.to} has already passed; a freeze must end in the future`;
  if (f.environments.length === 0) return 'environments: name at least one environment';
  if (!f.reason.trim()) return 'reason: say why (it is shown wherever the freeze holds something)';
  return null;
}

export async function freezeRegistry(input: FreezeRegistryInput = {}): Promise<void> {
  const maxHistory = input.maxHistoryEvents ?? 1000;
  let freezes: Freeze[] = [...(input.freezes ?? [])];
  let seq = input.seq ?? 0;
  let revision = input.revision ?? 0;
  let broadcasted = revision;
  const refuse = (message: string, status: number): never => {
    throw ApplicationFailure.create({ type: ErrorType.InvalidTransition, message, nonRetryable: true, details: [{ status }] });
  };

  function refreshDetails(): void {
    const lines = [`**Freezes declared through the API** (revision ${revision})`];
    for (const f of freezes) lines.push(`- ${f.id}: ${f.environments.join(', ')} ${f.from} → ${f.to}: ${f.reason} (by ${f.declaredBy})`);
    if (freezes.length === 0) lines.push('- none');
    setCurrentDetails(lines.join('\n'));
  }

  /** Drops freezes that have ended. */
  function prune(): void {
    const now = Date.now();
    freezes = freezes.filter((f) => Date.parse(f.to) > now);
  }

  setHandler(freezesQuery, () => ({ freezes, revision }));
  setHandler(
    declareFreezeUpdate,
    (d: DeclareFreezeInput): Freeze => {
      prune();
      seq++;
      revision++;
      const f: Freeze = {
        id: `freeze-${seq}`,
        from: new Date(Date.parse(d.from)).toISOString(),
        to: new Date(Date.parse(d.to)).toISOString(),
        environments: [...new Set(d.environments)],
        reason: d.reason.trim(),
        source: 'api',
        declaredBy: d.by,
        declaredAt: new Date(Date.now()).toISOString(),
        ...(d.allowBreakGlass ? { allowBreakGlass: true } : {}),
      };
      freezes = [...freezes, f];
      log.info('freeze declared', { id: f.id, by: d.by });
      refreshDetails();
      return f;
    },
    {
      validator: (d: DeclareFreezeInput) => {
        const why = whyFreezeRefused(d, Date.now());
        if (why) refuse(why, 400);
      },
    },
  );
  setHandler(
    liftFreezeUpdate,
    (l: LiftFreezeInput): Freeze => {
      const f = freezes.find((x) => x.id === l.id) as Freeze;
      freezes = freezes.filter((x) => x.id !== l.id);
      revision++;
      prune();
      log.info('freeze lifted', { id: l.id, by: l.by });
      refreshDetails();
      return f;
    },
    {
      validator: (l: LiftFreezeInput) => {
        // One that has ended is gone (it is pruned at the next change): lifting it is unknown, as the message says.
        if (!freezes.some((x) => x.id === l.id && Date.parse(x.to) > Date.now())) refuse(`no freeze '${l.id}' declared through the API (lifted already, or ended)`, 404);
      },
    },
  );
  refreshDetails();

  for (;;) {
    await condition(() => revision !== broadcasted);
    const sending = revision;
    try {
      const told = await act.broadcastFreezes({ freezes, revision: sending });
      log.info('freezes sent to running releases', { revision: sending, told });
    } catch (err) {
      log.warn('could not tell every running release; they read the freezes again before deploying', { error: String(err) });
    }
    broadcasted = sending;
    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength >= maxHistory) {
      await condition(allHandlersFinished);
      if (revision === broadcasted) await continueAsNew<typeof freezeRegistry>({ freezes, seq, revision, maxHistoryEvents: input.maxHistoryEvents });
    }
  }
}
