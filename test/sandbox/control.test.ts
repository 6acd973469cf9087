// The sandbox control server over real HTTP on loopback: smoke tests follow the faults.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultStore } from '../../src/sandbox/faults';
import { startControlServer, type ControlServer } from '../../src/sandbox/control';

let control: ControlServer;

beforeAll(async () => {
  control = await startControlServer({ faults: new FaultStore({ known: [{ service: 'web', environment: 'prod' }] }) });
});

afterAll(async () => {
  await control.stop();
});

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${control.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const green = { service: 'web', environment: 'prod', colour: 'green' };

describe('sandbox control server', () => {
  it('passes the smoke test of a healthy colour', async () => {
    const res = await call('GET', '/smoke/web/prod/green');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ ok: true, colour: 'green', fault: null });
  });

  it('fails the smoke test when the colour errors half the time or more', async () => {
    await call('POST', '/faults', { ...green, errorRate: 0.5 });
    const res = await call('GET', '/smoke/web/prod/green');
    expect(res.status).toBe(503);
    expect(res.json).toMatchObject({ ok: false, fault: { errorRate: 0.5 } });
    expect((await call('GET', '/smoke/web/prod/blue')).status).toBe(200);
  });

  it('passes the smoke test with a smaller fault, leaving it for analysis to catch', async () => {
    await call('POST', '/faults', { ...green, errorRate: 0.3 });
    expect((await call('GET', '/smoke/web/prod/green')).status).toBe(200);
  });

  it('lists, sets and heals faults', async () => {
    const set = await call('POST', '/faults', { ...green, errorRate: 0.3, latencyMs: 400 });
    expect(set).toEqual({ status: 200, json: { faults: [{ ...green, errorRate: 0.3, latencyMs: 400 }] } });
    expect((await call('GET', '/faults')).json).toEqual(set.json);
    expect(await call('DELETE', '/faults', green)).toEqual({ status: 200, json: { faults: [] } });
  });

  it.each([
    ['not JSON', '{nope', 'body'],
    ['an out-of-range error rate', { ...green, errorRate: 2 }, 'errorRate'],
    ['an unknown service', { ...green, service: 'wbe', errorRate: 0.2 }, 'wbe'],
    ['no body', undefined, 'body'],
  ])('answers 400 to %s', async (_what, body, text) => {
    const res = await call('POST', '/faults', body);
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: { code: 'bad_request', message: expect.stringContaining(text) } });
  });

  it('answers 404 to an unknown route', async () => {
    expect((await call('GET', '/nowhere')).status).toBe(404);
  });

  it('stops with a keep-alive connection open', async () => {
    const other = await startControlServer({ faults: new FaultStore() });
    await fetch(`${other.url}/healthz`, { headers: { connection: 'keep-alive' } });
    await other.stop();
    await expect(fetch(`${other.url}/healthz`)).rejects.toThrow();
  });
});
