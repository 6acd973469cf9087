// The sandbox's config document: the same YAML shape a team writes for real AWS (so the worker
// and the API boot exactly as in production), built from what the seed created in moto, with
// second-scale plans so a deployment is watchable in about a minute.
import { randomBytes } from 'node:crypto';
import { hashToken, type Role } from '../config';
import type { SeededTarget } from './seed';

export interface SandboxPerson {
  name: string;
  roles: Role[];
  token: string;
}

export function newToken(): string {
  return randomBytes(24).toString('base64url');
}

/** Example people, one per role, so a newcomer can see what each may do. */
export function sandboxPeople(adminToken: string): SandboxPerson[] {
  return [
    { name: 'ada', roles: ['admin'], token: adminToken },
    { name: 'dan', roles: ['deployer'], token: newToken() },
    { name: 'val', roles: ['viewer'], token: newToken() },
  ];
}

/**
 * The sandbox's rollout: 10 % then 50 % with 10 s soaks, a sample every 2 s over the last 6 s,
 * and the previous colour kept 15 s then on standby 15 s: a whole deployment takes about a
 * minute, a breach rolls back within a few seconds.
 */
export const SANDBOX_PLAN = {
  steps: [{ shift: 10 }, { soak: '10s' }, { shift: 50 }, { soak: '10s' }, { shift: 100 }],
  analysis: { interval: '2s', window: '6s', failureLimit: 2, inconclusiveLimit: 4 },
  keepPreviousFor: '15s',
  standbyFor: '15s',
  standbyCount: 1,
  stableTimeout: '2m',
} as const;

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

export function sandboxConfigDoc(opts: SandboxConfigOptions): Record<string, unknown> {
  const services: Record<string, { image: string; environments: Record<string, unknown> }> = {};
  for (const t of opts.targets) {
    const service = (services[t.service] ??= { image: t.image, environments: {} });
    service.environments[t.environment] = {
      region: t.region,
      ecs: t.ecs,
      traffic: t.traffic,
      metrics: t.metrics,
      smokeTestUrl: `${opts.controlUrl}/smoke/${t.service}/${t.environment}/{colour}`,
      // The feeder sends ~50 requests/s in all; at 10 % a 6 s window sees ~30.
      thresholds: { maxErrorRate: 0.01, maxLatencyMs: 500, minRequests: 10 },
    };
  }
  const environments = [...new Set(opts.targets.map((t) => t.environment))];
  return {
    people: opts.people.map((p) => ({ name: p.name, roles: p.roles, tokenSha256: hashToken(p.token) })),
    environments: Object.fromEntries(environments.map((e) => [e, { plan: 'sandbox' }])),
    plans: { sandbox: opts.plan ?? SANDBOX_PLAN },
    services,
    temporal: { taskQueue: opts.taskQueue ?? 'baton' },
    api: { host: '127.0.0.1', port: opts.apiPort },
    sandbox: { controlUrl: opts.controlUrl, peopleFile: opts.peopleFile },
  };
}
