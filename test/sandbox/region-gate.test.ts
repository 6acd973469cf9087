// The sandbox's region gate over real HTTP: in front of moto it passes everything through until a
// region is out, then refuses that region's calls the way AWS would (the SDK raises
// ServiceUnavailable) while other regions and Route 53 carry on; and it streams, and stops clean.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { CreateClusterCommand, DescribeClustersCommand, ListClustersCommand } from '@aws-sdk/client-ecs';
import { ChangeResourceRecordSetsCommand, CreateHostedZoneCommand, ListHostedZonesCommand } from '@aws-sdk/client-route-53';
import { DescribeDBInstancesCommand, DescribeDBParameterGroupsCommand } from '@aws-sdk/client-rds';
import { ListMetricsCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeLoadBalancersCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { DescribeVpcsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { startMoto } from '../harness/servers';
import { startBlackHole, TEST_CREDENTIALS, type MotoServer } from '../harness/aws';
import { awsClientConfig, createAwsClients, type AwsClients } from '../../src/providers/aws';
import { actionOf, signingScope, startRegionGate, type RegionGate } from '../../src/sandbox/region-gate';

/** What an SDK call threw (or null when it answered). */
async function failure(call: Promise<unknown>): Promise<{ name: string; message: string; status: number | undefined } | null> {
  try {
    await call;
    return null;
  } catch (err) {
    const e = err as Error & { $metadata?: { httpStatusCode?: number } };
    return { name: e.name, message: e.message, status: e.$metadata?.httpStatusCode };
  }
}

describe('the region gate in front of moto', () => {
  let moto: MotoServer;
  let gate: RegionGate;
  let viaGate: AwsClients;

  beforeAll(async () => {
    moto = await startMoto();
    const direct = createAwsClients({ endpoint: moto.endpoint, credentials: TEST_CREDENTIALS });
    await direct.ecs('us-east-1').send(new CreateClusterCommand({ clusterName: 'east' }));
    await direct.ecs('us-west-2').send(new CreateClusterCommand({ clusterName: 'west' }));
    gate = await startRegionGate({ target: moto.endpoint });
    viaGate = createAwsClients({ endpoint: gate.endpoint, credentials: TEST_CREDENTIALS });
  });

  afterAll(async () => {
    await gate?.stop();
    await moto?.stop();
  });

  const clusters = async (region: string) => (await viaGate.ecs(region).send(new ListClustersCommand({}))).clusterArns?.map((a) => a.split('/').pop());

  it('passes every call through to moto while no region is out', async () => {
    expect(await clusters('us-east-1')).toEqual(['east']);
    expect(await clusters('us-west-2')).toEqual(['west']);
    expect(gate.outages()).toEqual([]);
  });

  it('fails every call signed for an out region with ServiceUnavailable, at once, and lets the others through', async () => {
    const outage = gate.out('us-east-1');
    expect(outage).toEqual({ region: 'us-east-1', since: expect.any(String), refused: 0 });
    const began = Date.now();
    const ecs = await failure(viaGate.ecs('us-east-1').send(new ListClustersCommand({})));
    const tookMs = Date.now() - began;
    expect(ecs).toEqual({ name: 'ServiceUnavailable', message: `region us-east-1 is out (sandbox outage since ${outage.since})`, status: 503 });
    // The first try and the SDK's one retry (a 5xx is retryable), after a short backoff.
    expect(tookMs).toBeLessThan(2000);
    expect(gate.outages()).toEqual([{ ...outage, refused: 2 }]);
    expect(await clusters('us-west-2')).toEqual(['west']);
  });

  it('answers in each protocol the clients speak, so every SDK names the error', async () => {
    const east = 'us-east-1';
    const ec2 = new EC2Client(awsClientConfig(east, { endpoint: gate.endpoint, credentials: TEST_CREDENTIALS }));
    try {
      const names = {
        rds: (await failure(viaGate.rds(east).send(new DescribeDBInstancesCommand({}))))?.name,
        cloudwatch: (await failure(viaGate.cloudwatch(east).send(new ListMetricsCommand({}))))?.name,
        elb: (await failure(viaGate.elb(east).send(new DescribeLoadBalancersCommand({}))))?.name,
        ec2: (await failure(ec2.send(new DescribeVpcsCommand({}))))?.name,
      };
      expect(names).toEqual({ rds: 'ServiceUnavailable', cloudwatch: 'ServiceUnavailable', elb: 'ServiceUnavailable', ec2: 'ServiceUnavailable' });
    } finally {
      ec2.destroy();
    }
  });

  it('never fails Route 53, which is global and signed for us-east-1', async () => {
    expect(gate.isOut('us-east-1')).toBe(true);
    expect(await failure(viaGate.route53('us-east-1').send(new ListHostedZonesCommand({})))).toBeNull();
    expect(await failure(viaGate.route53('us-west-2').send(new ListHostedZonesCommand({})))).toBeNull();
  });

  it('keeps the first start of an outage when told again, and passes calls again once restored', async () => {
    const since = gate.outages()[0].since;
    expect(gate.out('us-east-1').since).toBe(since);
    expect(gate.restore('us-east-1')).toBe(true);
    expect(gate.restore('us-east-1')).toBe(false);
    expect(gate.outages()).toEqual([]);
    expect(await clusters('us-east-1')).toEqual(['east']);
  });

  it('fails one action in one region when told, whatever protocol names it, until told to pass it', async () => {
    gate.failCalls('us-west-2', 'DescribeClusters');
    gate.failCalls('us-east-1', 'DescribeDBInstances');
    gate.failCalls('us-east-1', 'ChangeResourceRecordSets');
    expect(gate.failing()).toEqual(['us-west-2 DescribeClusters', 'us-east-1 DescribeDBInstances', 'us-east-1 ChangeResourceRecordSets']);
    const zone = (await viaGate.route53('us-east-1').send(new CreateHostedZoneCommand({ Name: 'gate.test', CallerReference: 'gate-test' }))).HostedZone!.Id!;
    const change = await failure(viaGate.route53('us-east-1').send(new ChangeResourceRecordSetsCommand({
      HostedZoneId: zone,
      ChangeBatch: { Changes: [{ Action: 'UPSERT', ResourceRecordSet: { Name: 'a.gate.test', Type: 'CNAME', TTL: 5, ResourceRecords: [{ Value: 'b.gate.test' }] } }] },
    })));
    expect({
      // awsJson: the action is in X-Amz-Target.
      ecsFailed: (await failure(viaGate.ecs('us-west-2').send(new DescribeClustersCommand({ clusters: ['west'] }))))?.message,
      ecsOther: await clusters('us-west-2'),
      ecsElsewhere: (await failure(viaGate.ecs('us-east-1').send(new DescribeClustersCommand({ clusters: ['east'] }))))?.name ?? 'ok',
      // The query protocol: the action is in the form body, which still reaches moto intact otherwise.
      rdsFailed: (await failure(viaGate.rds('us-east-1').send(new DescribeDBInstancesCommand({}))))?.name,
      rdsOther: (await failure(viaGate.rds('us-east-1').send(new DescribeDBParameterGroupsCommand({}))))?.name ?? 'ok',
      // Route 53's REST: by method and path.
      route53Failed: change?.name,
    }).toEqual({
      ecsFailed: 'DescribeClusters in us-west-2 fails (sandbox fault injected)',
      ecsOther: ['west'],
      ecsElsewhere: 'ok',
      rdsFailed: 'ServiceUnavailable',
      rdsOther: 'ok',
      route53Failed: 'ServiceUnavailable',
    });
    for (const [region, action] of [['us-west-2', 'DescribeClusters'], ['us-east-1', 'DescribeDBInstances'], ['us-east-1', 'ChangeResourceRecordSets']]) gate.passCalls(region, action);
    expect(gate.failing()).toEqual([]);
    expect(await failure(viaGate.rds('us-east-1').send(new DescribeDBInstancesCommand({})))).toBeNull();
  });
});

describe('actionOf', () => {
  it('names the action of awsJson, Smithy RPC v2, query-string and Route 53 requests, and leaves a form body\'s to the body', () => {
    expect(actionOf({ headers: { 'x-amz-target': 'AmazonEC2ContainerServiceV20141113.UpdateService' }, method: 'POST', url: '/' }, 'ecs')).toBe('UpdateService');
    expect(actionOf({ headers: {}, method: 'POST', url: '/service/GraniteServiceVersion20100801/operation/PutMetricData' }, 'monitoring')).toBe('PutMetricData');
    expect(actionOf({ headers: {}, method: 'GET', url: '/?Action=DescribeVpcs&Version=2016-11-15' }, 'ec2')).toBe('DescribeVpcs');
    expect(actionOf({ headers: {}, method: 'POST', url: '/2013-04-01/hostedzone/Z123/rrset/' }, 'route53')).toBe('ChangeResourceRecordSets');
    expect(actionOf({ headers: {}, method: 'POST', url: '/' }, 'rds')).toBeUndefined();
  });
});

describe('signingScope', () => {
  it('reads the region and service of a SigV4 Authorization header or a presigned URL', () => {
    const auth = 'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-west-2/ecs/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc';
    expect(signingScope({ authorization: auth }, '/')).toEqual({ region: 'us-west-2', service: 'ecs' });
    expect(signingScope({}, '/?X-Amz-Credential=AKID%2F20250101%2Feu-west-1%2Frds%2Faws4_request&X-Amz-Signature=x')).toEqual({ region: 'eu-west-1', service: 'rds' });
    expect(signingScope({}, '/healthz')).toBeNull();
  });
});

describe('the region gate as a proxy', () => {
  let echo: Server;
  let gate: RegionGate;

  beforeAll(async () => {
    // Answers with the request's body, in chunks as it arrives, and its method and path in headers.
    echo = createServer((req, res) => {
      res.writeHead(201, { 'x-method': req.method, 'x-path': req.url, 'content-type': 'application/octet-stream' });
      req.pipe(res);
    });
    echo.listen(0, '127.0.0.1');
    await once(echo, 'listening');
    gate = await startRegionGate({ target: `http://127.0.0.1:${(echo.address() as AddressInfo).port}` });
  });

  afterAll(async () => {
    await gate?.stop();
    echo?.closeAllConnections();
    echo?.close();
  });

  it('streams a large body both ways, with the status and headers of the answer', async () => {
    const body = Buffer.alloc(8 * 1024 * 1024, 'baton');
    const req = request(`${gate.endpoint}/some/path?x=1`, { method: 'PUT' });
    const answered = once(req, 'response') as Promise<[IncomingMessage]>;
    // Written in pieces without a length: chunked, as a streaming client sends.
    for (let i = 0; i < body.length; i += 1024 * 1024) req.write(body.subarray(i, i + 1024 * 1024));
    req.end();
    const [res] = await answered;
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    expect({ status: res.statusCode, method: res.headers['x-method'], path: res.headers['x-path'] }).toEqual({ status: 201, method: 'PUT', path: '/some/path?x=1' });
    expect(Buffer.concat(chunks).equals(body)).toBe(true);
  });

  it('answers 502 when moto cannot be reached', async () => {
    const orphan = await startRegionGate({ target: 'http://127.0.0.1:1' });
    try {
      const res = await fetch(`${orphan.endpoint}/`, { headers: { 'x-amz-target': 'AmazonEC2ContainerServiceV20141113.ListClusters', 'content-type': 'application/x-amz-json-1.1' } });
      expect(res.status).toBe(502);
      expect(await res.json()).toEqual({ __type: 'ServiceUnavailable', message: expect.stringContaining('cannot reach moto') });
    } finally {
      await orphan.stop();
    }
  });

  it('stops with a keep-alive connection open and a request hanging on moto', async () => {
    const hole = await startBlackHole();
    const other = await startRegionGate({ target: hole.endpoint });
    try {
      await fetch(`${gate.endpoint}/healthz`, { headers: { connection: 'keep-alive' } });
      const hanging = fetch(`${other.endpoint}/`).then(() => 'answered', () => 'failed');
      await new Promise((r) => setTimeout(r, 200));
      await other.stop();
      expect(await hanging).toBe('failed');
      await expect(fetch(`${other.endpoint}/`)).rejects.toThrow();
    } finally {
      await other.stop();
      await hole.stop();
    }
  });
});
