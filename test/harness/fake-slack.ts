// A stand-in for the parts of Slack's Web API Baton uses, on loopback. It answers like Slack
// does (chat.postMessage, chat.update, chat.postEphemeral, views.open, conversations.history),
// keeps the messages it was sent, records every call, serves response_url endpoints, and can
// be told to fail: HTTP errors, {ok:false} refusals, or 429 with a Retry-After header.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { once } from 'node:events';

export interface SlackCall {
  method: string;
  token: string | null;
  args: Record<string, unknown>;
  /** What the fake answered: HTTP status and, for 200s, Slack's `ok`. */
  status: number;
  ok: boolean;
  /** When the call arrived (ms since the epoch). */
  at: number;
}

export interface FakeMessage {
  channel: string;
  ts: string;
  text: string;
  blocks: unknown[] | null;
  threadTs: string | null;
  metadata: unknown;
  /** How many times chat.update changed it. */
  updates: number;
}

/** A body POSTed to a response_url the fake handed out. */
export interface FakeResponse {
  id: string;
  body: Record<string, unknown>;
}

export type FakeSlackMode =
  | { kind: 'ok' }
  | { kind: 'http-error'; status: number }
  | { kind: 'refuse'; error: string }
  | { kind: 'rate-limited'; retryAfterSeconds: number };

export interface FakeSlack {
  /** Base URL to give the WebClient as slackApiUrl (ends with /api/). */
  apiUrl: string;
  calls: SlackCall[];
  /** Messages by ts, as Slack would show them now. */
  messages: Map<string, FakeMessage>;
  responses: FakeResponse[];
  /** A fresh response_url whose POSTs land in `responses`. */
  responseUrl(): string;
  setMode(mode: FakeSlackMode): void;
  /** Calls of one method that Slack accepted. */
  accepted(method: string): SlackCall[];
  stop(): Promise<void>;
}

export async function startFakeSlack(): Promise<FakeSlack> {
  const calls: SlackCall[] = [];
  const messages = new Map<string, FakeMessage>();
  const responses: FakeResponse[] = [];
  let mode: FakeSlackMode = { kind: 'ok' };
  let seq = 0;
  let base = '';
  const nextTs = () => `1700000000.${String(++seq).padStart(6, '0')}`;

  const server: Server = createServer((req, res) => {
    void readArgs(req).then((args) => {
      const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(body));
      };
      const path = (req.url ?? '').split('?')[0];
      if (path.startsWith('/respond/')) {
        responses.push({ id: path.slice('/respond/'.length), body: args });
        return reply(200, { ok: true });
      }
      const method = path.replace(/^\/api\//, '');
      const record = (status: number, ok: boolean) =>
        calls.push({ method, token: (req.headers.authorization ?? '').replace(/^Bearer /, '') || null, args, status, ok, at: Date.now() });
      if (mode.kind === 'http-error') {
        record(mode.status, false);
        return reply(mode.status, { ok: false, error: 'internal_error' });
      }
      if (mode.kind === 'rate-limited') {
        record(429, false);
        return reply(429, { ok: false, error: 'ratelimited' }, { 'retry-after': String(mode.retryAfterSeconds) });
      }
      if (mode.kind === 'refuse') {
        record(200, false);
        return reply(200, { ok: false, error: mode.error });
      }
      const answer = handle(method, args);
      record(200, answer.ok === true);
      reply(200, answer);
    });
  });

  function handle(method: string, args: Record<string, unknown>): Record<string, unknown> {
    const channel = typeof args.channel === 'string' ? args.channel : '';
    switch (method) {
      case 'chat.postMessage': {
        if (!channel) return { ok: false, error: 'channel_not_found' };
        const ts = nextTs();
        const threadTs = typeof args.thread_ts === 'string' ? args.thread_ts : null;
        if (threadTs && !messages.has(threadTs)) return { ok: false, error: 'thread_not_found' };
        messages.set(ts, { channel, ts, text: String(args.text ?? ''), blocks: asBlocks(args.blocks), threadTs, metadata: args.metadata ?? null, updates: 0 });
        return { ok: true, channel, ts, message: { text: args.text, ts } };
      }
      case 'chat.update': {
        const m = messages.get(String(args.ts));
        if (!m || m.channel !== channel) return { ok: false, error: 'message_not_found' };
        m.text = String(args.text ?? m.text);
        if (args.blocks !== undefined) m.blocks = asBlocks(args.blocks);
        m.updates++;
        return { ok: true, channel, ts: m.ts, text: m.text };
      }
      case 'chat.postEphemeral':
        if (!channel || typeof args.user !== 'string') return { ok: false, error: 'user_not_in_channel' };
        return { ok: true, message_ts: nextTs() };
      case 'views.open':
        if (typeof args.trigger_id !== 'string') return { ok: false, error: 'invalid_trigger' };
        return { ok: true, view: { id: `V${++seq}`, ...(args.view as object) } };
      case 'conversations.history': {
        const found = [...messages.values()]
          .filter((m) => m.channel === channel && m.threadTs === null)
          .reverse()
          .slice(0, Number(args.limit ?? 100))
          .map((m) => ({ type: 'message', ts: m.ts, text: m.text, ...(args.include_all_metadata ? { metadata: m.metadata } : {}) }));
        return { ok: true, messages: found, has_more: false };
      }
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  base = `http://127.0.0.1:${port}`;
  let responseSeq = 0;
  return {
    apiUrl: `${base}/api/`,
    calls,
    messages,
    responses,
    responseUrl: () => `${base}/respond/${++responseSeq}`,
    setMode: (m) => {
      mode = m;
    },
    accepted: (method) => calls.filter((c) => c.method === method && c.ok),
    stop: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

function asBlocks(value: unknown): unknown[] | null {
  return Array.isArray(value) ? value : null;
}

/** The Web API sends form-encoded or JSON bodies; nested values (blocks) arrive as JSON text. */
async function readArgs(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if ((req.headers['content-type'] ?? '').includes('application/json')) return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  const args: Record<string, unknown> = {};
  for (const [k, v] of new URLSearchParams(text)) args[k] = /^[[{]/.test(v) ? JSON.parse(v) : v;
  return args;
}
