// Durations in config are human strings ("90s", "5m", "1h", "24h", "1h30m"); inside Baton
// they are whole seconds.

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
const DURATION = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/** Parses "5m", "1h30m", "45s" or a bare number of seconds; returns null when malformed. */
export function parseDuration(input: string | number): number | null {
  if (typeof input === 'number') return Number.isInteger(input) && input >= 0 ? input : null;
  const text = input.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const m = DURATION.exec(text);
  if (!m || text === '') return null;
  const [, d, h, min, s] = m;
  return (
    Number(d ?? 0) * UNIT_SECONDS.d + Number(h ?? 0) * UNIT_SECONDS.h + Number(min ?? 0) * UNIT_SECONDS.m + Number(s ?? 0)
  );
}

/** 300 → "5m", 5400 → "1h30m", 0 → "0s". */
export function formatDuration(totalSeconds: number): string {
  let s = Math.max(0, Math.round(totalSeconds));
  if (s === 0) return '0s';
  let out = '';
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60]] as const) {
    if (s >= size) {
      out += `${Math.floor(s / size)}${unit}`;
      s %= size;
    }
  }
  if (s > 0) out += `${s}s`;
  return out;
}
