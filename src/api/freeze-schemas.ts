// TypeBox schemas for the freeze routes: request validation, handler types, the serialised
// replies and /openapi.json. What JSON Schema cannot say (a real instant, an environment from
// config, an end in the future) src/temporal/freezes.ts checks, with a 400 naming the field.
import { Type, type Static } from '@sinclair/typebox';
import type { FreezeRecord, ListedFreeze } from '../temporal/freezes';
import { StringEnum } from './schemas';

const INSTANT = 'ISO instant with a zone, e.g. 2026-12-21T00:00:00Z or 2026-12-21T00:00:00-08:00';

export const DeclareFreezeBody = Type.Object(
  {
    from: Type.String({ minLength: 1, maxLength: 64, description: `when the freeze starts: ${INSTANT}`, examples: ['2026-12-21T00:00:00Z'] }),
    to: Type.String({ minLength: 1, maxLength: 64, description: `when it ends (not included): ${INSTANT}; after from, and in the future`, examples: ['2027-01-04T00:00:00Z'] }),
    environments: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
      minItems: 1,
      maxItems: 64,
      description: 'the environments frozen, each declared in config; no gate into them opens during the freeze',
      examples: [['prod']],
    }),
    reason: Type.String({ minLength: 1, maxLength: 1000, pattern: '\\S', description: 'why; shown wherever the freeze holds a release', examples: ['end-of-year freeze'] }),
    allowBreakGlass: Type.Optional(Type.Boolean({ description: 'a break-glass deployment may still go ahead during it (default false)' })),
  },
  { additionalProperties: false },
);

const freezeFields = {
  id: Type.String({ description: '`config-<n>` for the config file\'s freezes, `freeze-<n>` for those declared through the API', examples: ['freeze-1'] }),
  from: Type.String({ description: 'ISO instant (UTC): the freeze holds from here...' }),
  to: Type.String({ description: '...until here (not included)' }),
  environments: Type.Array(Type.String()),
  reason: Type.String(),
  source: StringEnum(['config', 'api'] as const, { description: 'config: in the config file, lifted only by changing it; api: declared through the API' }),
  declaredBy: Type.Union([Type.String(), Type.Null()], { description: 'who declared it through the API (null for config)' }),
  declaredAt: Type.Union([Type.String(), Type.Null()], { description: 'when it was declared through the API (null for config)' }),
  allowBreakGlass: Type.Boolean({ description: 'a break-glass deployment may go ahead during it' }),
};

export const FreezeSchema = Type.Object(freezeFields, { title: 'Freeze', description: 'A freeze: no gate into its environments opens in [from, to)' });

export const ListedFreezeSchema = Type.Object(
  { ...freezeFields, active: Type.Boolean({ description: 'it holds now (from ≤ now < to)' }) },
  { title: 'ListedFreeze', description: 'A freeze, and whether it holds now' },
);

export const FreezesReply = Type.Object(
  { freezes: Type.Array(ListedFreezeSchema, { description: 'config\'s freezes, then those declared through the API that have not ended' }) },
  { title: 'Freezes' },
);

export const FreezeParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64, description: 'config-<n> or freeze-<n>', examples: ['freeze-1'] }),
});

// The serializer drops what the schema does not name: keep the schemas and the client's types equal.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const freezeMatches: Same<Static<typeof FreezeSchema>, FreezeRecord> = true;
const listedMatches: Same<Static<typeof ListedFreezeSchema>, ListedFreeze> = true;
void freezeMatches;
void listedMatches;
