// TypeBox schemas for disaster recovery: readiness's answer (request validation, handler types,
// the serialised reply and /openapi.json).
import { Type, type Static, type TSchema } from '@sinclair/typebox';

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
