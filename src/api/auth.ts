// Who is calling, and may they? A bearer token identifies a person from config (we only ever
// hold its SHA-256, compared in constant time); the route's `permission` decides by role.
// Every route behind `authorize` must name a permission: a route that forgets is refused to all.
import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { hashToken, type BatonConfig, type Person, type Role } from '../config';
import { forbidden, unauthorized } from './errors';

/** What a route does, and which roles may do it. `admin` may do everything. */
export const PERMISSIONS = {
  /** Read statuses. Every role may; approvers must see what they approve. */
  read: ['viewer', 'deployer', 'approver', 'admin'],
  /** Start a deployment. */
  deploy: ['deployer', 'admin'],
  /** Pause, resume, promote, extend or roll back a deployment. */
  act: ['deployer', 'admin'],
  /** Sandbox only: inject or heal faults. */
  'sandbox:faults': ['deployer', 'admin'],
  /** Sandbox only: list the example people and their tokens. */
  'sandbox:people': ['admin'],
} as const satisfies Record<string, readonly Role[]>;

export type Permission = keyof typeof PERMISSIONS;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The permission a caller needs for this route (routes behind `authorize`). */
    permission?: Permission;
  }
  interface FastifyRequest {
    /** The authenticated caller; set by `authorize`, null on public routes. */
    person: Person | null;
  }
}

export function may(person: Person, permission: Permission): boolean {
  const allowed: readonly Role[] = PERMISSIONS[permission];
  return person.roles.some((r) => r === 'admin' || allowed.includes(r));
}

/** The person whose token this is, or null. Compares every person's hash, in constant time. */
export function personForToken(people: readonly Person[], token: string): Person | null {
  const presented = Buffer.from(hashToken(token), 'hex');
  let found: Person | null = null;
  for (const p of people) {
    const known = Buffer.from(p.tokenSha256, 'hex');
    if (known.length === presented.length && timingSafeEqual(known, presented) && !found) found = p;
  }
  return found;
}

function bearerToken(header: string | undefined): string | null {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  return m ? m[1] : null;
}

/** onRequest hook: 401 without a known token, 403 when the caller's roles do not allow the route. */
export function authorize(config: BatonConfig) {
  return async (request: FastifyRequest): Promise<void> => {
    const token = bearerToken(request.headers.authorization);
    if (!token) throw unauthorized('missing credentials: send Authorization: Bearer <token>');
    const person = personForToken(config.people, token);
    if (!person) throw unauthorized('unknown token');
    request.person = person;
    const permission = request.routeOptions.config.permission;
    if (!permission || !may(person, permission)) {
      const roles = permission ? ` (needs ${PERMISSIONS[permission].join(' or ')})` : '';
      throw forbidden(`${person.name} (${person.roles.join(', ')}) may not ${describe(permission)}${roles}`);
    }
  };
}

function describe(permission: Permission | undefined): string {
  switch (permission) {
    case 'read':
      return 'read statuses';
    case 'deploy':
      return 'start deployments';
    case 'act':
      return 'act on deployments';
    case 'sandbox:faults':
      return 'inject sandbox faults';
    case 'sandbox:people':
      return 'list sandbox people';
    case undefined:
      return 'use this route';
    default: {
      const never: never = permission;
      return String(never);
    }
  }
}

/** The authenticated caller, for handlers behind `authorize`. */
export function caller(request: FastifyRequest): Person {
  if (!request.person) throw new Error('caller() used on a route without authorize');
  return request.person;
}
