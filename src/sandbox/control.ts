// The sandbox's fake application: a smoke-test endpoint per colour and fault injection, on
// loopback. Deployments smoke-test `/smoke/<service>/<environment>/<colour>`; the API proxies
// /v1/sandbox/faults here. A fault with errorRate ≥ 0.5 fails the smoke test; a smaller one
// passes it and is left for analysis to catch (the interesting case). It also takes regions
// out and back (`/regions/<region>/outage`, which the API proxies from /v1/sandbox/regions),
// through whatever the sandbox gives it as `regions`: the region gate and each region's worker.
// And it plays CI pushing an image (`POST /images {service, version}`, which the API proxies from
// /v1/sandbox/images), through what the sandbox gives it as `images`: a push to moto's ECR.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { COLOURS, type Colour } from '../domain/types';
import { FaultError, type FaultStore } from './faults';

/** Faults at or above this error rate fail the smoke test. */
export const SMOKE_FAILURE_RATE = 0.5;
const MAX_BODY_BYTES = 64 * 1024;

/** One region of the sandbox, as GET /regions lists it. */
export interface RegionState {
  region: string;
  /** The worker that serves the region's task queue (and the main queue). */
  worker: { name: string; running: boolean };
  /** Since when every AWS call into the region fails, and how many it has refused; null while it is up. */
  outage: { since: string; refused: number } | null;
}

/** How the control server acts on regions; the sandbox (main.ts) and the test harness provide it. */
export interface RegionControl {
  /** Every region of the sandbox, each with exactly one worker. */
  list(): RegionState[];
  /** Makes every AWS call into the region fail and stops its worker; safe to repeat. */
  startOutage(region: string): Promise<void>;
  /** Lets AWS calls into the region through again and starts its worker; safe to repeat. */
  endOutage(region: string): Promise<void>;
}

/** Pushes a new image tagged `version` to `service`'s repository (every region); answers its digest. */
export type ImagePusher = (service: string, version: string) => Promise<{ digest: string }>;

/** A tag as Docker allows it (the API's VERSION_PATTERN). */
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const SERVICE = /^[a-z][a-z0-9-]{0,31}$/;

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

/**
 * GET /regions, and POST / DELETE /regions/<region>/outage. Both are idempotent (set-to-value):
 * an outage already on stays on with its first `since`, ending one that is not on changes nothing.
 */
async function regionsRoute(regions: RegionControl | undefined, req: IncomingMessage, parts: string[]): Promise<Reply> {
  if (!regions) return errorReply(404, 'not_found', 'this sandbox has no region control');
  const listed = () => ({ status: 200, body: { regions: regions.list() } });
  if (parts.length === 1) return req.method === 'GET' ? listed() : errorReply(405, 'method_not_allowed', `${req.method} /regions: use GET`);
  if (parts.length !== 3 || parts[2] !== 'outage') return errorReply(404, 'not_found', `no route ${req.method} /${parts.join('/')}`);
  const region = parts[1];
  const known = regions.list().map((r) => r.region);
  if (!known.includes(region)) return { status: 400, body: { error: { code: 'bad_request', field: 'region', message: `region: unknown region '${region}' (known: ${known.join(', ')})` } } };
  if (req.method === 'POST') await regions.startOutage(region);
  else if (req.method === 'DELETE') await regions.endOutage(region);
  else return errorReply(405, 'method_not_allowed', `${req.method} /regions/${region}/outage: use POST or DELETE`);
  return listed();
}

/** POST /images {service, version}: a new image, as CI's push after a build would make it. */
async function imagesRoute(images: ImagePusher | undefined, req: IncomingMessage): Promise<Reply> {
  if (!images) return errorReply(404, 'not_found', 'this sandbox has no image registry');
  if (req.method !== 'POST') return errorReply(405, 'method_not_allowed', `${req.method} /images: use POST`);
  const body = (await readJson(req)) as { service?: unknown; version?: unknown } | null;
  const service = body?.service;
  const version = body?.version;
  if (typeof service !== 'string' || !SERVICE.test(service)) throw new FaultError('service', 'service: must be a service name');
  if (typeof version !== 'string' || !TAG.test(version)) throw new FaultError('version', 'version: must be an image tag');
  const { digest } = await images(service, version);
  return { status: 200, body: { service, version, digest } };
}

interface Handlers {
  faults: FaultStore;
  regions?: RegionControl;
  images?: ImagePusher;
}

async function route(h: Handlers, req: IncomingMessage): Promise<Reply> {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (path === '/healthz') return { status: 200, body: { ok: true } };
  if (path === '/faults') return faultsRoute(h.faults, req);
  if (parts[0] === 'regions') return regionsRoute(h.regions, req, parts);
  if (path === '/images') return imagesRoute(h.images, req);
  if (parts[0] === 'smoke' && parts.length === 4 && (req.method === 'GET' || req.method === 'HEAD')) return smoke(h.faults, parts.slice(1));
  return errorReply(404, 'not_found', `no route ${req.method} ${path}`);
}

async function handle(h: Handlers, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let reply: Reply;
  try {
    reply = await route(h, req);
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

export async function startControlServer(opts: { host?: string; port?: number; faults: FaultStore; regions?: RegionControl; images?: ImagePusher }): Promise<ControlServer> {
  const host = opts.host ?? '127.0.0.1';
  const handlers: Handlers = { faults: opts.faults, regions: opts.regions, images: opts.images };
  const server = createServer((req, res) => void handle(handlers, req, res));
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
