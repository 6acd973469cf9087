// What Baton tells a channel about a run, as data. Workflows build these cards (pure values,
// so they belong in history); the worker's Slack adapter renders them into Block Kit, adding
// the links (Temporal UI, API) that come from the worker's config, not from workflow input.
import type { Decision } from './release';
import type { Outcome } from './types';

/** Where a run posts, carried in its input (never a token: those stay in the worker). */
export interface NotifySpec {
  /** A channel id or name; absent: the worker's default (or only the log). */
  channel?: string;
  /** The least time between two updates of a run's message, so a busy day stays inside Slack's rate limits. */
  updateEverySeconds: number;
}

/** A posted message: where it is, so it can be updated or replied to. */
export interface MessageRef {
  channel: string;
  ts: string;
}

export type RunKind = 'deployment' | 'release' | 'restore' | 'failover';

/** The parent message of one run, updated in place as the run progresses. */
export interface RunCard {
  kind: RunKind;
  id: string;
  /** "Deploy api 1.4.2 to prod". */
  title: string;
  requestedBy: string;
  phase: string;
  outcome: Outcome | null;
  /** A bar: the traffic on the new colour (deployments), environments done (releases). */
  progress: { percent: number; label: string } | null;
  /** A running wait (soak, stability...), as of the moment the card was built. */
  countdown: { label: string; remainingSeconds: number; totalSeconds: number; paused: boolean } | null;
  /** Facts, one per line, plain text ("Step 3/7: soak 10 % on green for 10m"). */
  lines: string[];
  /** Why it ended badly, or the problem now (rollback reason, error); null when all is well. */
  note: string | null;
}

/** Where an approval request stands; `closed`: the release ended some other way. */
export type ApprovalCardState = 'open' | 'satisfied' | 'rejected' | 'expired' | 'closed';

/** A release gate's approval request, a reply in the release's thread, with buttons while open. */
export interface ApprovalCard {
  kind: 'approval';
  releaseId: string;
  /** "Release web 1.4.2". */
  releaseTitle: string;
  environment: string;
  state: ApprovalCardState;
  approvals: Array<{ by: string; decision: Decision; comment: string | null }>;
  /** Approvals counted towards the gate's rules, and how many the rules need in all. */
  given: number;
  required: number;
  /** What the gate still waits for, in plain words. */
  pending: string[];
  expiresAt: string | null;
}

export type Card = RunCard | ApprovalCard;

/** Block Kit action ids of the approval buttons, and the modal that asks a rejection's reason. */
export const SLACK_ACTIONS = {
  approve: 'baton.approve',
  reject: 'baton.reject',
  rejectModal: 'baton.reject',
  reasonBlock: 'reason',
  reasonInput: 'reason',
} as const;

/** The value an approval button carries (JSON): which release's gate it decides. */
export interface ApprovalButtonValue {
  release: string;
  environment: string;
}
