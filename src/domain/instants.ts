// Instants people write (freezes in config, through the API, in a raw Update): ISO-8601 with a
// date, a time and a zone designator. Pure: used by config, the API and the freeze registry.

/** An ISO-8601 instant with a date, a time and a zone designator (`2026-12-24T00:00:00Z`, `...-08:00`). */
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/** What a freeze's `from` and `to` must be, for messages: "'x' is not <this>". */
export const INSTANT_RULE = 'an ISO instant with a zone (e.g. 2026-12-21T00:00:00Z or 2026-12-21T00:00:00-08:00)';

/**
 * The milliseconds of an ISO instant with a zone, or null. A time without a zone is refused:
 * it would mean the reader's zone, which differs between the API, the worker and the person.
 */
export function parseInstant(value: string): number | null {
  const ms = ISO_INSTANT.test(value) ? Date.parse(value) : NaN;
  return Number.isNaN(ms) ? null : ms;
}

/** An instant as ids write it, to the second in UTC: `20261129T201842Z`. */
export function compactStamp(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/[-:]/g, '').replace('.000Z', 'Z');
}
