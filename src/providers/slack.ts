// Notifications to Slack through its Web API. Retries are off here on purpose: the posting
// activities are retried by Temporal, which backs off durably (honouring Retry-After, see
// NotifierRateLimited) and never holds up a rollback while Slack is down.
import { ErrorCode, WebClient, type ChatPostMessageArguments, type ChatUpdateArguments } from '@slack/web-api';
import type { MessageRef } from '../domain/notices';
import { NotifierRateLimited, type Notifier, type OutgoingMessage } from './types';

/** Slack's Block Kit type, as the client declares it for chat.postMessage. */
type Blocks = Extract<ChatPostMessageArguments, { blocks: unknown }>['blocks'];

/** The metadata event type that tags a run's parent message with the run's id. */
const RUN_EVENT = 'baton_run';
/** How far back a retried post looks for the message its lost attempt may have posted. */
const HISTORY_LOOKBACK = 50;

export interface SlackNotifierOptions {
  botToken: string;
  /** Slack's Web API base URL; tests point it at a local fake. */
  apiUrl?: string;
  defaultChannel?: string;
  timeoutMs?: number;
}

export function createSlackNotifier(opts: SlackNotifierOptions): Notifier {
  const client = createSlackClient(opts);
  const channelOf = (channel: string | undefined): string => {
    const c = channel ?? opts.defaultChannel;
    if (!c) throw new Error('no Slack channel: set notifications.slackChannel in the config');
    return c;
  };
  return {
    post: (m) =>
      rateLimited(async () => {
        // Blocks are built by Baton's own renderer; Slack validates them. The client throws on
        // transport errors and on {ok: false} answers alike.
        const res = await client.chat.postMessage({
          channel: channelOf(m.channel),
          text: m.text,
          ...blocksOf(m),
          ...(m.threadTs ? { thread_ts: m.threadTs } : {}),
          ...(m.runId ? { metadata: { event_type: RUN_EVENT, event_payload: { id: m.runId } } } : {}),
        });
        if (!res.channel || !res.ts) throw new Error('Slack answered chat.postMessage without channel and ts');
        return { channel: res.channel, ts: res.ts };
      }),
    update: (ref, m) =>
      rateLimited(async () => {
        const args = { channel: ref.channel, ts: ref.ts, text: m.text, ...blocksOf(m) } as ChatUpdateArguments;
        await client.chat.update(args);
      }),
    findRunMessage: (channel, runId) =>
      rateLimited(async (): Promise<MessageRef | null> => {
        const ch = channelOf(channel);
        const res = await client.conversations.history({ channel: ch, limit: HISTORY_LOOKBACK, include_all_metadata: true });
        for (const msg of res.messages ?? []) {
          const meta = msg.metadata as { event_type?: string; event_payload?: { id?: unknown } } | undefined;
          if (meta?.event_type === RUN_EVENT && meta.event_payload?.id === runId && msg.ts) return { channel: ch, ts: msg.ts };
        }
        return null;
      }),
  };
}

/** A Web API client that fails fast: no retries of its own, a 429 is an error (with Retry-After). */
export function createSlackClient(opts: { botToken: string; apiUrl?: string; timeoutMs?: number }): WebClient {
  return new WebClient(opts.botToken, {
    slackApiUrl: opts.apiUrl ? withSlash(opts.apiUrl) : undefined,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    timeout: opts.timeoutMs ?? 10_000,
  });
}

function blocksOf(m: Pick<OutgoingMessage, 'blocks'>): { blocks?: Blocks } {
  return m.blocks ? { blocks: m.blocks as Blocks } : {};
}

/** Slack's 429 becomes NotifierRateLimited, so the caller can wait as long as Slack asks. */
async function rateLimited<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    const e = err as { code?: string; retryAfter?: number };
    if (e?.code === ErrorCode.RateLimitedError) throw new NotifierRateLimited(e.retryAfter ?? 1);
    throw err;
  }
}

/** The client joins method names onto the base URL, which therefore needs its trailing slash. */
function withSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}
