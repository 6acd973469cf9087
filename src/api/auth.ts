// Who is calling, and may they? A bearer token identifies a person from config (we only ever
// hold its SHA-256, compared in constant time); the route's `permission` decides, through the
// person's roles (config `roles:`, see permissionsOf). Every route behind `authorize` must name
// a permission: a route that forgets is refused to all. Approving a release is not a
// permission: the gate's approval rules decide who may approve, in the release workflow.
import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { hashToken, permissionsOf, type BatonConfig, type Permission, type Person } from '../config';
import { forbidden, unauthorized } from './errors';

export type { Permission } from '../config';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The permission a caller needs for this route (routes behind `authorize`). */
    permission?: Permission;
    /** What the route does, for the 403 message ("start deployments"); default: the permission's. */
    does?: string;
  }
  interface FastifyRequest {
    /** The authenticated caller; set by `authorize`, null on public routes. */
    person: Person | null;
  }
}

/** What each permission lets a person do, in the words of a 403. */
const DOES: Record<Permission, string> = {
  read: 'read statuses',
  deploy: 'start or act on deployments',
  release: 'start or act on releases',
  freeze: 'declare or lift freezes',
  restore: 'take backups or restore databases',
  failover: 'request failovers, failbacks or drills',
  admin: 'administer Baton',
};

export function may(config: Pick<BatonConfig, 'roles'>, person: Person, permission: Permission): boolean {
  return permissionsOf(config, person).has(permission);
}

/** The roles that grant a permission (`admin` grants all), for the 403 message. */
export function rolesWith(config: Pick<BatonConfig, 'roles'>, permission: Permission): string[] {
  return Object.entries(config.roles)
    .filter(([, perms]) => perms.includes(permission) || perms.includes('admin'))
    .map(([role]) => role);
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
    const { permission, does } = request.routeOptions.config;
    if (!permission || !may(config, person, permission)) {
      const what = does ?? (permission ? DOES[permission] : 'use this route');
      const roles = permission ? ` (needs ${rolesWith(config, permission).join(' or ')})` : '';
      throw forbidden(`${person.name} (${person.roles.join(', ')}) may not ${what}${roles}`);
    }
  };
}

/** The authenticated caller, for handlers behind `authorize`. */
export function caller(request: FastifyRequest): Person {
  if (!request.person) throw new Error('caller() used on a route without authorize');
  return request.person;
}
