// Traffic by Route 53 weighted records: two record sets under one name and type, told apart by
// their SetIdentifiers. A write UPSERTs both in one change batch, so no reader ever sees one
// colour updated and the other not, and keeps each record's value and TTL as they are.
// A write returns Route 53's change id without waiting: the change reaches every Route 53 name
// server (INSYNC) within about a minute, and resolvers keep the previous answer for up to the
// records' TTL after that. Callers wait for both (isSynced, settleSeconds) in their own time.
import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  ListResourceRecordSetsCommand,
  type ResourceRecordSet,
  type Route53Client,
  type RRType,
} from '@aws-sdk/client-route-53';
import { COLOURS, type Colour, type TrafficRouterSpec, type Weights } from '../domain/types';
import type { TrafficRouter, TrafficWrite } from './types';
import { assertWeights, infrastructureMismatch, orMismatch, sameWeights, send, toPercent } from './aws';

export type Route53Spec = Extract<TrafficRouterSpec, { type: 'route53' }>;

type Records = Record<Colour, ResourceRecordSet>;

export function createRoute53Router(client: Route53Client, spec: Route53Spec): TrafficRouter {
  const name = absolute(spec.recordName);
  const describeRecord = (colour: Colour) => `Route 53 ${spec.recordType} record '${name}' with set identifier '${spec.setIdentifiers[colour]}'`;

  async function readRecords(): Promise<Records> {
    const found = await listRecords(client, spec.hostedZoneId, name, spec.recordType);
    const pick = (colour: Colour): ResourceRecordSet => {
      const record = found.find((r) => r.SetIdentifier === spec.setIdentifiers[colour]);
      if (!record) throw infrastructureMismatch(`${describeRecord(colour)} not found in hosted zone '${spec.hostedZoneId}'`);
      if (record.Weight === undefined) throw infrastructureMismatch(`${describeRecord(colour)} is not a weighted record`);
      return record;
    };
    return { blue: pick('blue'), green: pick('green') };
  }

  async function getWeights(): Promise<Weights> {
    const records = await readRecords();
    // Route 53 splits evenly when every weight is 0.
    return toPercent({ blue: records.blue.Weight!, green: records.green.Weight! }) ?? { blue: 50, green: 50 };
  }

  async function setWeights(weights: Weights): Promise<TrafficWrite> {
    assertWeights(weights);
    const records = await readRecords();
    const out = await send(
      client,
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: spec.hostedZoneId,
        ChangeBatch: {
          Comment: `baton: blue ${weights.blue} / green ${weights.green}`,
          Changes: COLOURS.map((c) => ({ Action: 'UPSERT', ResourceRecordSet: { ...records[c], Weight: weights[c] } })),
        },
      }),
    );
    return { syncToken: out.ChangeInfo?.Id ?? null };
  }

  async function isSynced(syncToken: string): Promise<boolean> {
    const out = await send(client, new GetChangeCommand({ Id: syncToken }));
    return out.ChangeInfo?.Status === 'INSYNC';
  }

  async function verify(weights: Weights): Promise<boolean> {
    return sameWeights(await getWeights(), weights);
  }

  /** The longer TTL of the two records: how long a resolver may still hand out the previous weights. */
  async function settleSeconds(): Promise<number> {
    const records = await readRecords();
    return Math.max(0, ...COLOURS.map((c) => records[c].TTL ?? 0));
  }

  return { getWeights, setWeights, isSynced, verify, settleSeconds };
}

function absolute(name: string): string {
  return name.endsWith('.') ? name : `${name}.`;
}

/** Route 53 escapes some characters in names it returns (e.g. `*` as `\052`). */
function sameName(a: string, b: string): boolean {
  const norm = (s: string) => absolute(s.replace(/\\(\d{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)))).toLowerCase();
  return norm(a) === norm(b);
}

/** Every record set with this name and type (pages until the listing moves past them). */
export async function listRecords(client: Route53Client, zoneId: string, name: string, type: RRType): Promise<ResourceRecordSet[]> {
  const found: ResourceRecordSet[] = [];
  let start: { name?: string; type?: RRType; id?: string } = { name, type };
  for (;;) {
    const page = await orMismatch(
      () =>
        send(
          client,
          new ListResourceRecordSetsCommand({
            HostedZoneId: zoneId,
            StartRecordName: start.name,
            StartRecordType: start.type,
            StartRecordIdentifier: start.id,
          }),
        ),
      { NoSuchHostedZone: `Route 53 hosted zone '${zoneId}' not found` },
    );
    const sets = page.ResourceRecordSets ?? [];
    const matching = sets.filter((r) => sameName(r.Name ?? '', name) && r.Type === type);
    found.push(...matching);
    if (!page.IsTruncated || matching.length < sets.length) return found;
    start = { name: page.NextRecordName, type: page.NextRecordType, id: page.NextRecordIdentifier };
  }
}
