// Payloads encrypted before they reach Temporal (BATON_CODEC_KEYS): the codec itself (round
// trip, key rotation, unknown keys, tampering), the environment variable, and then a whole
// Baton with the codec on: a deployment's input and an operator's reason are unreadable in
// Temporal's store, readable through the API's /codec endpoint by a person with a token (and
// a browser session), CORS for the Temporal UI's origin only, and the Temporal UI itself
// showing the decrypted input once a person has signed in.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Client } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app';
import { ConfigError, readRuntimeEnv, type CodecKey } from '../../src/config';
import { CodecError, ENCRYPTED_ENCODING, EncryptionCodec, KEY_ID_METADATA, codecOf, dataConverterOf } from '../../src/temporal/codec';
import { anonymous, authed, errorOf, type ApiCaller } from '../harness/api';
import { freePort } from '../harness/servers';
import { startStack, type Stack } from '../harness/stack';
import { until } from '../harness/wait';
import { startChromium, type HeadlessChromium } from '../ui/chromium';

const key = (id: string): CodecKey => ({ id, key: randomBytes(32) });
const utf8 = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));
const text = (b: Uint8Array | null | undefined) => Buffer.from(b ?? new Uint8Array()).toString('utf8');
const jsonPayload = (value: unknown): Payload => ({ metadata: { encoding: utf8('json/plain') }, data: utf8(JSON.stringify(value)) });

describe('the payload codec', () => {
  const secret = { comment: 'rolled back: https://grafana.example.com/d/abc', arn: 'arn:aws:ecs:us-east-1:123:service/web' };

  it('encrypts every payload so that nothing of it shows, and decrypts it back as it was', async () => {
    const codec = new EncryptionCodec([key('k1')]);
    const original = jsonPayload(secret);
    const [sealed] = await codec.encode([original]);
    expect(text(sealed.metadata?.encoding)).toBe(ENCRYPTED_ENCODING);
    expect(text(sealed.metadata?.[KEY_ID_METADATA])).toBe('k1');
    expect(text(sealed.data)).not.toContain('grafana');
    expect(text(sealed.data)).not.toContain('json/plain');
    const [opened] = await codec.decode([sealed]);
    expect(text(opened.metadata?.encoding)).toBe('json/plain');
    expect(JSON.parse(text(opened.data))).toEqual(secret);
  });

  it('encrypts with the first key and still decrypts with an older one after a rotation', async () => {
    const [old, next] = [key('2025-01'), key('2025-07')];
    const [byOld] = await new EncryptionCodec([old]).encode([jsonPayload('before')]);
    const rotated = new EncryptionCodec([next, old]);
    const [byNext] = await rotated.encode([jsonPayload('after')]);
    expect(text(byNext.metadata?.[KEY_ID_METADATA])).toBe('2025-07');
    const opened = await rotated.decode([byOld, byNext]);
    expect(opened.map((p) => JSON.parse(text(p.data)))).toEqual(['before', 'after']);
  });

  it('refuses a payload encrypted with a key it does not have, naming the key id', async () => {
    const [sealed] = await new EncryptionCodec([key('retired')]).encode([jsonPayload(secret)]);
    await expect(new EncryptionCodec([key('current')]).decode([sealed])).rejects.toThrow(/key 'retired', which BATON_CODEC_KEYS does not have/);
  });

  it('refuses a payload whose ciphertext or key id was altered', async () => {
    const k = key('k1');
    const codec = new EncryptionCodec([k, { id: 'k2', key: k.key }]);
    const [sealed] = await codec.encode([jsonPayload(secret)]);
    const flipped = new Uint8Array(sealed.data!);
    flipped[20] ^= 1;
    await expect(codec.decode([{ ...sealed, data: flipped }])).rejects.toThrow(CodecError);
    // The same key under another id: the id is authenticated, so relabelling is caught too.
    const relabelled = { ...sealed, metadata: { ...sealed.metadata, [KEY_ID_METADATA]: utf8('k2') } };
    await expect(codec.decode([relabelled])).rejects.toThrow(/does not decrypt/);
  });

  it('passes payloads that were never encrypted through unchanged (histories from before the codec)', async () => {
    const plain = jsonPayload(secret);
    expect(await new EncryptionCodec([key('k1')]).decode([plain])).toEqual([plain]);
  });

  it('reads BATON_CODEC_KEYS: none means plaintext, and a bad value names the variable', () => {
    const env = (value?: string) => readRuntimeEnv({ BATON_CONFIG: '/x.yaml', BATON_CODEC_KEYS: value });
    expect(env().codec).toBeNull();
    expect(dataConverterOf(env())).toBeUndefined();
    const [a, b] = [randomBytes(32).toString('base64'), randomBytes(32).toString('base64')];
    const runtime = env(`new:${a}, old:${b}`);
    expect(runtime.codec?.keys.map((k) => k.id)).toEqual(['new', 'old']);
    expect(codecOf(runtime)?.keyId).toBe('new');
    expect(dataConverterOf(runtime)?.payloadCodecs).toHaveLength(1);
    for (const [bad, why] of [
      [a, /entry 1 is not 'keyId:base64key'/],
      [`k1:${randomBytes(16).toString('base64')}`, /the key of 'k1' is 16 bytes; AES-256 needs 32/],
      [`k1:not base64!`, /the key of 'k1' is not base64/],
      [`k1:${a},k1:${b}`, /key id 'k1' appears twice/],
    ] as const) {
      expect(() => env(bad)).toThrow(ConfigError);
      expect(() => env(bad)).toThrow(/^BATON_CODEC_KEYS: /);
      expect(() => env(bad)).toThrow(why);
    }
    // The message never carries the key itself.
    const short = randomBytes(16).toString('base64');
    const message = (() => {
      try {
        env(`k1:${short}`);
        return '';
      } catch (err) {
        return (err as Error).message;
      }
    })();
    expect(message).toMatch(/16 bytes/);
    expect(message).not.toContain(short);
  });
});

interface PayloadsJson {
  payloads: Array<{ metadata?: Record<string, string>; data?: string }>;
}

const toJson = (payloads: Payload[]): PayloadsJson => ({
  payloads: payloads.map((p) => ({
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
  })),
});
const dataOf = (body: PayloadsJson) => body.payloads.map((p) => Buffer.from(p.data ?? '', 'base64').toString('utf8')).join('\n');

/** Every payload in a raw history, except search attributes (which Temporal must read, so no codec touches them). */
/**
 * Every payload in a history, but the markers of `patched()`: the SDK writes those itself (the
 * patch's name, never data) and they do not pass through the codec.
 */
function payloadsIn(value: unknown, found: Payload[] = []): Payload[] {
  if (!value || typeof value !== 'object' || value instanceof Uint8Array) return found;
  const v = value as Record<string, unknown>;
  const marker = v.markerRecordedEventAttributes as { markerName?: string } | undefined;
  if (marker?.markerName === 'core_patch') return found;
  if (v.data instanceof Uint8Array && v.metadata && typeof v.metadata === 'object') {
    found.push(v as Payload);
    return found;
  }
  for (const [k, child] of Object.entries(v)) if (k !== 'searchAttributes') payloadsIn(child, found);
  return found;
}

describe('a whole Baton with the codec on', () => {
  const PLAN = { steps: [{ shift: 10 }, { soak: '1h' }, { shift: 100 }], analysis: { interval: '30m' } };
  const reason = `checking the dashboards at https://grafana.example.com/d/${randomBytes(4).toString('hex')}`;
  let stack: Stack;
  let app: FastifyInstance;
  let api: string;
  let uiOrigin: string;
  let viewer: ApiCaller;
  let id: string;
  /** The deployment's history as Temporal stores it, read by a client without the codec. */
  let stored: Payload[];

  beforeAll(async () => {
    const apiPort = await freePort();
    api = `http://127.0.0.1:${apiPort}`;
    stack = await startStack({ plan: PLAN, codec: true, ui: { codecEndpoint: `${api}/codec` } });
    uiOrigin = new URL(stack.temporal.uiUrl!).origin;
    const config = { ...stack.config, api: { ...stack.config.api, temporalUiUrl: stack.temporal.uiUrl! } };
    app = await buildApp({ client: stack.client, config });
    await app.listen({ host: '127.0.0.1', port: apiPort });
    viewer = authed(app, stack.people.viewer);

    const deployer = authed(app, stack.people.deployer);
    const started = await deployer.post<{ id: string }>('/v1/deployments', { service: 'web', environment: 'dev', version: '1.7.3' });
    expect(started.status).toBe(201);
    id = started.body.id;
    // The worker decrypts the input and encrypts what it answers: the status query works.
    await until(`${id} to soak`, () => viewer.get<{ phase: string }>(`/v1/deployments/${id}`), (r) => r.status === 200 && r.body.phase === 'soaking', 90_000);
    const paused = await deployer.post(`/v1/deployments/${id}/actions`, { action: 'pause', reason });
    expect(paused.status).toBe(200);

    const plain = new Client({ connection: stack.client.connection });
    const history = await plain.workflowService.getWorkflowExecutionHistory({ namespace: 'default', execution: { workflowId: id } });
    stored = payloadsIn(history.history);
  }, 300_000);

  afterAll(async () => {
    await app?.close();
    await stack?.stop();
  }, 120_000);

  it('stores nothing of the input or the reason in clear: every payload is encrypted', () => {
    expect(stored.length).toBeGreaterThan(2);
    for (const p of stored) expect(text(p.metadata?.encoding)).toBe(ENCRYPTED_ENCODING);
    const bytes = stored.map((p) => text(p.data)).join('\n');
    for (const plaintext of ['arn:aws', '/smoke/web/dev', 'grafana.example.com']) expect(bytes).not.toContain(plaintext);
  });

  it('decodes them through /codec/decode for a person with a token, and encodes too', async () => {
    const decoded = await viewer.inject<PayloadsJson>({ method: 'POST', url: '/codec/decode', headers: { 'x-namespace': 'default' }, payload: toJson(stored) });
    expect(decoded.status).toBe(200);
    const clear = dataOf(decoded.body);
    for (const plaintext of ['arn:aws', '/smoke/web/dev', reason]) expect(clear).toContain(plaintext);
    expect(decoded.body.payloads.every((p) => Buffer.from(p.metadata!.encoding, 'base64').toString() !== ENCRYPTED_ENCODING)).toBe(true);

    const input = toJson([jsonPayload({ comment: 'typed in the UI' })]);
    const encoded = await viewer.post<PayloadsJson>('/codec/encode', input);
    expect(encoded.status).toBe(200);
    expect(dataOf(encoded.body)).not.toContain('typed in the UI');
    const back = await viewer.post<PayloadsJson>('/codec/decode', encoded.body);
    expect(back.body).toEqual(input);
  });

  it('refuses callers without a known token, other namespaces and altered payloads', async () => {
    const body = toJson(stored.slice(0, 1));
    const none = await anonymous(app).post('/codec/decode', body);
    expect(none.status).toBe(401);
    expect(errorOf(none).message).toMatch(/missing credentials/);
    expect((await authed(app, 'not-a-token').post('/codec/decode', body)).status).toBe(401);
    const elsewhere = await viewer.inject({ method: 'POST', url: '/codec/decode', headers: { 'x-namespace': 'other' }, payload: body });
    expect(elsewhere.status).toBe(403);
    expect(errorOf(elsewhere).message).toMatch(/serves namespace 'default', not 'other'/);
    const data = Buffer.from(body.payloads[0].data!, 'base64');
    data[data.length - 1] ^= 1;
    const altered = await viewer.post('/codec/decode', { payloads: [{ ...body.payloads[0], data: data.toString('base64') }] });
    expect(altered.status).toBe(400);
    expect(errorOf(altered).message).toMatch(/^payloads: a payload encrypted with key 'test-[\w-]+' does not decrypt/);
    expect((await viewer.post('/codec/decode', { payloads: [{ data: '%%%' }] })).status).toBe(400);
  });

  it('answers CORS for the Temporal UI\'s origin only', async () => {
    const preflight = (origin: string) => anonymous(app).inject({
      method: 'OPTIONS',
      url: '/codec/decode',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-namespace' },
    });
    const fromUi = await preflight(uiOrigin);
    expect(fromUi.status).toBe(204);
    expect(fromUi.headers).toMatchObject({ 'access-control-allow-origin': uiOrigin, 'access-control-allow-credentials': 'true', 'access-control-allow-methods': 'POST' });
    expect(String(fromUi.headers['access-control-allow-headers'])).toMatch(/X-Namespace/);
    const fromElsewhere = await preflight('http://evil.example.com');
    expect(Object.keys(fromElsewhere.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);

    const post = (origin: string) => viewer.inject({ method: 'POST', url: '/codec/decode', headers: { origin }, payload: toJson(stored.slice(0, 1)) });
    expect((await post(uiOrigin)).headers['access-control-allow-origin']).toBe(uiOrigin);
    const foreign = await post('http://evil.example.com');
    expect(Object.keys(foreign.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
    // Even a 401 carries the UI's CORS headers, so the UI can tell a person to sign in.
    const refused = await anonymous(app).inject({ method: 'POST', url: '/codec/decode', headers: { origin: uiOrigin }, payload: toJson(stored.slice(0, 1)) });
    expect(refused.status).toBe(401);
    expect(refused.headers['access-control-allow-origin']).toBe(uiOrigin);
  });

  it('accepts the session cookie that POST /codec/session sets for a browser', async () => {
    const session = await viewer.post<{ person: string }>('/codec/session');
    expect(session.status).toBe(200);
    expect(session.body.person).toBe('val');
    const cookie = String(session.headers['set-cookie']);
    expect(cookie).toMatch(/^baton_codec=[^;]+; Path=\/codec; Max-Age=\d+; HttpOnly; SameSite=Strict/);
    const withCookie = await anonymous(app).inject<PayloadsJson>({
      method: 'POST', url: '/codec/decode', headers: { cookie: cookie.split(';')[0] }, payload: toJson(stored),
    });
    expect(withCookie.status).toBe(200);
    expect(dataOf(withCookie.body)).toContain(reason);
    expect((await anonymous(app).inject({ method: 'POST', url: '/codec/decode', headers: { cookie: 'baton_codec=forged' }, payload: toJson(stored) })).status).toBe(401);
    expect((await anonymous(app).post('/codec/session')).status).toBe(401);
  });

  describe('in the Temporal UI', () => {
    let chromium: HeadlessChromium;

    beforeAll(async () => {
      chromium = await startChromium();
    }, 600_000); // the first run may install chromium

    afterAll(async () => {
      await chromium?.stop();
    });

    it('shows the deployment\'s input decrypted once a person has signed in and included credentials', async () => {
      const context = await chromium.browser.newContext();
      try {
        const page = await context.newPage();
        page.setDefaultTimeout(15_000);
        // Sign in on the API's page: the browser now holds the session cookie.
        await page.goto(`${api}/codec/login`);
        await page.getByLabel('Your Baton token').fill(stack.people.viewer);
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.getByText('Signed in as val').waitFor();

        // The dev server's UI sends no credentials unless told to, once per browser.
        const workflowPage = `${stack.temporal.uiUrl}/namespaces/default/workflows/${encodeURIComponent(id)}`;
        await page.goto(workflowPage);
        // The codec button in the top bar ("Codec Server is configured", or a failure's words).
        await page.getByRole('button', { name: /Codec Server/ }).first().click();
        await page.getByLabel('Use my browser setting and ignore Cluster-level setting.').check();
        await page.getByLabel('Codec Server browser endpoint').fill(`${api}/codec`);
        // A switch drawn over a hidden checkbox: click its words, as a person does.
        await page.getByText('Include cross-origin credentials').click();
        expect(await page.getByRole('switch', { name: 'Include cross-origin credentials' }).isChecked()).toBe(true);
        await page.getByRole('button', { name: 'Apply' }).click();

        await page.goto(workflowPage);
        // The input panel shows the spec's first lines: its listener's ARN is among them.
        await page.getByText('arn:aws:elasticloadbalancing').first().waitFor({ timeout: 30_000 });
        const shown = await page.locator('body').innerText();
        expect(shown).toContain('"requestedBy": "dan"');
        expect(shown).not.toContain(ENCRYPTED_ENCODING);
      } finally {
        await context.close();
      }
    }, 60_000);
  });
});
