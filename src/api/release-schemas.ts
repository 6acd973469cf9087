// TypeBox schemas for the release routes: request validation, handler types, the serialised
// replies (one schema per status code) and /openapi.json. Kept beside schemas.ts so the two
// grow independently; the shared pieces (errors, enums) come from there.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { CheckStatus, Decision, GateState } from '../domain/release';
import type { Outcome } from '../domain/types';
import { VERSION_PATTERN } from '../temporal/deployments';
import { DIGEST_PATTERN } from '../temporal/releases';
import type { ReleasePhase, ReleaseStatus } from '../../workflows/messages';
import { StringEnum } from './schemas';

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

const PHASES = [
  'gate_open', 'waiting_for_train', 'deploying', 'completed', 'rejected', 'expired', 'failed', 'rolled_back', 'cancelled',
] as const satisfies readonly ReleasePhase[];
const OUTCOMES = ['succeeded', 'rolled_back', 'failed', 'rejected', 'expired', 'cancelled'] as const satisfies readonly Outcome[];
const GATE_STATES = ['waiting', 'open', 'satisfied', 'departed', 'expired', 'rejected', 'skipped'] as const satisfies readonly GateState[];
const CHECK_STATUSES = ['passed', 'failed'] as const satisfies readonly CheckStatus[];
const DECISIONS = ['approve', 'reject'] as const satisfies readonly Decision[];

/** Same rule as the workflow's check validator, so bad names are a 400 before they reach it. */
const CHECK_NAME_PATTERN = '^[a-z0-9][a-z0-9._-]{0,63}$';

const CheckRecordSchema = Type.Object({
  name: Type.String(),
  status: StringEnum(CHECK_STATUSES),
  url: Nullable(Type.String()),
  by: Type.String(),
  at: Type.String(),
});

const ApprovalRecordSchema = Type.Object({
  environment: Type.String(),
  decision: StringEnum(DECISIONS),
  by: Type.String(),
  roles: Type.Array(Type.String(), { description: 'the approver\'s roles when they decided' }),
  comment: Nullable(Type.String()),
  at: Type.String(),
});

const StageStatusSchema = Type.Object({
  environment: Type.String(),
  gate: Nullable(Type.Object({
    state: StringEnum(GATE_STATES),
    openedAt: Nullable(Type.String()),
    expiresAt: Nullable(Type.String({ description: 'when it expires if nothing changes; null while its expiry is held (satisfied, frozen, not open)' })),
    expiryLeftSeconds: Nullable(Type.Number({ description: 'expiry counts only while the gate is open, unsatisfied and not frozen' })),
    boarded: Nullable(Type.Object({ trainId: Type.String(), departure: Type.String(), at: Type.String() }, { description: 'the train it boarded' })),
    checks: Type.Array(Type.Object({
      name: Type.String(),
      status: StringEnum(['passed', 'failed', 'missing'] as const),
      url: Nullable(Type.String()),
      at: Nullable(Type.String()),
    })),
    approvals: Type.Array(ApprovalRecordSchema),
    pending: Type.Array(Type.String(), { description: 'what still stands in the way, in plain words' }),
    train: Nullable(Type.Object({
      environment: Type.String(),
      nextDeparture: Nullable(Type.String({ description: 'ISO instant (UTC)' })),
      nextDepartureLocal: Nullable(Type.String({ description: 'in the train\'s time zone, e.g. "Tue 10:00 PST"' })),
    })),
  })),
  deployment: Nullable(Type.Object({
    id: Type.String(),
    outcome: Nullable(Type.String()),
    liveAt: Nullable(Type.String()),
    live: Type.Boolean({ description: 'live now: false before live, and after a later rollback or replacement there' }),
    reason: Nullable(Type.String()),
  }, { description: '`outcome` is `succeeded` once live (the deployment\'s tail may still run)' })),
});

export const ReleaseStatusSchema = Type.Object(
  {
    id: Type.String({ examples: ['release:web:1.4.2'] }),
    kind: Type.Literal('release'),
    service: Type.String(),
    version: Type.String(),
    hotfix: Type.Boolean(),
    requestedBy: Type.String(),
    digest: Nullable(Type.String({ description: 'the image digest every environment deploys, resolved when the release started (null: it deploys the tag)', examples: ['sha256:5f2c…'] })),
    phase: StringEnum(PHASES),
    outcome: Nullable(StringEnum(OUTCOMES)),
    reason: Nullable(Type.String()),
    startedAt: Type.String(),
    endedAt: Nullable(Type.String()),
    environment: Nullable(Type.String({ description: 'the environment being gated or deployed now' })),
    environments: Type.Array(StageStatusSchema),
    checks: Type.Array(CheckRecordSchema),
    timeline: Type.Array(Type.Object({ at: Type.String(), type: Type.String(), message: Type.String() })),
  },
  { title: 'ReleaseStatus', description: 'The release\'s status: every environment\'s gate, checks, approvals and deployment' },
);

// The serializer drops what the schema does not name: keep the schema and the workflow's type equal.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const statusSchemaMatchesWorkflow: Same<Static<typeof ReleaseStatusSchema>, ReleaseStatus> = true;
void statusSchemaMatchesWorkflow;

export const StartReleaseBody = Type.Object(
  {
    service: Type.String({ minLength: 1, maxLength: 64, examples: ['web'] }),
    version: Type.String({ pattern: VERSION_PATTERN, description: 'image tag (no ":"; not `latest`); the release resolves it to its digest when it starts and deploys that everywhere', examples: ['1.4.2'] }),
    digest: Type.Optional(Type.String({
      pattern: DIGEST_PATTERN,
      description: 'the image digest to deploy (CI pins what it built); 409 when the registry says the tag points elsewhere',
      examples: ['sha256:5f2c0c3b7e1f4a8d9b6e2c1a0f3d5e7b9c8a6f4e2d0b1c3a5e7f9d8b6c4a2e0f'],
    })),
    hotfix: Type.Optional(Type.Boolean({ description: 'may skip stability periods with an extra approval by the configured hotfix role' })),
  },
  { additionalProperties: false },
);

export const ReleaseLinks = Type.Object({
  self: Type.String(),
  checks: Type.String(),
  approvals: Type.String(),
  actions: Type.String(),
  temporalUi: Type.Optional(Type.String()),
});

export const StartReleaseReply = Type.Object(
  { id: Type.String(), status: ReleaseStatusSchema, links: ReleaseLinks },
  { title: 'StartedRelease', description: 'Started: its id, status and links' },
);

export const ReleaseParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 200, description: 'release:<service>:<version>', examples: ['release:web:1.4.2'] }),
});

export const CheckBody = Type.Object(
  {
    name: Type.String({ pattern: CHECK_NAME_PATTERN, description: 'e.g. ci, security-scan, release-notes', examples: ['ci'] }),
    status: StringEnum(CHECK_STATUSES),
    url: Type.Optional(Type.String({ pattern: '^https?://', maxLength: 2000, description: 'link to the run' })),
  },
  { additionalProperties: false },
);

export const ApprovalBody = Type.Object(
  {
    environment: Type.String({ minLength: 1, maxLength: 64, examples: ['prod'] }),
    decision: StringEnum(DECISIONS),
    comment: Type.Optional(Type.String({ maxLength: 2000, description: 'recorded with the decision; a rejection\'s reason' })),
  },
  { additionalProperties: false },
);

export const ReleaseActionBody = Type.Object(
  {
    action: StringEnum(['cancel'] as const),
    reason: Type.String({ minLength: 1, maxLength: 1000, description: 'why; recorded in the timeline and the history' }),
  },
  { additionalProperties: false },
);
