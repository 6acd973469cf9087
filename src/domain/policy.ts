// One policy for every path into an environment: the API, Slack and the workflows' own
// validators ask these functions, so a release, a direct deployment, a Slack click and a raw
// Temporal Update are judged by the same rules. Pure: no I/O, safe in the workflow sandbox
// (type-only imports of config).
import type { BatonConfig, Person } from '../config';
import type { Freeze } from './release';

/** Who may post a named check on a release (config `checks.<name>`). */
export interface CheckRule {
  /** Roles whose holders may attest it (a CI principal is a person with its own token and role). */
  attestedBy: string[];
  /** Whether the release's requester may attest it when a gate requires it (default no). */
  requesterMayAttest: boolean;
}

/** A refusal: the HTTP status it maps to, and the sentence the caller reads. */
export interface PolicyRefusal {
  status: 403 | 409;
  message: string;
}

/** The part of config the policy reads. */
export type PolicyConfig = Pick<BatonConfig, 'roles' | 'roleEnvironments' | 'breakGlass' | 'checks' | 'cancelRoles'>;

/** A person as a run knows them: a name and roles (a release snapshots these at its start). */
export type Holder = Pick<Person, 'name' | 'roles'>;

/** Whether one of the person's roles grants `permission` and holds in `environment` (`admin` everywhere). */
export function mayIn(config: Pick<BatonConfig, 'roles' | 'roleEnvironments'>, person: Pick<Person, 'roles'>, permission: string, environment: string): boolean {
  if (person.roles.includes('admin')) return true;
  return person.roles.some((role) => {
    const perms: readonly string[] = config.roles[role] ?? [];
    if (!perms.includes(permission) && !perms.includes('admin')) return false;
    const scope = config.roleEnvironments[role] ?? null;
    return permission === 'read' || scope === null || scope.includes(environment);
  });
}

/** The roles whose permission holds in `environment`, for a 403's "needs …". */
export function rolesIn(config: Pick<BatonConfig, 'roles' | 'roleEnvironments'>, permission: string, environment: string): string[] {
  return Object.keys(config.roles).filter((role) => mayIn(config, { roles: [role] }, permission, environment));
}

export function holdsBreakGlass(config: Pick<BatonConfig, 'breakGlass'>, person: Pick<Person, 'roles'>): boolean {
  return config.breakGlass !== null && person.roles.includes(config.breakGlass.role);
}

/** What the policy reads of a freeze (config's, the registry's, or the API's listing). */
export type FreezeTerms = Pick<Freeze, 'from' | 'to' | 'environments' | 'reason'> & { id?: string; allowBreakGlass?: boolean };

/** The freezes covering `environment` at `nowMs`. */
export function activeFreezes<F extends FreezeTerms>(freezes: readonly F[], environment: string, nowMs: number): F[] {
  return freezes.filter((f) => f.environments.includes(environment) && Date.parse(f.from) <= nowMs && nowMs < Date.parse(f.to));
}

export interface DirectDeployment {
  service: string;
  environment: string;
  /** Whether a gate guards the environment for this service (gateFor). */
  gated: boolean;
  breakGlass: { reason: string } | null;
  /** Every freeze known now (config and API). */
  freezes: readonly FreezeTerms[];
  nowMs: number;
}

/**
 * Whether a person may deploy straight into an environment, outside a release. They need
 * `deploy` there; a gated environment takes releases only, unless the person holds the
 * break-glass role and gives a reason; an active freeze stops a direct deployment, and a
 * break-glass one too unless the freeze allows it.
 */
export function directDeploymentRefusal(config: PolicyConfig, person: Holder, d: DirectDeployment): PolicyRefusal | null {
  if (!mayIn(config, person, 'deploy', d.environment)) {
    return { status: 403, message: `${person.name} (${person.roles.join(', ')}) may not deploy to ${d.environment} (needs ${rolesIn(config, 'deploy', d.environment).join(' or ')})` };
  }
  if (d.breakGlass) {
    if (!config.breakGlass) return { status: 403, message: 'breakGlass: this Baton has no break-glass role (config breakGlass.role)' };
    if (!holdsBreakGlass(config, person)) return { status: 403, message: `${person.name} may not break glass (needs role '${config.breakGlass.role}')` };
  } else if (d.gated) {
    return {
      status: 403,
      message: `${d.environment} is gated for ${d.service}: deploy through a release (POST /v1/releases), which passes its checks, approvals and train`
        + (config.breakGlass ? `; in an emergency, a person with role '${config.breakGlass.role}' may send breakGlass: {reason}` : ''),
    };
  }
  const frozen = activeFreezes(d.freezes, d.environment, d.nowMs).filter((f) => !(d.breakGlass && f.allowBreakGlass));
  if (frozen.length) {
    const f = frozen[0];
    return { status: 409, message: `${d.environment} is frozen until ${f.to} (${f.id ?? 'freeze'}: ${f.reason})${d.breakGlass ? '; this freeze does not allow break-glass' : ''}` };
  }
  return null;
}

/**
 * Whether a person may act on a deployment in `environment`: they need `deploy` there. Rollback
 * needs nothing more (safety first); promoting past the soaks of a gated environment is a
 * break-glass act, because it skips what the release's approvers agreed to.
 */
export function deploymentActionRefusal(config: PolicyConfig, person: Holder, environment: string, action: string, gated: boolean): PolicyRefusal | null {
  if (!mayIn(config, person, 'deploy', environment)) {
    return { status: 403, message: `${person.name} (${person.roles.join(', ')}) may not act on deployments in ${environment} (needs ${rolesIn(config, 'deploy', environment).join(' or ')})` };
  }
  if (action === 'promote' && gated && !holdsBreakGlass(config, person)) {
    const who = config.breakGlass ? `role '${config.breakGlass.role}'` : 'a break-glass role, and this Baton has none';
    return { status: 403, message: `promoting skips ${environment}'s soaks, which its gate guards: it needs ${who}` };
  }
  return null;
}

/** Who may cancel a run someone requested: the requester, an admin, or a holder of a cancel role. */
export function cancelRefusal(cancelRoles: readonly string[], person: Holder, requestedBy: string, what: string): PolicyRefusal | null {
  if (person.name === requestedBy || person.roles.includes('admin') || person.roles.some((r) => cancelRoles.includes(r))) return null;
  const roles = cancelRoles.length ? `, ${cancelRoles.join(', ')}` : '';
  return { status: 403, message: `${person.name} may not cancel ${requestedBy}'s ${what} (the requester${roles} or admin may)` };
}

/** The attestation rule of a check: configured, else whoever may start releases. */
export function checkRuleOf(config: Pick<BatonConfig, 'checks' | 'roles'>, name: string): CheckRule {
  if (Object.hasOwn(config.checks, name)) return config.checks[name];
  const attestedBy = Object.keys(config.roles).filter((r) => config.roles[r].includes('release') || config.roles[r].includes('admin'));
  return { attestedBy, requesterMayAttest: true };
}

/**
 * Whether a person may attest a check on a release: a role the check names (admins always), and
 * not the release's requester when a gate requires the check, unless the check allows it.
 */
export function attestRefusal(rule: CheckRule, person: Holder, check: { name: string; requestedBy: string; required: boolean }): PolicyRefusal | null {
  if (!person.roles.includes('admin') && !person.roles.some((r) => rule.attestedBy.includes(r))) {
    return { status: 403, message: `${person.name} may not attest '${check.name}' (attested by ${rule.attestedBy.join(' or ') || 'nobody'})` };
  }
  if (check.required && person.name === check.requestedBy && !rule.requesterMayAttest) {
    return { status: 403, message: `${person.name} requested this release and may not attest '${check.name}', which a gate requires` };
  }
  return null;
}

/** How many check results a release keeps; more are refused (a release is not a log). */
export const MAX_CHECK_RESULTS = 100;
