// Smoke test over HTTP: one GET with a timeout. It never throws; the result says what happened
// (status and a body excerpt, or the network error), so the activity can put it in the
// failure message an operator reads.
import type { SmokeResult, SmokeTester } from './types';

const EXCERPT_CHARS = 200;

export interface HttpSmokeOptions {
  timeoutMs?: number;
}

export function createHttpSmokeTester(opts: HttpSmokeOptions = {}): SmokeTester {
  const timeoutMs = opts.timeoutMs ?? 5000;
  return {
    async check(url: string): Promise<SmokeResult> {
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' });
        const body = await res.text();
        return { ok: res.ok, status: res.status, detail: `HTTP ${res.status}${excerpt(body)}` };
      } catch (err) {
        return { ok: false, status: null, detail: networkError(err, timeoutMs) };
      }
    },
  };
}

function excerpt(body: string): string {
  const text = body.replace(/\s+/g, ' ').trim();
  if (!text) return '';
  return `: ${text.length > EXCERPT_CHARS ? `${text.slice(0, EXCERPT_CHARS)}…` : text}`;
}

/** fetch() reports "fetch failed"; the useful part (ECONNREFUSED, ENOTFOUND...) is in `cause`. */
function networkError(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  const cause = e?.cause;
  if (cause?.code) return `${cause.code}${cause.message ? ` (${cause.message})` : ''}`;
  return e?.message ?? String(err);
}
