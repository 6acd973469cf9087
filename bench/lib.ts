// What every benchmark shares: how it is called, how it reports, and small statistics.
// A benchmark measures (tests check behaviour): it starts its own servers, prints a table,
// and ends with one line of JSON (`{"bench": name, ...figures}`) that scripts and CI read.

export interface BenchOptions {
  /** The short profile `.ci/run` uses so benchmarks never rot: small N, few runs (minutes in all). */
  quick: boolean;
}

export interface BenchReport {
  /** Column headings, then rows: what BENCHMARKS.md shows. */
  table: string[][];
  /** The figures, for the last JSON line (numbers in ms or s, as the keys say). */
  figures: Record<string, unknown>;
  /** Lines printed under the table: targets met or not, ratios, caveats. */
  notes?: string[];
}

export interface Bench {
  name: string;
  /** One line: what it measures. */
  what: string;
  run(opts: BenchOptions): Promise<BenchReport>;
}

/** The p-th percentile (0–100) of xs, nearest rank. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export const median = (xs: readonly number[]): number => percentile(xs, 50);

/** Milliseconds since `t0` (process.hrtime.bigint()). */
export function msSince(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** A fixed-width text table (first row: headings). */
export function formatTable(rows: readonly string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => r.map((c, i) => (c ?? '').padEnd(widths[i])).join('  ').trimEnd();
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

/** `12.3 ms`, `1.24 s`. */
export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return 'n/a';
  return ms < 1000 ? `${ms.toFixed(ms < 10 ? 2 : 1)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** `met` / `MISSED` against a target, for notes. */
export function against(value: number, target: number, what: string): string {
  return `${what}: ${value <= target ? 'met' : 'MISSED'} (${Number.isInteger(value) ? value : value.toFixed(2)} vs target ≤ ${target})`;
}

/** Prints a report: the name, the table, the notes, then the JSON line last. */
export function printReport(name: string, what: string, report: BenchReport, seconds: number): void {
  console.log(`\n== ${name}: ${what} (${seconds.toFixed(0)} s)`);
  console.log(formatTable(report.table));
  for (const n of report.notes ?? []) console.log(n);
  console.log(JSON.stringify({ bench: name, ...report.figures }));
}
