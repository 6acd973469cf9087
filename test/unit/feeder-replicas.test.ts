import { describe, expect, it } from 'vitest';
import type { PutMetricDataCommandInput } from '@aws-sdk/client-cloudwatch';
import { FaultStore } from '../../src/sandbox/faults';
import { SANDBOX_REPLICA_LAG_SECONDS, startFeeder } from '../../src/sandbox/feeder';

describe('the sandbox feeder and DR replicas', () => {
  it('publishes each replica\'s ReplicaLag in its region, as RDS does', async () => {
    const puts: Array<{ region: string; input: PutMetricDataCommandInput }> = [];
    const feeder = startFeeder({
      targets: [],
      replicas: [{ region: 'us-west-2', instanceId: 'api-prod-db-replica' }],
      routerFor: () => { throw new Error('no traffic to read'); },
      put: async (region, input) => { puts.push({ region, input }); },
      faults: new FaultStore({ known: [] }),
      intervalMs: 60_000,
      log: () => undefined,
    });
    await feeder.stop();
    expect(puts).toEqual([{
      region: 'us-west-2',
      input: {
        Namespace: 'AWS/RDS',
        MetricData: [{ MetricName: 'ReplicaLag', Dimensions: [{ Name: 'DBInstanceIdentifier', Value: 'api-prod-db-replica' }], Timestamp: expect.any(Date), Value: SANDBOX_REPLICA_LAG_SECONDS, Unit: 'Seconds' }],
      },
    }]);
  });
});
