// The sandbox's region outages: a loopback HTTP proxy in front of moto that every AWS client of
// the sandbox (the workers, the API) uses as its endpoint. It forwards every request to moto as
// it came, bodies streamed both ways, except while a region is out: a request signed for that
// region (the region of its SigV4 credential scope) is answered at once with a 503 and an
// AWS-style error in the protocol the client speaks, so the SDK raises `ServiceUnavailable`
// (after its one retry, which fails the same way). Route 53 is global, its requests are signed
// for us-east-1 whatever the client's region, so it never fails. moto itself is never out: the
// seed and the feeder talk to it directly. Tests can also make one API action fail in one region
// (failCalls), e.g. ECS UpdateService in the DR region, to break one step of a failover.
import { Agent, createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream';
import { randomUUID } from 'node:crypto';

/** Services that are global: their calls never fail with a region. */
const GLOBAL_SERVICES = new Set(['route53']);

/** The code of the error an out region answers with. */
export const OUTAGE_ERROR_CODE = 'ServiceUnavailable';

/** Connection-level headers, which each hop sets for itself (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

export interface RegionOutage {
  region: string;
  /** When the outage began (ISO 8601). */
  since: string;
  /** How many requests it has refused so far. */
  refused: number;
}

export interface RegionGate {
  /** What AWS clients use as their endpoint, e.g. http://127.0.0.1:41234. */
  endpoint: string;
  port: number;
  /** Makes every request signed for `region` fail (but Route 53's); repeating it keeps the first `since`. */
  out(region: string): RegionOutage;
  /** Ends the region's outage; false when it was not out. */
  restore(region: string): boolean;
  isOut(region: string): boolean;
  /** The regions out now, in the order they went out. */
  outages(): RegionOutage[];
  /**
   * Makes every call of the API action `action` (as AWS names it: `UpdateService`,
   * `PromoteReadReplica`, `ChangeResourceRecordSets`...) signed for `region` fail the way an
   * outage does, until passCalls. Route 53 is not spared here: its calls are signed for us-east-1.
   */
  failCalls(region: string, action: string): void;
  passCalls(region: string, action: string): void;
  /** The actions failCalls made fail, as `<region> <action>`. */
  failing(): string[];
  /** Closes the listener and every socket, to clients and to moto. */
  stop(): Promise<void>;
}

export interface RegionGateOptions {
  /** moto's endpoint, e.g. http://127.0.0.1:5055. */
  target: string;
  host?: string;
  /** Default: any free port. */
  port?: number;
}

/** The region and service a request is signed for: its SigV4 credential scope (header, or a presigned URL's query). */
export function signingScope(headers: IncomingHttpHeaders, url: string | undefined): { region: string; service: string } | null {
  const auth = headers.authorization;
  let credential = typeof auth === 'string' ? /Credential=([^,\s]+)/.exec(auth)?.[1] : undefined;
  if (!credential && url?.includes('X-Amz-Credential')) credential = new URL(url, 'http://gate').searchParams.get('X-Amz-Credential') ?? undefined;
  // <access key>/<date>/<region>/<service>/aws4_request
  const parts = credential?.split('/');
  if (!parts || parts.length < 5) return null;
  const [region, service] = parts.slice(-3, -1);
  return region && service ? { region, service } : null;
}

/** Route 53's REST operations Baton calls, by method and path (its requests name no action). */
const ROUTE53_OPERATIONS: Array<[string, RegExp, string]> = [
  ['POST', /\/hostedzone\/[^/]+\/rrset\/?$/, 'ChangeResourceRecordSets'],
  ['GET', /\/hostedzone\/[^/]+\/rrset\/?$/, 'ListResourceRecordSets'],
  ['GET', /\/change\/[^/]+$/, 'GetChange'],
  ['GET', /\/hostedzonesbyname$/, 'ListHostedZonesByName'],
  ['GET', /\/hostedzone\/[^/]+$/, 'GetHostedZone'],
  ['GET', /\/hostedzone$/, 'ListHostedZones'],
  ['POST', /\/hostedzone$/, 'CreateHostedZone'],
];

/**
 * The API action a request calls, when its headers or URL say: awsJson's `X-Amz-Target`
 * (`Service.Action`), Smithy RPC v2's `/service/<S>/operation/<Action>`, a query string's
 * `Action=`, Route 53's method and path. Undefined: the action is in the body (the query
 * protocol's form: RDS, ELBv2, EC2).
 */
export function actionOf(req: Pick<IncomingMessage, 'headers' | 'method' | 'url'>, service: string): string | undefined {
  const target = req.headers['x-amz-target'];
  if (typeof target === 'string') return target.slice(target.lastIndexOf('.') + 1);
  const url = new URL(req.url ?? '/', 'http://gate');
  const rpc = /\/service\/[^/]+\/operation\/([^/]+)$/.exec(url.pathname);
  if (rpc) return decodeURIComponent(rpc[1]);
  const inQuery = url.searchParams.get('Action');
  if (inQuery) return inQuery;
  if (service === 'route53') return ROUTE53_OPERATIONS.find(([m, re]) => m === req.method && re.test(url.pathname))?.[2] ?? '';
  return undefined;
}

/** The `Action` of a query-protocol form body. */
function formAction(body: Buffer): string {
  return new URLSearchParams(body.toString('utf8')).get('Action') ?? '';
}

// ---------------------------------------------------------------- the error, as each protocol writes it

interface ErrorAnswer {
  headers: Record<string, string>;
  body: Buffer;
}

const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A CBOR text string (RFC 8949 major type 3). */
function cborText(s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8');
  const n = bytes.length;
  const head = n < 24 ? Buffer.from([0x60 + n]) : n < 256 ? Buffer.from([0x78, n]) : Buffer.from([0x79, n >> 8, n & 0xff]);
  return Buffer.concat([head, bytes]);
}

/**
 * The error body the client's protocol parses: JSON (awsJson 1.0/1.1: ECS, CloudWatch), CBOR
 * (Smithy RPC v2), EC2's XML, else the query/REST-XML `ErrorResponse` (RDS, ELBv2, Route 53).
 */
export function outageError(req: Pick<IncomingMessage, 'headers'>, service: string, message: string): ErrorAnswer {
  const requestId = randomUUID();
  const contentType = String(req.headers['content-type'] ?? '');
  if (req.headers['smithy-protocol'] === 'rpc-v2-cbor') {
    const body = Buffer.concat([Buffer.from([0xa2]), cborText('__type'), cborText(OUTAGE_ERROR_CODE), cborText('message'), cborText(message)]);
    return { headers: { 'content-type': 'application/cbor', 'smithy-protocol': 'rpc-v2-cbor', 'x-amzn-requestid': requestId }, body };
  }
  if (req.headers['x-amz-target'] || contentType.startsWith('application/x-amz-json')) {
    const body = Buffer.from(JSON.stringify({ __type: OUTAGE_ERROR_CODE, message }));
    return {
      headers: { 'content-type': contentType || 'application/x-amz-json-1.1', 'x-amzn-errortype': OUTAGE_ERROR_CODE, 'x-amzn-requestid': requestId },
      body,
    };
  }
  const error = `<Code>${OUTAGE_ERROR_CODE}</Code><Message>${xmlEscape(message)}</Message>`;
  const xml = service === 'ec2'
    ? `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>${error}</Error></Errors><RequestID>${requestId}</RequestID></Response>`
    : `<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse><Error><Type>Receiver</Type>${error}</Error><RequestId>${requestId}</RequestId></ErrorResponse>`;
  return { headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId }, body: Buffer.from(xml) };
}

// ---------------------------------------------------------------- the proxy

function withoutHopByHop(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => !HOP_BY_HOP.has(k)));
}

export async function startRegionGate(opts: RegionGateOptions): Promise<RegionGate> {
  const target = new URL(opts.target);
  const host = opts.host ?? '127.0.0.1';
  const agent = new Agent({ keepAlive: true });
  const out = new Map<string, RegionOutage>();
  /** Per region, the actions failCalls made fail. */
  const failingCalls = new Map<string, Set<string>>();

  function refuse(req: IncomingMessage, res: ServerResponse, service: string, message: string): void {
    req.resume(); // the body is not needed; draining it keeps the connection reusable
    const { headers, body } = outageError(req, service, message);
    res.writeHead(503, { ...headers, 'content-length': body.length });
    res.end(body);
  }

  /** Fails the call when failCalls names its action in its region, else forwards it (reading a query-protocol body first to find its action). */
  function failOrForward(req: IncomingMessage, res: ServerResponse, scope: { region: string; service: string }, actions: Set<string>): void {
    const fail = (action: string) => refuse(req, res, scope.service, `${action} in ${scope.region} fails (sandbox fault injected)`);
    const action = actionOf(req, scope.service);
    if (action !== undefined) {
      if (actions.has(action)) fail(action);
      else forward(req, res);
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => res.destroy());
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const inBody = formAction(body);
      if (actions.has(inBody)) fail(inBody);
      else forward(req, res, body);
    });
  }

  /** Sends the request on to moto, its body streamed (or `body`, when it was read already), and streams the answer back. */
  function forward(req: IncomingMessage, res: ServerResponse, body?: Buffer): void {
    const upstream = httpRequest({
      protocol: target.protocol,
      hostname: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: withoutHopByHop(req.headers),
      agent,
    });
    upstream.on('response', (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, withoutHopByHop(answer.headers));
      pipeline(answer, res, () => undefined); // a client gone mid-answer aborts the read from moto
    });
    upstream.on('error', (err) => {
      if (res.destroyed) return; // the client left first (see below)
      if (res.headersSent) {
        res.destroy(err);
        return;
      }
      const { headers, body } = outageError(req, signingScope(req.headers, req.url)?.service ?? '', `the sandbox's region gate cannot reach moto at ${opts.target}: ${err.message}`);
      res.writeHead(502, { ...headers, 'content-length': body.length });
      res.end(body);
    });
    // A client gone before it has its answer: stop the request to moto as well.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    if (body) upstream.end(body);
    else pipeline(req, upstream, () => undefined);
  }

  const server = createServer((req, res) => {
    const scope = signingScope(req.headers, req.url);
    const outage = scope && !GLOBAL_SERVICES.has(scope.service) ? out.get(scope.region) : undefined;
    const actions = scope ? failingCalls.get(scope.region) : undefined;
    if (outage && scope) {
      outage.refused += 1;
      refuse(req, res, scope.service, `region ${outage.region} is out (sandbox outage since ${outage.since})`);
    } else if (actions?.size && scope) failOrForward(req, res, scope, actions);
    else forward(req, res);
  });
  server.listen(opts.port ?? 0, host);
  await once(server, 'listening'); // rejects with EADDRINUSE and the like
  const port = (server.address() as AddressInfo).port;

  const copy = (o: RegionOutage): RegionOutage => ({ ...o });
  return {
    endpoint: `http://${host}:${port}`,
    port,
    out(region) {
      let outage = out.get(region);
      if (!outage) {
        outage = { region, since: new Date().toISOString(), refused: 0 };
        out.set(region, outage);
      }
      return copy(outage);
    },
    restore: (region) => out.delete(region),
    isOut: (region) => out.has(region),
    outages: () => [...out.values()].map(copy),
    failCalls(region, action) {
      failingCalls.set(region, (failingCalls.get(region) ?? new Set()).add(action));
    },
    passCalls(region, action) {
      failingCalls.get(region)?.delete(action);
    },
    failing: () => [...failingCalls].flatMap(([region, actions]) => [...actions].map((a) => `${region} ${a}`)),
    async stop() {
      if (!server.listening) return;
      const closed = once(server, 'close');
      server.close();
      server.closeAllConnections();
      agent.destroy();
      await closed;
    },
  };
}
