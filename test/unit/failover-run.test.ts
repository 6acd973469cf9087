import { describe, expect, it } from 'vitest';
import type { DrSpec, FailoverRecordFacts } from '../../src/domain/failover';
import { asideName, directionOf, dnsDetail, failoverMeasures, monitorDetail, planSteps, servingColour, whyFailoverDecisionRefused, whyNotFailoverDecider } from '../../src/domain/failover-run';
import type { Sample } from '../../src/domain/types';
import { DR_SPEC } from '../harness/fixtures';

const spec: DrSpec = {
  ...DR_SPEC,
  compute: { region: 'us-west-2', cluster: 'api-prod-dr', services: { blue: 'api-blue', green: 'api-green' } },
  productionCount: 4,
  standbyCount: 1,
  primaryCompute: { region: 'us-east-1', cluster: 'api-prod', services: { blue: 'api-blue', green: 'api-green' } },
};

describe('failover direction', () => {
  it('goes from the environment\'s region to the DR region, and a failback comes home', () => {
    for (const mode of ['planned', 'emergency', 'drill'] as const) {
      const d = directionOf(spec, mode, 'us-east-1', 'us-west-2');
      expect(d.ok && [d.direction.from.database.instanceId, d.direction.to.database.instanceId]).toEqual(['api-prod-db', 'api-prod-db-replica']);
    }
    const back = directionOf(spec, 'failback', 'us-west-2', 'us-east-1');
    expect(back.ok && [back.direction.from.setIdentifier, back.direction.to.setIdentifier]).toEqual(['secondary', 'primary']);
  });

  it('refuses the wrong way round, naming the field and the right region', () => {
    expect(directionOf(spec, 'planned', 'us-west-2', 'us-east-1')).toMatchObject({ ok: false, field: 'fromRegion', message: expect.stringMatching(/fromRegion must be us-east-1, not us-west-2/) });
    expect(directionOf(spec, 'failback', 'us-west-2', 'eu-west-1')).toMatchObject({ ok: false, field: 'toRegion', message: expect.stringMatching(/toRegion must be us-east-1, not eu-west-1/) });
  });
});

describe('failover plan', () => {
  const names = (mode: Parameters<typeof planSteps>[1], from = 'us-east-1', to = 'us-west-2') => {
    const d = directionOf(spec, mode, from, to);
    if (!d.ok) throw new Error(d.message);
    return planSteps(spec, mode, d.direction).map((s) => s.name);
  };

  it('fences before it promotes and moves DNS last but for monitoring', () => {
    expect(names('planned')).toEqual(['approval', 'preflight', 'fence', 'catch-up', 'promote', 'scale', 'smoke', 'dns', 'monitor']);
    expect(names('emergency')).toEqual(['preflight', 'fence', 'confirm', 'catch-up', 'promote', 'scale', 'smoke', 'dns', 'monitor']);
  });

  it('rebuilds replication before a failback\'s fenced switch, and a drill does both', () => {
    expect(names('failback', 'us-west-2', 'us-east-1')).toEqual(['approval', 'preflight', 'rebuild', 'fence', 'catch-up', 'promote', 'scale', 'smoke', 'dns', 'rebuild-dr', 'clean-up', 'monitor']);
    const drill = names('drill');
    expect(drill.indexOf('rebuild')).toBeGreaterThan(drill.indexOf('dns'));
    expect(drill.at(-1)).toBe('verify');
    expect(drill).not.toContain('approval');
  });

  it('monitors with the analysis where the side has metrics, and says when the DR region has none', () => {
    const monitorOf = (dr: DrSpec, mode: Parameters<typeof planSteps>[1], from: string, to: string) => {
      const d = directionOf(dr, mode, from, to);
      if (!d.ok) throw new Error(d.message);
      return planSteps(dr, mode, d.direction).find((s) => s.name === 'monitor')!.description;
    };
    expect(monitorOf(spec, 'planned', 'us-east-1', 'us-west-2')).toBe('watch us-west-2 for 60 s (a smoke test every 10 s; no analysis: no `dr.metrics` for us-west-2)');
    const withMetrics = { ...spec, metrics: { ...spec.primaryMetrics, region: 'us-west-2' } };
    expect(monitorOf(withMetrics, 'planned', 'us-east-1', 'us-west-2')).toMatch(/^watch us-west-2 for 60 s \(a smoke test and the deployment analysis \(error rate, latency\) every 10 s; 2 failing analyses or 2 failed smoke tests in a row fail the run, DNS left there\)$/);
    // Home is analysed with the environment's own metrics.
    expect(monitorOf(spec, 'failback', 'us-west-2', 'us-east-1')).toMatch(/^watch us-east-1 for 60 s \(a smoke test and the deployment analysis/);
  });

  it('has no approval step where the environment has no release rules', () => {
    const d = directionOf(spec, 'planned', 'us-east-1', 'us-west-2');
    if (!d.ok) throw new Error(d.message);
    expect(planSteps({ ...spec, approvals: [] }, 'planned', d.direction)[0].name).toBe('preflight');
  });
});

describe('failover rules', () => {
  const ctx = { rules: spec.approvals, emergencyRole: 'on-call', phase: 'awaiting_approval', requestedBy: 'rosa', decisions: [] };

  it('takes approvals by the release rules, never the requester\'s own, each person once', () => {
    expect(whyFailoverDecisionRefused({ decision: 'approve', by: 'remi', roles: ['release-manager'] }, { ...ctx, waitingFor: 'approval' })).toBeNull();
    expect(whyFailoverDecisionRefused({ decision: 'approve', by: 'rosa', roles: ['release-manager'] }, { ...ctx, waitingFor: 'approval' })).toMatchObject({ status: 403, message: expect.stringMatching(/requested this failover/) });
    expect(whyFailoverDecisionRefused({ decision: 'approve', by: 'val', roles: ['viewer'] }, { ...ctx, waitingFor: 'approval' })).toMatchObject({ status: 403, message: expect.stringMatching(/needs role release-manager/) });
    const earlier = [{ environment: 'prod', decision: 'approve' as const, by: 'remi', roles: ['release-manager'], comment: null, at: '2026-11-29T10:00:00Z' }];
    expect(whyFailoverDecisionRefused({ decision: 'reject', by: 'remi', roles: ['release-manager'] }, { ...ctx, waitingFor: 'approval', decisions: earlier })).toMatchObject({ status: 409 });
  });

  it('takes a confirmation only from a second person with the emergency role', () => {
    const c = { ...ctx, waitingFor: 'confirmation' as const };
    expect(whyFailoverDecisionRefused({ decision: 'approve', by: 'oscar', roles: ['on-call'] }, c)).toBeNull();
    expect(whyFailoverDecisionRefused({ decision: 'approve', by: 'rosa', roles: ['on-call'] }, c)).toMatchObject({ status: 403, message: expect.stringMatching(/a second person must confirm/) });
    expect(whyFailoverDecisionRefused({ decision: 'approve', by: 'remi', roles: ['release-manager'] }, c)).toMatchObject({ status: 403, message: expect.stringMatching(/needs role on-call/) });
  });

  it('refuses any decision while nothing waits for one', () => {
    expect(whyFailoverDecisionRefused({ decision: 'approve', by: 'remi', roles: ['release-manager'] }, { ...ctx, waitingFor: null, phase: 'promoting' })).toMatchObject({ status: 409, message: expect.stringMatching(/phase promoting/) });
    expect(whyFailoverDecisionRefused({ decision: 'approve', by: 'oscar', roles: ['on-call'] }, { ...ctx, waitingFor: null, phase: 'promoting' })).toMatchObject({ status: 409 });
  });

  it('judges who may decide before the state: someone no rule names hears 403 whatever the run waits for', () => {
    const stranger = { decision: 'approve' as const, by: 'val', roles: ['viewer'] };
    expect(whyFailoverDecisionRefused(stranger, { ...ctx, waitingFor: null, phase: 'promoting' })).toEqual({ status: 403, message: 'val (roles viewer) may not decide on this failover: it needs role release-manager or on-call' });
    const earlier = [{ environment: 'prod', decision: 'approve' as const, by: 'val', roles: ['viewer'], comment: null, at: '2026-11-29T10:00:00Z' }];
    expect(whyFailoverDecisionRefused(stranger, { ...ctx, waitingFor: 'approval', decisions: earlier })).toMatchObject({ status: 403, message: expect.stringMatching(/needs role release-manager$/) });
    expect(whyFailoverDecisionRefused({ ...stranger, by: 'remi', roles: ['release-manager'] }, { ...ctx, waitingFor: 'confirmation', decisions: earlier })).toMatchObject({ status: 403, message: expect.stringMatching(/needs role on-call$/) });
    expect(whyNotFailoverDecider({ decision: 'approve', by: 'rosa', roles: ['release-manager'] }, { ...ctx, waitingFor: null })).toBeNull();
  });

  it('serves from the colour the primary ran, blue by default', () => {
    expect(servingColour({ blue: 0, green: 3 })).toBe('green');
    expect(servingColour({ blue: 2, green: 0 })).toBe('blue');
    expect(servingColour(null)).toBe('blue');
  });

  it('measures RTO from the start, detection apart, against the objectives', () => {
    const start = Date.parse('2026-11-29T10:00:00Z');
    expect(failoverMeasures(start, start - 90_000, start + 240_000, 0, spec.objectives)).toEqual({ rtoSeconds: 240, detectionSeconds: 90, rpoSeconds: 0, rtoMet: true, rpoMet: true });
    expect(failoverMeasures(start, null, start + 400_000, 45, spec.objectives)).toMatchObject({ rtoMet: false, rpoMet: false, detectionSeconds: null });
    expect(failoverMeasures(start, null, null, null, spec.objectives)).toMatchObject({ rtoSeconds: null, rtoMet: null, rpoMet: null });
  });

  it('says what monitoring saw: all passed, what was inconclusive or failed, or that there was no analysis', () => {
    const sample = (verdict: Sample['verdict'], reason: Sample['reason']): Sample => ({ at: '2026-11-29T10:00:00Z', step: 8, weight: 100, verdict, reason, requests: null, errorRate: null, latencyMs: null, message: '' });
    const passed = Array.from({ length: 12 }, () => sample('pass', 'healthy'));
    expect(monitorDetail('us-west-2', { passed: 12, run: 12 }, passed)).toBe('12 samples passed (analysis and smoke)');
    expect(monitorDetail('us-west-2', { passed: 4, run: 4 }, null)).toBe('4 smoke tests passed; no analysis: no `dr.metrics` for us-west-2');
    const mixed = [sample('pass', 'healthy'), sample('inconclusive', 'no_data'), sample('fail', 'error_rate'), sample('inconclusive', 'low_traffic')];
    expect(monitorDetail('us-west-2', { passed: 3, run: 4 }, mixed)).toBe('4 samples: 3 of 4 smoke tests passed; analysis 1 passed, 2 inconclusive (no data, low traffic), 1 failed');
  });

  it('says where DNS sends clients after the switch, for failover and for weighted records', () => {
    const record = (setIdentifier: string, failover: string | null, weight: number | null): FailoverRecordFacts => ({ setIdentifier, type: 'CNAME', failover, weight, ttl: 5, values: [] });
    expect(dnsDetail(spec.dns, [record('primary', 'SECONDARY', null), record('secondary', 'PRIMARY', null)], 'us-west-2')).toBe("api.example.com. → us-west-2 ('secondary' PRIMARY, 'primary' SECONDARY)");
    expect(dnsDetail(spec.dns, [record('primary', null, 0), record('secondary', null, 100)], 'us-west-2')).toBe('api.example.com. → us-west-2 (weight 100/0)');
    expect(dnsDetail(spec.dns, [record('primary', null, 100), record('secondary', null, 0)], 'us-east-1')).toBe('api.example.com. → us-east-1 (weight 100/0)');
    // Neither serves alone (not what a read-back returns): the records as read.
    expect(dnsDetail(spec.dns, [record('primary', null, 50), record('secondary', null, 50)], 'us-west-2')).toBe("api.example.com.: 'primary' weight 50, 'secondary' weight 50");
  });

  it('plans the DNS step for either kind of record', () => {
    const d = directionOf(spec, 'planned', 'us-east-1', 'us-west-2');
    const dnsStep = d.ok ? planSteps(spec, 'planned', d.direction).find((x) => x.name === 'dns') : undefined;
    expect(dnsStep?.description).toBe("make 'secondary' the record api.example.com. answers with (failover records: PRIMARY; weighted records: all the weight) and read it back");
  });

  it('sets an instance aside under a valid RDS name', () => {
    expect(asideName('api-prod-db', '20261129T100000Z')).toBe('api-prod-db-pre-20261129t100000z');
    expect(asideName('a'.repeat(60), '20261129T100000Z').length).toBeLessThanOrEqual(63);
  });
});
