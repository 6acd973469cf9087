// Traffic by Route 53 weighted records: two record sets under one name and type, told apart by
// their SetIdentifiers. A write UPSERTs both in one change batch, so no reader ever sees one
// colour updated and the other not, and keeps each record's value and TTL as they are.
import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  ListResourceRecordSetsCommand,
  type ResourceRecordSet,
  type Route53Client,
  type RRType,
} from '@aws-sdk/client-route-53';
import { COLOURS, type Colour, type TrafficRouterSpec, type Weights } from '../domain/types';
import type { TrafficRouter } from './types';
import { assertWeights, infrastructureMismatch, orMismatch, sameWeights, toPercent } from './aws';

export type Route53Spec = Extract<TrafficRouterSpec, { type: 'route53' }>;

export interface Route53Options {
  /** How long setWeights waits for the change to reach every Route 53 name server. */
  syncTimeoutMs?: number;
  syncPollMs?: number;
}

type Records = Record<Colour, ResourceRecordSet>;

export function createRoute53Router(client: Route53Client, spec: Route53Spec, opts: Route53Options = {}): TrafficRouter {
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

  async function setWeights(weights: Weights): Promise<void> {
    assertWeights(weights);
    const records = await readRecords();
    const out = await client.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: spec.hostedZoneId,
        ChangeBatch: {
          Comment: `baton: blue ${weights.blue} / green ${weights.green}`,
          Changes: COLOURS.map((c) => ({ Action: 'UPSERT', ResourceRecordSet: { ...records[c], Weight: weights[c] } })),
        },
      }),
    );
    await waitInSync(client, out.ChangeInfo?.Id, opts);
  }

  async function verify(weights: Weights): Promise<boolean> {
    return sameWeights(await getWeights(), weights);
  }

  return { getWeights, setWeights, verify };
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
async function listRecords(client: Route53Client, zoneId: string, name: string, type: RRType): Promise<ResourceRecordSet[]> {
  const found: ResourceRecordSet[] = [];
  let start: { name?: string; type?: RRType; id?: string } = { name, type };
  for (;;) {
    const page = await orMismatch(
      () =>
        client.send(
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

async function waitInSync(client: Route53Client, changeId: string | undefined, opts: Route53Options): Promise<void> {
  if (!changeId) return;
  const deadline = Date.now() + (opts.syncTimeoutMs ?? 120_000);
  for (;;) {
    const out = await client.send(new GetChangeCommand({ Id: changeId }));
    if (out.ChangeInfo?.Status === 'INSYNC') return;
    if (Date.now() >= deadline) throw new Error(`Route 53 change ${changeId} is still ${out.ChangeInfo?.Status} (the write is safe to repeat)`);
    await new Promise((r) => setTimeout(r, opts.syncPollMs ?? 2000));
  }
}
