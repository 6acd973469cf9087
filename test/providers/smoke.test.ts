import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { freePort } from '../harness/servers';
import { createHttpSmokeTester } from '../../src/providers/smoke';

describe('the HTTP smoke tester', () => {
  let server: Server;
  let base: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/healthz') return res.end('ok');
      if (req.url === '/slow') return; // never answers
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('upstream   unavailable\n');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });

  it('passes a 2xx answer and quotes the body', async () => {
    expect(await createHttpSmokeTester().check(`${base}/healthz`)).toEqual({ ok: true, status: 200, detail: 'HTTP 200: ok' });
  });

  it('fails a 503 and says so with a body excerpt', async () => {
    expect(await createHttpSmokeTester().check(`${base}/broken`)).toEqual({ ok: false, status: 503, detail: 'HTTP 503: upstream unavailable' });
  });

  it('fails, without throwing, when the connection is refused', async () => {
    const result = await createHttpSmokeTester().check(`http://127.0.0.1:${await freePort()}/healthz`);
    expect(result).toMatchObject({ ok: false, status: null, detail: expect.stringContaining('ECONNREFUSED') });
  });

  it('fails, without throwing, when the server does not answer in time', async () => {
    const result = await createHttpSmokeTester({ timeoutMs: 200 }).check(`${base}/slow`);
    expect(result).toEqual({ ok: false, status: null, detail: 'no answer within 200 ms' });
  });
});
