// The sandbox's fake application: a smoke-test endpoint per colour and fault injection, on
// loopback. Deployments smoke-test `/smoke/<service>/<environment>/<colour>`; the API proxies
// /v1/sandbox/faults here. A fault with errorRate ≥ 0.5 fails the smoke test; a smaller one
// passes it and is left for analysis to catch (the interesting case).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { COLOURS, type Colour } from '../domain/types';
import { FaultError, type FaultStore } from './faults';

/** Faults at or above this error rate fail the smoke test. */
export const SMOKE_FAILURE_RATE = 0.5;
const MAX_BODY_BYTES = 64 * 1024;

export interface ControlServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

interface Reply {
  status: number;
  body: unknown;
}

function errorReply(status: number, code: string, message: string): Reply {
  return { status, body: { error: { code, message } } };
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new FaultError('body', 'body: larger than 64 KiB');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) throw new FaultError('body', 'body: missing; send a JSON object');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new FaultError('body', 'body: not valid JSON');
  }
}

function smoke(faults: FaultStore, parts: string[]): Reply {
  const [service, environment, colour] = parts;
  if (!COLOURS.includes(colour as Colour)) return errorReply(404, 'not_found', `no colour '${colour}': use blue or green`);
  const fault = faults.get(service, environment, colour as Colour);
  const ok = !fault || fault.errorRate < SMOKE_FAILURE_RATE;
  return { status: ok ? 200 : 503, body: { ok, service, environment, colour, fault } };
}

async function faultsRoute(faults: FaultStore, req: IncomingMessage): Promise<Reply> {
  if (req.method === 'GET') return { status: 200, body: { faults: faults.list() } };
  if (req.method === 'POST') faults.set(await readJson(req));
  else if (req.method === 'DELETE') faults.clear(await readJson(req));
  else return errorReply(405, 'method_not_allowed', `${req.method} /faults: use GET, POST or DELETE`);
  return { status: 200, body: { faults: faults.list() } };
}

async function route(faults: FaultStore, req: IncomingMessage): Promise<Reply> {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (path === '/healthz') return { status: 200, body: { ok: true } };
  if (path === '/faults') return faultsRoute(faults, req);
  if (parts[0] === 'smoke' && parts.length === 4 && (req.method === 'GET' || req.method === 'HEAD')) return smoke(faults, parts.slice(1));
  return errorReply(404, 'not_found', `no route ${req.method} ${path}`);
}

async function handle(faults: FaultStore, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let reply: Reply;
  try {
    reply = await route(faults, req);
  } catch (err) {
    reply = err instanceof FaultError
      ? errorReply(400, err.code, err.message)
      : errorReply(500, 'internal', 'the control server failed; see its log');
    if (!(err instanceof FaultError)) console.error('control: request failed:', err);
  }
  const text = JSON.stringify(reply.body);
  res.writeHead(reply.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export async function startControlServer(opts: { host?: string; port?: number; faults: FaultStore }): Promise<ControlServer> {
  const host = opts.host ?? '127.0.0.1';
  const server = createServer((req, res) => void handle(opts.faults, req, res));
  server.listen(opts.port ?? 0, host);
  await once(server, 'listening'); // rejects with EADDRINUSE and the like
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}`,
    port,
    async stop() {
      if (!server.listening) return;
      const closed = once(server, 'close');
      server.close();
      server.closeAllConnections();
      await closed;
    },
  };
}
