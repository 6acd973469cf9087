// Is this request really from Slack? Slack signs every request to our endpoints with the app's
// signing secret (version v0): HMAC-SHA256 over `v0:<timestamp>:<raw body>`, sent as
// `X-Slack-Signature: v0=<hex>` next to `X-Slack-Request-Timestamp`. A timestamp more than five
// minutes from now is refused as well, so a captured request cannot be replayed later. Pure:
// the caller passes the clock.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** How far the request's timestamp may be from now, either way (Slack's recommendation). */
export const MAX_CLOCK_SKEW_SECONDS = 300;

export interface SlackSignatureInput {
  signingSecret: string;
  /** `X-Slack-Request-Timestamp`: Unix seconds, as sent. */
  timestamp: string | undefined;
  /** `X-Slack-Signature`: `v0=<hex>`, as sent. */
  signature: string | undefined;
  /** The request body exactly as received: any re-encoding breaks the signature. */
  rawBody: string;
  nowMs: number;
}

export type SlackSignatureResult = { ok: true } | { ok: false; reason: string };

export function verifySlackSignature(input: SlackSignatureInput): SlackSignatureResult {
  const { timestamp, signature } = input;
  if (!timestamp) return { ok: false, reason: 'missing X-Slack-Request-Timestamp' };
  if (!signature) return { ok: false, reason: 'missing X-Slack-Signature' };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'X-Slack-Request-Timestamp is not Unix seconds' };
  const skew = Math.abs(input.nowMs / 1000 - Number(timestamp));
  if (skew > MAX_CLOCK_SKEW_SECONDS) {
    return { ok: false, reason: `X-Slack-Request-Timestamp is ${Math.round(skew)}s from now (at most ${MAX_CLOCK_SKEW_SECONDS}s)` };
  }
  const expected = Buffer.from(slackSignature(input.signingSecret, timestamp, input.rawBody), 'utf8');
  const presented = Buffer.from(signature, 'utf8');
  // timingSafeEqual needs equal lengths; a length mismatch says nothing about the secret.
  if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) {
    return { ok: false, reason: 'X-Slack-Signature does not match' };
  }
  return { ok: true };
}

/** The v0 signature of a body: `v0=` and the hex HMAC-SHA256 of `v0:<timestamp>:<body>`. */
export function slackSignature(signingSecret: string, timestamp: string, rawBody: string): string {
  return `v0=${createHmac('sha256', signingSecret).update(`v0:${timestamp}:${rawBody}`, 'utf8').digest('hex')}`;
}
