// Gates: what still stands between a release and an environment (as data, and in plain
// words for the status, Slack and the Temporal UI), and why an approval would be refused
// (the approval Update's validator). Pure: the workflow passes the time and the records in.
import { currentDeparture, formatInZone, formatUtc, nextDepartures } from './calendar';
import { formatDuration } from './durations';
import type {
  ApprovalRecord,
  ApprovalRefusal,
  ApprovalRequest,
  ApprovalRule,
  ApprovalValidationContext,
  CheckRecord,
  Freeze,
  GateApprovalProgress,
  GateCheckProgress,
  GateContext,
  GateProgress,
  GateSpec,
  TrainSpec,
} from './release';
import type { Holder } from './policy';

export type {
  ApprovalRefusal,
  ApprovalRequest,
  ApprovalValidationContext,
  GateApprovalProgress,
  GateCheckProgress,
  GateContext,
  GateProgress,
} from './release';

/** How far ahead to look for a train departure that no freeze covers (10 years of weekly trains). */
const MAX_DEPARTURES_SEARCHED = 520;

// ---- freezes ----

function freezeCovers(freeze: Freeze, environment: string, ms: number): boolean {
  // An unparsable date gives NaN, and NaN compares false: a malformed freeze never matches
  // (config validation is where it should have been caught).
  return freeze.environments.includes(environment) && Date.parse(freeze.from) <= ms && ms < Date.parse(freeze.to);
}

/** The freeze covering `environment` at nowMs, or null. Of overlapping ones, the one that ends last. */
export function activeFreeze(freezes: Freeze[], environment: string, nowMs: number): Freeze | null {
  let found: Freeze | null = null;
  for (const f of freezes) {
    if (!freezeCovers(f, environment, nowMs)) continue;
    // "frozen until" must not promise an end that another freeze overrides.
    if (!found || Date.parse(f.to) > Date.parse(found.to)) found = f;
  }
  return found;
}

// ---- checks ----

/** The newest record of a check: latest `at`; on a tie, the one recorded last. */
function newestCheck(name: string, checks: CheckRecord[]): CheckRecord | null {
  let newest: CheckRecord | null = null;
  let newestAt = -Infinity;
  for (const c of checks) {
    if (c.name !== name) continue;
    const at = Date.parse(c.at);
    const key = Number.isNaN(at) ? -Infinity : at;
    if (newest === null || key >= newestAt) {
      newest = c;
      newestAt = key;
    }
  }
  return newest;
}

function checkProgress(name: string, checks: CheckRecord[]): GateCheckProgress {
  const c = newestCheck(name, checks);
  return c ? { name, status: c.status, url: c.url, at: c.at } : { name, status: 'missing', url: null, at: null };
}

function checkPhrase(c: GateCheckProgress): string | null {
  if (c.status === 'missing') return `waiting for check '${c.name}'`;
  if (c.status === 'failed') return `check '${c.name}' failed${c.url ? ` (${c.url})` : ''}; waiting for a newer passing run`;
  return null;
}

// ---- approvals ----

interface Approver {
  by: string;
  roles: string[];
}

/** People who approved this environment, each once, in the order they decided. The requester never counts. */
function approversOf(environment: string, approvals: ApprovalRecord[], requestedBy: string): Approver[] {
  const seen = new Set<string>();
  const out: Approver[] = [];
  for (const a of approvals) {
    if (a.environment !== environment || seen.has(a.by)) continue;
    // A person's first decision is their decision (the validator refuses a second one).
    seen.add(a.by);
    if (a.decision === 'approve' && a.by !== requestedBy) out.push({ by: a.by, roles: a.roles });
  }
  return out;
}

/**
 * Counts each approver towards at most one rule, filling as many rules as possible.
 * A plain greedy pass is not enough: someone with roles qa and product who approved first
 * would take the qa slot and leave a later qa-only approver with nothing. This is a maximum
 * bipartite matching (augmenting paths) of approvers to rule slots, in approval order.
 */
function assignApprovers(rules: ApprovalRule[], approvers: Approver[]): string[][] {
  const slotRule = rules.flatMap((r, i) => Array.from({ length: Math.max(0, r.count) }, () => i));
  const holder: Array<number | null> = slotRule.map(() => null);
  const place = (person: number, tried: boolean[]): boolean => {
    for (let s = 0; s < slotRule.length; s++) {
      if (tried[s] || !approvers[person].roles.includes(rules[slotRule[s]].role)) continue;
      tried[s] = true;
      const current = holder[s];
      if (current === null || place(current, tried)) {
        holder[s] = person;
        return true;
      }
    }
    return false;
  };
  approvers.forEach((_, person) => place(person, slotRule.map(() => false)));
  return rules.map((_, i) =>
    holder
      .flatMap((p, s) => (p !== null && slotRule[s] === i ? [p] : []))
      .sort((a, b) => a - b)
      .map((p) => approvers[p].by),
  );
}

function approvalProgress(rules: ApprovalRule[], approvers: Approver[]): GateApprovalProgress[] {
  const counted = assignApprovers(rules, approvers);
  return rules.map((rule, i) => ({ rule, by: counted[i], missing: Math.max(0, rule.count - counted[i].length) }));
}

function approvalPhrase(a: GateApprovalProgress): string | null {
  if (a.missing === 0) return null;
  return `waiting for ${a.missing} more ${a.rule.role} approval${a.missing === 1 ? '' : 's'}`;
}

/**
 * The people a run started now can take decisions from, as a snapshot of names and roles: the
 * holders of `roles` (the roles its rules, its cancel and its confirmations name), admins, and
 * the requester. A run judges every decision by this, not by roles an Update claims.
 */
export function decidersOf(people: readonly Holder[], roles: readonly string[], requestedBy: string): Holder[] {
  const named = new Set(['admin', ...roles]);
  return people.filter((p) => p.name === requestedBy || p.roles.some((r) => named.has(r))).map((p) => ({ name: p.name, roles: [...p.roles] }));
}

/** What a set of approval rules still waits for, in words (empty: they hold); for runs other than releases (restores). */
export function approvalsPending(rules: ApprovalRule[], environment: string, approvals: ApprovalRecord[], requestedBy: string): string[] {
  const progress = approvalProgress(rules, approversOf(environment, approvals, requestedBy));
  return progress.map(approvalPhrase).filter((p): p is string => p !== null);
}

// ---- stability ----

interface Stability {
  remainingSeconds: number;
  waivedBy: string | null;
  phrase: string | null;
  note: string | null;
}

/** A countdown reads better in whole minutes: "6d23h", not "6d22h59m59s". */
function roughDuration(seconds: number): string {
  return formatDuration(seconds >= 60 ? Math.ceil(seconds / 60) * 60 : seconds);
}

function stability(gate: GateSpec, ctx: GateContext, approvers: Approver[]): Stability {
  const prev = ctx.previousEnvironment;
  if (prev === null || gate.stabilitySeconds <= 0) return { remainingSeconds: 0, waivedBy: null, phrase: null, note: null };
  const remaining =
    ctx.previousLiveSinceMs === null
      ? gate.stabilitySeconds
      : Math.max(0, Math.ceil((ctx.previousLiveSinceMs + gate.stabilitySeconds * 1000 - ctx.nowMs) / 1000));
  if (remaining === 0) return { remainingSeconds: 0, waivedBy: null, phrase: null, note: null };
  // Only a hotfix approval waives it, and only while there is something to waive.
  const role = ctx.hotfix ? ctx.hotfixApprovalRole : null;
  const waiver = role === null ? undefined : approvers.find((a) => a.roles.includes(role));
  if (waiver) {
    const note = `hotfix: stability in ${prev} waived by ${waiver.by} (${role})`;
    return { remainingSeconds: 0, waivedBy: waiver.by, phrase: null, note };
  }
  const orHotfix = role === null ? '' : ` (or, for this hotfix, an approval by someone with role '${role}')`;
  const phrase =
    ctx.previousLiveSinceMs === null
      ? `waiting for the version to go live in ${prev}, then ${roughDuration(remaining)} of stability there${orHotfix}`
      : `waiting for ${roughDuration(remaining)} of stability in ${prev}${orHotfix}`;
  return { remainingSeconds: remaining, waivedBy: null, phrase, note: null };
}

// ---- train ----

/** The first departure at or after nowMs that boards: the open window's, else the next one no freeze covers. */
function boardingDeparture(train: TrainSpec, ctx: GateContext): number | null {
  const open = currentDeparture(train, ctx.nowMs);
  // A train whose run has ended (everything it carried is live) boards no more, window or not.
  const left = open !== null && (ctx.trainsLeft ?? []).includes(open);
  if (open !== null && !left && !activeFreeze(ctx.freezes, ctx.environment, ctx.nowMs)) return open;
  // A departure inside a freeze departs nothing for this environment, so skip it.
  let from = ctx.nowMs;
  for (let i = 0; i < MAX_DEPARTURES_SEARCHED; i++) {
    const [t] = nextDepartures(train, from, 1);
    if (t === undefined) return null;
    if (!activeFreeze(ctx.freezes, ctx.environment, t)) return t;
    from = t;
  }
  return null;
}

function trainPhrase(name: string, train: TrainSpec | null, departure: number | null, nowMs: number): string {
  if (train === null) return `waiting for train '${name}', which has no schedule`;
  if (departure === null) return `train '${name}' has no departure outside a freeze`;
  const when = `${formatInZone(departure, train.timeZone)} (${formatUtc(departure)})`;
  if (departure <= nowMs) {
    return `train ${when} is boarding until ${formatInZone(departure + train.windowSeconds * 1000, train.timeZone)}`;
  }
  return `next train ${when}`;
}

// ---- the gate ----

/** Where a gate stands now: every requirement, whether all but the train hold, and what is pending in plain words. */
export function gateProgress(gate: GateSpec, ctx: GateContext): GateProgress {
  const expired = ctx.expiry !== null && ctx.expiry.leftMs <= 0;
  const expiresAtMs = ctx.expiry && ctx.expiry.running && !expired ? ctx.nowMs + ctx.expiry.leftMs : null;
  const frozen = activeFreeze(ctx.freezes, ctx.environment, ctx.nowMs);
  const rejection = ctx.approvals.find((a) => a.environment === ctx.environment && a.decision === 'reject') ?? null;
  const checks = gate.checks.map((name) => checkProgress(name, ctx.checks));
  const approvers = approversOf(ctx.environment, ctx.approvals, ctx.requestedBy);
  const approvals = approvalProgress(gate.approvals, approvers);
  const stable = stability(gate, ctx, approvers);
  const nextDepartureMs = gate.train !== null && ctx.train !== null ? boardingDeparture(ctx.train, ctx) : null;
  const requirementsHold =
    checks.every((c) => c.status === 'passed') && approvals.every((a) => a.missing === 0) && stable.remainingSeconds === 0;

  const pending: string[] = [];
  if (rejection) pending.push(`rejected by ${rejection.by}${rejection.comment ? `: ${rejection.comment}` : ''}`);
  if (expired) pending.push(`gate expired: not satisfied within ${formatDuration(gate.expirySeconds)} of open, unfrozen time`);
  if (frozen) pending.push(`frozen until ${formatUtc(Date.parse(frozen.to))}: ${frozen.reason}`);
  for (const c of checks) pushIf(pending, checkPhrase(c));
  for (const a of approvals) pushIf(pending, approvalPhrase(a));
  pushIf(pending, stable.phrase);
  if (gate.train !== null) pending.push(trainPhrase(gate.train, ctx.train, nextDepartureMs, ctx.nowMs));

  return {
    ready: requirementsHold && !expired && frozen === null && rejection === null,
    requirementsHold,
    expired,
    expiresAtMs,
    expiryLeftSeconds: ctx.expiry === null ? null : Math.ceil(Math.max(0, ctx.expiry.leftMs) / 1000),
    frozen,
    checks,
    approvals,
    stabilityRemainingSeconds: stable.remainingSeconds,
    stabilityWaivedBy: stable.waivedBy,
    nextDepartureMs,
    pending,
    notes: stable.note === null ? [] : [stable.note],
  };
}

function pushIf(list: string[], item: string | null): void {
  if (item !== null) list.push(item);
}

// ---- approval validation ----

/** Roles whose holders may decide on this gate: its rules' roles, and the hotfix role when it can waive stability. */
function decidingRoles(gate: GateSpec, ctx: ApprovalValidationContext): string[] {
  const roles = gate.approvals.map((r) => r.role);
  if (ctx.hotfix && ctx.hotfixApprovalRole !== null && gate.stabilitySeconds > 0) roles.push(ctx.hotfixApprovalRole);
  return [...new Set(roles)];
}

/**
 * Why this decision must be refused, or null when it is accepted. A rejection by someone
 * with a deciding role is accepted (the workflow then ends the release), also while a
 * satisfied gate waits for its train: that is the last chance to stop it.
 */
export function whyApprovalRefused(req: ApprovalRequest, ctx: ApprovalValidationContext): ApprovalRefusal | null {
  const env = req.environment;
  const gate = ctx.gate;
  if (gate === null) return { status: 409, message: `environment '${env}' has no gate to decide on` };
  const roles = decidingRoles(gate, ctx);
  if (roles.length === 0) return { status: 409, message: `gate '${env}' needs no approvals` };
  // Authorization before state: someone who may never decide here hears so (403), whatever the
  // gate's state, rather than learning whether it is open.
  if (!roles.some((r) => req.roles.includes(r))) {
    const has = req.roles.length === 0 ? 'no roles' : `roles ${req.roles.join(', ')}`;
    return { status: 403, message: `${req.by} (${has}) may not decide on gate '${env}': it needs role ${roles.join(' or ')}` };
  }
  if (req.decision === 'approve' && req.by === ctx.requestedBy) {
    return { status: 403, message: `${req.by} requested this release and may not approve it` };
  }
  const expired = { status: 409, message: `gate '${env}' expired; it takes no more decisions` } as const;
  if (ctx.gateState === 'expired') return expired;
  const open = ctx.gateState === 'open' || (req.decision === 'reject' && ctx.gateState === 'satisfied');
  if (!open) return { status: 409, message: `gate '${env}' is not open (state ${ctx.gateState})` };
  // The workflow's expiry timer may not have fired yet; the time left at nowMs decides.
  if (ctx.expiryLeftMs !== null && ctx.expiryLeftMs <= 0) return expired;
  const earlier = ctx.approvals.find((a) => a.environment === env && a.by === req.by);
  if (earlier) {
    const did = earlier.decision === 'approve' ? 'approved' : 'rejected';
    return { status: 409, message: `${req.by} already ${did} gate '${env}' at ${earlier.at}; each person decides once` };
  }
  return null;
}
