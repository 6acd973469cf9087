// Patches, folded. Each patch a run takes (`patched(id)` true) writes two events when it is
// first taken: its marker and the SDK's upsert of TemporalChangeVersion, each a command of the
// task it is in. A deployment took eleven, five of them in its first task. A fold is one patch
// that stands for a list of others: a run that takes it takes every patch in the list as
// applied, with no marker each. The list is fixed when the fold is written: a patch added later
// is not in it, so runs recorded with the fold replay the code they ran. Runs started before
// the fold (no fold marker) check each patch as they did.
import { patched } from '@temporalio/workflow';

export interface Patches {
  /** Whether this run took the fold (every run started since it was written). */
  readonly folded: boolean;
  /** `patched(id)`, true without a marker for a patch the fold stands for. */
  applied(patchId: string): boolean;
}

/** Call once, where the run starts (its first workflow task), as every patch must be called at the same point on replay. */
export function foldPatches(foldId: string, folds: readonly string[]): Patches {
  const folded = patched(foldId);
  return { folded, applied: (id) => (folded && folds.includes(id)) || patched(id) };
}
