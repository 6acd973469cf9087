import { describe, expect, it } from 'vitest';
import type { BackupInfo, Inventory } from '../../src/domain/database';
import { drillFlags, measures, planHash, planRestore, verificationFailure, whyNotRestoreDecider, whyRestoreDecisionRefused, type DatabaseSpec, type RunRecord } from '../../src/domain/restore';

const H = 3600_000;
const T0 = Date.parse('2026-11-23T00:00:00Z'); // a Monday

function backup(id: string, atMs: number, extra: Partial<BackupInfo> = {}): BackupInfo {
  return {
    id,
    kind: 'base',
    consistentAt: new Date(atMs).toISOString(),
    replayable: true,
    sizeBytes: 1000,
    manifest: { orders: { rows: 10, checksum: 'abc' } },
    verified: { ok: true, detail: 'pg_verifybackup: ok' },
    takenBy: 'ada',
    ...extra,
  };
}

const spec: DatabaseSpec = {
  environment: 'prod',
  database: 'orders',
  target: { kind: 'postgres', host: '127.0.0.1', port: 5432, database: 'orders_prod', user: 'baton', backupDir: '/b', walArchiveDir: '/w', scratchDir: '/s' },
  services: [],
  critical: ['orders'],
  assertions: [],
  objectives: { rpoSeconds: 300, rtoSeconds: 1800 },
  watchSeconds: 300,
  sampleSeconds: 60,
  approvalExpirySeconds: 72 * 3600,
  retentionSeconds: 7 * 24 * 3600,
  approvals: [{ role: 'release-manager', count: 1 }],
  drill: { cron: '0 4 * * *', timeZone: 'America/Los_Angeles', maxAgeSeconds: 2 * 24 * 3600 },
};

const inventory: Inventory = {
  backups: [backup('b-mon', T0 + 1 * H), backup('b-tue', T0 + 25 * H), backup('b-dump', T0 + 30 * H, { kind: 'logical', replayable: false })],
  pointInTime: { earliest: new Date(T0 + 1 * H).toISOString(), latest: new Date(T0 + 40 * H).toISOString() },
};

describe('planning a restore', () => {
  it('replays the log from the newest replayable backup before the instant asked for', () => {
    const at = new Date(T0 + 26 * H).toISOString();
    const r = planRestore(spec, inventory, { pointInTime: at }, { nowMs: T0 + 41 * H, incidentAt: new Date(T0 + 26 * H + 60_000).toISOString() });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.plan).toMatchObject({ backup: { id: 'b-tue' }, pointInTime: at, replay: { from: new Date(T0 + 25 * H).toISOString(), to: at }, predictedRpoSeconds: 60 });
  });

  it('takes the end of the reachable range for latest, and measures the RPO from now without an incident time', () => {
    const r = planRestore(spec, inventory, { latest: true }, { nowMs: T0 + 40 * H + 30_000 });
    expect(r.ok && r.plan).toMatchObject({ backup: { id: 'b-tue' }, pointInTime: new Date(T0 + 40 * H).toISOString(), predictedRpoSeconds: 30 });
  });

  it('restores one backup as it was taken, with its manifest to compare', () => {
    const r = planRestore(spec, inventory, { backup: 'b-dump' }, { nowMs: T0 + 41 * H });
    expect(r.ok && r.plan).toMatchObject({ pointInTime: null, replay: null, backup: { id: 'b-dump', kind: 'logical', manifest: { orders: { rows: 10 } } } });
  });

  it.each([
    ['before the earliest', { pointInTime: new Date(T0).toISOString() }],
    ['after the latest', { pointInTime: new Date(T0 + 41 * H).toISOString() }],
  ])('refuses an instant %s, naming the reachable range', (_what, target) => {
    const r = planRestore(spec, inventory, target, { nowMs: T0 + 42 * H });
    expect(r).toEqual({ ok: false, problem: expect.stringMatching(/cannot be reached: reachable: 2026-11-23T01:00:00.000Z to 2026-11-24T16:00:00.000Z/) });
  });

  it('refuses an unknown backup and one that failed its own checks', () => {
    expect(planRestore(spec, inventory, { backup: 'nope' }, { nowMs: T0 })).toMatchObject({ ok: false, problem: expect.stringContaining("no backup 'nope'") });
    const bad = { ...inventory, backups: [backup('b-bad', T0, { verified: { ok: false, detail: 'checksum mismatch in base/1/1234' } })] };
    expect(planRestore(spec, bad, { backup: 'b-bad' }, { nowMs: T0 })).toMatchObject({ ok: false, problem: expect.stringContaining('checksum mismatch') });
  });

  it('never replays from an unverified backup', () => {
    const inv = { ...inventory, backups: [backup('b-mon', T0 + H), backup('b-tue', T0 + 25 * H, { verified: { ok: false, detail: 'bad' } })] };
    const r = planRestore(spec, inv, { pointInTime: new Date(T0 + 26 * H).toISOString() }, { nowMs: T0 + 41 * H });
    expect(r.ok && r.plan.backup.id).toBe('b-mon');
  });

  it('restores the newest good backup for latest when there is no log to replay', () => {
    const r = planRestore(spec, { ...inventory, pointInTime: null }, { latest: true }, { nowMs: T0 + 41 * H });
    expect(r.ok && r.plan).toMatchObject({ backup: { id: 'b-dump' }, pointInTime: null });
  });

  it('predicts the duration from past restores (the median)', () => {
    const r = planRestore(spec, inventory, { latest: true }, { nowMs: T0 + 41 * H, pastDurationsSeconds: [600, 60, 120] });
    expect(r.ok && r.plan.expectedDurationSeconds).toBe(120);
  });

  it('fixes what it will do in its hash: the same plan later hashes the same, another backup or instant differs', () => {
    const at = { pointInTime: new Date(T0 + 26 * H).toISOString() };
    const a = planRestore(spec, inventory, at, { nowMs: T0 + 41 * H });
    const b = planRestore(spec, inventory, at, { nowMs: T0 + 45 * H, incidentAt: new Date(T0 + 30 * H).toISOString() });
    const c = planRestore(spec, inventory, { pointInTime: new Date(T0 + 27 * H).toISOString() }, { nowMs: T0 + 41 * H });
    expect(a.ok && b.ok && c.ok).toBe(true);
    if (!a.ok || !b.ok || !c.ok) return;
    expect(a.plan.hash).toBe(b.plan.hash);
    expect(a.plan.hash).not.toBe(c.plan.hash);
    expect(planHash({ x: 1, y: [1, 2] })).toBe(planHash({ y: [1, 2], x: 1 }));
  });
});

describe('measuring a restore', () => {
  it('reports RPO from the incident to the last commit held and RTO from start to resumed, against the objectives', () => {
    const r = planRestore(spec, inventory, { pointInTime: new Date(T0 + 26 * H).toISOString() }, { nowMs: T0 + 41 * H, incidentAt: new Date(T0 + 26 * H).toISOString() });
    if (!r.ok) throw new Error(r.problem);
    const m = measures(r.plan, new Date(T0 + 26 * H - 7_000).toISOString(), T0 + 41 * H, T0 + 41 * H + 2400_000, spec.objectives);
    expect(m).toEqual({ rpoSeconds: 7, rtoSeconds: 2400, rpoMet: true, rtoMet: false });
  });

  it('fails closed: no verification at all is a failure, and every failed check is named', () => {
    expect(verificationFailure([])).toBe('no verification ran');
    expect(verificationFailure([{ name: 'amcheck', kind: 'amcheck', ok: true, detail: 'ok' }])).toBeNull();
    expect(verificationFailure([{ name: 'manifest', kind: 'manifest', ok: false, detail: 'orders: 5 rows, manifest says 10' }])).toBe('manifest: orders: 5 rows, manifest says 10');
  });
});

describe('drills', () => {
  const drill = (ageH: number, extra: Partial<RunRecord> = {}): RunRecord => ({ id: 'drill:x', mode: 'drill', at: new Date(T0 - ageH * H).toISOString(), outcome: 'succeeded', durationSeconds: 300, rpoSeconds: 5, detail: 'ok', ...extra });
  it('flags a database never drilled, a drill too old, one that failed, one slower than half the RTO', () => {
    expect(drillFlags(null, spec, T0)).toEqual(['never drilled']);
    expect(drillFlags(drill(10), spec, T0)).toEqual([]);
    expect(drillFlags(drill(49), spec, T0)).toEqual(['last drill is 2d1h old (at most 2d)']);
    expect(drillFlags(drill(1, { outcome: 'failed', detail: 'amcheck failed' }), spec, T0)).toEqual(['last drill failed: amcheck failed']);
    expect(drillFlags(drill(1, { durationSeconds: 1000 }), spec, T0)).toEqual(['last drill took 16m40s, over half the RTO (30m)']);
  });
});

describe('deciding on a restore', () => {
  const ctx = { rules: spec.approvals, awaiting: true, phase: 'awaiting_approval', requestedBy: 'ada', approvals: [] };
  it('takes the environment\'s approval rules: the role, not one\'s own restore, each person once', () => {
    expect(whyRestoreDecisionRefused({ decision: 'approve', by: 'rosa', roles: ['release-manager'] }, ctx)).toBeNull();
    expect(whyRestoreDecisionRefused({ decision: 'approve', by: 'val', roles: ['viewer'] }, ctx)).toMatchObject({ status: 403, message: expect.stringContaining('needs role release-manager') });
    expect(whyRestoreDecisionRefused({ decision: 'approve', by: 'ada', roles: ['release-manager'] }, ctx)).toMatchObject({ status: 403, message: 'ada requested this restore and may not approve it' });
    const decided = { ...ctx, approvals: [{ environment: 'prod', decision: 'approve' as const, by: 'rosa', roles: ['release-manager'], comment: null, at: 'then' }] };
    expect(whyRestoreDecisionRefused({ decision: 'reject', by: 'rosa', roles: ['release-manager'] }, decided)).toMatchObject({ status: 409 });
    expect(whyRestoreDecisionRefused({ decision: 'approve', by: 'rosa', roles: ['release-manager'] }, { ...ctx, awaiting: false, phase: 'restoring' })).toMatchObject({ status: 409, message: expect.stringContaining('phase restoring') });
    expect(whyRestoreDecisionRefused({ decision: 'approve', by: 'rosa', roles: ['release-manager'] }, { ...ctx, rules: [] })).toMatchObject({ status: 409, message: 'this restore needs no approval' });
  });

  it('judges who may decide before the state: a stranger or the requester hears 403 also when nothing waits', () => {
    const restoring = { ...ctx, awaiting: false, phase: 'restoring' };
    expect(whyRestoreDecisionRefused({ decision: 'approve', by: 'val', roles: ['viewer'] }, restoring)).toEqual({ status: 403, message: 'val (roles viewer) may not decide on this restore: it needs role release-manager' });
    expect(whyRestoreDecisionRefused({ decision: 'reject', by: 'nobody', roles: [] }, restoring)).toMatchObject({ status: 403, message: expect.stringMatching(/^nobody \(no roles\)/) });
    expect(whyRestoreDecisionRefused({ decision: 'approve', by: 'ada', roles: ['release-manager'] }, restoring)).toEqual({ status: 403, message: 'ada requested this restore and may not approve it' });
    const decided = { ...ctx, approvals: [{ environment: 'prod', decision: 'approve' as const, by: 'val', roles: ['viewer'], comment: null, at: 'then' }] };
    expect(whyRestoreDecisionRefused({ decision: 'approve', by: 'val', roles: ['viewer'] }, decided)?.status).toBe(403);
    // The requester may still reject their own restore (a change of mind), while it waits.
    expect(whyRestoreDecisionRefused({ decision: 'reject', by: 'ada', roles: ['release-manager'] }, ctx)).toBeNull();
    expect(whyNotRestoreDecider({ decision: 'approve', by: 'val', roles: ['viewer'] }, { rules: [], requestedBy: 'ada' })).toBeNull();
  });
});
