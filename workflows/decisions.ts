// How a run judges a person's decision (an approval, a check, a cancel): signed by the API for
// this run and Update, each signature once, by a person the run knows (its people were fixed
// when it started), with the roles it knows. A run without a key or people (started before
// runs kept them, or by a schedule without the worker's BATON_DECISION_PUBLIC_KEY) takes
// unsigned decisions and the roles they carry. Releases, restores and failovers share this.
import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import { ErrorType } from '../src/domain/errors';
import type { Holder } from '../src/domain/policy';
import { whySignatureRefused, type DecisionSignature } from '../src/domain/signing';

type Decision = DecisionSignature & { by: string; roles?: string[] };

export interface Decisions {
  /** For validators: the person behind a decision, or a 403 refusal (not signed, replayed, unknown). */
  decider(update: string, d: Decision): Holder;
  /** The person as the run knows them, or null. */
  holderOf(d: Pick<Decision, 'by' | 'roles'>): Holder | null;
  /** For handlers: the decision's signature is used (rebuilt on replay, as handlers run again). */
  spend(d: DecisionSignature): void;
}

/** `run`: what the run carries from its start; `what`: the run's kind, for the refusal ("release"). */
export function decisionsOf(run: { decisionKey?: string | null; people?: Holder[] }, what: string): Decisions {
  const used = new Set<string>();
  const refuse = (message: string): never => {
    throw ApplicationFailure.create({ type: ErrorType.DecisionRefused, message, nonRetryable: true, details: [{ status: 403 }] });
  };
  const holderOf = (d: Pick<Decision, 'by' | 'roles'>): Holder | null =>
    run.people ? (run.people.find((p) => p.name === d.by) ?? null) : { name: d.by, roles: d.roles ?? [] };
  return {
    decider(update, d) {
      if (run.decisionKey) {
        const why = whySignatureRefused(run.decisionKey, workflowInfo().workflowId, update, d, used);
        if (why) refuse(why);
      }
      return holderOf(d) ?? refuse(`${d.by} is not among the people this ${what} knows (fixed when it started)`);
    },
    holderOf,
    spend(d) {
      if (d.signature) used.add(d.signature);
    },
  };
}
