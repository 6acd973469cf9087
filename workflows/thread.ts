/**
 * A run's Slack thread: one parent message (the run's card, updated in place), replies in
 * order, and keyed cards inside the thread (a gate's approval request) also updated in place.
 *
 * Invariants:
 * - Nothing on a run's path waits for Slack: callers only mark what changed; a pump in its own
 *   non-cancellable coroutine does the posting, so a cancelled run still reports its outcome.
 *   Each call is an activity with bounded retries (Retry-After honoured); when one still
 *   fails, the message is dropped or retried later (logged), never the run's next step.
 *   Continue-as-new waits only for a call already in flight, briefly, else it is put off to
 *   the next chance; the run's end waits for what is pending, bounded.
 * - A call in flight is never abandoned: a Slack message always belongs to a live run.
 * - Replies queued together go in one call (each still its own message in the thread).
 * - A run that says when its path is quiet (`quiet`: a deployment's soak) gets its calls
 *   there, after at most MAX_YIELD_MS: a call's completion is a workflow task, and one running
 *   as a step's activity completes holds the step up.
 * - Updates are coalesced: a card is built when it is sent, so many changes cost one call, and
 *   the parent changes at most every `updateEverySeconds` unless something urgent happened.
 * - The parent's cost is bounded by what happens, not by how long it lasts: a routine change
 *   (`refresh`: an analysis sample, a countdown) waits for the run's pace (`pace`: a wait sets
 *   it to a fraction of its length) and rides along with any other update meanwhile, so a wait
 *   costs a few updates however long it is. Every history event counts (a run continues as new
 *   at its bound): the pump waits by a timer only when something is to send.
 * - Where the messages are (channel and ts) and what is still to send are workflow state,
 *   carried over continue-as-new, so a restarted worker keeps updating the same messages.
 * - Deterministic: waits end by condition or by their own timer, never by reading the clock.
 * - A wait cut short by the run's end (close) leaves its timer to run out: nothing of the run's
 *   path follows close, so a stale timer delays nothing (runs started before cancel it).
 */
import { CancellationScope, condition, log, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import { timedCondition } from './timed-condition';
import type { Activities } from '../activities';
import type { Card, MessageRef, NotifySpec } from '../src/domain/notices';

/** `alert`: the reply calls the channel's attention (@here); its text stays escaped. */
type Item = { kind: 'reply'; text: string; alert?: boolean } | { kind: 'card'; key: string };

export interface ThreadState {
  parent: MessageRef | null;
  /** Keyed cards posted in the thread, by key. */
  cards: Record<string, MessageRef>;
  /** Replies and keyed cards not posted yet, in order. */
  queue: Item[];
  /** Cards changed since they were last sent. */
  dirty: string[];
  /** Only the parent's figures changed (refresh) since it was last sent: it goes at the pace. */
  parentStale?: boolean;
  /** Workflow time (ms) of the parent's last post or update. */
  sentAt?: number;
}

export function newThreadState(): ThreadState {
  return { parent: null, cards: {}, queue: [], dirty: [] };
}

/** The key of the parent message's card. */
export const PARENT = 'run';

export interface RunThread {
  /** A card changed; `urgent` sends it without waiting out the update interval (outcomes, decisions). */
  touch(key?: string, urgent?: boolean): void;
  /**
   * The card's figures changed (a sample, a countdown), nothing an operator must see at once:
   * sent with the next update, at the latest one pace after the parent's last update.
   */
  refresh(key?: string): void;
  /**
   * The least time between two routine updates of the parent from now on (a wait sets a
   * fraction of its length); null: `updateEverySeconds`. Other changes keep `updateEverySeconds`.
   */
  pace(seconds: number | null): void;
  /** Queues a reply in the thread (mrkdwn); `alert` mentions @here (a stuck safety action). */
  reply(text: string, opts?: { alert?: boolean }): void;
  /** Posts a keyed card in the thread (once), then keeps it current on touch(key). */
  open(key: string): void;
  /**
   * Before continue-as-new: stops sending and waits up to `maxMs` for a call in flight. False
   * (and sending resumes) if one is still in flight: try again later.
   */
  pause(maxMs: number): Promise<boolean>;
  /** At the run's end: sends what is pending (until done, Slack fails again, or `maxMs`), then stops. */
  close(maxMs: number): Promise<void>;
}

/** Replies held while Slack is unreachable; beyond this the oldest are dropped. */
const MAX_QUEUED = 50;
/** After a call failed despite its retries, the pump rests this long before trying again. */
const REST_AFTER_FAILURE_MS = 30_000;
/**
 * Runs started before the pump was bounded keep its old rhythm (an update per change, then a
 * fixed pause), so their histories replay; the marker is written in a run's first task.
 */
export const BOUNDED_UPDATES_PATCH = 'slack-bounded-updates';
/**
 * Replies queued together go in one call (each still a message of its own): one workflow task
 * for a burst instead of one per reply. Runs started before post them one by one.
 */
export const BATCHED_REPLIES_PATCH = 'slack-batched-replies';
/** At most this many replies in one call. */
const MAX_REPLIES_PER_CALL = 10;
/**
 * A run that says when its path is quiet (`quiet`) gets its Slack calls there: each call's
 * completion is a workflow task, and one running when a step's activity completes holds that
 * step up. Runs started before send as soon as they can.
 */
export const YIELD_TO_PATH_PATCH = 'slack-yields-to-path';
/** A call waits at most this long for the path to go quiet (a long activity must not hide the run's news). */
const MAX_YIELD_MS = 2_000;
/** A routine update falls due at least this far from the end of the path's timed wait (routineTimerMs). */
const ROUTINE_CLEAR_MS = 1_000;
/** Routine updates fall due clear of the end of the path's timed waits; runs recorded before keep the pace alone. */
export const ROUTINE_CLEAR_OF_PATH_PATCH = 'slack-routine-clear-of-path';
/**
 * A pump's wait that the run's end cuts short leaves its timer to run out instead of cancelling
 * it. Close is the run's last step (only the end of its handlers follows), so the timer delays
 * nothing: it fires into a task that changes nothing, or the run has ended and it is dropped.
 * No CancelTimer then races the timer's firing at every run's end, which wedges Temporal's
 * time-skipping test server. Runs that cancelled it before keep doing so on replay; the marker
 * is written at the first such close only.
 */
export const TIMERS_OUTLIVE_CLOSE_PATCH = 'slack-timers-outlive-close';

const slack = proxyActivities<Activities>({
  startToCloseTimeout: '10s',
  scheduleToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 4 },
});

export function runThread(opts: {
  state: ThreadState;
  notify: NotifySpec;
  runId: string;
  card: (key: string) => Card;
  /** Whether the run's path is waiting (a timer with time to spare): the time for a Slack call. Absent: any time. */
  quiet?: () => boolean;
  /** When the path's timed wait ends (workflow time), if it is in one: routine updates keep clear of that moment. */
  pathWakesAt?: () => number | null;
  /** The run's `patched` (a fold's `applied`, workflows/patches.ts). Absent: the SDK's. */
  applied?: (patchId: string) => boolean;
}): RunThread {
  const { state, notify } = opts;
  const applied = opts.applied ?? patched;
  const bounded = applied(BOUNDED_UPDATES_PATCH);
  const batched = applied(BATCHED_REPLIES_PATCH);
  const quiet = opts.quiet && applied(YIELD_TO_PATH_PATCH) ? opts.quiet : null;
  // Tags the parent message so a retried post finds it again; the first run's id tells this
  // run (and its continuations) from an earlier run with the same workflow id.
  const runTag = `${opts.runId}#${workflowInfo().firstExecutionRunId}`;
  let urgent = false;
  let busy = false;
  /** Hurry: no resting, no coalescing (the run is ending). */
  let closing = false;
  /** Start nothing new (continue-as-new or the end is near). */
  let stopped = false;
  /** Calls that failed despite their retries; closing stops waiting when one more fails. */
  let failures = 0;
  /** The least time between two routine updates of the parent (ms); bumped `paceChanges` wakes a waiting pump. */
  let paceMs = 0;
  let paceChanges = 0;
  /** The parent's update has waited its turn: it goes next, after what else is queued. */
  let parentReady = false;
  /** A call waited MAX_YIELD_MS for the path to go quiet: calls go at once until it does. */
  let overdue = false;

  const refOf = (key: string): MessageRef | null => (key === PARENT ? state.parent : (state.cards[key] ?? null));
  const hasWork = () => state.parent === null || state.queue.length > 0 || state.dirty.some((k) => refOf(k) !== null) || state.parentStale === true;
  const undirty = (key: string) => {
    state.dirty = state.dirty.filter((k) => k !== key);
    if (key === PARENT) state.parentStale = false;
  };
  /** Something to send before the parent's update (which may have to wait). */
  const otherWork = () => state.parent === null || state.queue.length > 0 || state.dirty.some((k) => k !== PARENT && refOf(k) !== null);

  /** `condition(fn, ms, {summary})`, its timer left to run out when the run is closing (TIMERS_OUTLIVE_CLOSE_PATCH). */
  const wait = (fn: () => boolean, ms: number, summary?: string): Promise<boolean> =>
    timedCondition(fn, ms, { summary, keepTimer: () => closing && applied(TIMERS_OUTLIVE_CLOSE_PATCH) });

  /**
   * The length of the routine update's timer, due at `dueAt`. The pace is counted from the
   * last update, which went just after a step of the path, and the path's next timer falls a
   * pace later: the update fell due just as the path's wait ended, when the path is busy (a
   * sample, a shift) and the update must wait anyway, and the step cancelled its timer a few
   * milliseconds before it fired. Temporal's time-skipping test server fires a timer while a
   * workflow task runs, then rejects that task's CancelTimer and stops for good (CI hung on it;
   * test/workflows/timer-race.test.ts). Due within ROUTINE_CLEAR_MS of the end of the path's
   * wait, either side, the update is due ROUTINE_CLEAR_MS after that end instead, when the
   * path waits again (ROUTINE_CLEAR_OF_PATH_PATCH). Only the timer's length reads the clock:
   * the patch is asked at every routine wait, so its marker is where a replay looks for it,
   * even when workflow time in a worker's first task after a crash differs from a replay's.
   */
  function routineTimerMs(dueAt: number): number {
    const now = Date.now();
    const wakes = opts.pathWakesAt?.() ?? null;
    if (applied(ROUTINE_CLEAR_OF_PATH_PATCH) && wakes !== null && Number.isFinite(wakes) && dueAt >= wakes - ROUTINE_CLEAR_MS && dueAt < wakes + ROUTINE_CLEAR_MS) {
      return wakes + ROUTINE_CLEAR_MS - now;
    }
    // Never 0 (that would wait for the condition alone); the clock only sets the timer's length.
    return Math.max(1, dueAt - now);
  }

  async function post(args: { card?: Card; text?: string; alert?: boolean; threadTs?: string; runId?: string }, what: string): Promise<MessageRef | null> {
    try {
      return await slack.postMessage.executeWithOptions({ summary: `Slack: ${what}` }, [{ channel: notify.channel, ...args }]);
    } catch (err) {
      log.warn('Slack message not delivered', { what, error: String(err) });
      return null;
    }
  }

  /**
   * Posts the replies at the head of the queue (two or more) in one call; they leave the queue
   * once posted. When none could be posted the first is dropped, as a single reply would be.
   */
  async function postBurst(replies: Array<Extract<Item, { kind: 'reply' }>>, threadTs: string): Promise<boolean> {
    let posted = 0;
    try {
      const r = await slack.postMessage.executeWithOptions({ summary: `Slack: ${replies.length} replies in the thread` }, [
        { channel: notify.channel, threadTs, replies: replies.map((i) => (i.alert ? { text: i.text, alert: true } : { text: i.text })) },
      ]);
      posted = r.posted ?? 1; // always set for `replies`; the type also covers a single post
    } catch (err) {
      log.warn('Slack replies not delivered', { replies: replies.length, error: String(err) });
    }
    // By identity: while the call ran, a full queue may have dropped its oldest replies.
    const gone = new Set<Item>(replies.slice(0, Math.max(posted, 1)));
    state.queue = state.queue.filter((i) => !gone.has(i));
    return posted > 0;
  }

  async function update(key: string, ref: MessageRef): Promise<boolean> {
    try {
      await slack.updateMessage.executeWithOptions({ summary: `Slack: update ${key === PARENT ? 'the run message' : key}` }, [ref, opts.card(key)]);
      return true;
    } catch (err) {
      log.warn('Slack message not updated', { key, error: String(err) });
      return false;
    }
  }

  /** Sends one thing; false when Slack could not be reached. */
  async function sendNext(): Promise<boolean> {
    if (state.parent === null) {
      undirty(PARENT);
      state.parent = await post({ card: opts.card(PARENT), runId: runTag }, 'post the run message');
      if (bounded) state.sentAt = Date.now();
      return state.parent !== null;
    }
    const item = state.queue[0];
    if (batched && item?.kind === 'reply') {
      const burst: Array<Extract<Item, { kind: 'reply' }>> = [];
      for (const i of state.queue) {
        if (i.kind !== 'reply' || burst.length === MAX_REPLIES_PER_CALL) break;
        burst.push(i);
      }
      if (burst.length > 1) return postBurst(burst, state.parent.ts);
    }
    if (item) {
      if (item.kind === 'card') undirty(item.key);
      const ref = item.kind === 'reply'
        ? await post({ text: item.text, ...(item.alert ? { alert: true } : {}), threadTs: state.parent.ts }, 'reply in the thread')
        : await post({ card: opts.card(item.key), threadTs: state.parent.ts }, `post ${item.key}`);
      if (ref && item.kind === 'card') state.cards[item.key] = ref;
      state.queue.shift(); // sent, or dropped: a reply is news only when it is timely
      return ref !== null;
    }
    if (bounded) {
      // Keyed cards first (a decision shows at once); the parent once parentDue() said so.
      const key = state.dirty.find((k) => k !== PARENT && refOf(k) !== null) ?? (state.dirty.includes(PARENT) || state.parentStale ? PARENT : undefined);
      if (key === undefined) return true;
      undirty(key);
      if (key === PARENT) urgent = false; // this update carries whatever was urgent
      const ok = await update(key, refOf(key) as MessageRef);
      if (!ok) state.dirty.push(key);
      else if (key === PARENT) {
        state.sentAt = Date.now();
        parentReady = false;
      }
      return ok;
    }
    const key = state.dirty.includes(PARENT) ? PARENT : state.dirty.find((k) => refOf(k) !== null);
    if (key === undefined) return true;
    undirty(key);
    if (key === PARENT) urgent = false; // this update carries whatever was urgent
    const ok = await update(key, refOf(key) as MessageRef);
    if (!ok) state.dirty.push(key);
    else if (key === PARENT && !closing) {
      // Coalescing: changes in the next interval wait for its end, unless they are urgent.
      await condition(() => urgent || closing || stopped, notify.updateEverySeconds * 1000);
    }
    return ok;
  }

  /**
   * Whether the parent's update may go now. Urgent, or the run ending: at once. A change waits
   * `updateEverySeconds` from when it is seen, so what follows it (a step's phase, its reply)
   * goes in the same update; routine figures only wait until the pace has passed since the
   * parent's last update, unless other work or a change comes first. The timer starts only now
   * that there is something to send. False when woken earlier: plan again.
   */
  async function parentDue(): Promise<boolean> {
    if (parentReady || urgent || closing) return true;
    const routine = !state.dirty.includes(PARENT);
    const seenPace = paceChanges;
    const woken = routine
      ? await wait(
          () => urgent || closing || stopped || otherWork() || paceChanges !== seenPace || state.dirty.includes(PARENT),
          routineTimerMs((state.sentAt ?? 0) + Math.max(notify.updateEverySeconds * 1000, paceMs)),
          'Slack: next routine update of the run message',
        )
      : await wait(() => urgent || closing || stopped, notify.updateEverySeconds * 1000, 'Slack: next update of the run message');
    // Which way the wait ended decides, never the clock: the timer fired, so the update is due.
    if (!woken) parentReady = true;
    return parentReady || urgent || closing;
  }

  async function pump(): Promise<void> {
    for (;;) {
      await condition(() => !stopped && hasWork());
      // Whatever else is to send goes first (sendNext's order); the parent when due.
      if (bounded && !otherWork() && !(await parentDue())) continue;
      // The path first: wait (bounded) until it is quiet; once a wait ran out, what is queued
      // goes until the path is quiet again. The run ending, or a pause before continue-as-new,
      // does not wait.
      if (quiet) {
        if (quiet()) overdue = false;
        else if (!overdue && !closing && !stopped) {
          // Which way the wait ended decides, never the clock.
          if (!(await wait(() => quiet() || closing || stopped, MAX_YIELD_MS, 'Slack: wait for a quiet moment of the run'))) overdue = true;
          continue;
        }
      }
      busy = true;
      const ok = await sendNext();
      busy = false;
      if (ok) continue;
      failures++;
      if (!closing) await wait(() => closing, REST_AFTER_FAILURE_MS);
    }
  }

  void CancellationScope.nonCancellable(pump);

  function touch(key = PARENT, isUrgent = false): void {
    if (!state.dirty.includes(key)) state.dirty.push(key);
    if (isUrgent) urgent = true;
  }

  return {
    touch,
    refresh(key = PARENT) {
      if (!bounded || key !== PARENT) return touch(key);
      state.parentStale = true;
    },
    pace(seconds) {
      if (!bounded) return;
      paceMs = seconds === null ? 0 : seconds * 1000;
      paceChanges++;
    },
    reply(text, replyOpts) {
      state.queue.push(replyOpts?.alert ? { kind: 'reply', text, alert: true } : { kind: 'reply', text });
      if (state.queue.length > MAX_QUEUED) {
        const [dropped] = state.queue.splice(state.queue.findIndex((i) => i.kind === 'reply'), 1);
        log.warn('Slack unreachable for a while: dropped the oldest queued reply', { dropped });
      }
    },
    open(key) {
      if (state.cards[key] || state.queue.some((i) => i.kind === 'card' && i.key === key)) return;
      state.queue.push({ kind: 'card', key });
    },
    async pause(maxMs) {
      stopped = true;
      if (await condition(() => !busy, maxMs)) return true;
      stopped = false;
      return false;
    },
    async close(maxMs) {
      closing = true;
      const failed = failures;
      // Done when all is sent, when Slack fails again (no use waiting out the bound), or at the bound.
      await condition(() => (!busy && !hasWork()) || failures > failed, maxMs);
      stopped = true;
      await condition(() => !busy); // never abandon a call in flight (its own timeout bounds it)
      if (hasWork()) log.warn('Slack messages still pending at the end of the run; dropped', { queued: state.queue.length, dirty: state.dirty });
    },
  };
}
