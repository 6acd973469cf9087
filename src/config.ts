// The only reader of process.env and the config file. `loadConfig()` validates everything once
// at boot and throws a ConfigError whose message names the bad field; everything else receives
// typed, resolved values.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { validTimeZone } from './domain/calendar';
import { INSTANT_RULE, parseInstant } from './domain/instants';
import { parseDuration } from './domain/durations';
import { planProblems, soakProblems } from './domain/plan';
import { isRegionName, REGION_PATTERN } from './domain/regions';
import type { NotifySpec } from './domain/notices';
import type { ApprovalRule, Freeze, GateSpec, TrainSpec } from './domain/release';
import type { DatabaseService, DatabaseSpec } from './domain/restore';
import type { DatabaseTarget } from './domain/database';
import type { DrSpec } from './domain/failover';
import type { CheckRule } from './domain/policy';
import type {
  Colour,
  ComputeTarget,
  ExtraErrorQuery,
  MetricsSpec,
  RolloutPlan,
  Step,
  Thresholds,
  TrafficRouterSpec,
} from './domain/types';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * What a role lets a person do through the API. `admin` implies every other permission;
 * `freeze` declares and lifts freezes (give it to release managers); `restore` takes backups and
 * starts database restores (their approvals follow the environment's gate rules); `failover`
 * requests DR failovers, failbacks and drills (an emergency failover also needs the DR
 * config's emergency role, `on-call` by default).
 * Approving is not a permission: each gate's approval rules name the roles that may approve.
 */
export const PERMISSIONS = ['read', 'deploy', 'release', 'freeze', 'restore', 'failover', 'admin'] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** Roles every config has; `roles:` may redefine all of them but `admin`, which always has everything. */
export const BUILTIN_ROLES: Readonly<Record<string, readonly Permission[]>> = {
  viewer: ['read'],
  deployer: ['read', 'deploy'],
  approver: ['read'],
  admin: ['admin'],
};

/** The built-in role names. */
export const ROLES = ['viewer', 'deployer', 'approver', 'admin'] as const;
/** A role name: built in, or declared under `roles:`. */
export type Role = string;

export interface Person {
  name: string;
  roles: Role[];
  tokenSha256: string;
  slackUserId?: string;
}

export type { CheckRule } from './domain/policy';

export interface EnvironmentConfig {
  /** The default rollout plan's name. */
  plan: string;
  /** What must hold before a release enters this environment; null: it deploys at once. */
  gate: GateSpec | null;
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
  /** Per-environment gate overrides for this service (replacing the environment's gate); use gateFor(). */
  gates: Record<string, GateSpec | null>;
  /** Disaster recovery by environment (`services.<service>.dr.<environment>`): where the service fails over to. */
  dr: Record<string, DrSpec>;
}

export interface BatonConfig {
  /** Every role (built in and declared) and its permissions. */
  roles: Record<string, Permission[]>;
  /**
   * The environments each role's permissions hold in (null: every environment). Reading is never
   * scoped. The built-in `deployer` holds in every environment but the promotion's last unless
   * redefined; `admin` holds everywhere.
   */
  roleEnvironments: Record<string, string[] | null>;
  /** Who may deploy around a gate (with a reason, recorded); null: nobody. */
  breakGlass: { role: string } | null;
  /** Who may attest each named check (a check not named here: whoever may start releases). */
  checks: Record<string, CheckRule>;
  /** Who besides the requester (and admins) may cancel someone else's release, restore or failover. */
  cancelRoles: string[];
  people: Person[];
  environments: Record<string, EnvironmentConfig>;
  /** The order a release promotes through (default: the order of `environments`). */
  promotion: string[];
  plans: Record<string, RolloutPlan>;
  services: Record<string, ServiceConfig>;
  /** Release trains by environment (each a Temporal Schedule `train-<environment>`). */
  trains: Record<string, TrainSpec>;
  freezes: Freeze[];
  /** Databases by name, each by environment: what a restore, a backup and a drill act on. */
  databases: Record<string, Record<string, DatabaseSpec>>;
  /** How often the `readiness` schedule checks every service's disaster-recovery posture. */
  readiness: { everySeconds: number };
  /** A hotfix may skip stability periods with an extra approval by this role; null: no hotfixes. */
  hotfix: { approvalRole: string } | null;
  /** Where runs are posted, and how often a run's message may be updated (Slack's rate limits). */
  notifications: NotifySpec;
  temporal: { taskQueue: string };
  /**
   * `temporalUiUrl`: base of the Temporal Web UI; `publicUrl`: the API's base URL as people reach
   * it. Both are for links in API answers and Slack messages.
   */
  api: { host: string; port: number; temporalUiUrl?: string; publicUrl?: string; rateLimit: RateLimitSpec };
  /**
   * The Slack workspace (team) and app whose signed requests /slack/* accepts; null: any that
   * signs with the signing secret (config `notifications.slackTeamId` / `slackAppId`).
   */
  slack: { teamId: string | null; appId: string | null };
  /** Present only in the local sandbox: enables /v1/sandbox/* routes. */
  sandbox: { controlUrl: string; peopleFile: string } | null;
}

/** How many requests the API takes per bearer token and per client address in each window. */
export interface RateLimitSpec {
  perToken: number;
  perAddress: number;
  windowSeconds: number;
}

/**
 * Defaults far above what a person or a CI job polling statuses sends (a status every 250 ms is
 * 240 a minute), and low enough that a runaway script is stopped.
 */
export const DEFAULT_RATE_LIMIT: RateLimitSpec = { perToken: 600, perAddress: 1200, windowSeconds: 60 };

/**
 * `record[key]` when `key` is the record's own entry, else undefined: a name from a request
 * (`constructor`, `__proto__`, `toString`) never reaches what every object inherits.
 */
export function ownEntry<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.prototype.hasOwnProperty.call(record, key) ? record[key] : undefined;
}

/** Settings that come from the environment (secrets included) rather than the file. */
export interface RuntimeEnv {
  configPath: string;
  awsEndpoint: string | undefined;
  slack: { botToken?: string; signingSecret?: string; apiUrl?: string };
  /** PostgreSQL's password (PGPASSWORD) and binaries (BATON_PG_BIN), for the worker's database activities. */
  postgres: { password?: string; binDir?: string };
  logLevel: string;
  /**
   * BATON_REGIONS: the AWS regions whose task queues this worker serves besides the main queue
   * (`[]` for `none`); null when unset: every region the config names (workerRegions()).
   */
  regions: string[] | null;
  /**
   * BATON_CODEC_KEYS: the keys that encrypt payloads in Temporal (src/temporal/codec.ts), the
   * first encrypting and every one decrypting; null when unset: payloads stay plaintext.
   */
  codec: { keys: CodecKey[] } | null;
  /**
   * BATON_DECISION_KEY (the API only): the secret (hex) it signs decisions with; runs carry the
   * public half and refuse unsigned decisions. Keep it stable: a run refuses decisions signed
   * with another key.
   */
  decisionKey: string | null;
  /**
   * BATON_DECISION_PUBLIC_KEY (workers): the public half of the API's decision key, which the
   * drills their schedules start carry, so those runs too take only decisions the API signed.
   */
  decisionPublicKey: string | null;
}

/** One AES-256 key of BATON_CODEC_KEYS and the id its ciphertexts carry. */
export interface CodecKey {
  id: string;
  key: Buffer;
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
      lag: Type.Optional(DurationText),
    }, { additionalProperties: false })),
    keepPreviousFor: Type.Optional(DurationText),
    standbyFor: Type.Optional(DurationText),
    standbyCount: Type.Optional(Type.Integer({ minimum: 0 })),
    stableTimeout: Type.Optional(DurationText),
    escalateAfter: Type.Optional(DurationText),
    drainMargin: Type.Optional(DurationText),
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
  region: Type.String({ pattern: REGION_PATTERN }),
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
    extraErrors: Type.Optional(Type.Array(Type.Object({
      metricName: Type.String({ minLength: 1 }),
      statistic: Type.Optional(Type.String({ minLength: 1 })),
      scope: Type.Optional(Type.Union([Type.Literal('colour'), Type.Literal('loadBalancer')])),
    }, { additionalProperties: false }))),
    blueDimensions: Dimensions,
    greenDimensions: Dimensions,
  }, { additionalProperties: false }),
  smokeTestUrl: Type.String({ pattern: '^https?://' }),
  thresholds: Type.Optional(ThresholdsFile),
}, { additionalProperties: false });

const RdsInstanceFile = Type.Object({
  region: Type.String({ pattern: REGION_PATTERN }),
  instanceId: Type.String({ pattern: '^[a-zA-Z][a-zA-Z0-9-]{0,62}$' }),
}, { additionalProperties: false });

/** `services.<service>.dr.<environment>`: the service's disaster-recovery copy of that environment. */
const DrFile = Type.Object({
  region: Type.String({ pattern: REGION_PATTERN }),
  ecs: Type.Object({
    cluster: Type.String({ minLength: 1 }),
    blueService: Type.String({ minLength: 1 }),
    greenService: Type.String({ minLength: 1 }),
  }, { additionalProperties: false }),
  productionCount: Type.Integer({ minimum: 1 }),
  standbyCount: Type.Optional(Type.Integer({ minimum: 0 })),
  database: Type.Object({ primary: RdsInstanceFile, replica: RdsInstanceFile }, { additionalProperties: false }),
  dns: Type.Object({
    hostedZoneId: Type.String({ minLength: 1 }),
    recordName: Type.String({ minLength: 1 }),
    recordType: Type.Optional(Type.Union([Type.Literal('A'), Type.Literal('AAAA'), Type.Literal('CNAME')])),
    primarySetIdentifier: Type.String({ minLength: 1 }),
    secondarySetIdentifier: Type.String({ minLength: 1 }),
  }, { additionalProperties: false }),
  smokeTestUrl: Type.String({ pattern: '^https?://' }),
  objectives: Type.Object({ rpo: DurationText, rto: DurationText }, { additionalProperties: false }),
  /** After DNS moves: how long the DR region is watched, and how often it is sampled. */
  monitor: Type.Optional(Type.Object({ for: Type.Optional(DurationText), every: Type.Optional(DurationText) }, { additionalProperties: false })),
  /**
   * The DR region's CloudWatch dimensions per colour, read with the environment's queries and
   * judged by its thresholds while the DR region is monitored; without them, smoke tests only.
   */
  metrics: Type.Optional(Type.Object({ blueDimensions: Dimensions, greenDimensions: Dimensions }, { additionalProperties: false })),
  /** How long a fenced switch waits for the replica to catch up (ReplicaLag 0) before it gives up and unfences. */
  catchUp: Type.Optional(DurationText),
  emergency: Type.Optional(Type.Object({
    /** Who may start an emergency failover alone, and confirm an unfenced promotion (default on-call). */
    role: Type.Optional(Type.String({ minLength: 1 })),
    /** Promote without a second person's confirmation when the primary could not be fenced (default false). */
    allowUnfenced: Type.Optional(Type.Boolean()),
  }, { additionalProperties: false })),
  /** Drills (fail over, verify, fail back) are allowed here only with `allowed: true`; `every` schedules one. */
  drills: Type.Optional(Type.Object({ allowed: Type.Boolean(), every: Type.Optional(DurationText) }, { additionalProperties: false })),
}, { additionalProperties: false });
type DrFileT = Static<typeof DrFile>;

/** A failover watches the DR region this long after DNS moves, sampling it this often, unless `monitor` says otherwise. */
const DEFAULT_DR_MONITOR_SECONDS = 10 * 60;
const DEFAULT_DR_MONITOR_EVERY_SECONDS = 30;
/** RDS publishes ReplicaLag once a minute: a fenced replica shows 0 within two or three. */
const DEFAULT_DR_CATCH_UP_SECONDS = 10 * 60;

/** How often readiness runs unless `readiness.every` says otherwise. */
const DEFAULT_READINESS_EVERY_SECONDS = 15 * 60;

const GateFile = Type.Object({
  checks: Type.Optional(Type.Array(Name, { uniqueItems: true })),
  approvals: Type.Optional(Type.Array(Type.Object({
    role: Type.String({ minLength: 1 }),
    count: Type.Integer({ minimum: 1 }),
  }, { additionalProperties: false }))),
  stability: Type.Optional(DurationText),
  /** true: this environment's own train; a name: that environment's train; false: none. */
  train: Type.Optional(Type.Union([Type.Boolean(), Type.String({ minLength: 1 })])),
  expiry: Type.Optional(DurationText),
}, { additionalProperties: false });
/** A gate or null (no gate); checked on its own by resolveGate so errors name the gate's field. */
const GateOrNone = Type.Unknown();

const DAY_NAMES = ['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN'] as const satisfies readonly TrainSpec['days'][number][];

const TrainFile = Type.Object({
  days: Type.Array(Type.Union(DAY_NAMES.map((d) => Type.Literal(d))), { minItems: 1 }),
  at: Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$', description: 'HH:MM, 24-hour, local to timeZone' }),
  timeZone: Type.String({ minLength: 1 }),
  window: DurationText,
  concurrency: Type.Optional(Type.Integer({ minimum: 1 })),
  order: Type.Optional(Type.Array(Type.String(), { uniqueItems: true })),
  catchupWindow: Type.Optional(DurationText),
}, { additionalProperties: false });

const FreezeFile = Type.Object({
  from: Type.String({ minLength: 1 }),
  to: Type.String({ minLength: 1 }),
  environments: Type.Array(Type.String(), { minItems: 1 }),
  reason: Type.String({ minLength: 1 }),
  /** Whether a break-glass deployment may go ahead during this freeze (default no). */
  allowBreakGlass: Type.Optional(Type.Boolean()),
}, { additionalProperties: false });

const PostgresFile = Type.Object({
  host: Type.String({ minLength: 1 }),
  port: Type.Integer({ minimum: 1, maximum: 65535 }),
  database: Type.String({ pattern: '^[a-z_][a-z0-9_]{0,40}$' }),
  user: Type.String({ minLength: 1 }),
  backupDir: Type.String({ minLength: 1 }),
  walArchiveDir: Type.String({ minLength: 1 }),
  scratchDir: Type.String({ minLength: 1 }),
}, { additionalProperties: false });

const RdsFile = Type.Object({
  region: Type.String({ pattern: REGION_PATTERN }),
  // At most 36 characters, so `<id>-pre-restore-<yyyymmddhhmm>` fits RDS's 63.
  instanceId: Type.String({ pattern: '^[a-zA-Z][a-zA-Z0-9-]{0,35}$' }),
  switch: Type.Optional(Type.Union([
    Type.Literal('rename'),
    Type.Object({ route53: Type.Object({ hostedZoneId: Type.String({ minLength: 1 }), recordName: Type.String({ minLength: 1 }), ttl: Type.Optional(Type.Integer({ minimum: 0 })) }, { additionalProperties: false }) }, { additionalProperties: false }),
  ])),
}, { additionalProperties: false });

const DatabaseFile = Type.Object({
  services: Type.Optional(Type.Array(Type.String(), { uniqueItems: true })),
  critical: Type.Optional(Type.Array(Type.String({ pattern: '^[a-z_][a-z0-9_.]*$' }), { uniqueItems: true })),
  assertions: Type.Optional(Type.Array(Type.Object({ name: Type.String({ minLength: 1 }), sql: Type.String({ minLength: 1 }) }, { additionalProperties: false }))),
  objectives: Type.Object({ rpo: DurationText, rto: DurationText }, { additionalProperties: false }),
  watch: Type.Optional(DurationText),
  sample: Type.Optional(DurationText),
  retention: Type.Optional(DurationText),
  drill: Type.Optional(Type.Object({ cron: Type.String({ minLength: 1 }), timeZone: Type.String({ minLength: 1 }), maxAge: DurationText }, { additionalProperties: false })),
  environments: Type.Record(Type.String(), Type.Union([
    Type.Object({ postgres: PostgresFile }, { additionalProperties: false }),
    Type.Object({ rds: RdsFile }, { additionalProperties: false }),
  ])),
}, { additionalProperties: false });
type DatabaseFileT = Static<typeof DatabaseFile>;

const PermissionList = Type.Array(Type.Union(PERMISSIONS.map((p) => Type.Literal(p))), { minItems: 1 });
const ScopedRoleFile = Type.Object({
  permissions: PermissionList,
  environments: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })),
}, { additionalProperties: false });
// Checked in resolveRoles, one shape or the other, so a mistake is named field by field (a union's error names neither).
const RoleFile = Type.Unsafe<Static<typeof PermissionList> | Static<typeof ScopedRoleFile>>(Type.Union([Type.Array(Type.Unknown()), Type.Object({})]));
type RoleFileT = Static<typeof RoleFile>;

const ConfigFile = Type.Object({
  roles: Type.Optional(Type.Record(Type.String(), RoleFile)),
  breakGlass: Type.Optional(Type.Object({ role: Type.String({ minLength: 1 }) }, { additionalProperties: false })),
  checks: Type.Optional(Type.Record(Type.String(), Type.Object({
    attestedBy: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
    requesterMayAttest: Type.Optional(Type.Boolean()),
  }, { additionalProperties: false }))),
  cancel: Type.Optional(Type.Object({ roles: Type.Array(Type.String({ minLength: 1 })) }, { additionalProperties: false })),
  people: Type.Array(Type.Object({
    name: Type.String({ minLength: 1 }),
    roles: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
    tokenSha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    slackUserId: Type.Optional(Type.String()),
  }, { additionalProperties: false }), { minItems: 1 }),
  environments: Type.Record(Type.String(), Type.Object({
    plan: Type.String(),
    gate: Type.Optional(GateOrNone),
  }, { additionalProperties: false })),
  promotion: Type.Optional(Type.Array(Type.String(), { minItems: 1 })),
  plans: Type.Record(Type.String(), PlanFile),
  services: Type.Record(Type.String(), Type.Object({
    image: Type.String({ minLength: 1 }),
    container: Type.Optional(Type.String({ minLength: 1 })),
    thresholds: Type.Optional(ThresholdsFile),
    environments: Type.Record(Type.String(), ServiceEnvFile),
    gates: Type.Optional(Type.Record(Type.String(), GateOrNone)),
    dr: Type.Optional(Type.Record(Type.String(), DrFile)),
  }, { additionalProperties: false })),
  readiness: Type.Optional(Type.Object({ every: DurationText }, { additionalProperties: false })),
  trains: Type.Optional(Type.Record(Type.String(), TrainFile)),
  freezes: Type.Optional(Type.Array(FreezeFile)),
  databases: Type.Optional(Type.Record(Type.String(), DatabaseFile)),
  hotfix: Type.Optional(Type.Object({ approvalRole: Type.String({ minLength: 1 }) }, { additionalProperties: false })),
  notifications: Type.Optional(Type.Object({
    slackChannel: Type.Optional(Type.String({ minLength: 1 })),
    updateEvery: Type.Optional(DurationText),
    slackTeamId: Type.Optional(Type.String({ pattern: '^[A-Z0-9]{2,32}$' })),
    slackAppId: Type.Optional(Type.String({ pattern: '^[A-Z0-9]{2,32}$' })),
  }, { additionalProperties: false })),
  temporal: Type.Optional(Type.Object({ taskQueue: Type.Optional(Type.String({ minLength: 1 })) }, { additionalProperties: false })),
  api: Type.Optional(Type.Object({
    host: Type.Optional(Type.String()),
    port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    temporalUiUrl: Type.Optional(Type.String({ pattern: '^https?://' })),
    publicUrl: Type.Optional(Type.String({ pattern: '^https?://' })),
    rateLimit: Type.Optional(Type.Object({
      perToken: Type.Optional(Type.Integer({ minimum: 1 })),
      perAddress: Type.Optional(Type.Integer({ minimum: 1 })),
      window: Type.Optional(DurationText),
    }, { additionalProperties: false })),
  }, { additionalProperties: false })),
  sandbox: Type.Optional(Type.Object({
    controlUrl: Type.String({ pattern: '^https?://' }),
    peopleFile: Type.String({ minLength: 1 }),
  }, { additionalProperties: false })),
}, { additionalProperties: false });

type ConfigFileT = Static<typeof ConfigFile>;
type PlanFileT = Static<typeof PlanFile>;
type GateFileT = Static<typeof GateFile>;
type TrainFileT = Static<typeof TrainFile>;

/** Slack allows about one chat.update per second per channel; a run's message changes at most this often. */
const DEFAULT_UPDATE_EVERY_SECONDS = 5;
/** CloudWatch publishes ALB metrics in 60-second intervals, somewhat late: read a minute behind. */
const DEFAULT_LAG_SECONDS = 60;
/** What an ALB counts as failed besides its targets' 5xx: refused connections, and its own 5xx. */
const ALB_EXTRA_ERRORS: ExtraErrorQuery[] = [
  { metricName: 'TargetConnectionErrorCount', statistic: 'Sum', scope: 'colour' },
  { metricName: 'HTTPCode_ELB_5XX_Count', statistic: 'Sum', scope: 'loadBalancer' },
];
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
  const analysis = {
    intervalSeconds: interval,
    windowSeconds: duration(p.analysis?.window, interval, `${at}.analysis.window`) || interval,
    failureLimit: p.analysis?.failureLimit ?? 2,
    inconclusiveLimit: p.analysis?.inconclusiveLimit ?? 5,
    lagSeconds: duration(p.analysis?.lag, DEFAULT_LAG_SECONDS, `${at}.analysis.lag`),
  };
  const soaks = soakProblems(steps, analysis);
  if (soaks.length) throw new ConfigError(`config field '${at}.steps': ${soaks[0]}`);
  const escalateAfterSeconds = duration(p.escalateAfter, 300, `${at}.escalateAfter`);
  if (escalateAfterSeconds < 1) throw new ConfigError(`config field '${at}.escalateAfter': must be at least 1s`);
  return {
    name,
    steps,
    analysis,
    keepPreviousForSeconds: duration(p.keepPreviousFor, 3600, `${at}.keepPreviousFor`),
    standbyForSeconds: duration(p.standbyFor, 24 * 3600, `${at}.standbyFor`),
    standbyCount: p.standbyCount ?? 1,
    stableTimeoutSeconds: duration(p.stableTimeout, 900, `${at}.stableTimeout`),
    escalateAfterSeconds,
    drainMarginSeconds: duration(p.drainMargin, 30, `${at}.drainMargin`),
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

// ---------------------------------------------------------------- roles and releases
function resolveRoles(declared: Record<string, RoleFileT> | undefined): Record<string, Permission[]> {
  const roles: Record<string, Permission[]> = {};
  for (const [name, perms] of Object.entries(BUILTIN_ROLES)) roles[name] = [...perms];
  for (const [name, role] of Object.entries(declared ?? {})) {
    if (!NAME_RE.test(name)) throw new ConfigError(`config field 'roles.${name}': role names are lower-case letters, digits and '-'`);
    if (Array.isArray(role)) check(PermissionList, role, `roles.${name}`);
    else check(ScopedRoleFile, role, `roles.${name}`);
    roles[name] = [...new Set(Array.isArray(role) ? role : role.permissions)];
  }
  // `admin` always has everything, whatever the file says.
  roles.admin = ['admin'];
  return roles;
}

/**
 * Where each role's permissions hold. A role written as an object may name `environments`;
 * the built-in `deployer`, unless redefined, holds in every environment but the promotion's
 * last (production goes through releases, or break-glass).
 */
function resolveRoleEnvironments(declared: Record<string, RoleFileT> | undefined, environments: Record<string, unknown>, promotion: string[]): Record<string, string[] | null> {
  const scopes: Record<string, string[] | null> = {};
  for (const name of Object.keys(BUILTIN_ROLES)) scopes[name] = null;
  if (!Object.hasOwn(declared ?? {}, 'deployer') && promotion.length > 1) scopes.deployer = promotion.slice(0, -1);
  for (const [name, role] of Object.entries(declared ?? {})) {
    const envs = Array.isArray(role) ? undefined : role.environments;
    envs?.forEach((env, i) => {
      if (!Object.hasOwn(environments, env)) throw new ConfigError(`config field 'roles.${name}.environments.${i}': '${env}' is not declared under 'environments'`);
    });
    scopes[name] = envs ? [...new Set(envs)] : null;
  }
  scopes.admin = null;
  return scopes;
}

const NAME_RE = /^[a-z][a-z0-9-]{0,31}$/;
/** A check's name, as releases take it. */
export const CHECK_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** `"10:00"` → hour and minute. The schema has checked the shape. */
function clock(at: string): { hour: number; minute: number } {
  const [h, m] = at.split(':');
  return { hour: Number(h), minute: Number(m) };
}

/**
 * The zone as Temporal's server (Go) spells it. Intl accepts any case and abbreviations like
 * `PST` (which it maps to America/Los_Angeles, DST and all); Go knows neither, and an
 * abbreviation hides whether summer time applies. So: an `Area/Location` name or UTC.
 */
function timeZoneName(tz: string, field: string): string {
  const iana = /^[A-Za-z_]+\/[A-Za-z0-9_+/-]+$/.test(tz) || /^utc$/i.test(tz);
  if (!iana || !validTimeZone(tz)) {
    throw new ConfigError(`config field '${field}': '${tz}' is not an IANA time zone (use an Area/Location name such as America/Los_Angeles or Europe/Berlin, or UTC)`);
  }
  const canonical = new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone;
  return canonical.toLowerCase() === tz.toLowerCase() ? canonical : tz;
}

/** Temporal refuses catch-up windows under 10 s (it would silently raise them, and every sync would differ). */
const MIN_CATCHUP_SECONDS = 10;

function resolveTrain(env: string, t: TrainFileT, services: Record<string, unknown>): TrainSpec {
  const at = `trains.${env}`;
  const windowSeconds = duration(t.window, 0, `${at}.window`);
  if (windowSeconds < 1) throw new ConfigError(`config field '${at}.window': must be at least 1s`);
  const catchupWindowSeconds = duration(t.catchupWindow, Math.max(windowSeconds, MIN_CATCHUP_SECONDS), `${at}.catchupWindow`);
  if (catchupWindowSeconds < MIN_CATCHUP_SECONDS) {
    throw new ConfigError(`config field '${at}.catchupWindow': must be at least ${MIN_CATCHUP_SECONDS}s`);
  }
  const order = t.order ?? [];
  order.forEach((svc, i) => {
    if (!services[svc]) throw new ConfigError(`config field '${at}.order.${i}': no service named '${svc}'`);
  });
  const days = DAY_NAMES.filter((d) => t.days.includes(d));
  return {
    environment: env,
    days,
    ...clock(t.at),
    timeZone: timeZoneName(t.timeZone, `${at}.timeZone`),
    windowSeconds,
    concurrency: t.concurrency ?? 1,
    order: [...order],
    catchupWindowSeconds,
  };
}

interface GateContext {
  roles: Record<string, Permission[]>;
  people: Person[];
  trains: Record<string, TrainSpec>;
  environments: Record<string, unknown>;
  promotion: string[];
}

const DEFAULT_EXPIRY_SECONDS = 72 * 3600;

function resolveGate(raw: unknown, env: string, at: string, ctx: GateContext): GateSpec | null {
  if (raw === null || raw === undefined) return null;
  check(GateFile, raw, at);
  const gate: GateFileT = raw;
  const approvals: ApprovalRule[] = (gate.approvals ?? []).map((a, i) => {
    if (!ctx.roles[a.role]) throw new ConfigError(`config field '${at}.approvals.${i}.role': '${a.role}' is not a role (${knownRoles(ctx.roles)})`);
    const holders = ctx.people.filter((p) => p.roles.includes(a.role)).length;
    if (holders < a.count) {
      throw new ConfigError(`config field '${at}.approvals.${i}.count': needs ${a.count} distinct people with role '${a.role}', but only ${holders} ${holders === 1 ? 'has' : 'have'} it`);
    }
    return { role: a.role, count: a.count };
  });
  approvals.forEach((a, i) => {
    if (approvals.findIndex((b) => b.role === a.role) !== i) {
      throw new ConfigError(`config field '${at}.approvals.${i}.role': '${a.role}' appears twice (write one rule with the total count)`);
    }
  });
  const stabilitySeconds = duration(gate.stability, 0, `${at}.stability`);
  if (stabilitySeconds > 0 && ctx.promotion.indexOf(env) === 0) {
    throw new ConfigError(`config field '${at}.stability': '${env}' is the first environment in the promotion order, so there is no previous environment to be stable in`);
  }
  let train: string | null = null;
  if (gate.train === true) train = env;
  else if (typeof gate.train === 'string') train = gate.train;
  if (train !== null) {
    if (!ctx.environments[train]) throw new ConfigError(`config field '${at}.train': '${train}' is not declared under 'environments'`);
    if (!ctx.trains[train]) throw new ConfigError(`config field '${at}.train': environment '${train}' has no train (declare it under 'trains.${train}')`);
  }
  const expirySeconds = duration(gate.expiry, DEFAULT_EXPIRY_SECONDS, `${at}.expiry`);
  if (expirySeconds < 1) throw new ConfigError(`config field '${at}.expiry': must be at least 1s`);
  return { checks: [...(gate.checks ?? [])], approvals, stabilitySeconds, train, expirySeconds };
}

function knownRoles(roles: Record<string, unknown>): string {
  return `known: ${Object.keys(roles).join(', ')}; declare others under 'roles'`;
}

function instant(value: string, field: string): number {
  const ms = parseInstant(value);
  if (ms === null) throw new ConfigError(`config field '${field}': '${value}' is not ${INSTANT_RULE}`);
  return ms;
}

/** Durations a database's watch uses when the config gives none: 5 minutes, a sample a minute. */
const DEFAULT_WATCH_SECONDS = 300;
const DEFAULT_SAMPLE_SECONDS = 60;
/** How long the original stays aside after a restore (switch-back stays possible by hand). */
const DEFAULT_RETENTION_SECONDS = 7 * 24 * 3600;

function resolveDatabase(
  name: string,
  d: DatabaseFileT,
  services: Record<string, ServiceConfig>,
  environments: Record<string, EnvironmentConfig>,
): Record<string, DatabaseSpec> {
  const at = `databases.${name}`;
  if (!NAME_RE.test(name)) throw new ConfigError(`config field '${at}': database names are lower-case letters, digits and '-'`);
  const objectives = {
    rpoSeconds: duration(d.objectives.rpo, 0, `${at}.objectives.rpo`),
    rtoSeconds: duration(d.objectives.rto, 0, `${at}.objectives.rto`),
  };
  if (objectives.rtoSeconds < 1) throw new ConfigError(`config field '${at}.objectives.rto': must be at least 1s`);
  const sampleSeconds = duration(d.sample, DEFAULT_SAMPLE_SECONDS, `${at}.sample`);
  if (sampleSeconds < 1) throw new ConfigError(`config field '${at}.sample': must be at least 1s`);
  const drill = d.drill
    ? { cron: d.drill.cron, timeZone: timeZoneName(d.drill.timeZone, `${at}.drill.timeZone`), maxAgeSeconds: duration(d.drill.maxAge, 0, `${at}.drill.maxAge`) }
    : null;
  if (drill && drill.cron.trim().split(/\s+/).length !== 5) throw new ConfigError(`config field '${at}.drill.cron': '${drill.cron}' is not a five-field cron expression`);
  const out: Record<string, DatabaseSpec> = {};
  for (const [env, e] of Object.entries(d.environments)) {
    const here = `${at}.environments.${env}`;
    if (!environments[env]) throw new ConfigError(`config field '${here}': '${env}' is not declared under 'environments'`);
    const used: DatabaseService[] = (d.services ?? []).map((svc, i) => {
      const s = services[svc]?.environments[env];
      if (!s) throw new ConfigError(`config field '${at}.services.${i}': service '${svc}' has no environment '${env}' under 'services'`);
      return { service: svc, compute: s.compute, smokeTestUrls: s.smokeTestUrls, metrics: s.metrics, thresholds: s.thresholds };
    });
    let target: DatabaseTarget;
    if ('rds' in e && ((d.assertions ?? []).length > 0 || (d.critical ?? []).length > 0)) {
      // Fail-closed verification would refuse every restore: say so now, not at 3 a.m.
      throw new ConfigError(`config field '${here}.rds': Baton cannot read an RDS database's rows yet, so '${at}.assertions' and '${at}.critical' must be empty for a database with RDS environments`);
    }
    if ('postgres' in e) {
      target = { kind: 'postgres', ...e.postgres };
    } else {
      const sw = e.rds.switch ?? 'rename';
      target = {
        kind: 'rds',
        region: e.rds.region,
        instanceId: e.rds.instanceId,
        switch: sw === 'rename' ? { type: 'rename' } : { type: 'route53', hostedZoneId: sw.route53.hostedZoneId, recordName: sw.route53.recordName, ttl: sw.route53.ttl ?? 60 },
      };
    }
    out[env] = {
      environment: env,
      database: name,
      target,
      services: used,
      critical: [...(d.critical ?? [])],
      assertions: (d.assertions ?? []).map((a) => ({ ...a })),
      objectives,
      watchSeconds: duration(d.watch, DEFAULT_WATCH_SECONDS, `${at}.watch`),
      sampleSeconds,
      retentionSeconds: duration(d.retention, DEFAULT_RETENTION_SECONDS, `${at}.retention`),
      approvals: (environments[env].gate?.approvals ?? []).map((r) => ({ ...r })),
      approvalExpirySeconds: environments[env].gate?.expirySeconds ?? DEFAULT_EXPIRY_SECONDS,
      drill,
    };
  }
  return out;
}

function resolveDr(service: string, env: string, d: DrFileT, envs: Record<string, ServiceEnvironment>, ctx: { roles: Record<string, Permission[]>; gate: GateSpec | null }): DrSpec {
  const at = `services.${service}.dr.${env}`;
  const home = envs[env];
  if (!home) throw new ConfigError(`config field '${at}': service '${service}' has no environment '${env}' under 'services.${service}.environments'`);
  if (d.region === home.region) throw new ConfigError(`config field '${at}.region': the DR region must differ from the environment's region (${home.region})`);
  const { primary, replica } = d.database;
  if (primary.region !== home.region) {
    throw new ConfigError(`config field '${at}.database.primary.region': the primary database must be in the environment's region (${home.region}), got ${primary.region}`);
  }
  if (replica.region !== d.region) {
    throw new ConfigError(`config field '${at}.database.replica.region': the replica must be in the DR region (${d.region}), got ${replica.region}`);
  }
  const standbyCount = d.standbyCount ?? 0;
  if (standbyCount > d.productionCount) {
    throw new ConfigError(`config field '${at}.standbyCount': ${standbyCount} is more than productionCount (${d.productionCount})`);
  }
  if (d.dns.primarySetIdentifier === d.dns.secondarySetIdentifier) {
    throw new ConfigError(`config field '${at}.dns.secondarySetIdentifier': must differ from primarySetIdentifier ('${d.dns.primarySetIdentifier}')`);
  }
  const rpoSeconds = duration(d.objectives.rpo, 0, `${at}.objectives.rpo`);
  const rtoSeconds = duration(d.objectives.rto, 0, `${at}.objectives.rto`);
  if (rpoSeconds < 1) throw new ConfigError(`config field '${at}.objectives.rpo': must be at least 1s (a replica's lag is never exactly 0)`);
  if (rtoSeconds < 1) throw new ConfigError(`config field '${at}.objectives.rto': must be at least 1s`);
  const emergencyRole = d.emergency?.role ?? 'on-call';
  if (!ctx.roles[emergencyRole]) throw new ConfigError(`config field '${at}.emergency.role': '${emergencyRole}' is not a role (${knownRoles(ctx.roles)}); declare it under 'roles' and give it to who is paged`);
  const monitorSeconds = duration(d.monitor?.for, DEFAULT_DR_MONITOR_SECONDS, `${at}.monitor.for`);
  const monitorEverySeconds = duration(d.monitor?.every, DEFAULT_DR_MONITOR_EVERY_SECONDS, `${at}.monitor.every`);
  if (monitorEverySeconds < 1) throw new ConfigError(`config field '${at}.monitor.every': must be at least 1s`);
  const metrics = d.metrics ? drMetrics(home.metrics, d.region, d.metrics, `${at}.metrics`) : null;
  const drillEvery = d.drills?.every === undefined ? null : duration(d.drills.every, 0, `${at}.drills.every`);
  if (drillEvery !== null && !d.drills?.allowed) throw new ConfigError(`config field '${at}.drills.every': a drill schedule needs 'drills.allowed: true'`);
  if (drillEvery !== null && drillEvery < 3600) throw new ConfigError(`config field '${at}.drills.every': must be at least 1h (a drill fails over and back)`);
  return {
    service,
    environment: env,
    primaryRegion: home.region,
    region: d.region,
    compute: {
      region: d.region,
      cluster: d.ecs.cluster,
      services: { blue: d.ecs.blueService, green: d.ecs.greenService },
      ...(home.compute.container ? { container: home.compute.container } : {}),
    },
    productionCount: d.productionCount,
    standbyCount,
    database: { primary: { ...primary }, replica: { ...replica } },
    dns: {
      hostedZoneId: d.dns.hostedZoneId.replace(/^\/hostedzone\//, ''),
      recordName: d.dns.recordName.endsWith('.') ? d.dns.recordName : `${d.dns.recordName}.`,
      recordType: d.dns.recordType ?? 'CNAME',
      primarySetIdentifier: d.dns.primarySetIdentifier,
      secondarySetIdentifier: d.dns.secondarySetIdentifier,
    },
    smokeTestUrl: d.smokeTestUrl,
    objectives: { rpoSeconds, rtoSeconds },
    primaryCompute: { ...home.compute },
    primarySmokeTestUrls: { ...home.smokeTestUrls },
    approvals: (ctx.gate?.approvals ?? []).map((r) => ({ ...r })),
    approvalExpirySeconds: ctx.gate?.expirySeconds ?? DEFAULT_EXPIRY_SECONDS,
    monitor: { seconds: monitorSeconds, everySeconds: monitorEverySeconds },
    metrics,
    primaryMetrics: home.metrics,
    thresholds: { ...home.thresholds },
    catchUpSeconds: duration(d.catchUp, DEFAULT_DR_CATCH_UP_SECONDS, `${at}.catchUp`),
    emergency: { role: emergencyRole, allowUnfenced: d.emergency?.allowUnfenced ?? false },
    drills: { allowed: d.drills?.allowed ?? false, everySeconds: drillEvery },
  };
}

/**
 * The DR region's metrics: the environment's queries (namespace, metrics, extra errors) in the DR
 * region, with its own dimensions. They must name the same dimensions as the environment's: a
 * misspelt one would read no data, and monitoring would never see a breach.
 */
function drMetrics(home: MetricsSpec, region: string, m: NonNullable<DrFileT['metrics']>, at: string): MetricsSpec {
  const names = (d: Record<string, string>) => Object.keys(d).sort().join(', ');
  for (const colour of ['blue', 'green'] as const) {
    const given = m[`${colour}Dimensions`];
    if (names(given) !== names(home.dimensions[colour])) {
      throw new ConfigError(`config field '${at}.${colour}Dimensions': names ${names(given) || 'no dimensions'}, but the environment's metrics name ${names(home.dimensions[colour])}: the DR region is read with the environment's queries, so give the same dimensions with the DR region's values`);
    }
  }
  return { ...home, region, extraErrors: home.extraErrors.map((x) => ({ ...x })), dimensions: { blue: { ...m.blueDimensions }, green: { ...m.greenDimensions } } };
}

function readinessEvery(value: string | number | undefined): number {
  const seconds = duration(value, DEFAULT_READINESS_EVERY_SECONDS, 'readiness.every');
  if (seconds < 60) throw new ConfigError(`config field 'readiness.every': must be at least 1m (CloudWatch's RDS metrics come once a minute)`);
  return seconds;
}

/** Every service environment with a disaster-recovery posture, in config order. */
export function drSpecs(config: Pick<BatonConfig, 'services'>): DrSpec[] {
  return Object.values(config.services).flatMap((s) => Object.values(s.dr ?? {}));
}

/** Validates a parsed config document and resolves it into typed values. */
export function resolveConfig(doc: unknown): BatonConfig {
  check(ConfigFile, doc, '');
  const file: ConfigFileT = doc;

  const plans: Record<string, RolloutPlan> = {};
  for (const [name, p] of Object.entries(file.plans)) plans[name] = resolvePlan(name, p);

  const roles = resolveRoles(file.roles);
  const names = new Set<string>();
  file.people.forEach((p, i) => {
    if (names.has(p.name)) throw new ConfigError(`config field 'people.${i}.name': '${p.name}' appears twice`);
    names.add(p.name);
    p.roles.forEach((r, j) => {
      if (!roles[r]) throw new ConfigError(`config field 'people.${i}.roles.${j}': '${r}' is not a role (${knownRoles(roles)})`);
    });
  });
  const people: Person[] = file.people.map((p) => ({ ...p, roles: [...new Set(p.roles)] }));
  // A Slack user acts as exactly one person: two entries with one id would make a click ambiguous.
  const bySlackId = new Map<string, string>();
  file.people.forEach((p, i) => {
    if (p.slackUserId === undefined) return;
    const other = bySlackId.get(p.slackUserId);
    if (other !== undefined) throw new ConfigError(`config field 'people.${i}.slackUserId': '${p.slackUserId}' is already ${other}'s; ${p.name} needs their own`);
    bySlackId.set(p.slackUserId, p.name);
  });

  for (const [env, e] of Object.entries(file.environments)) {
    check(Name, env, `environments`);
    if (!plans[e.plan]) throw new ConfigError(`config field 'environments.${env}.plan': no plan named '${e.plan}'`);
  }

  const promotion = file.promotion ?? Object.keys(file.environments);
  promotion.forEach((env, i) => {
    if (!file.environments[env]) throw new ConfigError(`config field 'promotion.${i}': '${env}' is not declared under 'environments'`);
    if (promotion.indexOf(env) !== i) throw new ConfigError(`config field 'promotion.${i}': '${env}' appears twice`);
  });

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
      const namespace = m.namespace ?? 'AWS/ApplicationELB';
      const hasLoadBalancer = Boolean(m.blueDimensions.LoadBalancer && m.greenDimensions.LoadBalancer);
      const extraErrors: ExtraErrorQuery[] = m.extraErrors
        ? m.extraErrors.map((x) => ({ metricName: x.metricName, statistic: x.statistic ?? 'Sum', scope: x.scope ?? 'colour' }))
        : namespace === 'AWS/ApplicationELB' ? ALB_EXTRA_ERRORS.filter((x) => x.scope === 'colour' || hasLoadBalancer).map((x) => ({ ...x })) : [];
      extraErrors.forEach((x, i) => {
        if (x.scope === 'loadBalancer' && !hasLoadBalancer) {
          throw new ConfigError(`config field '${at}.metrics.extraErrors.${i}.scope': 'loadBalancer' needs a LoadBalancer dimension in blueDimensions and greenDimensions`);
        }
      });
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
          namespace,
          requests: m.requests ?? { metricName: 'RequestCount', statistic: 'Sum' },
          errors: m.errors ?? { metricName: 'HTTPCode_Target_5XX_Count', statistic: 'Sum' },
          latency: {
            metricName: m.latency?.metricName ?? 'TargetResponseTime',
            statistic: m.latency?.statistic ?? 'p95',
            unit: m.latency?.unit ?? 'seconds',
          },
          extraErrors,
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
    services[svc] = { name: svc, environments: envs, gates: {}, dr: {} };
  }

  const trains: Record<string, TrainSpec> = {};
  for (const [env, t] of Object.entries(file.trains ?? {})) {
    if (!file.environments[env]) throw new ConfigError(`config field 'trains.${env}': '${env}' is not declared under 'environments'`);
    trains[env] = resolveTrain(env, t, services);
  }

  const ctx: GateContext = { roles, people, trains, environments: file.environments, promotion };
  const environments: Record<string, EnvironmentConfig> = {};
  for (const [env, e] of Object.entries(file.environments)) {
    environments[env] = { plan: e.plan, gate: resolveGate(e.gate, env, `environments.${env}.gate`, ctx) };
  }
  for (const [svc, s] of Object.entries(file.services)) {
    for (const [env, g] of Object.entries(s.gates ?? {})) {
      const at = `services.${svc}.gates.${env}`;
      if (!file.environments[env]) throw new ConfigError(`config field '${at}': '${env}' is not declared under 'environments'`);
      if (!services[svc].environments[env]) throw new ConfigError(`config field '${at}': service '${svc}' has no environment '${env}' under 'services.${svc}.environments'`);
      services[svc].gates[env] = resolveGate(g, env, at, ctx);
    }
  }
  // After the gates: a failover's approvals are the service environment's release rules.
  for (const [svc, s] of Object.entries(file.services)) {
    for (const [env, d] of Object.entries(s.dr ?? {})) {
      const gate = env in services[svc].gates ? services[svc].gates[env] : environments[env]?.gate ?? null;
      services[svc].dr[env] = resolveDr(svc, env, d, services[svc].environments, { roles, gate });
    }
  }

  const freezes: Freeze[] = (file.freezes ?? []).map((f, i) => {
    const at = `freezes.${i}`;
    const from = instant(f.from, `${at}.from`);
    const to = instant(f.to, `${at}.to`);
    if (from >= to) throw new ConfigError(`config field '${at}.to': must be after 'from' (${f.from})`);
    f.environments.forEach((env, j) => {
      if (!file.environments[env]) throw new ConfigError(`config field '${at}.environments.${j}': '${env}' is not declared under 'environments'`);
    });
    return { id: `config-${i + 1}`, from: new Date(from).toISOString(), to: new Date(to).toISOString(), environments: [...new Set(f.environments)], reason: f.reason, source: 'config' as const, ...(f.allowBreakGlass ? { allowBreakGlass: true } : {}) };
  });

  const databases: Record<string, Record<string, DatabaseSpec>> = {};
  for (const [name, d] of Object.entries(file.databases ?? {})) databases[name] = resolveDatabase(name, d, services, environments);

  const roleEnvironments = resolveRoleEnvironments(file.roles, file.environments, promotion);
  let breakGlass: BatonConfig['breakGlass'] = null;
  if (file.breakGlass) {
    const role = file.breakGlass.role;
    if (!roles[role]) throw new ConfigError(`config field 'breakGlass.role': '${role}' is not a role (${knownRoles(roles)})`);
    breakGlass = { role };
  }
  const checks: Record<string, CheckRule> = {};
  for (const [name, c] of Object.entries(file.checks ?? {})) {
    if (!CHECK_NAME_RE.test(name)) throw new ConfigError(`config field 'checks.${name}': check names are lower-case letters, digits, '.', '_' or '-'`);
    c.attestedBy.forEach((r, i) => {
      if (!roles[r]) throw new ConfigError(`config field 'checks.${name}.attestedBy.${i}': '${r}' is not a role (${knownRoles(roles)})`);
    });
    checks[name] = { attestedBy: [...new Set(c.attestedBy)], requesterMayAttest: c.requesterMayAttest ?? false };
  }
  const cancelRoles = file.cancel ? file.cancel.roles : roles['release-manager'] ? ['release-manager'] : [];
  cancelRoles.forEach((r, i) => {
    if (!roles[r]) throw new ConfigError(`config field 'cancel.roles.${i}': '${r}' is not a role (${knownRoles(roles)})`);
  });

  let hotfix: BatonConfig['hotfix'] = null;
  if (file.hotfix) {
    const role = file.hotfix.approvalRole;
    if (!roles[role]) throw new ConfigError(`config field 'hotfix.approvalRole': '${role}' is not a role (${knownRoles(roles)})`);
    if (!people.some((p) => p.roles.includes(role))) throw new ConfigError(`config field 'hotfix.approvalRole': nobody has role '${role}'`);
    hotfix = { approvalRole: role };
  }

  return {
    roles,
    roleEnvironments,
    breakGlass,
    checks,
    cancelRoles: [...new Set(cancelRoles)],
    people,
    environments,
    promotion: [...promotion],
    plans,
    services,
    trains,
    freezes,
    databases,
    hotfix,
    readiness: { everySeconds: readinessEvery(file.readiness?.every) },
    notifications: {
      ...(file.notifications?.slackChannel ? { channel: file.notifications.slackChannel } : {}),
      updateEverySeconds: Math.max(1, duration(file.notifications?.updateEvery, DEFAULT_UPDATE_EVERY_SECONDS, 'notifications.updateEvery')),
    },
    temporal: { taskQueue: file.temporal?.taskQueue ?? 'baton' },
    api: {
      host: file.api?.host ?? '127.0.0.1',
      port: file.api?.port ?? 3000,
      ...(file.api?.temporalUiUrl ? { temporalUiUrl: file.api.temporalUiUrl.replace(/\/+$/, '') } : {}),
      ...(file.api?.publicUrl ? { publicUrl: file.api.publicUrl.replace(/\/+$/, '') } : {}),
      rateLimit: resolveRateLimit(file.api?.rateLimit),
    },
    slack: { teamId: file.notifications?.slackTeamId ?? null, appId: file.notifications?.slackAppId ?? null },
    sandbox: file.sandbox ?? null,
  };
}

function resolveRateLimit(r: { perToken?: number; perAddress?: number; window?: string | number } | undefined): RateLimitSpec {
  const windowSeconds = duration(r?.window, DEFAULT_RATE_LIMIT.windowSeconds, 'api.rateLimit.window');
  if (windowSeconds < 1) throw new ConfigError("config field 'api.rateLimit.window': must be at least 1s");
  return { perToken: r?.perToken ?? DEFAULT_RATE_LIMIT.perToken, perAddress: r?.perAddress ?? DEFAULT_RATE_LIMIT.perAddress, windowSeconds };
}

/** What a person may do: the union of their roles' permissions; `admin` implies all of them. */
export function permissionsOf(config: Pick<BatonConfig, 'roles'>, person: Pick<Person, 'roles'>): Set<Permission> {
  const granted = new Set<Permission>();
  for (const role of person.roles) for (const p of config.roles[role] ?? []) granted.add(p);
  if (person.roles.includes('admin') || granted.has('admin')) return new Set(PERMISSIONS);
  return granted;
}

/** The gate a release of `service` passes before entering `environment`: the service's override, else the environment's; null when none. */
export function gateFor(config: Pick<BatonConfig, 'services' | 'environments'>, service: string, environment: string): GateSpec | null {
  const overrides = ownEntry(config.services, service)?.gates ?? {};
  if (Object.prototype.hasOwnProperty.call(overrides, environment)) return overrides[environment];
  return ownEntry(config.environments, environment)?.gate ?? null;
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
    postgres: { password: env.PGPASSWORD || undefined, binDir: env.BATON_PG_BIN || undefined },
    logLevel: logLevel(env.BATON_LOG_LEVEL),
    regions: regionList(env.BATON_REGIONS),
    codec: codecKeys(env.BATON_CODEC_KEYS),
    decisionKey: decisionKey(env.BATON_DECISION_KEY),
    decisionPublicKey: decisionKey(env.BATON_DECISION_PUBLIC_KEY, 'BATON_DECISION_PUBLIC_KEY'),
  };
}

/** BATON_DECISION_KEY (the API's signing secret) or BATON_DECISION_PUBLIC_KEY: 64 hex digits; unset → null. */
function decisionKey(value: string | undefined, name = 'BATON_DECISION_KEY'): string | null {
  const text = (value ?? '').trim();
  if (!text) return null;
  if (!/^[0-9a-fA-F]{64}$/.test(text)) throw new ConfigError(`${name}: must be 32 bytes as 64 hex digits (e.g. openssl rand -hex 32)`);
  return text.toLowerCase();
}

/**
 * `k2:<base64>,k1:<base64>` → the keys, the first encrypting; unset or blank → null. The
 * messages name the key's id, never its bytes.
 */
function codecKeys(value: string | undefined): { keys: CodecKey[] } | null {
  const text = (value ?? '').trim();
  if (!text) return null;
  const keys: CodecKey[] = [];
  for (const [i, entry] of text.split(',').map((e) => e.trim()).entries()) {
    const colon = entry.indexOf(':');
    const id = colon < 0 ? '' : entry.slice(0, colon).trim();
    const encoded = colon < 0 ? '' : entry.slice(colon + 1).trim();
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(id) || !encoded) {
      throw new ConfigError(`BATON_CODEC_KEYS: entry ${i + 1} is not 'keyId:base64key' (ids are letters, digits, '.', '_' and '-'; entries are comma-separated)`);
    }
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(encoded)) throw new ConfigError(`BATON_CODEC_KEYS: the key of '${id}' is not base64`);
    const key = Buffer.from(encoded, 'base64');
    if (key.length !== 32) throw new ConfigError(`BATON_CODEC_KEYS: the key of '${id}' is ${key.length} bytes; AES-256 needs 32 (e.g. openssl rand -base64 32)`);
    if (keys.some((k) => k.id === id)) throw new ConfigError(`BATON_CODEC_KEYS: key id '${id}' appears twice`);
    keys.push({ id, key });
  }
  return { keys };
}

/** `us-east-1,us-west-2` → the regions, each once; `none` → []; unset or blank → null (the config's regions). */
function regionList(value: string | undefined): string[] | null {
  const text = (value ?? '').trim();
  if (!text) return null;
  if (text === 'none') return [];
  const regions = text.split(',').map((r) => r.trim()).filter(Boolean);
  for (const r of regions) {
    if (!isRegionName(r)) {
      throw new ConfigError(`BATON_REGIONS: '${r}' is not an AWS region name (use a comma-separated list such as us-east-1,us-west-2, or none)`);
    }
  }
  return [...new Set(regions)];
}

/** Every AWS region the config names: its services' environments and its RDS databases, sorted. */
export function configRegions(config: Pick<BatonConfig, 'services' | 'databases'>): string[] {
  const regions = new Set<string>();
  for (const service of Object.values(config.services)) {
    for (const e of Object.values(service.environments)) for (const r of [e.compute.region, e.traffic.region, e.metrics.region]) regions.add(r);
    for (const d of Object.values(service.dr ?? {})) for (const r of [d.region, d.database.primary.region, d.database.replica.region]) regions.add(r);
  }
  for (const byEnvironment of Object.values(config.databases)) {
    for (const d of Object.values(byEnvironment)) if (d.target.kind === 'rds') regions.add(d.target.region);
  }
  return [...regions].sort();
}

/** The regions whose task queues a worker serves: BATON_REGIONS, else every region the config names. */
export function workerRegions(config: Pick<BatonConfig, 'services' | 'databases'>, runtime: Pick<RuntimeEnv, 'regions'>): string[] {
  return runtime.regions ?? configRegions(config);
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
