// Helpers for driving the API in tests through app.inject() (no socket): a caller bound to a
// token, and the pieces of an answer tests look at.
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import type { SandboxTokens } from './stack';

export interface Answer<T = unknown> {
  status: number;
  body: T;
  headers: LightMyRequestResponse['headers'];
}

export interface ApiCaller {
  get<T = unknown>(url: string): Promise<Answer<T>>;
  post<T = unknown>(url: string, body?: unknown): Promise<Answer<T>>;
  delete<T = unknown>(url: string, body?: unknown): Promise<Answer<T>>;
  /** Anything else (raw payloads, odd headers); the token is added unless headers set one. */
  inject<T = unknown>(opts: InjectOptions): Promise<Answer<T>>;
}

function answer<T>(res: LightMyRequestResponse): Answer<T> {
  let body: unknown = res.body;
  if (String(res.headers['content-type'] ?? '').includes('json')) body = res.json();
  return { status: res.statusCode, body: body as T, headers: res.headers };
}

/** A caller that sends `Authorization: Bearer <token>` (or nothing when token is null). */
export function authed(app: FastifyInstance, token: string | null): ApiCaller {
  const auth: Record<string, string> = token === null ? {} : { authorization: `Bearer ${token}` };
  const inject = async <T>(opts: InjectOptions): Promise<Answer<T>> =>
    answer<T>(await app.inject({ ...opts, headers: { ...auth, ...opts.headers } }));
  return {
    get: (url) => inject({ method: 'GET', url }),
    post: (url, body) => inject({ method: 'POST', url, ...(body === undefined ? {} : { payload: body as object }) }),
    delete: (url, body) => inject({ method: 'DELETE', url, ...(body === undefined ? {} : { payload: body as object }) }),
    inject,
  };
}

/** Anonymous caller. */
export const anonymous = (app: FastifyInstance): ApiCaller => authed(app, null);

/** The `{error: {code, message}}` of an answer, for assertions. */
export function errorOf(a: Answer): { code: string; message: string; [k: string]: unknown } {
  return (a.body as { error: { code: string; message: string } }).error;
}

/** A caller per sandbox person, by name (as `/v1/sandbox/people` lists them). */
export function sandboxCallers(app: FastifyInstance, p: SandboxTokens): Record<'ada' | 'rosa' | 'remi' | 'quinn' | 'pia' | 'dev' | 'dan' | 'val' | 'ci', ApiCaller> {
  return {
    ada: authed(app, p.admin),
    rosa: authed(app, p.releaseManager),
    remi: authed(app, p.releaseManager2),
    quinn: authed(app, p.qa),
    pia: authed(app, p.product),
    dev: authed(app, p.developer),
    dan: authed(app, p.deployer),
    val: authed(app, p.viewer),
    ci: authed(app, p.ci),
  };
}
