import { describe, expect, it } from 'vitest';
import {
  currentDeparture,
  departureWindowContains,
  formatInZone,
  formatUtc,
  localTimeToInstant,
  nextDepartures,
  validTimeZone,
  zoneOffsetMs,
} from '../../src/domain/calendar';
import { PROD_TRAIN } from '../harness/fixtures';
import type { TrainSpec } from '../../src/domain/release';

const HOUR = 3_600_000;
const utc = (iso: string): number => Date.parse(iso);
const iso = (ms: number): string => new Date(ms).toISOString();

const prodTrain = PROD_TRAIN;
const train = (over: Partial<TrainSpec>): TrainSpec => ({ ...prodTrain, ...over });

describe('train departures in America/Los_Angeles (Tuesdays 10:00)', () => {
  it('departs at 18:00 UTC in winter time and 17:00 UTC in summer time across the March 2026 change', () => {
    // US summer time starts Sunday 2026-03-08.
    expect(nextDepartures(prodTrain, utc('2026-03-02T12:00:00Z'), 3).map(iso)).toEqual([
      '2026-03-03T18:00:00.000Z',
      '2026-03-10T17:00:00.000Z',
      '2026-03-17T17:00:00.000Z',
    ]);
  });

  it('departs at 17:00 UTC in summer time and 18:00 UTC in winter time across the November 2026 change', () => {
    // US summer time ends Sunday 2026-11-01.
    expect(nextDepartures(prodTrain, utc('2026-10-26T12:00:00Z'), 3).map(iso)).toEqual([
      '2026-10-27T17:00:00.000Z',
      '2026-11-03T18:00:00.000Z',
      '2026-11-10T18:00:00.000Z',
    ]);
  });

  it('sends a release ready on Monday 2026-11-02, the first Monday of winter time, on Tuesday at 18:00 UTC', () => {
    // Monday 09:00 PST.
    expect(nextDepartures(prodTrain, utc('2026-11-02T17:00:00Z'), 1).map(iso)).toEqual(['2026-11-03T18:00:00.000Z']);
  });

  it('sends a release ready on the Monday before the change (2026-10-26) on Tuesday at 17:00 UTC', () => {
    expect(nextDepartures(prodTrain, utc('2026-10-26T17:00:00Z'), 1).map(iso)).toEqual(['2026-10-27T17:00:00.000Z']);
  });

  it('sends a release ready in summer time, just before the change, at 18:00 UTC after it', () => {
    // Saturday 2026-10-31 23:00 PDT: the clocks go back before the train leaves.
    expect(nextDepartures(prodTrain, utc('2026-11-01T06:00:00Z'), 1).map(iso)).toEqual(['2026-11-03T18:00:00.000Z']);
  });

  it('returns departures strictly after the given instant', () => {
    const departure = utc('2026-11-03T18:00:00Z');
    expect(nextDepartures(prodTrain, departure, 1).map(iso)).toEqual(['2026-11-10T18:00:00.000Z']);
    expect(nextDepartures(prodTrain, departure - 1, 1).map(iso)).toEqual(['2026-11-03T18:00:00.000Z']);
  });

  it('departs on several days (Monday and Thursday 09:30)', () => {
    const monThu = train({ days: ['MON', 'THU'], hour: 9, minute: 30 });
    expect(nextDepartures(monThu, utc('2026-03-03T00:00:00Z'), 4).map(iso)).toEqual([
      '2026-03-05T17:30:00.000Z', // Thu, PST
      '2026-03-09T16:30:00.000Z', // Mon, PDT
      '2026-03-12T16:30:00.000Z',
      '2026-03-16T16:30:00.000Z',
    ]);
  });

  it('returns nothing for a count of zero or a train without days', () => {
    expect(nextDepartures(prodTrain, 0, 0)).toEqual([]);
    expect(nextDepartures(train({ days: [] }), 0, 3)).toEqual([]);
  });

  it('refuses a train with an impossible time or an unknown zone', () => {
    expect(() => nextDepartures(train({ hour: 24 }), 0, 1)).toThrow(RangeError);
    expect(() => nextDepartures(train({ minute: 60 }), 0, 1)).toThrow(RangeError);
    expect(() => nextDepartures(train({ timeZone: 'Mars/Olympus' }), 0, 1)).toThrow(/unknown time zone/);
  });

  it('lists the next five departures in order, a week apart in local time', () => {
    const five = nextDepartures(prodTrain, utc('2026-10-20T00:00:00Z'), 5);
    expect(five.map((ms) => formatInZone(ms, 'America/Los_Angeles'))).toEqual([
      'Tue 10:00 PDT',
      'Tue 10:00 PDT',
      'Tue 10:00 PST',
      'Tue 10:00 PST',
      'Tue 10:00 PST',
    ]);
  });
});

describe('other zones', () => {
  it('Europe/London: 10:00 is 10:00 UTC in GMT and 09:00 UTC in BST (change on Sunday 2026-03-29)', () => {
    const london = train({ timeZone: 'Europe/London' });
    expect(nextDepartures(london, utc('2026-03-20T00:00:00Z'), 2).map(iso)).toEqual([
      '2026-03-24T10:00:00.000Z',
      '2026-03-31T09:00:00.000Z',
    ]);
    // Back to GMT on Sunday 2026-10-25.
    expect(nextDepartures(london, utc('2026-10-19T00:00:00Z'), 2).map(iso)).toEqual([
      '2026-10-20T09:00:00.000Z',
      '2026-10-27T10:00:00.000Z',
    ]);
  });

  it('Asia/Kolkata: no DST, 10:00 IST is always 04:30 UTC', () => {
    const kolkata = train({ timeZone: 'Asia/Kolkata' });
    expect(nextDepartures(kolkata, utc('2026-03-01T00:00:00Z'), 1).map(iso)).toEqual(['2026-03-03T04:30:00.000Z']);
    expect(nextDepartures(kolkata, utc('2026-11-01T00:00:00Z'), 1).map(iso)).toEqual(['2026-11-03T04:30:00.000Z']);
  });

  it('counts departures by the local date: Tuesday 02:00 in Kolkata is still Monday in UTC', () => {
    const early = train({ timeZone: 'Asia/Kolkata', hour: 2 });
    expect(nextDepartures(early, utc('2026-11-02T12:00:00Z'), 1).map(iso)).toEqual(['2026-11-02T20:30:00.000Z']);
  });

  it('UTC works as a zone', () => {
    expect(nextDepartures(train({ timeZone: 'UTC' }), utc('2026-11-02T00:00:00Z'), 1).map(iso)).toEqual(['2026-11-03T10:00:00.000Z']);
  });

  it('never repeats a departure when a zone skips a whole day (Pacific/Apia, 2011-12-30)', () => {
    const daily = train({ timeZone: 'Pacific/Apia', days: ['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN'] });
    const out = nextDepartures(daily, utc('2011-12-28T00:00:00Z'), 4);
    expect(new Set(out).size).toBe(4);
    expect([...out].sort((a, b) => a - b)).toEqual(out);
  });
});

describe('local time to instant around DST changes', () => {
  const la = 'America/Los_Angeles';

  it('knows the offset of a zone at an instant', () => {
    expect(zoneOffsetMs(utc('2026-07-01T00:00:00Z'), la)).toBe(-7 * HOUR);
    expect(zoneOffsetMs(utc('2026-12-01T00:00:00Z'), la)).toBe(-8 * HOUR);
    expect(zoneOffsetMs(utc('2026-12-01T00:00:00Z'), 'Asia/Kolkata')).toBe(5.5 * HOUR);
  });

  it('moves a wall time in the spring-forward gap forward by the gap (02:30 → 03:30 PDT)', () => {
    expect(iso(localTimeToInstant({ year: 2026, month: 3, day: 8 }, 2, 30, la))).toBe('2026-03-08T10:30:00.000Z');
  });

  it('takes the first of the two instants of an ambiguous fall-back wall time (01:30 PDT)', () => {
    expect(iso(localTimeToInstant({ year: 2026, month: 11, day: 1 }, 1, 30, la))).toBe('2026-11-01T08:30:00.000Z');
  });

  it('a Sunday 02:30 train departs every week, once, also on both change days', () => {
    const sunday = train({ days: ['SUN'], hour: 2, minute: 30 });
    expect(nextDepartures(sunday, utc('2026-03-01T12:00:00Z'), 2).map(iso)).toEqual([
      '2026-03-08T10:30:00.000Z',
      '2026-03-15T09:30:00.000Z',
    ]);
    const early = train({ days: ['SUN'], hour: 1, minute: 30 });
    expect(nextDepartures(early, utc('2026-10-26T12:00:00Z'), 2).map(iso)).toEqual([
      '2026-11-01T08:30:00.000Z',
      '2026-11-08T09:30:00.000Z',
    ]);
  });
});

describe('departure windows', () => {
  const departure = utc('2026-11-03T18:00:00Z');

  it('is open from the departure for windowSeconds, end excluded', () => {
    expect(departureWindowContains(prodTrain, departure, departure - 1)).toBe(false);
    expect(departureWindowContains(prodTrain, departure, departure)).toBe(true);
    expect(departureWindowContains(prodTrain, departure, departure + 4 * HOUR - 1)).toBe(true);
    expect(departureWindowContains(prodTrain, departure, departure + 4 * HOUR)).toBe(false);
  });

  it('finds the departure whose window is open, and none outside a window', () => {
    expect(currentDeparture(prodTrain, departure)).toBe(departure);
    expect(currentDeparture(prodTrain, departure + 3 * HOUR)).toBe(departure);
    expect(currentDeparture(prodTrain, departure + 4 * HOUR)).toBeNull();
    expect(currentDeparture(prodTrain, departure - 1)).toBeNull();
    expect(currentDeparture(train({ windowSeconds: 0 }), departure)).toBeNull();
  });

  it('takes the latest departure when windows overlap', () => {
    const daily = train({ days: ['MON', 'TUE', 'WED'], windowSeconds: 48 * 3600 });
    expect(iso(currentDeparture(daily, departure + HOUR) as number)).toBe('2026-11-03T18:00:00.000Z');
  });
});

describe('formatting', () => {
  it('shows the local weekday, time and short zone name', () => {
    expect(formatInZone(utc('2026-11-03T18:00:00Z'), 'America/Los_Angeles')).toBe('Tue 10:00 PST');
    expect(formatInZone(utc('2026-10-27T17:00:00Z'), 'America/Los_Angeles')).toBe('Tue 10:00 PDT');
    expect(formatInZone(utc('2026-07-07T08:05:00Z'), 'Europe/London')).toBe('Tue 09:05 GMT+1');
    expect(formatInZone(utc('2026-01-06T10:00:00Z'), 'Europe/London')).toBe('Tue 10:00 GMT');
    expect(formatInZone(utc('2026-11-03T04:30:00Z'), 'Asia/Kolkata')).toBe('Tue 10:00 GMT+5:30');
    expect(formatInZone(utc('2026-11-03T00:00:00Z'), 'UTC')).toBe('Tue 00:00 UTC');
  });

  it('shows an instant in UTC with its date', () => {
    expect(formatUtc(utc('2026-11-03T18:00:00Z'))).toBe('Tue 2026-11-03 18:00 UTC');
    expect(formatUtc(utc('2027-01-04T00:00:59Z'))).toBe('Mon 2027-01-04 00:00 UTC');
  });

  it('accepts IANA zones and refuses anything else', () => {
    for (const tz of ['America/Los_Angeles', 'Europe/London', 'Asia/Kolkata', 'UTC']) expect(validTimeZone(tz)).toBe(true);
    for (const tz of ['', ' ', 'PST8PDT/Nowhere', 'Mars/Olympus', 'America/Los Angeles']) expect(validTimeZone(tz)).toBe(false);
  });
});
