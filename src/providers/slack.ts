// Notifications to Slack. Retries are off here on purpose: the notify activity is retried by
// Temporal, which backs off durably and never holds up a rollback while Slack is down.
import { WebClient, type ChatPostMessageArguments } from '@slack/web-api';
import type { Notification, Notifier } from './types';

/** Slack's Block Kit type, as the client declares it for chat.postMessage. */
type Blocks = Extract<ChatPostMessageArguments, { blocks: unknown }>['blocks'];

export interface SlackNotifierOptions {
  botToken: string;
  /** Slack's Web API base URL; tests point it at a local fake. */
  apiUrl?: string;
  defaultChannel?: string;
  timeoutMs?: number;
}

export function createSlackNotifier(opts: SlackNotifierOptions): Notifier {
  const client = new WebClient(opts.botToken, {
    slackApiUrl: opts.apiUrl ? withSlash(opts.apiUrl) : undefined,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    timeout: opts.timeoutMs ?? 10_000,
  });
  return {
    async post(n: Notification): Promise<void> {
      const channel = n.channel ?? opts.defaultChannel;
      if (!channel) throw new Error('no Slack channel: set notifications.slackChannel or pass one with the message');
      // Blocks are built by Baton's own message code; Slack validates them. The client throws on
      // transport errors and on {ok: false} answers alike.
      const blocks = n.blocks as Blocks | undefined;
      await client.chat.postMessage({ channel, text: n.text, ...(blocks ? { blocks } : {}) });
    },
  };
}

/** The client joins method names onto the base URL, which therefore needs its trailing slash. */
function withSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}
