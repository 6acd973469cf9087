// One error shape for the whole API — `{error: {code, message, ...details}}` — and the one
// place that maps what went wrong to a status. Bad input is a 400 whose message names the
// field; anything unexpected is a 500 that is logged in full and says nothing about internals.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { BadRequestError, ConflictError, NotFoundError } from '../temporal/deployments';
import { ForbiddenError } from '../temporal/releases';

export type ErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'too_many_requests'
  | 'internal'
  | 'bad_gateway'
  | 'unavailable';

const CODE_OF_STATUS: Record<number, ErrorCode> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'too_many_requests',
  500: 'internal',
  502: 'bad_gateway',
  503: 'unavailable',
};

export interface ErrorBody {
  error: { code: string; message: string } & Record<string, unknown>;
}

/** An error the API answers with as is: its status, code, message and details are public. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly statusCode: number,
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export const unauthorized = (message: string) => new ApiError(401, 'unauthorized', message);
export const forbidden = (message: string) => new ApiError(403, 'forbidden', message);

/**
 * Authorization before state: a caller who holds none of the roles that could ever decide on a
 * run gets 403 at once, whatever the run's state (the workflow would say 409 "not open" first).
 * `roles` empty: config names no deciders here, so the run's own answer stands.
 */
export function checkMayDecide(person: { name: string; roles: readonly string[] }, roles: readonly string[], what: string): void {
  const deciding = [...new Set(roles)];
  if (deciding.length === 0 || deciding.some((r) => person.roles.includes(r))) return;
  const has = person.roles.length === 0 ? 'no roles' : `roles ${person.roles.join(', ')}`;
  throw forbidden(`${person.name} (${has}) may not decide on ${what}: it needs role ${deciding.join(' or ')}`);
}

/** What AJV reports for one failed rule (the parts we read). */
interface ValidationIssue {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
}

/**
 * Turns a schema violation into `field: what is wrong`, e.g. `version: must match pattern ...`,
 * `body: must have required property 'service'`, `body: unknown property 'colour2'`.
 */
export function describeValidation(context: string, issue: ValidationIssue): { field: string; message: string } {
  const path = issue.instancePath
    .split('/')
    .filter(Boolean)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .join('.');
  const field = path || context;
  switch (issue.keyword) {
    case 'required':
      return { field: String(issue.params.missingProperty), message: `${field}: must have required property '${String(issue.params.missingProperty)}'` };
    case 'additionalProperties':
      return { field: String(issue.params.additionalProperty), message: `${field}: unknown property '${String(issue.params.additionalProperty)}'` };
    case 'enum': {
      const allowed = Array.isArray(issue.params.allowedValues) ? issue.params.allowedValues.join(', ') : '';
      return { field, message: `${field}: must be one of ${allowed}` };
    }
    default:
      return { field, message: `${field}: ${issue.message ?? 'is not valid'}` };
  }
}

function body(code: string, message: string, details: Record<string, unknown> = {}): ErrorBody {
  return { error: { ...details, code, message } };
}

/** Fastify's own client errors (parsing, limits) in the API's words. */
function clientErrorMessage(err: FastifyError): string {
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return 'body: is not valid JSON';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return "body: is empty but content-type is 'application/json'";
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'body: must be JSON (content-type: application/json)';
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'body: is too large';
    default:
      return err.message;
  }
}

/** gRPC status codes that mean Temporal did not answer in time, or not at all. */
const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_UNAVAILABLE = 14;

/**
 * Temporal is not answering: gRPC UNAVAILABLE or DEADLINE_EXCEEDED anywhere in the cause chain
 * (the client wraps them: ServiceError, WorkflowUpdateRPCTimeoutOrCancelledError), or the client
 * giving up on connecting before any call was made.
 */
export function isTemporalUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, name, message } = e as { code?: unknown; name?: unknown; message?: unknown };
    if (code === GRPC_UNAVAILABLE || code === GRPC_DEADLINE_EXCEEDED) return true;
    if (name === 'WorkflowUpdateRPCTimeoutOrCancelledError') return true;
    // Connection.connect() when the server never answers; a closed connection's channel.
    if (typeof message === 'string' && /Failed to connect before the deadline|Channel has been shut down/.test(message)) return true;
  }
  return false;
}

export function errorHandler(err: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (err instanceof ApiError) {
    if (err.statusCode === 401) void reply.header('www-authenticate', 'Bearer');
    if (err.statusCode === 503) void reply.header('retry-after', '5');
    if (err.statusCode >= 500) request.log.error({ err }, 'request failed');
    return reply.code(err.statusCode).send(body(err.code, err.message, err.details));
  }
  if (err instanceof BadRequestError) return reply.code(400).send(body('bad_request', err.message, { field: err.field }));
  if (err instanceof ForbiddenError) return reply.code(403).send(body('forbidden', err.message));
  if (err instanceof NotFoundError) return reply.code(404).send(body('not_found', err.message));
  if (err instanceof ConflictError) return reply.code(409).send(body('conflict', err.message, err.details));

  const fe = err as FastifyError;
  if (fe.validation?.length) {
    const { field, message } = describeValidation(fe.validationContext ?? 'body', fe.validation[0] as ValidationIssue);
    return reply.code(400).send(body('bad_request', message, { field }));
  }
  const status = fe.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    return reply.code(status).send(body(CODE_OF_STATUS[status] ?? 'bad_request', clientErrorMessage(fe)));
  }
  if (isTemporalUnavailable(err)) {
    // Every call to Temporal has a deadline (app.ts), so a stuck or unreachable server ends here.
    request.log.warn({ err }, 'request failed: Temporal is not answering');
    return reply.code(503).header('retry-after', '5').send(body('unavailable', 'Temporal is not reachable or not answering in time; try again shortly'));
  }
  request.log.error({ err }, 'request failed');
  return reply.code(500).send(body('internal', 'internal error (it has been logged)'));
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return reply.code(404).send(body('not_found', `no route ${request.method} ${request.url.split('?')[0]}`));
}
