// A pausable countdown as a plain value: a soak, a keep or standby period, a gate's expiry.
// It survives continue-as-new as it is: `since` is workflow time, which keeps running between
// runs, so a countdown carried into a new run counts the time in between like any other time.
// No sentinels: a held countdown has `since: null`, a running one the instant it last
// (re)started. Pure: callers pass the time in.

export interface Countdown {
  /** The full length, for display ("3m left of 10m"); extensions add to it. */
  totalMs: number;
  /** Time left as of `since` (or, while held, as of when it was held). */
  leftMs: number;
  /** Workflow time (ms) from which it counts down; null while held. */
  since: number | null;
}

export function startCountdown(totalMs: number, nowMs: number, running = true): Countdown {
  const ms = Math.max(0, totalMs);
  return { totalMs: ms, leftMs: ms, since: running ? nowMs : null };
}

/** Time left at nowMs (never below 0, never more than when it was last anchored). */
export function leftMs(c: Countdown, nowMs: number): number {
  if (c.since === null) return Math.max(0, c.leftMs);
  return Math.max(0, c.leftMs - Math.max(0, nowMs - c.since));
}

export function isRunning(c: Countdown): boolean {
  return c.since !== null;
}

/** Stops the count at nowMs, keeping what is left. Holding a held countdown changes nothing. */
export function hold(c: Countdown, nowMs: number): Countdown {
  if (c.since === null) return c;
  return { ...c, leftMs: leftMs(c, nowMs), since: null };
}

/** Starts counting again from nowMs. Resuming a running countdown changes nothing. */
export function resume(c: Countdown, nowMs: number): Countdown {
  if (c.since !== null) return c;
  return { ...c, since: nowMs };
}

/** Sets whether it counts, at nowMs. */
export function runWhile(c: Countdown, running: boolean, nowMs: number): Countdown {
  return running ? resume(c, nowMs) : hold(c, nowMs);
}

/** Adds time (an operator's extend, an inconclusive sample's extra interval). */
export function extend(c: Countdown, ms: number, nowMs: number): Countdown {
  const anchored = c.since === null ? c : { ...c, leftMs: leftMs(c, nowMs), since: nowMs };
  return { ...anchored, totalMs: c.totalMs + ms, leftMs: anchored.leftMs + ms };
}

/**
 * A countdown whose time was up gets `ms` more, counted from `fromMs`, a moment already past
 * (the slot of the sample that asked for more): it runs out at `fromMs + ms`, not `ms` after
 * the few ms it took to decide. From nowMs when that moment is more than `ms` ago.
 */
export function extendFrom(c: Countdown, ms: number, fromMs: number, nowMs: number): Countdown {
  const left = fromMs + ms > nowMs ? fromMs + ms - nowMs : ms;
  return { ...c, totalMs: c.totalMs + ms, leftMs: left, since: c.since === null ? null : nowMs };
}

/** Ends it now (an operator's promote, or its timer firing): nothing left. */
export function finish(c: Countdown, nowMs: number): Countdown {
  return { ...c, leftMs: 0, since: c.since === null ? null : nowMs };
}

/** The instant it reaches zero while it keeps running; null while held. */
export function dueAt(c: Countdown): number | null {
  return c.since === null ? null : c.since + Math.max(0, c.leftMs);
}

export function isDone(c: Countdown, nowMs: number): boolean {
  return leftMs(c, nowMs) === 0;
}
