// The sandbox's config document: the same YAML shape a team writes for real AWS (so the worker
// and the API boot exactly as in production), built from what the seed created in moto, with
// second-scale plans so a deployment is watchable in about a minute, and release rules that
// mirror the promotion runbooks with durations in seconds (issue 4 §6).
import { randomBytes } from 'node:crypto';
import { hashToken, type Permission, type Role } from '../config';
import type { SeededTarget } from './seed';

export interface SandboxPerson {
  name: string;
  roles: Role[];
  token: string;
  /** A made-up Slack user id, so signed Slack requests can act as this person. */
  slackUserId: string;
}

export function newToken(): string {
  return randomBytes(24).toString('base64url');
}

/**
 * The sandbox's roles besides the built-in ones (viewer, deployer, approver, admin). Who may
 * approve is not here: the gates' approval rules name roles (see SANDBOX_GATES).
 */
export const SANDBOX_ROLES: Record<string, Permission[]> = {
  'release-manager': ['read', 'deploy', 'release', 'freeze', 'restore', 'failover'],
  qa: ['read'],
  product: ['read'],
  /** Starts releases and posts checks, but no gate names this role: approves nothing. */
  developer: ['read', 'release'],
  /** Who is paged: starts an emergency failover alone, and confirms an unfenced promotion. */
  'on-call': ['read', 'failover'],
  /** The CI system's principal: attests `ci` and `security-scan` (config `checks`), nothing else. */
  ci: ['read'],
  /** May deploy around a gate with a recorded reason (config `breakGlass`); the admin holds it. */
  'break-glass': ['read'],
};

/** Who attests the sandbox's checks: CI, with its own token; nobody else (the requester least of all). */
export const SANDBOX_CHECKS = {
  ci: { attestedBy: ['ci'] },
  'security-scan': { attestedBy: ['ci'] },
};

/**
 * Example people with distinct roles, so a newcomer can act as each: the admin (whose token is
 * the sandbox's admin token), two release managers (prod's "two distinct approvals"; rosa is
 * also on call), QA, product, a developer who may start releases but approve nothing, a
 * deployer (dev and staging only), a viewer, and `ci`, the CI system's principal. The admin
 * also holds the break-glass role.
 */
export function sandboxPeople(adminToken: string): SandboxPerson[] {
  return [
    { name: 'ada', roles: ['admin', 'break-glass'], token: adminToken, slackUserId: 'U0ADA' },
    { name: 'rosa', roles: ['release-manager', 'on-call'], token: newToken(), slackUserId: 'U0ROSA' },
    { name: 'remi', roles: ['release-manager', 'on-call'], token: newToken(), slackUserId: 'U0REMI' },
    { name: 'quinn', roles: ['qa'], token: newToken(), slackUserId: 'U0QUINN' },
    { name: 'pia', roles: ['product'], token: newToken(), slackUserId: 'U0PIA' },
    { name: 'dev', roles: ['developer'], token: newToken(), slackUserId: 'U0DEV' },
    { name: 'dan', roles: ['deployer'], token: newToken(), slackUserId: 'U0DAN' },
    { name: 'val', roles: ['viewer'], token: newToken(), slackUserId: 'U0VAL' },
    { name: 'ci', roles: ['ci'], token: newToken(), slackUserId: 'U0CI' },
  ];
}

/**
 * Release gates (YAML shape). Every service: dev deploys at once; staging needs `ci`; prod
 * needs one release-manager approval and the prod train. `web` mirrors the runbooks:
 * staging needs `ci` and one `qa` approval; prod needs `ci` and `security-scan`, two distinct
 * release managers, 30 s of stability in staging, and the prod train.
 */
export const SANDBOX_GATES = {
  environments: {
    dev: null,
    staging: { checks: ['ci'] },
    prod: { approvals: [{ role: 'release-manager', count: 1 }], train: true },
  },
  services: {
    web: {
      staging: { checks: ['ci'], approvals: [{ role: 'qa', count: 1 }] },
      prod: {
        checks: ['ci', 'security-scan'],
        approvals: [{ role: 'release-manager', count: 2 }],
        stability: '30s',
        train: true,
      },
    },
  } as Record<string, Record<string, unknown>>,
};

/** The prod train, as in the runbooks: Tuesdays 10:00 America/Los_Angeles, boarding for 4 h. */
export const SANDBOX_TRAINS = {
  prod: { days: ['TUE'], at: '10:00', timeZone: 'America/Los_Angeles', window: '4h', concurrency: 2, order: ['api', 'web'], catchupWindow: '1h' },
};

/** The promotion order of the sandbox's environments. */
export const SANDBOX_PROMOTION = ['dev', 'staging', 'prod'];

/**
 * The sandbox's rollout: 10 % then 50 % with 10 s soaks, a sample every 2 s over the last 6 s,
 * and the previous colour kept 15 s then on standby 15 s: a whole deployment takes about a
 * minute, a breach rolls back within a few seconds.
 */
export const SANDBOX_PLAN = {
  steps: [{ shift: 10 }, { soak: '10s' }, { shift: 50 }, { soak: '10s' }, { shift: 100 }],
  analysis: { interval: '2s', window: '6s', failureLimit: 2, inconclusiveLimit: 4, lag: '0s' },
  keepPreviousFor: '15s',
  standbyFor: '15s',
  standbyCount: 1,
  stableTimeout: '2m',
  drainMargin: '2s',
} as const;

/**
 * The sandbox's feeder writes CloudWatch datapoints as traffic flows, and moto serves them at
 * once: unlike real ALB metrics they are not late, so analysis reads up to now unless a plan
 * says otherwise.
 */
function withoutLag(plan: Record<string, unknown>): Record<string, unknown> {
  const analysis = (plan.analysis ?? {}) as Record<string, unknown>;
  return { ...plan, analysis: { lag: '0s', ...analysis } };
}

export interface SandboxConfigOptions {
  targets: SeededTarget[];
  people: SandboxPerson[];
  /** Base URL of the sandbox control server (smoke tests and faults). */
  controlUrl: string;
  peopleFile: string;
  apiPort: number;
  taskQueue?: string;
  /** Replaces the sandbox plan (tests use long soaks to act on a deployment at leisure). */
  plan?: Record<string, unknown>;
}

/**
 * The `dr` config of a seeded target (YAML shape): the DR copy, database, failover records and
 * metrics dimensions the seed made, the sandbox's smoke test, and objectives at the sandbox's
 * scale (RPO 30 s: the feeder publishes a ReplicaLag of about 1 s; RTO 5 min: the records' TTL is
 * 5 s). The feeder publishes the DR copy's metrics while its failover record is PRIMARY, so
 * monitoring after a failover runs the analysis on them.
 */
function sandboxDr(t: SeededTarget, controlUrl: string): Record<string, unknown> {
  const dr = t.dr!;
  return {
    region: dr.region,
    ecs: dr.ecs,
    productionCount: dr.productionCount,
    standbyCount: dr.standbyCount,
    database: dr.database,
    dns: dr.dns,
    // The sandbox's fake application answers for the service wherever it runs.
    smokeTestUrl: `${controlUrl}/smoke/${t.service}/${t.environment}/blue`,
    objectives: { rpo: '30s', rto: '5m' },
    // At the sandbox's scale: watch the DR region for 20 s after DNS moves; drills allowed.
    monitor: { for: '20s', every: '5s' },
    metrics: dr.metrics,
    catchUp: '2m',
    drills: { allowed: true },
  };
}

export function sandboxConfigDoc(opts: SandboxConfigOptions): Record<string, unknown> {
  const services: Record<string, { image: string; environments: Record<string, unknown>; gates?: Record<string, unknown>; dr?: Record<string, unknown> }> = {};
  for (const t of opts.targets) {
    const service = (services[t.service] ??= { image: t.image, environments: {} });
    const gate = SANDBOX_GATES.services[t.service]?.[t.environment];
    if (gate !== undefined) (service.gates ??= {})[t.environment] = gate;
    service.environments[t.environment] = {
      region: t.region,
      ecs: t.ecs,
      traffic: t.traffic,
      metrics: t.metrics,
      smokeTestUrl: `${opts.controlUrl}/smoke/${t.service}/${t.environment}/{colour}`,
      // The feeder sends ~50 requests/s in all; at 10 % a 6 s window sees ~30.
      thresholds: { maxErrorRate: 0.01, maxLatencyMs: 500, minRequests: 10 },
    };
    if (t.dr) (service.dr ??= {})[t.environment] = sandboxDr(t, opts.controlUrl);
  }
  const seeded = new Set(opts.targets.map((t) => t.environment));
  const environments = [...SANDBOX_PROMOTION.filter((e) => seeded.has(e)), ...[...seeded].filter((e) => !SANDBOX_PROMOTION.includes(e))];
  const defaultGates: Record<string, unknown> = SANDBOX_GATES.environments;
  return {
    roles: SANDBOX_ROLES,
    people: opts.people.map((p) => ({ name: p.name, roles: p.roles, tokenSha256: hashToken(p.token), slackUserId: p.slackUserId })),
    environments: Object.fromEntries(environments.map((e) => [e, { plan: 'sandbox', gate: defaultGates[e] ?? null }])),
    promotion: environments,
    plans: { sandbox: withoutLag(opts.plan ?? SANDBOX_PLAN) },
    services,
    trains: Object.fromEntries(Object.entries(SANDBOX_TRAINS).filter(([env]) => seeded.has(env))),
    hotfix: { approvalRole: 'release-manager' },
    breakGlass: { role: 'break-glass' },
    checks: SANDBOX_CHECKS,
    temporal: { taskQueue: opts.taskQueue ?? 'baton' },
    api: { host: '127.0.0.1', port: opts.apiPort },
    sandbox: { controlUrl: opts.controlUrl, peopleFile: opts.peopleFile },
  };
}
