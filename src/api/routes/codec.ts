// The remote codec the Temporal Web UI calls to show encrypted payloads (BATON_CODEC_KEYS,
// src/temporal/codec.ts) as text: POST /codec/decode and /codec/encode, Temporal's codec
// protocol (`{payloads: [{metadata: {k: base64}, data: base64}]}`, header X-Namespace). Only
// present when the API's client has a codec; otherwise these paths are 404s.
//
// Who may call: a person with `read`, by bearer token (scripts, or a UI that passes one), or by
// the `baton_codec` cookie that POST /codec/session sets (the page at /codec/login does it in a
// browser). The dev server's UI (`--ui-codec-endpoint`) sends neither a token nor cookies: it
// passes its own OIDC token only to an https endpoint and only with UI auth, and includes
// cookies only when a person ticks "Include cross-origin credentials" in its codec settings.
// So in a browser: sign in at /codec/login, then tick that box (README, "Encrypted payloads").
//
// CORS answers the Temporal UI's origin (config `api.temporalUiUrl`) only, credentials
// included; any other origin gets no CORS headers, so a browser never hands it the answer.
import { Type, type Static } from '@sinclair/typebox';
import type { Client } from '@temporalio/client';
import type { Payload, PayloadCodec } from '@temporalio/common';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { BatonConfig } from '../../config';
import { CodecError } from '../../temporal/codec';
import { authorize, caller } from '../auth';
import { ApiError } from '../errors';
import { ErrorReply, withErrors } from '../schemas';

export interface CodecRoutesOptions {
  client: Client;
  config: BatonConfig;
}

/** The cookie a browser session carries (the person's token; HttpOnly, only sent to /codec). */
export const CODEC_COOKIE = 'baton_codec';
/** How long a browser session lasts. */
const SESSION_SECONDS = 12 * 60 * 60;

const Base64 = Type.String({ pattern: '^[A-Za-z0-9+/_-]*={0,2}$' });
const PayloadJson = Type.Object(
  {
    metadata: Type.Optional(Type.Record(Type.String(), Base64)),
    data: Type.Optional(Base64),
    // Newer protocol versions describe payloads stored elsewhere; nothing of ours uses them.
    externalPayloads: Type.Optional(Type.Array(Type.Unknown())),
  },
  { additionalProperties: false },
);
const Payloads = Type.Object({ payloads: Type.Array(PayloadJson, { maxItems: 1000 }) }, { additionalProperties: false });
type PayloadsJson = Static<typeof Payloads>;

const SessionReply = Type.Object({
  person: Type.String(),
  expiresInSeconds: Type.Integer(),
});

/** Payloads can be large (Temporal allows 2 MB each); the rest of the API stays at its 64 KB. */
const BODY_LIMIT = 8 * 1024 * 1024;

function fromJson(p: Static<typeof PayloadJson>): Payload {
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, 'base64'))])),
    data: new Uint8Array(Buffer.from(p.data ?? '', 'base64')),
  };
}

function toJson(p: Payload): Static<typeof PayloadJson> {
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
  };
}

/** The value of one cookie of the request, or null. */
function cookie(request: FastifyRequest, name: string): string | null {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return null;
}

function setSessionCookie(request: FastifyRequest, reply: FastifyReply, value: string, maxAge: number): void {
  // SameSite=Strict: the UI and the API are one site (the same host, other ports), so the UI's
  // credentialed calls carry it and no other site's do. Secure whenever the API is on https.
  const secure = request.protocol === 'https' ? '; Secure' : '';
  void reply.header('set-cookie', `${CODEC_COOKIE}=${encodeURIComponent(value)}; Path=/codec; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${secure}`);
}

export const codecRoutes: FastifyPluginAsyncTypebox<CodecRoutesOptions> = async (app, { client, config }) => {
  const codecs: PayloadCodec[] = client.options.loadedDataConverter.payloadCodecs;
  if (!codecs.length) return;
  const namespace = client.options.namespace;
  const uiOrigin = config.api.temporalUiUrl ? new URL(config.api.temporalUiUrl).origin : null;
  const authenticate = authorize(config);

  /** CORS for the Temporal UI only; on every answer (errors too), so the UI can read a 401. */
  const allowUi = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    void reply.header('vary', 'Origin');
    if (uiOrigin && request.headers.origin === uiOrigin) {
      void reply.header('access-control-allow-origin', uiOrigin);
      void reply.header('access-control-allow-credentials', 'true');
    }
  };

  /** The bearer token, else the session cookie's, then the API's usual authentication and permission check. */
  const tokenOrSession = async (request: FastifyRequest): Promise<void> => {
    if (!request.headers.authorization) {
      const session = cookie(request, CODEC_COOKIE);
      if (session) request.headers.authorization = `Bearer ${session}`;
    }
    await authenticate(request);
  };

  const convert = async (request: FastifyRequest, body: PayloadsJson, direction: 'encode' | 'decode'): Promise<PayloadsJson> => {
    const asked = request.headers['x-namespace'];
    if (typeof asked === 'string' && asked !== namespace) {
      throw new ApiError(403, 'forbidden', `this codec serves namespace '${namespace}', not '${asked}'`);
    }
    let payloads = body.payloads.map(fromJson);
    try {
      // As the SDK runs them: encode in order, decode in reverse.
      if (direction === 'encode') for (const c of codecs) payloads = await c.encode(payloads);
      else for (const c of [...codecs].reverse()) payloads = await c.decode(payloads);
    } catch (err) {
      if (err instanceof CodecError) throw new ApiError(400, 'bad_request', `payloads: ${err.message}`, { field: 'payloads' });
      throw err;
    }
    return { payloads: payloads.map(toJson) };
  };

  for (const direction of ['decode', 'encode'] as const) {
    app.post(`/codec/${direction}`, {
      bodyLimit: BODY_LIMIT,
      config: { permission: 'read', does: `${direction} payloads` },
      onRequest: [allowUi, tokenOrSession],
      schema: {
        summary: direction === 'decode' ? 'Decrypt payloads (the Temporal UI\'s remote codec)' : 'Encrypt payloads (the Temporal UI\'s remote codec)',
        description: 'Temporal\'s codec protocol: Payloads as protobuf JSON. A person with `read`, by bearer token or the session cookie of POST /codec/session. Payloads that are not encrypted decode as they are.',
        tags: ['codec'],
        body: Payloads,
        response: withErrors({ 200: Payloads, 401: ErrorReply, 403: ErrorReply }),
      },
    }, async (request, reply) => reply.code(200).send(await convert(request, request.body, direction)));

    // The UI's calls are cross-origin with custom headers, so the browser asks first.
    app.options(`/codec/${direction}`, { onRequest: allowUi, schema: { hide: true } }, async (request, reply) => {
      if (uiOrigin && request.headers.origin === uiOrigin) {
        void reply.header('access-control-allow-methods', 'POST');
        void reply.header('access-control-allow-headers', 'Content-Type, X-Namespace, Authorization, Authorization-Extras');
        void reply.header('access-control-max-age', '600');
      }
      return reply.code(204).send();
    });
  }

  app.post('/codec/session', {
    config: { permission: 'read', does: 'decode payloads' },
    onRequest: authorize(config),
    schema: {
      summary: 'Start a browser session for the codec',
      description: `Sets the \`${CODEC_COOKIE}\` cookie (HttpOnly, SameSite=Strict, path /codec, ${SESSION_SECONDS / 3600} h), which the Temporal UI sends with "Include cross-origin credentials".`,
      tags: ['codec'],
      response: withErrors({ 200: SessionReply, 401: ErrorReply, 403: ErrorReply }),
    },
  }, async (request, reply) => {
    const token = /^Bearer[ \t]+(\S+)/i.exec(request.headers.authorization ?? '')![1];
    setSessionCookie(request, reply, token, SESSION_SECONDS);
    return reply.code(200).send({ person: caller(request).name, expiresInSeconds: SESSION_SECONDS });
  });

  app.delete('/codec/session', {
    schema: { summary: 'End the browser session', tags: ['codec'], security: [], response: { 204: Type.Null() } },
  }, async (request, reply) => {
    setSessionCookie(request, reply, '', 0);
    return reply.code(204).send(null);
  });

  app.get('/codec/login', {
    schema: { summary: 'A page that starts a browser session for the codec', tags: ['codec'], security: [] },
  }, async (_request, reply) => reply.code(200).type('text/html; charset=utf-8').header('content-security-policy', "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'").send(loginPage(uiOrigin)));
};

/** The sign-in page: the token goes to POST /codec/session from this origin, never into a URL. */
function loginPage(uiOrigin: string | null): string {
  const ui = uiOrigin ? `<a href="${uiOrigin}">the Temporal UI</a>` : 'the Temporal UI';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Baton: decode payloads in the Temporal UI</title>
<style>body{font:16px system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em}input{width:100%;font:inherit;padding:.3em}button{font:inherit;margin-top:.5em}</style></head>
<body><h1>Decode payloads in the Temporal UI</h1>
<p>Baton encrypts what it stores in Temporal. Sign in with your Baton token so that ${ui} can show it as text.</p>
<form id="f"><label for="token">Your Baton token</label><input id="token" type="password" autocomplete="off" required><button>Sign in</button></form>
<p id="out" role="status"></p>
<p>Then, once per browser, in the Temporal UI: the codec icon at the top, <em>Use my browser setting and ignore Cluster-level setting</em>,
endpoint <code id="endpoint"></code>, tick <em>Include cross-origin credentials</em>, <em>Apply</em>.</p>
<script>
document.getElementById('endpoint').textContent = location.origin + '/codec';
document.getElementById('f').addEventListener('submit', async (e) => {
  e.preventDefault();
  const out = document.getElementById('out');
  const res = await fetch('session', { method: 'POST', headers: { authorization: 'Bearer ' + document.getElementById('token').value } });
  const body = await res.json();
  out.textContent = res.ok ? 'Signed in as ' + body.person + ' for ' + body.expiresInSeconds / 3600 + ' h.' : body.error.message;
});
</script></body></html>
`;
}
