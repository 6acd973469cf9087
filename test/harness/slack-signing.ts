// Requests as Slack sends them to our endpoints: a form body, signed with the app's signing
// secret (v0). The HMAC is computed here independently of src/slack/verify.ts, so a mistake
// there cannot hide behind the same mistake in the test.
import { createHmac } from 'node:crypto';

export interface SlackSignedHeaders {
  'content-type': string;
  'x-slack-request-timestamp': string;
  'x-slack-signature': string;
  [name: string]: string;
}

export interface SignOptions {
  /** Unix seconds the request claims to be sent at; default now. */
  timestamp?: number;
  /** Sign with this secret instead (a forgery). */
  secret?: string;
}

/** The headers Slack sends with `rawBody`, signed with `secret`. */
export function slackHeaders(secret: string, rawBody: string, opts: SignOptions = {}): SlackSignedHeaders {
  const timestamp = String(opts.timestamp ?? Math.floor(Date.now() / 1000));
  const hmac = createHmac('sha256', opts.secret ?? secret).update(`v0:${timestamp}:${rawBody}`).digest('hex');
  return {
    'content-type': 'application/x-www-form-urlencoded',
    'x-slack-request-timestamp': timestamp,
    'x-slack-signature': `v0=${hmac}`,
  };
}

/** An interaction's form body: its payload as JSON in the `payload` field. */
export function interactionBody(payload: unknown): string {
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

/** A slash command's form body. */
export function commandBody(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString();
}
