// Reads a service's disaster-recovery posture from AWS, for readiness: the DR region's ECS
// cluster and services, the RDS read replica, its CloudWatch ReplicaLag, and the Route 53
// records that send clients to either region (failover or weighted records). Read-only. A
// resource that does not exist is reported as such (a null status); only a failed read throws,
// and readiness reports that as a failing check.
import { GetMetricStatisticsCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeClustersCommand, DescribeServicesCommand, DescribeTaskDefinitionCommand, type ECSClient } from '@aws-sdk/client-ecs';
import { DescribeDBInstancesCommand } from '@aws-sdk/client-rds';
import type { Colour, ComputeTarget } from '../domain/types';
import type { DrComputeFacts, DrServiceFacts, FailoverDns, FailoverRecordFacts, RdsInstanceRef, ReplicaFacts, ReplicaLagFacts } from '../domain/failover';
import { send, type AwsClients } from './aws';
import { isInstanceNotFound } from './rds';
import { listRecords } from './route53';
import type { DrInspector } from './types';


export function createAwsDrInspector(aws: AwsClients): DrInspector {
  return {
    async compute(target: ComputeTarget): Promise<DrComputeFacts> {
      const ecs = aws.ecs(target.region);
      const clusters = await send(ecs, new DescribeClustersCommand({ clusters: [target.cluster] }));
      const clusterStatus = clusters.clusters?.find((c) => c.clusterName === target.cluster)?.status ?? null;
      const names = target.services;
      const services: Record<Colour, DrServiceFacts> = {
        blue: missingService(names.blue),
        green: missingService(names.green),
      };
      if (clusterStatus !== null) {
        const out = await send(ecs, new DescribeServicesCommand({ cluster: target.cluster, services: [names.blue, names.green] }));
        for (const colour of ['blue', 'green'] as const) {
          const s = out.services?.find((x) => x.serviceName === names[colour]);
          if (!s) continue;
          const taskDefinitionArn = s.taskDefinition ?? null;
          services[colour] = {
            name: names[colour],
            status: s.status ?? null,
            taskDefinitionArn,
            taskDefinitionActive: taskDefinitionArn !== null && (await taskDefinitionActive(ecs, taskDefinitionArn)),
            desiredCount: s.desiredCount ?? 0,
            runningCount: s.runningCount ?? 0,
          };
        }
      }
      return { cluster: target.cluster, clusterStatus, services };
    },

    async replica(instance: RdsInstanceRef): Promise<ReplicaFacts> {
      try {
        const out = await send(aws.rds(instance.region), new DescribeDBInstancesCommand({ DBInstanceIdentifier: instance.instanceId }));
        const db = out.DBInstances?.[0];
        return { instanceId: instance.instanceId, status: db?.DBInstanceStatus ?? null, sourceIdentifier: db?.ReadReplicaSourceDBInstanceIdentifier ?? null };
      } catch (err) {
        if (isInstanceNotFound(err)) return { instanceId: instance.instanceId, status: null, sourceIdentifier: null };
        throw err;
      }
    },

    async replicaLag(instance: RdsInstanceRef, windowSeconds: number, end: Date): Promise<ReplicaLagFacts> {
      const out = await send(aws.cloudwatch(instance.region), new GetMetricStatisticsCommand({
        Namespace: 'AWS/RDS',
        MetricName: 'ReplicaLag',
        Dimensions: [{ Name: 'DBInstanceIdentifier', Value: instance.instanceId }],
        StartTime: new Date(end.getTime() - windowSeconds * 1000),
        EndTime: end,
        Period: 60,
        Statistics: ['Maximum'],
      }));
      const points = (out.Datapoints ?? [])
        .filter((p) => p.Timestamp !== undefined && p.Maximum !== undefined)
        .sort((a, b) => a.Timestamp!.getTime() - b.Timestamp!.getTime());
      const newest = points.at(-1);
      return { latest: newest ? { at: newest.Timestamp!.toISOString(), seconds: newest.Maximum! } : null, windowSeconds };
    },

    async failoverRecords(dns: FailoverDns, region: string): Promise<FailoverRecordFacts[]> {
      // Route 53 is global; the region only picks the client (readiness reads from the DR region).
      const sets = await listRecords(aws.route53(region), dns.hostedZoneId, dns.recordName, dns.recordType);
      return sets
        .filter((r) => r.SetIdentifier === dns.primarySetIdentifier || r.SetIdentifier === dns.secondarySetIdentifier)
        .map((r) => ({
          setIdentifier: r.SetIdentifier ?? '',
          type: r.Type ?? dns.recordType,
          failover: r.Failover ?? null,
          weight: r.Weight ?? null,
          ttl: r.AliasTarget ? null : r.TTL ?? null,
          values: r.AliasTarget ? [r.AliasTarget.DNSName ?? ''] : (r.ResourceRecords ?? []).map((v) => v.Value ?? ''),
        }));
    },
  };
}

function missingService(name: string): DrServiceFacts {
  return { name, status: null, taskDefinitionArn: null, taskDefinitionActive: false, desiredCount: 0, runningCount: 0 };
}

async function taskDefinitionActive(ecs: ECSClient, arn: string): Promise<boolean> {
  try {
    const out = await send(ecs, new DescribeTaskDefinitionCommand({ taskDefinition: arn }));
    return out.taskDefinition?.status === 'ACTIVE';
  } catch (err) {
    if ((err as Error).name === 'ClientException') return false; // ECS's answer for an unknown task definition
    throw err;
  }
}
