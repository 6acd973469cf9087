// The release train's calendar: departures on given weekdays at a local wall time in an IANA
// time zone, DST-correct. Pure: only Intl (deterministic in the workflow sandbox), no clock;
// callers pass the time in as epoch milliseconds.
//
// Local wall time → instant, when the wall time is not unique (the "compatible" rule of
// RFC 5545 and TC39 Temporal):
// - ambiguous (clocks fall back, e.g. 01:30 happens twice): the EARLIER instant, so a train
//   departs once, at the first occurrence;
// - nonexistent (clocks spring forward, e.g. 02:30 is skipped): shifted FORWARD by the gap
//   (02:30 → 03:30), so the departure still happens that day, never silently skipped.
import type { TrainSpec } from './release';

const DAY_MS = 86_400_000;
const WEEKDAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] as const;
const SHORT_DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;

interface WallTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

// Building a DateTimeFormat is costly; one per zone and purpose is enough.
const wallFormatters = new Map<string, Intl.DateTimeFormat>();
const displayFormatters = new Map<string, Intl.DateTimeFormat>();

function cached(cache: Map<string, Intl.DateTimeFormat>, timeZone: string, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  let f = cache.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { ...options, timeZone });
    cache.set(timeZone, f);
  }
  return f;
}

function wallTime(ms: number, timeZone: string): WallTime {
  const f = cached(wallFormatters, timeZone, {
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
  const get = (parts: Intl.DateTimeFormatPart[], type: Intl.DateTimeFormatPartTypes): number =>
    Number(parts.find((p) => p.type === type)?.value ?? NaN);
  const parts = f.formatToParts(new Date(ms));
  return {
    year: get(parts, 'year'),
    month: get(parts, 'month'),
    day: get(parts, 'day'),
    hour: get(parts, 'hour'),
    minute: get(parts, 'minute'),
    second: get(parts, 'second'),
  };
}

/** The zone's offset from UTC at an instant, in ms (America/Los_Angeles in summer: -7 h). */
export function zoneOffsetMs(ms: number, timeZone: string): number {
  const w = wallTime(ms, timeZone);
  // Intl shows whole seconds, so compare against the instant truncated to the second.
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - Math.floor(ms / 1000) * 1000;
}

/** The instant of a local wall time in a zone; see the header for DST gaps and overlaps. */
export function localTimeToInstant(
  date: { year: number; month: number; day: number },
  hour: number,
  minute: number,
  timeZone: string,
): number {
  const wallAsUtc = Date.UTC(date.year, date.month - 1, date.day, hour, minute);
  // Offsets a day either side bracket any one transition near this wall time.
  const before = zoneOffsetMs(wallAsUtc - DAY_MS, timeZone);
  const after = zoneOffsetMs(wallAsUtc + DAY_MS, timeZone);
  const fits = [wallAsUtc - before, wallAsUtc - after].filter((t) => t + zoneOffsetMs(t, timeZone) === wallAsUtc);
  if (fits.length > 0) return Math.min(...fits);
  // In a gap: the pre-transition offset lands as far past the gap as the wall time was into it.
  return wallAsUtc - before;
}

function checkTrain(train: TrainSpec): void {
  if (!Number.isInteger(train.hour) || train.hour < 0 || train.hour > 23) throw new RangeError(`train hour must be 0-23, got ${train.hour}`);
  if (!Number.isInteger(train.minute) || train.minute < 0 || train.minute > 59) {
    throw new RangeError(`train minute must be 0-59, got ${train.minute}`);
  }
  if (!validTimeZone(train.timeZone)) throw new RangeError(`unknown time zone '${train.timeZone}'`);
}

/** Departures strictly after fromMs, in order, for as long as the caller pulls. */
function* departuresAfter(train: TrainSpec, fromMs: number): Generator<number> {
  checkTrain(train);
  const days = new Set<string>(train.days);
  if (!WEEKDAYS.some((d) => days.has(d))) return;
  const start = wallTime(fromMs, train.timeZone);
  let last = -Infinity;
  // Start a day early: a departure on the previous local date can still fall after fromMs
  // only in odd zones, and checking costs nothing.
  for (let i = -1; ; i++) {
    const date = new Date(Date.UTC(start.year, start.month - 1, start.day + i));
    if (!days.has(WEEKDAYS[date.getUTCDay()])) continue;
    const t = localTimeToInstant(
      { year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate() },
      train.hour,
      train.minute,
      train.timeZone,
    );
    // A skipped calendar day (Pacific/Apia, 2011) maps onto the next one; never repeat it.
    if (t > fromMs && t > last) {
      last = t;
      yield t;
    }
  }
}

/** The next `count` departure instants (epoch ms) strictly after fromMs. */
export function nextDepartures(train: TrainSpec, fromMs: number, count: number): number[] {
  const out: number[] = [];
  if (count <= 0) return out;
  for (const t of departuresAfter(train, fromMs)) {
    out.push(t);
    if (out.length >= count) break;
  }
  return out;
}

/** Whether atMs falls in the boarding window [departure, departure + windowSeconds). */
export function departureWindowContains(train: TrainSpec, departureMs: number, atMs: number): boolean {
  return atMs >= departureMs && atMs < departureMs + train.windowSeconds * 1000;
}

/** The departure whose boarding window is open at atMs (the latest, if windows overlap), or null. */
export function currentDeparture(train: TrainSpec, atMs: number): number | null {
  const windowMs = train.windowSeconds * 1000;
  if (!(windowMs > 0)) return null;
  // Departures after atMs - window are exactly those whose window has not closed by atMs.
  let open: number | null = null;
  for (const t of departuresAfter(train, atMs - windowMs)) {
    if (t > atMs) break;
    open = t;
  }
  return open;
}

/** `Tue 10:00 PST`: weekday, 24-hour time and Intl's short zone name (`GMT+1` where it has no abbreviation). */
export function formatInZone(ms: number, timeZone: string): string {
  const f = cached(displayFormatters, timeZone, {
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
    timeZoneName: 'short',
  });
  const parts = f.formatToParts(new Date(ms));
  const part = (type: Intl.DateTimeFormatPartTypes): string => parts.find((p) => p.type === type)?.value ?? '';
  return `${part('weekday')} ${part('hour')}:${part('minute')} ${part('timeZoneName')}`;
}

/** `Tue 2026-11-03 18:00 UTC`. */
export function formatUtc(ms: number): string {
  const d = new Date(ms);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${SHORT_DAYS[d.getUTCDay()]} ${d.getUTCFullYear()}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())} UTC`;
}

/** Whether Intl knows the IANA zone (`America/Los_Angeles`, `UTC`); false for anything else. */
export function validTimeZone(timeZone: string): boolean {
  if (typeof timeZone !== 'string' || timeZone.trim() === '') return false;
  if (wallFormatters.has(timeZone)) return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}
