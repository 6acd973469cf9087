// A stand-in for Slack's Web API on loopback: answers chat.postMessage and chat.update like
// Slack does, records every call, and can be told to fail (HTTP 500) or to refuse ({ok:false}).
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { once } from 'node:events';

export interface SlackCall {
  method: string;
  token: string | null;
  args: Record<string, unknown>;
}

export type FakeSlackMode = { kind: 'ok' } | { kind: 'http-error'; status: number } | { kind: 'refuse'; error: string };

export interface FakeSlack {
  /** Base URL to give the WebClient as slackApiUrl (ends with /api/). */
  apiUrl: string;
  calls: SlackCall[];
  setMode(mode: FakeSlackMode): void;
  stop(): Promise<void>;
}

const METHODS = new Set(['chat.postMessage', 'chat.update']);

export async function startFakeSlack(): Promise<FakeSlack> {
  const calls: SlackCall[] = [];
  let mode: FakeSlackMode = { kind: 'ok' };
  let seq = 0;
  const server: Server = createServer((req, res) => {
    void readArgs(req).then((args) => {
      const method = (req.url ?? '').replace(/^\/api\//, '').split('?')[0];
      calls.push({ method, token: (req.headers.authorization ?? '').replace(/^Bearer /, '') || null, args });
      const reply = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (mode.kind === 'http-error') return reply(mode.status, { ok: false, error: 'internal_error' });
      if (mode.kind === 'refuse') return reply(200, { ok: false, error: mode.error });
      if (!METHODS.has(method)) return reply(200, { ok: false, error: 'unknown_method' });
      const ts = method === 'chat.update' ? String(args.ts) : `1700000000.${String(++seq).padStart(6, '0')}`;
      reply(200, { ok: true, channel: args.channel, ts, message: { text: args.text, ts } });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    apiUrl: `http://127.0.0.1:${port}/api/`,
    calls,
    setMode: (m) => {
      mode = m;
    },
    stop: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
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
