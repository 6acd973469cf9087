// What a workflow's validator refused, as the typed errors callers map to their own surface
// (HTTP status, exit code, Slack reply). Validators put the HTTP status in the failure's
// details (`[{status}]`); a refused Update changes nothing.
import type { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { BadRequestError, ConflictError, ForbiddenError, NotFoundError } from './deployments';

export { ForbiddenError } from './deployments';

/**
 * A refused Update as a typed error: 400 BadRequestError (about `field`), 403 ForbiddenError,
 * 404 NotFoundError; anything else is a ConflictError (an action not valid now).
 */
export function refusal(err: WorkflowUpdateFailedError, field: string): Error {
  const cause = err.cause;
  const message = cause?.message ?? err.message;
  const status = cause instanceof ApplicationFailure ? statusOf(cause.details) : null;
  if (status === 400) return new BadRequestError(field, message);
  if (status === 403) return new ForbiddenError(message);
  if (status === 404) return new NotFoundError(message);
  return new ConflictError(message);
}

function statusOf(details: unknown[] | undefined | null): number | null {
  const first = details?.[0] as { status?: unknown } | undefined;
  return typeof first?.status === 'number' ? first.status : null;
}
