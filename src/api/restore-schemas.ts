// TypeBox schemas for restores and backups: request validation, handler types, the serialised
// replies and /openapi.json. What JSON Schema cannot say (a real instant, a database and an
// environment from config, a target some backup reaches) src/temporal/restores.ts checks, with a
// 400 naming the field.
import { Type, type TSchema } from '@sinclair/typebox';
import { StringEnum } from './schemas';

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
/** Nested facts the workflow reports (plan, verification, samples): documented in the README, passed through as they are. */
const Facts = (description: string) => Type.Object({}, { additionalProperties: true, description });

const INSTANT = 'ISO instant with a zone, e.g. 2026-11-29T18:04:00Z';

export const RestoreTargetSchema = Type.Union([
  Type.Object({ latest: Type.Literal(true, { description: 'the newest data the log can give' }) }, { additionalProperties: false }),
  Type.Object({ pointInTime: Type.String({ minLength: 1, maxLength: 64, description: `replay the log up to and including this instant: ${INSTANT}` }) }, { additionalProperties: false }),
  Type.Object({ backup: Type.String({ minLength: 1, maxLength: 200, description: 'one backup exactly as it was taken (an id from GET /v1/backups)' }) }, { additionalProperties: false }),
], { description: 'exactly one of {latest: true}, {pointInTime}, {backup}' });

export const RestoreBody = Type.Object(
  {
    environment: Type.String({ minLength: 1, maxLength: 64, examples: ['prod'] }),
    database: Type.String({ minLength: 1, maxLength: 64, examples: ['orders'] }),
    target: RestoreTargetSchema,
    reason: Type.String({ minLength: 1, maxLength: 1000, pattern: '\\S', description: 'why; recorded in the timeline, the history and Slack' }),
    incidentAt: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: `when the data went bad (the RPO is measured from here; default: now): ${INSTANT}` })),
  },
  { additionalProperties: false },
);

export const PlanSchema = Type.Object({}, {
  additionalProperties: true,
  title: 'RestorePlan',
  description: 'which backup, the log replayed (from, to), the target instant, predictedRpoSeconds, expectedDurationSeconds (median of past restores; null with none), the services quiesced, and the plan\'s hash',
});

export const RestoreStatusSchema = Type.Object(
  {
    id: Type.String(),
    kind: Type.Literal('restore'),
    mode: StringEnum(['restore', 'drill'] as const),
    environment: Type.String(),
    database: Type.String(),
    target: Facts('the target as asked'),
    reason: Type.String(),
    incidentAt: Nullable(Type.String()),
    requestedBy: Type.String(),
    phase: Type.String({ description: 'planning, awaiting_approval, quiescing, restoring, verifying, switching, resuming, smoke_testing, watching, retaining, compensating, cleaning_up; then completed, failed, rolled_back, rejected, expired or cancelled' }),
    outcome: Nullable(StringEnum(['succeeded', 'rolled_back', 'failed', 'rejected', 'expired', 'cancelled'] as const)),
    error: Nullable(Type.String({ description: 'why it did not succeed' })),
    startedAt: Type.String(),
    endedAt: Nullable(Type.String()),
    plan: Nullable(PlanSchema),
    approvals: Type.Array(Facts('a decision: by, roles, decision, comment, at')),
    pending: Type.Array(Type.String(), { description: 'what the approval rules still wait for' }),
    copy: Nullable(Facts('the restored copy: name, url (no credentials), lastCommitAt')),
    verification: Type.Array(Facts('one check: name, kind (backup, amcheck, manifest, assertion, available), ok, detail')),
    services: Type.Array(Facts('a service using the database: its task counts before the restore, its smoke test')),
    switchedAt: Nullable(Type.String()),
    switchedBackAt: Nullable(Type.String()),
    setAside: Nullable(Facts('where the original is kept (name), until when, and whether it was dropped')),
    resumedAt: Nullable(Type.String()),
    rpoSeconds: Nullable(Type.Number({ description: 'incident (or target) minus the last commit the restored data holds' })),
    rtoSeconds: Nullable(Type.Number({ description: 'start to services resumed' })),
    objectives: Type.Object({ rpoSeconds: Type.Number(), rtoSeconds: Type.Number() }),
    rpoMet: Nullable(Type.Boolean()),
    rtoMet: Nullable(Type.Boolean()),
    samples: Type.Array(Facts('an analysis sample while the services were watched')),
    cleanup: Type.Array(Type.String(), { description: 'what compensation or a drill undid or removed' }),
    timeline: Type.Array(Type.Object({ at: Type.String(), type: Type.String(), message: Type.String() })),
  },
  { title: 'RestoreStatus' },
);

const Links = Type.Object({ self: Type.String(), approvals: Type.String(), actions: Type.String(), temporalUi: Type.Optional(Type.String()) });

export const StartRestoreReply = Type.Object({ id: Type.String({ examples: ['restore:orders:prod:20261129T180400Z'] }), status: RestoreStatusSchema, links: Links }, { title: 'StartedRestore' });

export const RestoreParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200, examples: ['restore:orders:prod:20261129T180400Z'] }) });

export const RestoreApprovalBody = Type.Object(
  {
    decision: StringEnum(['approve', 'reject'] as const),
    comment: Type.Optional(Type.String({ maxLength: 2000 })),
  },
  { additionalProperties: false },
);

export const RestoreActionBody = Type.Object(
  {
    action: StringEnum(['cancel'] as const),
    reason: Type.String({ minLength: 1, maxLength: 1000, pattern: '\\S' }),
  },
  { additionalProperties: false },
);

export const BackupBody = Type.Object(
  {
    environment: Type.String({ minLength: 1, maxLength: 64 }),
    database: Type.String({ minLength: 1, maxLength: 64 }),
    kind: Type.Optional(StringEnum(['base', 'logical', 'snapshot'] as const, { description: 'PostgreSQL: base (default; the log replays from it) or logical (pg_dump); RDS: snapshot' })),
  },
  { additionalProperties: false },
);

export const BackupQuery = Type.Object({ environment: Type.String({ minLength: 1, maxLength: 64 }), database: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false });

export const BackupParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });

const BackupSchema = Type.Object({}, { additionalProperties: true, description: 'id, kind, consistentAt, replayable, sizeBytes, manifest (critical tables: rows, checksum), verified {ok, detail}, takenBy' });

export const BackupReply = Type.Object({}, { additionalProperties: true, title: 'Backup', description: 'state running | failed (error) | available (and the backup\'s facts)' });

export const BackupsReply = Type.Object(
  {
    environment: Type.String(),
    database: Type.String(),
    kind: StringEnum(['postgres', 'rds'] as const),
    backups: Type.Array(BackupSchema),
    pointInTime: Nullable(Type.Object({ earliest: Type.String(), latest: Type.String() }, { description: 'the instants a point-in-time restore can reach' })),
    runs: Type.Array(Facts('a finished restore or drill: id, mode, at, outcome, durationSeconds, rpoSeconds, detail')),
    lastDrill: Nullable(Facts('the newest drill')),
    lastDrillAgeSeconds: Nullable(Type.Number({ description: 'how long ago the newest drill ended' })),
    drillFlags: Type.Array(Type.String(), { description: 'what is wrong with the drills: never drilled, too old, failed, slower than half the RTO' }),
  },
  { title: 'Backups' },
);
