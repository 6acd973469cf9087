// TypeBox schemas for disaster recovery: readiness's answer (request validation, handler types,
// the serialised reply and /openapi.json).
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { FAILOVER_MODES } from '../domain/failover-run';
import { StringEnum } from './schemas';

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const ReadinessCheckSchema = Type.Object({
  name: Type.String({ description: 'dr-compute, dr-capacity, replica, replica-lag or dns' }),
  ok: Type.Boolean(),
  detail: Type.String({ description: 'What was seen, in words; for a failing check, what is wrong' }),
});

export const ServiceReadinessSchema = Type.Object({
  service: Type.String(),
  environment: Type.String(),
  primaryRegion: Type.String(),
  drRegion: Type.String(),
  checkedAt: Nullable(Type.String({ description: 'When these checks ran; null: not checked yet' })),
  ok: Type.Boolean({ description: 'Every check passes (false while not checked yet)' }),
  checks: Type.Array(ReadinessCheckSchema),
  failing: Type.Array(Type.String(), { description: 'The names of the failing checks' }),
});

export const ReadinessReply = Type.Object({
  ok: Type.Boolean({ description: 'Every service environment with `dr` config was checked and passes' }),
  checkedAt: Nullable(Type.String({ description: 'The newest run\'s time; null: never run' })),
  everySeconds: Type.Integer({ description: 'How often the `readiness` schedule runs' }),
  failing: Type.Array(Type.Object({ service: Type.String(), environment: Type.String(), check: Type.String(), detail: Type.String() }), { description: 'Every failing check, across services' }),
  services: Type.Array(ServiceReadinessSchema),
});
export type ReadinessReplyT = Static<typeof ReadinessReply>;

// ---------------------------------------------------------------- failover runs
const Facts = (description: string) => Type.Object({}, { additionalProperties: true, description });
const INSTANT = 'ISO instant with a zone, e.g. 2026-11-29T18:04:00Z';
const REGION = { minLength: 1, maxLength: 32, pattern: '^[a-z]{2}(-[a-z]+)+-\\d$' };

export const FailoverBody = Type.Object(
  {
    service: Type.String({ minLength: 1, maxLength: 64, examples: ['api'] }),
    environment: Type.String({ minLength: 1, maxLength: 64, examples: ['prod'] }),
    fromRegion: Type.String({ ...REGION, examples: ['us-east-1'], description: 'the region left: the environment\'s region, or the DR region for a failback' }),
    toRegion: Type.String({ ...REGION, examples: ['us-west-2'] }),
    mode: StringEnum(FAILOVER_MODES, { description: 'planned (approved, fenced), emergency (on-call, at once), failback (home again), drill (over and back)' }),
    reason: Type.String({ minLength: 1, maxLength: 1000, pattern: '\\S', description: 'why; recorded in the timeline, the history and Slack' }),
    detectedAt: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: `when the outage was detected (reported apart from the RTO): ${INSTANT}` })),
  },
  { additionalProperties: false },
);
export type FailoverBodyT = Static<typeof FailoverBody>;

const StepSchema = Type.Object({ name: Type.String(), description: Type.String() });

export const FailoverPreviewSchema = Type.Object({
  service: Type.String(),
  environment: Type.String(),
  mode: Type.String(),
  fromRegion: Type.String(),
  toRegion: Type.String(),
  steps: Type.Array(StepSchema, { description: 'what the run will do, in order' }),
  objectives: Type.Object({ rpoSeconds: Type.Number(), rtoSeconds: Type.Number() }),
  approvals: Type.Array(Facts('an approval rule: role, count')),
  emergency: Facts('role (who starts an emergency and confirms an unfenced promotion), allowUnfenced'),
  readiness: Nullable(Facts('the latest readiness report: checks, failing, checkedAt')),
  runningId: Nullable(Type.String({ description: 'a failover of this service environment already running: a new one would be a 409' })),
}, { title: 'FailoverPreview' });

export const FailoverStatusSchema = Type.Object({
  id: Type.String(),
  kind: Type.Literal('failover'),
  mode: Type.String(),
  service: Type.String(),
  environment: Type.String(),
  fromRegion: Type.String(),
  toRegion: Type.String(),
  reason: Type.String(),
  requestedBy: Type.String(),
  detectedAt: Nullable(Type.String()),
  phase: Type.String({ description: 'planning, awaiting_approval, preflight, rebuilding, fencing, awaiting_confirmation, catching_up, promoting, scaling, smoke_testing, switching_dns, monitoring, failing_back, compensating; then completed, failed, rejected, expired or cancelled' }),
  outcome: Nullable(Type.String()),
  error: Nullable(Type.String()),
  startedAt: Type.String(),
  endedAt: Nullable(Type.String()),
  plan: Type.Array(StepSchema),
  approvals: Type.Array(Facts('a decision or confirmation: by, roles, decision, comment, at')),
  pending: Type.Array(Type.String(), { description: 'what the approval rules or the confirmation still wait for' }),
  preflight: Type.Array(ReadinessCheckSchema),
  risks: Type.Array(Type.String(), { description: 'preflight failures an emergency went ahead despite' }),
  dnsSwitchedAt: Nullable(Type.String()),
  samples: Type.Array(Facts('an analysis sample while the region DNS moved to was monitored: at, verdict, reason, requests, errorRate, latencyMs, message')),
  report: Type.Object({
    steps: Type.Array(Type.Object({ name: Type.String(), startedAt: Type.String(), durationSeconds: Nullable(Type.Number()), outcome: Type.String(), detail: Nullable(Type.String()) })),
    rtoSeconds: Nullable(Type.Number({ description: 'start to DNS switched (read back) with the new region smoke-tested' })),
    rpoSeconds: Nullable(Type.Number({ description: 'ReplicaLag at promotion; 0 when fenced and caught up' })),
    detectionSeconds: Nullable(Type.Number({ description: 'detectedAt to start, when given' })),
    rtoMet: Nullable(Type.Boolean()),
    rpoMet: Nullable(Type.Boolean()),
    objectives: Type.Object({ rpoSeconds: Type.Number(), rtoSeconds: Type.Number() }),
    fenced: Nullable(Type.Boolean({ description: 'whether writes were stopped in the region left before promotion' })),
    confirmedBy: Nullable(Type.String()),
    cleanup: Type.Array(Type.String()),
    state: Nullable(Type.String({ description: 'where things stand when the run ended short of its goal' })),
  }),
  timeline: Type.Array(Type.Object({ at: Type.String(), type: Type.String(), message: Type.String() })),
}, { title: 'FailoverStatus' });

const Links = Type.Object({ self: Type.String(), approvals: Type.String(), actions: Type.String(), temporalUi: Type.Optional(Type.String()) });
export const StartFailoverReply = Type.Object({ id: Type.String({ examples: ['failover:api:prod:planned-20261129T180400Z'] }), status: FailoverStatusSchema, links: Links }, { title: 'StartedFailover' });
export const FailoverParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });
// Deciding on and cancelling a failover take what a restore's do.
export { RestoreApprovalBody as FailoverApprovalBody, RestoreActionBody as FailoverActionBody } from './restore-schemas';
