import { describe, expect, it } from 'vitest';
import { evaluateReadiness, readinessNotice, type DrComputeFacts, type FailoverRecordFacts, type ReadinessFacts, type ReadinessReport } from '../../src/domain/failover';
import { DR_SPEC } from '../harness/fixtures';

const spec = DR_SPEC;

const service = (name: string) => ({ name, status: 'ACTIVE', taskDefinitionArn: `arn:aws:ecs:us-west-2:1:task-definition/${name}:1`, taskDefinitionActive: true, desiredCount: 0, runningCount: 0 });
const compute = (): DrComputeFacts => ({ cluster: 'api-prod', clusterStatus: 'ACTIVE', services: { blue: service('api-prod-blue'), green: service('api-prod-green') } });
const records = (): FailoverRecordFacts[] => [
  { setIdentifier: 'primary', type: 'CNAME', failover: 'PRIMARY', weight: null, ttl: 5, values: ['api-prod.us-east-1.example.com'] },
  { setIdentifier: 'secondary', type: 'CNAME', failover: 'SECONDARY', weight: null, ttl: 5, values: ['api-prod.us-west-2.example.com'] },
];
const ok = <T>(value: T) => ({ ok: true as const, value });
const healthy = (): ReadinessFacts => ({
  compute: ok(compute()),
  replica: ok({ instanceId: 'api-prod-db-replica', status: 'available', sourceIdentifier: 'arn:aws:rds:us-east-1:123456789012:db:api-prod-db' }),
  lag: ok({ latest: { at: '2026-11-29T21:00:00.000Z', seconds: 2 }, windowSeconds: 600 }),
  dns: ok(records()),
});
const AT = '2026-11-29T21:01:00.000Z';
const checkOf = (facts: ReadinessFacts, name: string) => evaluateReadiness(spec, facts, AT).checks.find((c) => c.name === name)!;

describe('DR readiness evaluation', () => {
  it('passes every check for a complete posture, saying what it saw', () => {
    const report = evaluateReadiness(spec, healthy(), AT);
    expect(report).toMatchObject({ service: 'api', environment: 'prod', primaryRegion: 'us-east-1', drRegion: 'us-west-2', checkedAt: AT, ok: true, failing: [] });
    expect(report.checks.map((c) => c.name)).toEqual(['dr-compute', 'dr-capacity', 'replica', 'replica-lag', 'dns']);
    expect(checkOf(healthy(), 'replica-lag').detail).toBe('ReplicaLag of api-prod-db-replica is 2 s at 2026-11-29T21:00:00.000Z, under the RPO of 30 s');
    expect(checkOf(healthy(), 'dr-capacity').detail).toMatch(/ECS service quotas are not read/);
    expect(checkOf(healthy(), 'dns').detail).toMatch(/PRIMARY 'primary' → api-prod\.us-east-1\.example\.com \(TTL 5 s\)/);
  });

  it('fails the lag check when ReplicaLag reaches the RPO', () => {
    const facts = { ...healthy(), lag: ok({ latest: { at: '2026-11-29T21:00:00.000Z', seconds: 45 }, windowSeconds: 600 }) };
    const report = evaluateReadiness(spec, facts, AT);
    expect(report.ok).toBe(false);
    expect(report.failing).toEqual(['replica-lag']);
    expect(checkOf(facts, 'replica-lag')).toEqual({ name: 'replica-lag', ok: false, detail: 'ReplicaLag of api-prod-db-replica is 45 s at 2026-11-29T21:00:00.000Z, not under the RPO of 30 s' });
    expect(checkOf({ ...healthy(), lag: ok({ latest: { at: AT, seconds: 30 }, windowSeconds: 600 }) }, 'replica-lag').ok).toBe(false);
  });

  it('fails closed when there is no ReplicaLag datapoint, and says so', () => {
    const c = checkOf({ ...healthy(), lag: ok({ latest: null, windowSeconds: 600 }) }, 'replica-lag');
    expect(c.ok).toBe(false);
    expect(c.detail).toBe('no ReplicaLag datapoint for api-prod-db-replica in us-west-2 in the last 600 s: replication cannot be shown to be within the RPO of 30 s (fail-closed)');
  });

  it('fails a check whose read failed, naming what could not be read', () => {
    const facts = { ...healthy(), compute: { ok: false as const, error: 'connect ECONNREFUSED' } };
    const report = evaluateReadiness(spec, facts, AT);
    expect(report.failing).toEqual(['dr-compute', 'dr-capacity']);
    expect(checkOf(facts, 'dr-compute').detail).toBe('could not read ECS cluster api-prod in us-west-2: connect ECONNREFUSED');
  });

  it('fails compute and capacity for a missing cluster, a missing service, a task definition gone, or more tasks than production', () => {
    expect(checkOf({ ...healthy(), compute: ok({ ...compute(), clusterStatus: null }) }, 'dr-compute').detail).toBe('ECS cluster api-prod in us-west-2 does not exist');
    const gone = compute();
    gone.services.green = { ...gone.services.green, status: null, taskDefinitionArn: null, taskDefinitionActive: false };
    expect(checkOf({ ...healthy(), compute: ok(gone) }, 'dr-compute')).toMatchObject({ ok: false, detail: 'in api-prod in us-west-2: service api-prod-green does not exist' });
    expect(checkOf({ ...healthy(), compute: ok(gone) }, 'dr-capacity').ok).toBe(false);
    const inactive = compute();
    inactive.services.blue.taskDefinitionActive = false;
    expect(checkOf({ ...healthy(), compute: ok(inactive) }, 'dr-capacity').detail).toMatch(/^cannot scale to 2 tasks: service api-prod-blue's task definition .* is not ACTIVE$/);
    const big = compute();
    big.services.blue.desiredCount = 3;
    expect(checkOf({ ...healthy(), compute: ok(big) }, 'dr-capacity').detail).toBe('cannot scale to 2 tasks: service api-prod-blue wants 3 tasks, more than the production count 2');
  });

  it('fails the replica check for a missing instance, a promoted one, another source, or one not available', () => {
    const replica = (r: Partial<{ status: string | null; sourceIdentifier: string | null }>) =>
      checkOf({ ...healthy(), replica: ok({ instanceId: 'api-prod-db-replica', status: 'available', sourceIdentifier: 'api-prod-db', ...r }) }, 'replica');
    expect(replica({}).ok).toBe(true);
    expect(replica({ status: null }).detail).toBe('RDS instance api-prod-db-replica in us-west-2 does not exist');
    expect(replica({ sourceIdentifier: null }).detail).toMatch(/is not a read replica/);
    expect(replica({ sourceIdentifier: 'arn:aws:rds:eu-west-1:1:db:api-prod-db' }).detail).toMatch(/replicates arn:aws:rds:eu-west-1:1:db:api-prod-db, not api-prod-db in us-east-1/);
    expect(replica({ status: 'modifying' }).detail).toMatch(/is modifying, not available/);
  });

  it('fails the DNS check for a missing record, a wrong role, or a TTL not under the RTO; an alias has its target\'s TTL', () => {
    const dns = (r: FailoverRecordFacts[]) => checkOf({ ...healthy(), dns: ok(r) }, 'dns');
    expect(dns(records().slice(0, 1)).detail).toBe("api.example.com.: no CNAME record 'secondary'");
    expect(dns([records()[0], { ...records()[1], failover: 'PRIMARY' }]).detail).toBe("api.example.com.: record 'secondary' is PRIMARY, not SECONDARY");
    expect(dns([records()[0], { ...records()[1], ttl: 300 }]).detail).toMatch(/record 'secondary' has TTL 300 s, not under the RTO of 300 s/);
    expect(dns([records()[0], { ...records()[1], ttl: null, values: ['dualstack.dr-alb.example.com'] }])).toMatchObject({ ok: true, detail: expect.stringMatching(/TTL of the alias target/) });
  });
});

describe('DR readiness of weighted records', () => {
  const weighted = (primary: number | null, secondary: number | null, ttl = 5): FailoverRecordFacts[] => [
    { setIdentifier: 'primary', type: 'CNAME', failover: null, weight: primary, ttl, values: ['api-prod.us-east-1.example.com'] },
    { setIdentifier: 'secondary', type: 'CNAME', failover: null, weight: secondary, ttl, values: ['api-prod.us-west-2.example.com'] },
  ];
  const dns = (r: FailoverRecordFacts[]) => checkOf({ ...healthy(), dns: ok(r) }, 'dns');

  it('passes when the primary region\'s record takes all traffic and the DR record waits at 0', () => {
    expect(dns(weighted(100, 0))).toEqual({
      name: 'dns',
      ok: true,
      detail: "api.example.com.: weight 100 'primary' → api-prod.us-east-1.example.com (TTL 5 s); weight 0 'secondary' → api-prod.us-west-2.example.com (TTL 5 s)",
    });
    expect(dns(weighted(1, 0)).ok).toBe(true);
  });

  it('fails when both records serve, saying what share the DR region takes', () => {
    expect(dns(weighted(75, 25))).toEqual({ name: 'dns', ok: false, detail: "api.example.com.: record 'secondary' has weight 25, so us-west-2 takes 25 % of traffic: it must be 0" });
  });

  it('fails when neither record is above 0 (Route 53 then splits evenly), and when only the DR record serves', () => {
    expect(dns(weighted(0, 0)).detail).toBe("api.example.com.: records 'primary' and 'secondary' both have weight 0, so Route 53 splits traffic evenly between us-east-1 and us-west-2: 'primary' must be above 0");
    expect(dns(weighted(0, 100)).detail).toBe(
      "api.example.com.: record 'primary' has weight 0, so us-east-1 takes no traffic: it must be above 0; record 'secondary' has weight 100, so us-west-2 takes 100 % of traffic: it must be 0",
    );
  });

  it('fails when a TTL is not under the RTO', () => {
    expect(dns(weighted(100, 0, 300))).toEqual({
      name: 'dns',
      ok: false,
      detail: "api.example.com.: record 'primary' has TTL 300 s, not under the RTO of 300 s; record 'secondary' has TTL 300 s, not under the RTO of 300 s",
    });
  });

  it('fails a failover record paired with a weighted one, and a record that is neither', () => {
    expect(dns([records()[0], weighted(100, 0)[1]]).detail).toBe(
      "api.example.com.: record 'primary' is a failover record (PRIMARY) and 'secondary' a weighted record (weight 0): both must be failover records or both weighted",
    );
    expect(dns(weighted(100, null)).detail).toBe("api.example.com.: record 'secondary' is neither a failover nor a weighted record");
  });

  it('reads a record without a weight (recorded before weights were read) as a failover record', () => {
    const old = records().map(({ weight: _weight, ...r }) => r);
    expect(dns(old).ok).toBe(true);
  });
});

describe('DR readiness notices', () => {
  const report = (failing: ReadinessReport['failing']): ReadinessReport => {
    const facts = healthy();
    if (failing.includes('replica-lag')) facts.lag = ok({ latest: null, windowSeconds: 600 });
    if (failing.includes('dns')) facts.dns = ok([]);
    return evaluateReadiness(spec, facts, AT);
  };

  it('posts a new failure, stays quiet while nothing changes, and says when it passes again', () => {
    expect(readinessNotice(report([]), null)).toBeNull();
    const first = readinessNotice(report(['replica-lag']), null);
    expect(first).toMatch(/^:warning: DR readiness of api in prod \(DR us-west-2\) fails 1 check:\n• \*replica-lag\*: no ReplicaLag datapoint/);
    expect(readinessNotice(report(['replica-lag']), report(['replica-lag']))).toBeNull();
    expect(readinessNotice(report(['replica-lag', 'dns']), report(['replica-lag']))).toMatch(/fails 2 checks/);
    expect(readinessNotice(report([]), report(['dns']))).toBe(':white_check_mark: DR readiness of api in prod (DR us-west-2) passes again.');
  });
});
