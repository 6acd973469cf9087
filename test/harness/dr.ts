// What a describe of both regions of a DR posture shows, as moto holds it (read with providers
// that talk to moto directly, not through the region gate): every RDS instance, the primary and
// the replica (what each replicates, read-only, fenced by whom), both regions' service counts and
// fencing tags, and which record serves (failover records' roles, or weighted records' weights).
// Tests compare it before and after a run.
import { DescribeDBInstancesCommand } from '@aws-sdk/client-rds';
import { recordRole, type DrSpec, type RdsInstanceRef } from '../../src/domain/failover';
import type { AwsClients } from '../../src/providers/aws';
import type { Providers } from '../../src/providers/factory';

export type Posture = Awaited<ReturnType<typeof drPosture>>;

export async function drPosture(spec: DrSpec, providers: Pick<Providers, 'dr' | 'drOps'>, aws: AwsClients) {
  const ops = providers.drOps;
  const instances: string[] = [];
  for (const region of [spec.primaryRegion, spec.region]) {
    const out = await aws.rds(region).send(new DescribeDBInstancesCommand({}));
    for (const db of out.DBInstances ?? []) instances.push(`${region}/${db.DBInstanceIdentifier} ${db.DBInstanceStatus}`);
  }
  const db = async (ref: RdsInstanceRef) => {
    const f = await ops.describeInstance(ref);
    return { status: f.status, replicates: f.sourceIdentifier?.replace(/^arn:.*:db:/, '') ?? null, readOnly: f.readOnly, fencedBy: f.fencedBy };
  };
  const counts = async (c: DrSpec['compute']) => {
    const f = await providers.dr.compute(c);
    return { blue: f.services.blue.desiredCount, green: f.services.green.desiredCount };
  };
  const records = await providers.dr.failoverRecords(spec.dns, spec.region);
  return {
    instances: instances.sort(),
    primary: await db(spec.database.primary),
    replica: await db(spec.database.replica),
    primaryServices: await counts(spec.primaryCompute),
    drServices: await counts(spec.compute),
    fencedTags: { primary: await ops.fencedCounts(spec.primaryCompute), dr: await ops.fencedCounts(spec.compute) },
    // Failover records by role (PRIMARY, SECONDARY), weighted records by weight (`weight 100`).
    dns: Object.fromEntries(records.map((r) => [r.setIdentifier, recordRole(r)])),
  };
}
