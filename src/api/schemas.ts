// TypeBox schemas for the HTTP API: they validate requests, type the handlers, shape the
// serialised responses (one schema per status code) and become /openapi.json.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { ACTION_NAMES, MAX_EXTEND_SECONDS, type DeploymentPhase, type DeploymentStatus, type WaitKind } from '../domain/deployment';
import { COLOURS, type Outcome, type SampleReason, type Verdict, type Evidence } from '../domain/types';
import { VERSION_PATTERN } from '../temporal/deployments';
import type { TrainSchedule } from '../temporal/schedules';

/** A string from a fixed list, as a plain JSON-Schema `enum` (clear errors, clear OpenAPI). */
export function StringEnum<const T extends readonly string[]>(values: T, options: { description?: string } = {}) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

// ---------------------------------------------------------------- errors
export const ErrorReply = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'stable machine-readable code, e.g. bad_request, conflict' }),
      message: Type.String({ description: 'for people; for bad input it starts with the field' }),
      field: Type.Optional(Type.String({ description: '400: the offending field' })),
      runningId: Type.Optional(Type.String({ description: '409 on start: the deployment already running in that lane' })),
      action: Type.Optional(Type.String({ description: '409 on an action: the action refused' })),
    }),
  },
  { title: 'Error', description: 'An error: `{error: {code, message}}`' },
);

const errors = {
  400: ErrorReply,
  401: ErrorReply,
  403: ErrorReply,
  429: ErrorReply,
  500: ErrorReply,
  503: ErrorReply,
} as const;

/** The error responses every authenticated route may give, plus the route's own. */
export function withErrors<T extends Record<number, TSchema>>(own: T) {
  return { ...errors, ...own };
}

// ---------------------------------------------------------------- deployment status
const PHASES = [
  'starting', 'deploying', 'smoke_testing', 'shifting', 'soaking', 'paused', 'keeping_previous',
  'standby', 'retiring', 'rolling_back', 'stuck', 'completed', 'rolled_back', 'failed', 'cancelled',
] as const satisfies readonly DeploymentPhase[];
const OUTCOMES = ['succeeded', 'rolled_back', 'failed', 'rejected', 'expired', 'cancelled'] as const satisfies readonly Outcome[];
const VERDICTS = ['pass', 'fail', 'inconclusive'] as const satisfies readonly Verdict[];
const REASONS = ['healthy', 'error_rate', 'latency', 'no_data', 'low_traffic', 'provider_error'] as const satisfies readonly SampleReason[];
const METRICS = ['error_rate', 'latency_ms', 'inconclusive_samples'] as const satisfies readonly Evidence['metric'][];
const WAITS = ['soak', 'keep_previous', 'standby'] as const satisfies readonly WaitKind[];

const Colour = StringEnum(COLOURS);
const Weights = Type.Object({ blue: Type.Number(), green: Type.Number() }, { description: 'percent of traffic on each colour' });
const EvidenceSchema = Type.Object({ metric: StringEnum(METRICS), value: Type.Number(), threshold: Type.Number() });
const SampleSchema = Type.Object({
  at: Type.String(),
  step: Type.Number(),
  weight: Type.Number(),
  verdict: StringEnum(VERDICTS),
  reason: StringEnum(REASONS),
  requests: Nullable(Type.Number()),
  errorRate: Nullable(Type.Number()),
  latencyMs: Nullable(Type.Number()),
  evidence: Type.Optional(EvidenceSchema),
  message: Type.String(),
});

export const DeploymentStatusSchema = Type.Object(
  {
    id: Type.String({ examples: ['deploy:web:prod:1.4.2'] }),
    kind: Type.Literal('deployment'),
    service: Type.String(),
    environment: Type.String(),
    version: Type.String(),
    requestedBy: Type.String(),
    phase: StringEnum(PHASES),
    outcome: Nullable(StringEnum(OUTCOMES)),
    startedAt: Type.String(),
    endedAt: Nullable(Type.String()),
    liveColour: Nullable(Colour),
    targetColour: Nullable(Colour),
    weights: Nullable(Weights),
    paused: Type.Boolean(),
    step: Nullable(Type.Object({ index: Type.Number(), total: Type.Number(), description: Type.String() })),
    soak: Nullable(Type.Object({
      kind: StringEnum(WAITS),
      durationSeconds: Type.Number(),
      remainingSeconds: Type.Number(),
      paused: Type.Boolean(),
    })),
    analysis: Type.Object({
      consecutiveFailures: Type.Number(),
      inconclusiveInStep: Type.Number(),
      samples: Type.Array(SampleSchema),
    }),
    rollback: Nullable(Type.Object({
      reason: Type.String(),
      requestedBy: Nullable(Type.String()),
      step: Nullable(Type.Number()),
      evidence: Nullable(EvidenceSchema),
    })),
    error: Nullable(Type.String()),
    liveAt: Nullable(Type.String({ description: 'when the new colour took all the traffic, verified: the deployment is live' })),
    tail: Nullable(Type.Object({
      stage: StringEnum(['keep', 'standby', 'retire'] as const),
      colour: Colour,
      endsAt: Nullable(Type.String()),
    }, { description: 'after live: the previous colour kept hot (instant rollback), on standby, or being retired' })),
    tookOver: Nullable(Type.Object({ from: Type.String(), colour: Colour, stage: Type.String() }, { description: 'the earlier deployment whose tail this one took over' })),
    handedOverTo: Nullable(Type.String({ description: 'the later deployment that took over this one\'s tail' })),
    cancel: Nullable(Type.Object({
      at: Type.String(),
      effect: StringEnum(['rollback', 'tail_continues', 'already_safe'] as const),
    }, { description: 'a cancellation and what it did: before live or during keep it rolls back; during standby the tail finishes' })),
    stuck: Nullable(Type.Object({ since: Type.String(), lastError: Nullable(Type.String()) }, { description: 'a rollback or retirement failing past the escalation time (it keeps trying)' })),
    timeline: Type.Array(Type.Object({ at: Type.String(), type: Type.String(), message: Type.String() })),
  },
  { title: 'DeploymentStatus', description: 'The deployment\'s status' },
);

// The serializer drops what the schema does not name: keep the schema and the domain type equal.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const statusSchemaMatchesDomain: Same<Static<typeof DeploymentStatusSchema>, DeploymentStatus> = true;
void statusSchemaMatchesDomain;

// ---------------------------------------------------------------- deployments
export const StartDeploymentBody = Type.Object(
  {
    service: Type.String({ minLength: 1, maxLength: 64, examples: ['web'] }),
    environment: Type.String({ minLength: 1, maxLength: 64, examples: ['prod'] }),
    version: Type.String({ pattern: VERSION_PATTERN, description: 'image tag (no ":")', examples: ['1.4.2'] }),
    breakGlass: Type.Optional(Type.Object({
      reason: Type.String({ minLength: 1, maxLength: 500, description: 'why the release path cannot be used (recorded on the run and in Slack)' }),
    }, { additionalProperties: false, description: 'deploy around the environment\'s gate: break-glass role only' })),
  },
  { additionalProperties: false },
);

export const DeploymentLinks = Type.Object({
  self: Type.String(),
  actions: Type.String(),
  temporalUi: Type.Optional(Type.String()),
});

export const StartDeploymentReply = Type.Object(
  { id: Type.String(), status: DeploymentStatusSchema, links: DeploymentLinks },
  { title: 'StartedDeployment', description: 'Started: its id, status and links' },
);

export const DeploymentParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 200, description: 'deploy:<service>:<environment>:<version>', examples: ['deploy:web:prod:1.4.2'] }),
});

export const ActionBody = Type.Object(
  {
    action: StringEnum(ACTION_NAMES),
    reason: Type.String({ minLength: 1, maxLength: 1000, description: 'why; recorded in the timeline and the history' }),
    seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_EXTEND_SECONDS, description: 'extend only: seconds added to the current soak or wait' })),
  },
  { additionalProperties: false },
);

// ---------------------------------------------------------------- operations
export const HealthReply = Type.Object({ status: Type.Literal('ok') }, { description: 'The process is up' });
export const ReadyReply = Type.Object({ status: Type.Literal('ready') }, { description: 'Temporal answers' });

// ---------------------------------------------------------------- sandbox
export const FaultBody = Type.Object(
  {
    service: Type.String({ minLength: 1, maxLength: 64 }),
    environment: Type.String({ minLength: 1, maxLength: 64 }),
    colour: StringEnum(COLOURS),
    errorRate: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'share of requests answered with a 5xx' })),
    latencyMs: Type.Optional(Type.Number({ minimum: 0, description: 'added latency' })),
  },
  { additionalProperties: false },
);

export const DamageBody = Type.Object(
  {
    environment: Type.String({ minLength: 1, maxLength: 64 }),
    database: Type.String({ minLength: 1, maxLength: 64 }),
    damage: StringEnum(['drop-table', 'delete-rows'] as const, { description: 'drop a table, or delete about half its rows' }),
    table: Type.Optional(Type.String({ minLength: 1, maxLength: 63, pattern: '^[a-z_][a-z0-9_]*$', description: 'default: orders' })),
  },
  { additionalProperties: false },
);

/** POST /v1/sandbox/faults takes either: a colour's fault (with `service`) or a database's damage (with `database`). */
export const FaultOrDamageBody = Type.Unsafe<Static<typeof FaultBody> | Static<typeof DamageBody>>({
  if: { type: 'object', required: ['database'] },
  then: DamageBody,
  else: FaultBody,
  description: 'a colour\'s fault {service, environment, colour, errorRate?, latencyMs?}, or a database\'s damage {environment, database, damage, table?}',
});

export const DamageReply = Type.Object({ done: Type.String({ description: 'what was damaged' }) });

export const SandboxDatabasesReply = Type.Array(Type.Object({
  environment: Type.String(),
  database: Type.String(),
  kind: StringEnum(['postgres', 'rds'] as const),
  url: Type.String({ description: 'psql connection string (postgres), or the RDS instance (moto runs no database)' }),
  tables: Type.Union([Type.Record(Type.String(), Type.Number()), Type.Null()], { description: 'each table\'s row count' }),
}));

export const FaultsReply = Type.Object({
  faults: Type.Array(Type.Object(
    {
      service: Type.Optional(Type.String()),
      environment: Type.Optional(Type.String()),
      colour: Type.Optional(Type.String()),
      errorRate: Type.Optional(Type.Number()),
      latencyMs: Type.Optional(Type.Number()),
    },
    { additionalProperties: true },
  )),
});

export const SandboxRegion = Type.Object({
  region: Type.String({ description: 'an AWS region of the sandbox, e.g. us-east-1' }),
  worker: Type.Object({
    name: Type.String({ description: 'the worker serving the region\'s task queue (and the main queue), e.g. worker-us-east-1' }),
    running: Type.Boolean({ description: 'false while an outage has stopped it' }),
  }),
  outage: Nullable(Type.Object({
    since: Type.String({ description: 'when it began (ISO 8601)' }),
    refused: Type.Integer({ minimum: 0, description: 'AWS calls into the region refused so far' }),
  }, { description: 'every AWS call into the region (Route 53 excepted) fails with 503 ServiceUnavailable' })),
});

export const SandboxRegionsReply = Type.Object({ regions: Type.Array(SandboxRegion) }, { description: 'The sandbox\'s regions, their workers and outages' });

export const SandboxRegionParams = Type.Object(
  { region: Type.String({ minLength: 1, maxLength: 32, description: 'one of the sandbox\'s regions (GET /v1/sandbox/regions)' }) },
  { additionalProperties: false },
);

export const SandboxPerson = Type.Object({
  name: Type.String(),
  roles: Type.Array(Type.String()),
  token: Type.String(),
});
export const SandboxPeopleReply = Type.Array(SandboxPerson, { description: 'The example people and their tokens' });

// ---------------------------------------------------------------- release trains (schedules)
const DAYS = ['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN'] as const satisfies readonly TrainSchedule['days'][number][];

export const TrainScheduleSchema = Type.Object(
  {
    id: Type.String({ examples: ['train-prod'] }),
    environment: Type.String(),
    scheduled: Type.Boolean({ description: 'false until a worker has created the Temporal Schedule' }),
    paused: Type.Boolean(),
    note: Nullable(Type.String({ description: 'the schedule note: why it was paused (or unpaused)' })),
    days: Type.Array(StringEnum(DAYS)),
    at: Type.String({ description: 'local departure time, HH:MM', examples: ['10:00'] }),
    timeZone: Type.String({ examples: ['America/Los_Angeles'] }),
    windowSeconds: Type.Number({ description: 'how long after departure releases may still board' }),
    concurrency: Type.Number({ description: 'releases departing together at most' }),
    order: Type.Array(Type.String(), { description: 'services in departure order' }),
    departures: Type.Array(Type.Object({
      at: Type.String({ description: 'ISO instant (UTC)' }),
      local: Type.String({ examples: ['Tue 10:00 PST'] }),
      utc: Type.String({ examples: ['Tue 2026-11-24 18:00 UTC'] }),
    }), { description: 'the next five departures, as the Temporal server computes them' }),
  },
  { title: 'TrainSchedule', description: 'A release train: a Temporal Schedule `train-<environment>`' },
);
const trainScheduleMatchesDomain: Same<Static<typeof TrainScheduleSchema>, TrainSchedule> = true;
void trainScheduleMatchesDomain;

export const SchedulesReply = Type.Object({ schedules: Type.Array(TrainScheduleSchema) }, { title: 'TrainSchedules' });

export const ScheduleParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 200, description: 'train-<environment>', examples: ['train-prod'] }),
});

export const PauseScheduleBody = Type.Object(
  { reason: Type.String({ minLength: 1, maxLength: 1000, pattern: '\\S', description: 'why; becomes the schedule note in the Temporal UI' }) },
  { additionalProperties: false },
);

export const UnpauseScheduleBody = Type.Object(
  { reason: Type.Optional(Type.String({ minLength: 1, maxLength: 1000, pattern: '\\S', description: 'why; becomes the schedule note' })) },
  { additionalProperties: false },
);
