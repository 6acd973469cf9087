// The only reader of process.env and the config file. `loadConfig()` validates everything once
// at boot and throws a ConfigError whose message names the bad field; everything else receives
// typed, resolved values.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parseDuration } from './domain/durations';
import { planProblems } from './domain/plan';
import type {
  Colour,
  ComputeTarget,
  MetricsSpec,
  RolloutPlan,
  Step,
  Thresholds,
  TrafficRouterSpec,
} from './domain/types';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export const ROLES = ['viewer', 'deployer', 'approver', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface Person {
  name: string;
  roles: Role[];
  tokenSha256: string;
  slackUserId?: string;
}

export interface ServiceEnvironment {
  region: string;
  image: string;
  compute: ComputeTarget;
  traffic: TrafficRouterSpec;
  metrics: MetricsSpec;
  smokeTestUrls: Record<Colour, string>;
  thresholds: Thresholds;
  plan: RolloutPlan;
}

export interface ServiceConfig {
  name: string;
  environments: Record<string, ServiceEnvironment>;
}

export interface BatonConfig {
  people: Person[];
  environments: Record<string, { plan: string }>;
  plans: Record<string, RolloutPlan>;
  services: Record<string, ServiceConfig>;
  notifications: { channel?: string };
  temporal: { taskQueue: string };
  /** `temporalUiUrl`: base of the Temporal Web UI, for links in API answers. */
  api: { host: string; port: number; temporalUiUrl?: string };
  /** Present only in the local sandbox: enables /v1/sandbox/* routes. */
  sandbox: { controlUrl: string; peopleFile: string } | null;
}

/** Settings that come from the environment (secrets included) rather than the file. */
export interface RuntimeEnv {
  configPath: string;
  awsEndpoint: string | undefined;
  slack: { botToken?: string; signingSecret?: string; apiUrl?: string };
  logLevel: string;
}

// ---------------------------------------------------------------- file schema
const Name = Type.String({ pattern: '^[a-z][a-z0-9-]{0,31}$' });
const DurationText = Type.Union([Type.String(), Type.Integer({ minimum: 0 })]);
const Dimensions = Type.Record(Type.String(), Type.String());
const MetricQueryFile = Type.Object({ metricName: Type.String({ minLength: 1 }), statistic: Type.String({ minLength: 1 }) });

const ThresholdsFile = Type.Partial(
  Type.Object({
    maxErrorRate: Type.Number({ minimum: 0, maximum: 1 }),
    maxLatencyMs: Type.Number({ exclusiveMinimum: 0 }),
    minRequests: Type.Integer({ minimum: 0 }),
  }),
  { additionalProperties: false },
);

const PlanFile = Type.Object(
  {
    steps: Type.Array(Type.Union([
      Type.Object({ shift: Type.Integer() }, { additionalProperties: false }),
      Type.Object({ soak: DurationText }, { additionalProperties: false }),
    ]), { minItems: 1 }),
    analysis: Type.Optional(Type.Object({
      interval: Type.Optional(DurationText),
      window: Type.Optional(DurationText),
      failureLimit: Type.Optional(Type.Integer({ minimum: 1 })),
      inconclusiveLimit: Type.Optional(Type.Integer({ minimum: 0 })),
    }, { additionalProperties: false })),
    keepPreviousFor: Type.Optional(DurationText),
    standbyFor: Type.Optional(DurationText),
    standbyCount: Type.Optional(Type.Integer({ minimum: 0 })),
    stableTimeout: Type.Optional(DurationText),
  },
  { additionalProperties: false },
);

const AlbFile = Type.Object({
  type: Type.Literal('alb'),
  listenerArn: Type.String({ minLength: 1 }),
  blueTargetGroupArn: Type.String({ minLength: 1 }),
  greenTargetGroupArn: Type.String({ minLength: 1 }),
}, { additionalProperties: false });

const Route53File = Type.Object({
  type: Type.Literal('route53'),
  hostedZoneId: Type.String({ minLength: 1 }),
  recordName: Type.String({ minLength: 1 }),
  recordType: Type.Optional(Type.Union([Type.Literal('A'), Type.Literal('AAAA'), Type.Literal('CNAME')])),
  blueSetIdentifier: Type.String({ minLength: 1 }),
  greenSetIdentifier: Type.String({ minLength: 1 }),
}, { additionalProperties: false });

const ServiceEnvFile = Type.Object({
  region: Type.String({ pattern: '^[a-z]{2}(-[a-z]+)+-\\d$' }),
  plan: Type.Optional(Type.String()),
  ecs: Type.Object({
    cluster: Type.String({ minLength: 1 }),
    blueService: Type.String({ minLength: 1 }),
    greenService: Type.String({ minLength: 1 }),
  }, { additionalProperties: false }),
  traffic: Type.Object({ type: Type.String() }, { additionalProperties: true }),
  metrics: Type.Object({
    namespace: Type.Optional(Type.String({ minLength: 1 })),
    requests: Type.Optional(MetricQueryFile),
    errors: Type.Optional(MetricQueryFile),
    latency: Type.Optional(Type.Intersect([MetricQueryFile, Type.Object({ unit: Type.Optional(Type.Union([Type.Literal('seconds'), Type.Literal('milliseconds')])) })])),
    blueDimensions: Dimensions,
    greenDimensions: Dimensions,
  }, { additionalProperties: false }),
  smokeTestUrl: Type.String({ pattern: '^https?://' }),
  thresholds: Type.Optional(ThresholdsFile),
}, { additionalProperties: false });

const ConfigFile = Type.Object({
  people: Type.Array(Type.Object({
    name: Type.String({ minLength: 1 }),
    roles: Type.Array(Type.Union(ROLES.map((r) => Type.Literal(r))), { minItems: 1 }),
    tokenSha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    slackUserId: Type.Optional(Type.String()),
  }, { additionalProperties: false }), { minItems: 1 }),
  environments: Type.Record(Type.String(), Type.Object({ plan: Type.String() }, { additionalProperties: false })),
  plans: Type.Record(Type.String(), PlanFile),
  services: Type.Record(Type.String(), Type.Object({
    image: Type.String({ minLength: 1 }),
    container: Type.Optional(Type.String({ minLength: 1 })),
    thresholds: Type.Optional(ThresholdsFile),
    environments: Type.Record(Type.String(), ServiceEnvFile),
  }, { additionalProperties: false })),
  notifications: Type.Optional(Type.Object({ slackChannel: Type.Optional(Type.String()) }, { additionalProperties: false })),
  temporal: Type.Optional(Type.Object({ taskQueue: Type.Optional(Type.String({ minLength: 1 })) }, { additionalProperties: false })),
  api: Type.Optional(Type.Object({
    host: Type.Optional(Type.String()),
    port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    temporalUiUrl: Type.Optional(Type.String({ pattern: '^https?://' })),
  }, { additionalProperties: false })),
  sandbox: Type.Optional(Type.Object({
    controlUrl: Type.String({ pattern: '^https?://' }),
    peopleFile: Type.String({ minLength: 1 }),
  }, { additionalProperties: false })),
}, { additionalProperties: false });

type ConfigFileT = Static<typeof ConfigFile>;
type PlanFileT = Static<typeof PlanFile>;

const DEFAULT_THRESHOLDS: Thresholds = { maxErrorRate: 0.01, maxLatencyMs: 500, minRequests: 20 };

// ---------------------------------------------------------------- validation helpers
function check<T extends TSchema>(schema: T, value: unknown, at: string): asserts value is Static<T> {
  const first = Value.Errors(schema, value).First();
  if (!first) return;
  const field = [at, ...first.path.split('/').filter(Boolean)].filter(Boolean).join('.');
  throw new ConfigError(`config field '${field || '(root)'}': ${first.message}${describeValue(first.value)}`);
}

function describeValue(v: unknown): string {
  if (v === undefined) return ' (missing)';
  const text = JSON.stringify(v);
  return text && text.length <= 60 ? ` (got ${text})` : '';
}

function duration(value: string | number | undefined, fallback: number, field: string): number {
  if (value === undefined) return fallback;
  const s = parseDuration(value);
  if (s === null) throw new ConfigError(`config field '${field}': '${value}' is not a duration (use e.g. 90s, 5m, 1h30m)`);
  return s;
}

function resolvePlan(name: string, p: PlanFileT): RolloutPlan {
  const at = `plans.${name}`;
  const steps: Step[] = p.steps.map((s, i) =>
    'shift' in s
      ? { type: 'shift', weight: s.shift }
      : { type: 'soak', durationSeconds: duration(s.soak, 0, `${at}.steps.${i}.soak`) },
  );
  const problems = planProblems(steps);
  if (problems.length) throw new ConfigError(`config field '${at}.steps': ${problems[0]}`);
  const interval = duration(p.analysis?.interval, 60, `${at}.analysis.interval`);
  if (interval < 1) throw new ConfigError(`config field '${at}.analysis.interval': must be at least 1s`);
  return {
    name,
    steps,
    analysis: {
      intervalSeconds: interval,
      windowSeconds: duration(p.analysis?.window, interval, `${at}.analysis.window`) || interval,
      failureLimit: p.analysis?.failureLimit ?? 2,
      inconclusiveLimit: p.analysis?.inconclusiveLimit ?? 5,
    },
    keepPreviousForSeconds: duration(p.keepPreviousFor, 3600, `${at}.keepPreviousFor`),
    standbyForSeconds: duration(p.standbyFor, 24 * 3600, `${at}.standbyFor`),
    standbyCount: p.standbyCount ?? 1,
    stableTimeoutSeconds: duration(p.stableTimeout, 900, `${at}.stableTimeout`),
  };
}

function resolveTraffic(raw: Record<string, unknown>, region: string, at: string): TrafficRouterSpec {
  if (raw.type === 'alb') {
    check(AlbFile, raw, at);
    return {
      type: 'alb',
      region,
      listenerArn: raw.listenerArn,
      targetGroups: { blue: raw.blueTargetGroupArn, green: raw.greenTargetGroupArn },
    };
  }
  if (raw.type === 'route53') {
    check(Route53File, raw, at);
    return {
      type: 'route53',
      region,
      hostedZoneId: raw.hostedZoneId,
      recordName: raw.recordName.endsWith('.') ? raw.recordName : `${raw.recordName}.`,
      recordType: raw.recordType ?? 'CNAME',
      setIdentifiers: { blue: raw.blueSetIdentifier, green: raw.greenSetIdentifier },
    };
  }
  throw new ConfigError(`config field '${at}.type': must be 'alb' or 'route53' (got ${JSON.stringify(raw.type)})`);
}

/** Validates a parsed config document and resolves it into typed values. */
export function resolveConfig(doc: unknown): BatonConfig {
  check(ConfigFile, doc, '');
  const file: ConfigFileT = doc;

  const plans: Record<string, RolloutPlan> = {};
  for (const [name, p] of Object.entries(file.plans)) plans[name] = resolvePlan(name, p);

  const names = new Set<string>();
  file.people.forEach((p, i) => {
    if (names.has(p.name)) throw new ConfigError(`config field 'people.${i}.name': '${p.name}' appears twice`);
    names.add(p.name);
  });

  for (const [env, e] of Object.entries(file.environments)) {
    check(Name, env, `environments`);
    if (!plans[e.plan]) throw new ConfigError(`config field 'environments.${env}.plan': no plan named '${e.plan}'`);
  }

  const services: Record<string, ServiceConfig> = {};
  for (const [svc, s] of Object.entries(file.services)) {
    if (!/^[a-z][a-z0-9-]{0,31}$/.test(svc)) throw new ConfigError(`config field 'services.${svc}': service names are lower-case letters, digits and '-'`);
    const envs: Record<string, ServiceEnvironment> = {};
    for (const [env, e] of Object.entries(s.environments)) {
      const at = `services.${svc}.environments.${env}`;
      if (!file.environments[env]) throw new ConfigError(`config field '${at}': '${env}' is not declared under 'environments'`);
      const planName = e.plan ?? file.environments[env].plan;
      const plan = plans[planName];
      if (!plan) throw new ConfigError(`config field '${at}.plan': no plan named '${planName}'`);
      if (!e.smokeTestUrl.includes('{colour}')) {
        throw new ConfigError(`config field '${at}.smokeTestUrl': must contain '{colour}' so each colour can be tested`);
      }
      const m = e.metrics;
      envs[env] = {
        region: e.region,
        image: s.image,
        compute: {
          region: e.region,
          cluster: e.ecs.cluster,
          services: { blue: e.ecs.blueService, green: e.ecs.greenService },
          ...(s.container ? { container: s.container } : {}),
        },
        traffic: resolveTraffic(e.traffic, e.region, `${at}.traffic`),
        metrics: {
          type: 'cloudwatch',
          region: e.region,
          namespace: m.namespace ?? 'AWS/ApplicationELB',
          requests: m.requests ?? { metricName: 'RequestCount', statistic: 'Sum' },
          errors: m.errors ?? { metricName: 'HTTPCode_Target_5XX_Count', statistic: 'Sum' },
          latency: {
            metricName: m.latency?.metricName ?? 'TargetResponseTime',
            statistic: m.latency?.statistic ?? 'p95',
            unit: m.latency?.unit ?? 'seconds',
          },
          dimensions: { blue: m.blueDimensions, green: m.greenDimensions },
        },
        smokeTestUrls: {
          blue: e.smokeTestUrl.replaceAll('{colour}', 'blue'),
          green: e.smokeTestUrl.replaceAll('{colour}', 'green'),
        },
        thresholds: { ...DEFAULT_THRESHOLDS, ...s.thresholds, ...e.thresholds },
        plan,
      };
    }
    services[svc] = { name: svc, environments: envs };
  }

  return {
    people: file.people.map((p) => ({ ...p, roles: [...new Set(p.roles)] })),
    environments: file.environments,
    plans,
    services,
    notifications: { channel: file.notifications?.slackChannel },
    temporal: { taskQueue: file.temporal?.taskQueue ?? 'baton' },
    api: {
      host: file.api?.host ?? '127.0.0.1',
      port: file.api?.port ?? 3000,
      ...(file.api?.temporalUiUrl ? { temporalUiUrl: file.api.temporalUiUrl.replace(/\/+$/, '') } : {}),
    },
    sandbox: file.sandbox ?? null,
  };
}

export function loadConfigFile(path: string): BatonConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid YAML: ${(err as Error).message}`);
  }
  return resolveConfig(doc);
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;

function logLevel(value: string | undefined): string {
  const level = (value || 'info').toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new ConfigError(`BATON_LOG_LEVEL: '${value}' is not a log level (use ${LOG_LEVELS.join(', ')})`);
  }
  return level;
}

export function readRuntimeEnv(env: NodeJS.ProcessEnv = process.env): RuntimeEnv {
  const configPath = env.BATON_CONFIG;
  if (!configPath) throw new ConfigError('BATON_CONFIG is not set: point it at the YAML config file (see README)');
  return {
    configPath,
    awsEndpoint: env.BATON_AWS_ENDPOINT_URL || undefined,
    slack: {
      botToken: env.SLACK_BOT_TOKEN || undefined,
      signingSecret: env.SLACK_SIGNING_SECRET || undefined,
      apiUrl: env.SLACK_API_URL || undefined,
    },
    logLevel: logLevel(env.BATON_LOG_LEVEL),
  };
}

/** Reads the environment and the config file once; the composition roots call this at boot. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): { config: BatonConfig; runtime: RuntimeEnv } {
  const runtime = readRuntimeEnv(env);
  const config = loadConfigFile(runtime.configPath);
  return { config: { ...config, api: apiOverrides(config.api, env) }, runtime };
}

/** BATON_API_HOST / BATON_API_PORT override the file's `api.host` / `api.port`. */
function apiOverrides(api: BatonConfig['api'], env: NodeJS.ProcessEnv): BatonConfig['api'] {
  const port = env.BATON_API_PORT;
  if (port && !(/^\d{1,5}$/.test(port) && Number(port) <= 65535)) {
    throw new ConfigError(`BATON_API_PORT: '${port}' is not a port number (0..65535)`);
  }
  return { ...api, host: env.BATON_API_HOST || api.host, port: port ? Number(port) : api.port };
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * Temporal connection settings from the standard environment (TEMPORAL_ADDRESS,
 * TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS variables, temporal.toml profiles), so one build
 * runs against a local dev server, a self-hosted cluster or Temporal Cloud.
 */
export function temporalConnectConfig(): { address: string; namespace: string; connectionOptions: ReturnType<typeof loadClientConnectConfig>['connectionOptions'] } {
  const loaded = loadClientConnectConfig();
  return {
    address: loaded.connectionOptions.address ?? 'localhost:7233',
    namespace: loaded.namespace ?? 'default',
    connectionOptions: loaded.connectionOptions,
  };
}
