// What a worker may act on: only what its own config names. Anyone who can reach Temporal can
// start a workflow or schedule an activity with any input, so a worker does not trust the spec it
// is handed: before an activity calls AWS, it compares what it was given (a cluster, a traffic
// router, an image, a database...) with its config and refuses what differs. Pure and cheap: no
// I/O, a walk over the config's few services.
//
// Each check returns the mismatches, each naming the field, what the config has and what the spec
// has; [] means allowed. A piece that matches no configured one is compared with the configured
// one it differs from least, so the message names the field that is wrong, not every field.
// A refusal is a non-retryable failure of type ErrorType.SpecNotAllowed (src/domain/errors.ts):
// the same spec is refused every time.
import type { DatabaseTarget } from './database';
import type { DrSpec, FailoverDns, RdsInstanceRef } from './failover';
import type { Colour, ComputeTarget, DeploymentSpec, MetricsSpec, TrafficRouterSpec } from './types';

export interface Mismatch {
  /** Where in the spec, e.g. `compute.cluster`, `traffic.targetGroups.green`, `image`. */
  field: string;
  expected: string;
  got: string;
}

/** A service environment as far as a check needs it (config's ServiceEnvironment has these). */
export interface AllowedEnvironment {
  /** The image repository, without tag or digest. */
  image: string;
  compute: ComputeTarget;
  traffic: TrafficRouterSpec;
  metrics: MetricsSpec;
  smokeTestUrls: Record<Colour, string>;
}

/** The parts of a worker's config that say what it may act on (BatonConfig is one). */
export interface AllowedConfig {
  services: Record<string, { environments: Record<string, AllowedEnvironment>; dr?: Record<string, DrSpec> }>;
  databases: Record<string, Record<string, { target: DatabaseTarget }>>;
}

/** `repo/web:1.4.2`, `repo/web@sha256:…` → `repo/web` (a registry's `:port` is kept). */
export function imageRepository(image: string): string {
  const at = image.indexOf('@');
  const noDigest = at >= 0 ? image.slice(0, at) : image;
  const colon = noDigest.lastIndexOf(':');
  return colon > noDigest.lastIndexOf('/') ? noDigest.slice(0, colon) : noDigest;
}

/** One line naming every mismatch: `compute.cluster: expected 'web-prod', got 'api-prod'; …`. */
export function describeMismatches(mismatches: readonly Mismatch[]): string {
  return mismatches.map((m) => `${m.field}: expected ${m.expected}, got ${m.got}`).join('; ');
}

// ---------------------------------------------------------------- a whole deployment spec

/**
 * A deployment spec against the config: the service and environment are configured, and the
 * compute, traffic router, metrics, smoke tests and image repository are theirs. (Plan,
 * thresholds and notifications only change how carefully it deploys, not what it touches.)
 * With `workflowId`, the spec's id must be the run's: the new revision is tagged with it, and
 * the next deployment takes over the tail of the run that tag names.
 */
export function checkDeploymentSpec(config: AllowedConfig, spec: DeploymentSpec, workflowId?: string): Mismatch[] {
  const env = serviceEnvironment(config, spec.service, spec.environment);
  if (!Array.isArray(env)) {
    return [
      ...(workflowId !== undefined && spec.id !== workflowId ? [{ field: 'id', expected: show(workflowId), got: show(spec.id) }] : []),
      ...diff(env.compute, spec.compute, 'compute'),
      ...diff(env.traffic, spec.traffic, 'traffic'),
      ...diff(env.metrics, spec.metrics, 'metrics'),
      ...diff(env.smokeTestUrls, spec.smokeTestUrls, 'smokeTestUrls'),
      ...checkRepository([env.image], spec.image),
    ];
  }
  return env;
}

function serviceEnvironment(config: AllowedConfig, service: string, environment: string): AllowedEnvironment | Mismatch[] {
  const svc = Object.hasOwn(config.services, service) ? config.services[service] : undefined;
  if (!svc) return [{ field: 'service', expected: oneOf(Object.keys(config.services)), got: show(service) }];
  const env = Object.hasOwn(svc.environments, environment) ? svc.environments[environment] : undefined;
  if (!env) return [{ field: 'environment', expected: oneOf(Object.keys(svc.environments)), got: show(environment) }];
  return env;
}

/** A DR spec against the config's `services.<service>.dr.<environment>` and that environment's own settings. */
export function checkDrSpec(config: AllowedConfig, spec: DrSpec): Mismatch[] {
  const env = serviceEnvironment(config, spec.service, spec.environment);
  if (Array.isArray(env)) return env;
  const dr = config.services[spec.service].dr ?? {};
  const mine = Object.hasOwn(dr, spec.environment) ? dr[spec.environment] : undefined;
  if (!mine) return [{ field: 'dr', expected: `a DR posture for ${spec.service} in ${spec.environment} (none configured)`, got: show(spec.environment) }];
  return [
    ...diff(mine.region, spec.region, 'region'),
    ...diff(mine.primaryRegion, spec.primaryRegion, 'primaryRegion'),
    ...diff(mine.compute, spec.compute, 'compute'),
    ...diff(env.compute, spec.primaryCompute, 'primaryCompute'),
    ...diff(mine.database, spec.database, 'database'),
    ...diff(mine.dns, spec.dns, 'dns'),
    ...diff(mine.smokeTestUrl, spec.smokeTestUrl, 'smokeTestUrl'),
    ...diff(env.smokeTestUrls, spec.primarySmokeTestUrls, 'primarySmokeTestUrls'),
    ...diff(mine.metrics, spec.metrics ?? null, 'metrics'),
    ...diff(env.metrics, spec.primaryMetrics, 'primaryMetrics'),
  ];
}

// ---------------------------------------------------------------- one run, one service environment

/**
 * What a deployment run may touch: only the service environment its id names
 * (`deploy:<service>:<environment>:<version>`, src/domain/deployment.ts deploymentId). Each of
 * its activities is handed one piece of the spec; binding them all to the run's id keeps a spec
 * from pairing one environment's traffic router with another's cluster (a rollback there would
 * scale the other service's live colour down). An id of another shape is refused.
 */
export function deploymentScope(config: AllowedConfig, workflowId: string): { config: AllowedConfig; label: string } | Mismatch[] {
  const m = /^deploy:([^:]+):([^:]+):[^:]+$/.exec(workflowId);
  if (!m) return [{ field: 'workflowId', expected: "'deploy:<service>:<environment>:<version>'", got: show(workflowId) }];
  const [, service, environment] = m;
  const env = serviceEnvironment(config, service, environment);
  if (Array.isArray(env)) return env;
  return { config: { services: { [service]: { environments: { [environment]: env } } }, databases: {} }, label: `${service} in ${environment}` };
}

// ---------------------------------------------------------------- the pieces an activity is handed

function environments(config: AllowedConfig): AllowedEnvironment[] {
  return Object.values(config.services).flatMap((s) => Object.values(s.environments));
}

function drPostures(config: AllowedConfig): DrSpec[] {
  return Object.values(config.services).flatMap((s) => Object.values(s.dr ?? {}));
}

/** An ECS cluster and blue/green services: a service environment's, or its DR copy's. */
export function checkCompute(config: AllowedConfig, target: ComputeTarget, field = 'compute'): Mismatch[] {
  return closest([...environments(config).map((e) => e.compute), ...drPostures(config).map((d) => d.compute)], target, field);
}

export function checkTraffic(config: AllowedConfig, spec: TrafficRouterSpec, field = 'traffic'): Mismatch[] {
  return closest(environments(config).map((e) => e.traffic), spec, field);
}

/** A service environment's metrics, or its DR copy's. */
export function checkMetrics(config: AllowedConfig, spec: MetricsSpec, field = 'metrics'): Mismatch[] {
  const dr = drPostures(config).flatMap((d) => (d.metrics ? [d.metrics] : []));
  return closest([...environments(config).map((e) => e.metrics), ...dr], spec, field);
}

/** A smoke test calls only a configured URL (a colour's, or a DR region's). */
export function checkSmokeTestUrl(config: AllowedConfig, url: string, field = 'smokeTestUrl'): Mismatch[] {
  const urls = [...environments(config).flatMap((e) => Object.values(e.smokeTestUrls)), ...drPostures(config).map((d) => d.smokeTestUrl)];
  return urls.includes(url) ? [] : [{ field, expected: oneOf(urls), got: show(url) }];
}

export function checkColour(colour: Colour, field = 'colour'): Mismatch[] {
  return colour === 'blue' || colour === 'green' ? [] : [{ field, expected: "'blue' or 'green'", got: show(colour) }];
}

/**
 * A new image for a service environment's compute: the compute is that environment's (not a DR
 * copy, which no deployment writes), and the image is of its configured repository.
 */
export function checkImage(config: AllowedConfig, target: ComputeTarget, image: string): Mismatch[] {
  const envs = environments(config);
  const owners = envs.filter((e) => diff(e.compute, target, '').length === 0);
  if (!owners.length) return closest(envs.map((e) => e.compute), target, 'target');
  return checkRepository(owners.map((e) => e.image), image);
}

function checkRepository(repositories: readonly string[], image: string): Mismatch[] {
  if (typeof image === 'string' && repositories.includes(imageRepository(image))) return [];
  return [{ field: 'image', expected: `an image of ${oneOf(repositories)}`, got: show(image) }];
}

/** A database restore's or backup's target: exactly one in `databases.<name>.<environment>`. */
export function checkDatabaseTarget(config: AllowedConfig, target: DatabaseTarget, field = 'target'): Mismatch[] {
  const targets = Object.values(config.databases).flatMap((byEnv) => Object.values(byEnv).map((d) => d.target));
  return closest(targets, target, field);
}

/** Route 53 failover records of a configured DR posture. */
export function checkFailoverDns(config: AllowedConfig, dns: FailoverDns, field = 'dns'): Mismatch[] {
  return closest(drPostures(config).map((d) => d.dns), dns, field);
}

/** One of the two record sets of those records. */
export function checkSetIdentifier(config: AllowedConfig, dns: FailoverDns, setIdentifier: string, field = 'setIdentifier'): Mismatch[] {
  const owner = drPostures(config).find((d) => diff(d.dns, dns, '').length === 0);
  if (!owner) return checkFailoverDns(config, dns);
  const ids = [owner.dns.primarySetIdentifier, owner.dns.secondarySetIdentifier];
  return ids.includes(setIdentifier) ? [] : [{ field, expected: oneOf(ids), got: show(setIdentifier) }];
}

/**
 * A DR posture's primary or replica instance; with `aside: 'also'`, also a copy a failover set
 * aside (renamed `<instance>-pre-<stamp>` in the same region, src/domain/failover-run.ts
 * asideName); with `aside: 'only'`, only such a copy (what a failover deletes).
 */
export function checkDbInstance(config: AllowedConfig, instance: RdsInstanceRef, opts: { aside?: 'also' | 'only'; field?: string } = {}): Mismatch[] {
  const field = opts.field ?? 'instance';
  const known = drPostures(config).flatMap((d) => [d.database.primary, d.database.replica]);
  if (opts.aside && known.some((k) => isAsideOf(k, instance))) return [];
  if (opts.aside === 'only') {
    const near = closest(known, instance, field);
    const got = near.length ? near : [{ field: `${field}.instanceId`, expected: '', got: show(instance.instanceId) }];
    return got.map((m) => (m.field === `${field}.instanceId` ? { ...m, expected: `a set-aside copy (${oneOf(known.map((k) => `${k.instanceId}-pre-<stamp>`))})` } : m));
  }
  return closest(known, instance, field);
}

/** A new name for a configured instance: only its set-aside name. */
export function checkAsideName(instance: RdsInstanceRef, newId: string, field = 'newId'): Mismatch[] {
  return isAsideOf(instance, { region: instance.region, instanceId: newId }) ? [] : [{ field, expected: show(`${instance.instanceId}-pre-<stamp>`), got: show(newId) }];
}

function isAsideOf(of: RdsInstanceRef, x: RdsInstanceRef): boolean {
  return typeof x?.instanceId === 'string' && x.region === of.region && x.instanceId.startsWith(`${of.instanceId}-pre-`) && x.instanceId.length > of.instanceId.length + 5;
}

// ---------------------------------------------------------------- comparison

/** [] when `got` equals one of `candidates`; else the mismatches against the nearest one. */
function closest<T>(candidates: readonly T[], got: T, field: string): Mismatch[] {
  if (!candidates.length) return [{ field, expected: 'none (the config of this worker names none)', got: show(got) }];
  let best: Mismatch[] | null = null;
  for (const c of candidates) {
    const d = diff(c, got, field);
    if (!d.length) return [];
    if (!best || d.length < best.length) best = d;
  }
  return best ?? [];
}

/**
 * Field by field: objects by key (a key missing on one side counts as absent, as JSON drops
 * undefined), arrays by index, everything else by value.
 */
function diff(expected: unknown, got: unknown, field: string): Mismatch[] {
  if (isRecord(expected) && isRecord(got)) {
    const keys = [...new Set([...Object.keys(expected), ...Object.keys(got)])].sort();
    return keys.flatMap((k) => diff(expected[k], got[k], field ? `${field}.${k}` : k));
  }
  if (Array.isArray(expected) && Array.isArray(got)) {
    if (expected.length !== got.length) return [{ field: `${field}.length`, expected: String(expected.length), got: String(got.length) }];
    return expected.flatMap((e, i) => diff(e, got[i], `${field}.${i}`));
  }
  if (expected === got || (expected == null && got == null)) return [];
  return [{ field, expected: show(expected), got: show(got) }];
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function show(x: unknown): string {
  if (x === undefined || x === null) return '(none)';
  if (typeof x === 'string') return `'${x}'`;
  const s = JSON.stringify(x);
  return s.length > 200 ? `${s.slice(0, 197)}...` : s;
}

function oneOf(values: readonly string[]): string {
  const unique = [...new Set(values)];
  if (!unique.length) return 'none (the config of this worker names none)';
  if (unique.length === 1) return show(unique[0]);
  const shown = unique.slice(0, 5).map(show).join(', ');
  return `one of ${shown}${unique.length > 5 ? `, … (${unique.length} in all)` : ''}`;
}
