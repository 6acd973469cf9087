import { describe, expect, it } from 'vitest';
import { activeFreeze, decidersOf, gateProgress, whyApprovalRefused, type ApprovalValidationContext, type GateContext } from '../../src/domain/gates';
import type { ApprovalRecord, CheckRecord, Freeze, GateSpec, TrainSpec } from '../../src/domain/release';
import { PROD_TRAIN } from '../harness/fixtures';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const utc = (iso: string): number => Date.parse(iso);
const at = (ms: number): string => new Date(ms).toISOString();

// Mon 2026-11-02 12:00 UTC: the Monday after US summer time ended.
const NOW = utc('2026-11-02T12:00:00Z');

const prodTrain: TrainSpec = { ...PROD_TRAIN, order: [] };

const gate = (over: Partial<GateSpec> = {}): GateSpec => ({
  checks: [],
  approvals: [],
  stabilitySeconds: 0,
  train: null,
  expirySeconds: 72 * 3600,
  ...over,
});

const ctx = (over: Partial<GateContext> = {}): GateContext => ({
  environment: 'prod',
  nowMs: NOW,
  // Opened an hour ago, unsatisfied and unfrozen since: 71 of its 72 hours left.
  expiry: { leftMs: 71 * HOUR, running: true },
  checks: [],
  approvals: [],
  requestedBy: 'dev',
  hotfix: false,
  hotfixApprovalRole: null,
  previousLiveSinceMs: null,
  previousEnvironment: null,
  freezes: [],
  train: null,
  ...over,
});

const check = (name: string, status: 'passed' | 'failed', atMs: number, url: string | null = null): CheckRecord => ({
  name,
  status,
  url,
  by: 'ci-bot',
  at: at(atMs),
});

const approval = (by: string, roles: string[], over: Partial<ApprovalRecord> = {}): ApprovalRecord => ({
  environment: 'prod',
  decision: 'approve',
  by,
  roles,
  comment: null,
  at: at(NOW - HOUR / 2),
  ...over,
});

const holidays: Freeze = {
  from: '2026-12-20T00:00:00Z',
  to: '2027-01-04T00:00:00Z',
  environments: ['staging', 'prod'],
  reason: 'holidays',
};

describe('a gate with no requirements', () => {
  it('is ready at once and has nothing pending', () => {
    const p = gateProgress(gate(), ctx());
    expect(p.ready).toBe(true);
    expect(p.pending).toEqual([]);
    expect(p.expired).toBe(false);
    expect(p.expiresAtMs).toBe(NOW + 71 * HOUR);
    expect(p.expiryLeftSeconds).toBe(71 * 3600);
  });
});

describe('checks', () => {
  const g = gate({ checks: ['ci', 'security-scan'] });

  it('waits for a check that has not been recorded', () => {
    const p = gateProgress(g, ctx({ checks: [check('ci', 'passed', NOW - HOUR)] }));
    expect(p.ready).toBe(false);
    expect(p.checks).toEqual([
      { name: 'ci', status: 'passed', url: null, at: at(NOW - HOUR) },
      { name: 'security-scan', status: 'missing', url: null, at: null },
    ]);
    expect(p.pending).toEqual(["waiting for check 'security-scan'"]);
  });

  it('is blocked by a failed check until a newer passing run arrives', () => {
    const failed = check('ci', 'failed', NOW - 2 * HOUR, 'https://ci.example/run/1');
    const scan = check('security-scan', 'passed', NOW - 2 * HOUR);
    const blocked = gateProgress(g, ctx({ checks: [failed, scan] }));
    expect(blocked.ready).toBe(false);
    expect(blocked.pending).toEqual(["check 'ci' failed (https://ci.example/run/1); waiting for a newer passing run"]);

    const fixed = gateProgress(g, ctx({ checks: [failed, scan, check('ci', 'passed', NOW - HOUR, 'https://ci.example/run/2')] }));
    expect(fixed.ready).toBe(true);
    expect(fixed.checks[0]).toMatchObject({ status: 'passed', url: 'https://ci.example/run/2' });
  });

  it('counts the newest record by time, not by arrival order, and a newer failure blocks again', () => {
    const passedLater = check('ci', 'passed', NOW - HOUR);
    const failedEarlier = check('ci', 'failed', NOW - 2 * HOUR);
    expect(gateProgress(gate({ checks: ['ci'] }), ctx({ checks: [passedLater, failedEarlier] })).ready).toBe(true);
    const failedLater = check('ci', 'failed', NOW - HOUR / 2);
    const p = gateProgress(gate({ checks: ['ci'] }), ctx({ checks: [passedLater, failedLater] }));
    expect(p.ready).toBe(false);
    expect(p.pending).toEqual(["check 'ci' failed; waiting for a newer passing run"]);
  });
});

describe('approval rules', () => {
  it('needs count distinct people holding the role', () => {
    const g = gate({ approvals: [{ role: 'release-manager', count: 2 }] });
    const one = gateProgress(g, ctx({ approvals: [approval('rm1', ['release-manager'])] }));
    expect(one.ready).toBe(false);
    expect(one.approvals).toEqual([{ rule: { role: 'release-manager', count: 2 }, by: ['rm1'], missing: 1 }]);
    expect(one.pending).toEqual(['waiting for 1 more release-manager approval']);

    const none = gateProgress(g, ctx());
    expect(none.pending).toEqual(['waiting for 2 more release-manager approvals']);

    const two = gateProgress(g, ctx({ approvals: [approval('rm1', ['release-manager']), approval('rm2', ['release-manager'])] }));
    expect(two.ready).toBe(true);
    expect(two.approvals[0].by).toEqual(['rm1', 'rm2']);
  });

  it('counts one person once, even when recorded twice', () => {
    const g = gate({ approvals: [{ role: 'release-manager', count: 2 }] });
    const p = gateProgress(g, ctx({ approvals: [approval('rm1', ['release-manager']), approval('rm1', ['release-manager'])] }));
    expect(p.approvals[0]).toMatchObject({ by: ['rm1'], missing: 1 });
  });

  it('ignores approvals for other environments and people without the role', () => {
    const g = gate({ approvals: [{ role: 'qa', count: 1 }] });
    const p = gateProgress(
      g,
      ctx({ approvals: [approval('quinn', ['qa'], { environment: 'staging' }), approval('pat', ['product'])] }),
    );
    expect(p.approvals[0]).toMatchObject({ by: [], missing: 1 });
  });

  it('never counts the requester', () => {
    const g = gate({ approvals: [{ role: 'qa', count: 1 }] });
    const p = gateProgress(g, ctx({ requestedBy: 'quinn', approvals: [approval('quinn', ['qa'])] }));
    expect(p.approvals[0].missing).toBe(1);
  });

  it('counts a person with two roles towards one rule only', () => {
    const g = gate({ approvals: [{ role: 'qa', count: 1 }, { role: 'product', count: 1 }] });
    const p = gateProgress(g, ctx({ approvals: [approval('both', ['qa', 'product'])] }));
    expect(p.ready).toBe(false);
    expect(p.approvals.map((a) => a.missing)).toEqual([0, 1]);
    expect(p.pending).toEqual(['waiting for 1 more product approval']);
  });

  it('moves a two-role approver to the rule only they can fill (not first come, first served)', () => {
    const g = gate({ approvals: [{ role: 'qa', count: 1 }, { role: 'product', count: 1 }] });
    // "both" approved first and would greedily take the qa slot, leaving the qa-only approver unused.
    const p = gateProgress(g, ctx({ approvals: [approval('both', ['qa', 'product']), approval('quinn', ['qa'])] }));
    expect(p.ready).toBe(true);
    expect(p.approvals.map((a) => a.by)).toEqual([['quinn'], ['both']]);
  });

  it('fills rules of several counts with distinct people', () => {
    const g = gate({ approvals: [{ role: 'release-manager', count: 2 }, { role: 'qa', count: 1 }] });
    const people = [approval('a', ['release-manager', 'qa']), approval('b', ['release-manager', 'qa']), approval('c', ['release-manager'])];
    const p = gateProgress(g, ctx({ approvals: people }));
    expect(p.ready).toBe(true);
    expect(p.approvals.map((a) => a.by.length)).toEqual([2, 1]);
    expect(new Set(p.approvals.flatMap((a) => a.by)).size).toBe(3);
  });
});

describe('rejection', () => {
  it('keeps the gate not ready and says who rejected it and why', () => {
    const g = gate({ approvals: [{ role: 'qa', count: 1 }] });
    const p = gateProgress(
      g,
      ctx({ approvals: [approval('quinn', ['qa'], { decision: 'reject', comment: 'login broken on Safari' })] }),
    );
    expect(p.ready).toBe(false);
    expect(p.approvals[0].missing).toBe(1);
    expect(p.pending).toEqual(['rejected by quinn: login broken on Safari', 'waiting for 1 more qa approval']);
  });
});

describe('stability', () => {
  const g = gate({ stabilitySeconds: 7 * 86400 });
  const staging = { previousEnvironment: 'staging' };

  it('waits until the version has been live in the previous environment long enough', () => {
    const p = gateProgress(g, ctx({ ...staging, previousLiveSinceMs: NOW - HOUR }));
    expect(p.ready).toBe(false);
    expect(p.stabilityRemainingSeconds).toBe(7 * 86400 - 3600);
    expect(p.pending).toEqual(['waiting for 6d23h of stability in staging']);
    // A countdown shows whole minutes, rounded up.
    expect(gateProgress(g, ctx({ ...staging, previousLiveSinceMs: NOW - 1000 })).pending).toEqual([
      'waiting for 7d of stability in staging',
    ]);
  });

  it('is met once the time has passed', () => {
    const p = gateProgress(g, ctx({ ...staging, previousLiveSinceMs: NOW - 7 * DAY }));
    expect(p.ready).toBe(true);
    expect(p.stabilityRemainingSeconds).toBe(0);
  });

  it('says when the version is not yet live in the previous environment', () => {
    const p = gateProgress(g, ctx({ ...staging }));
    expect(p.stabilityRemainingSeconds).toBe(7 * 86400);
    expect(p.pending).toEqual(['waiting for the version to go live in staging, then 7d of stability there']);
  });

  it('does not apply to the first environment', () => {
    expect(gateProgress(g, ctx()).ready).toBe(true);
  });

  it('is waived for a hotfix approved by someone with the hotfix role, and says so', () => {
    const hotfix = { ...staging, previousLiveSinceMs: NOW - HOUR, hotfix: true, hotfixApprovalRole: 'sre' };
    const waiting = gateProgress(g, ctx(hotfix));
    expect(waiting.ready).toBe(false);
    expect(waiting.pending).toEqual([
      "waiting for 6d23h of stability in staging (or, for this hotfix, an approval by someone with role 'sre')",
    ]);

    const waived = gateProgress(g, ctx({ ...hotfix, approvals: [approval('sam', ['sre'])] }));
    expect(waived.ready).toBe(true);
    expect(waived.stabilityRemainingSeconds).toBe(0);
    expect(waived.stabilityWaivedBy).toBe('sam');
    expect(waived.notes).toEqual(['hotfix: stability in staging waived by sam (sre)']);

    // Once the version has been stable long enough, nothing was waived.
    const stable = gateProgress(g, ctx({ ...hotfix, previousLiveSinceMs: NOW - 7 * DAY, approvals: [approval('sam', ['sre'])] }));
    expect(stable.stabilityWaivedBy).toBeNull();
    expect(stable.notes).toEqual([]);
  });

  it('is not waived without the hotfix flag, by the hotfix role in another environment, or by the requester', () => {
    const base = { ...staging, previousLiveSinceMs: NOW - HOUR, hotfixApprovalRole: 'sre' };
    expect(gateProgress(g, ctx({ ...base, approvals: [approval('sam', ['sre'])] })).ready).toBe(false);
    const otherEnv = approval('sam', ['sre'], { environment: 'staging' });
    expect(gateProgress(g, ctx({ ...base, hotfix: true, approvals: [otherEnv] })).ready).toBe(false);
    expect(gateProgress(g, ctx({ ...base, hotfix: true, requestedBy: 'sam', approvals: [approval('sam', ['sre'])] })).ready).toBe(false);
  });

  it('is not waived for a hotfix when no hotfix role is configured', () => {
    const p = gateProgress(g, ctx({ ...staging, previousLiveSinceMs: NOW - HOUR, hotfix: true }));
    expect(p.ready).toBe(false);
    expect(p.pending).toEqual(['waiting for 6d23h of stability in staging']);
  });
});

describe('freezes', () => {
  it('finds the freeze covering an environment at an instant, [from, to)', () => {
    const inside = utc('2026-12-24T12:00:00Z');
    expect(activeFreeze([holidays], 'prod', inside)).toBe(holidays);
    expect(activeFreeze([holidays], 'dev', inside)).toBeNull();
    expect(activeFreeze([holidays], 'prod', utc(holidays.from))).toBe(holidays);
    expect(activeFreeze([holidays], 'prod', utc(holidays.to))).toBeNull();
    expect(activeFreeze([holidays], 'prod', utc(holidays.from) - 1)).toBeNull();
  });

  it('names the overlapping freeze that ends last', () => {
    const longer: Freeze = { ...holidays, to: '2027-01-11T00:00:00Z', reason: 'year-end audit' };
    expect(activeFreeze([holidays, longer], 'prod', utc('2026-12-24T00:00:00Z'))).toBe(longer);
  });

  it('ignores a freeze with unreadable dates', () => {
    expect(activeFreeze([{ ...holidays, from: 'soon' }], 'prod', utc('2026-12-24T00:00:00Z'))).toBeNull();
  });

  it('blocks a gate whose other requirements hold, and says until when', () => {
    const nowMs = utc('2026-12-24T12:00:00Z');
    const p = gateProgress(gate(), ctx({ nowMs, expiry: { leftMs: 71 * HOUR, running: false }, freezes: [holidays] }));
    expect(p.ready).toBe(false);
    expect(p.frozen).toBe(holidays);
    expect(p.pending).toEqual(['frozen until Mon 2027-01-04 00:00 UTC: holidays']);
  });
});

describe('expiry', () => {
  it('is expired when no time is left, and then never ready, whatever else holds', () => {
    const g = gate({ expirySeconds: 72 * 3600, approvals: [{ role: 'qa', count: 1 }] });
    const counting = gateProgress(g, ctx({ expiry: { leftMs: HOUR, running: true } }));
    expect(counting).toMatchObject({ expired: false, expiresAtMs: NOW + HOUR, expiryLeftSeconds: 3600 });

    const after = gateProgress(g, ctx({ expiry: { leftMs: 0, running: true }, approvals: [approval('quinn', ['qa'])] }));
    expect(after.expired).toBe(true);
    expect(after.ready).toBe(false);
    expect(after.requirementsHold).toBe(true);
    expect(after.pending).toEqual(['gate expired: not satisfied within 3d of open, unfrozen time']);
  });

  it('promises no expiry instant while the count is held (satisfied, frozen) or not started', () => {
    expect(gateProgress(gate(), ctx({ expiry: { leftMs: 5 * HOUR, running: false } }))).toMatchObject({ expiresAtMs: null, expiryLeftSeconds: 5 * 3600 });
    expect(gateProgress(gate(), ctx({ expiry: null }))).toMatchObject({ expired: false, expiresAtMs: null, expiryLeftSeconds: null });
  });
});

describe('train', () => {
  const g = gate({ train: 'prod', approvals: [{ role: 'release-manager', count: 2 }] });

  it('is ready without the train but names the next departure in local time and UTC', () => {
    const approvals = [approval('rm1', ['release-manager']), approval('rm2', ['release-manager'])];
    const p = gateProgress(g, ctx({ train: prodTrain, approvals }));
    expect(p.ready).toBe(true);
    expect(p.nextDepartureMs).toBe(utc('2026-11-03T18:00:00Z'));
    expect(p.pending).toEqual(['next train Tue 10:00 PST (Tue 2026-11-03 18:00 UTC)']);
  });

  it('lists the missing approvals before the train, in plain words', () => {
    const p = gateProgress(g, ctx({ train: prodTrain, approvals: [approval('rm1', ['release-manager'])] }));
    expect(p.pending).toEqual([
      'waiting for 1 more release-manager approval',
      'next train Tue 10:00 PST (Tue 2026-11-03 18:00 UTC)',
    ]);
  });

  it('offers the departure whose window is still open', () => {
    const nowMs = utc('2026-11-03T19:00:00Z');
    const p = gateProgress(gate({ train: 'prod' }), ctx({ train: prodTrain, nowMs }));
    expect(p.nextDepartureMs).toBe(utc('2026-11-03T18:00:00Z'));
    expect(p.pending).toEqual(['train Tue 10:00 PST (Tue 2026-11-03 18:00 UTC) is boarding until Tue 14:00 PST']);
  });

  it('skips departures that fall in a freeze', () => {
    const nowMs = utc('2026-12-24T12:00:00Z');
    const p = gateProgress(gate({ train: 'prod' }), ctx({ train: prodTrain, nowMs, freezes: [holidays] }));
    expect(p.nextDepartureMs).toBe(utc('2027-01-05T18:00:00Z'));
    expect(p.pending).toEqual([
      'frozen until Mon 2027-01-04 00:00 UTC: holidays',
      'next train Tue 10:00 PST (Tue 2027-01-05 18:00 UTC)',
    ]);
  });

  it('says so when the gate names a train that has no schedule', () => {
    const p = gateProgress(gate({ train: 'prod' }), ctx());
    expect(p.nextDepartureMs).toBeNull();
    expect(p.pending).toEqual(["waiting for train 'prod', which has no schedule"]);
  });
});

describe('the runbook prod gate, in plain words', () => {
  it('lists every outstanding requirement in order', () => {
    const g = gate({
      checks: ['ci', 'security-scan'],
      approvals: [{ role: 'release-manager', count: 2 }],
      stabilitySeconds: 7 * 86400,
      train: 'prod',
    });
    const p = gateProgress(
      g,
      ctx({
        checks: [check('ci', 'failed', NOW - HOUR, 'https://ci.example/run/7')],
        approvals: [approval('rm1', ['release-manager'])],
        previousEnvironment: 'staging',
        previousLiveSinceMs: NOW - HOUR,
        train: prodTrain,
      }),
    );
    expect(p.ready).toBe(false);
    expect(p.pending).toEqual([
      "check 'ci' failed (https://ci.example/run/7); waiting for a newer passing run",
      "waiting for check 'security-scan'",
      'waiting for 1 more release-manager approval',
      'waiting for 6d23h of stability in staging',
      'next train Tue 10:00 PST (Tue 2026-11-03 18:00 UTC)',
    ]);
  });
});

describe('approval validation', () => {
  const prodGate = gate({ approvals: [{ role: 'release-manager', count: 2 }], stabilitySeconds: 7 * 86400 });
  const vctx = (over: Partial<ApprovalValidationContext> = {}): ApprovalValidationContext => ({
    gate: prodGate,
    gateState: 'open',
    requestedBy: 'dev',
    approvals: [],
    nowMs: NOW,
    expiryLeftMs: DAY,
    hotfix: false,
    hotfixApprovalRole: null,
    ...over,
  });
  const req = (by: string, roles: string[], decision: 'approve' | 'reject' = 'approve') => ({
    environment: 'prod',
    decision,
    by,
    roles,
  });

  it('accepts an approval by a person with a required role', () => {
    expect(whyApprovalRefused(req('rm1', ['release-manager']), vctx())).toBeNull();
  });

  it('accepts a rejection by a person with a required role, also while the satisfied gate waits for its train', () => {
    expect(whyApprovalRefused(req('rm1', ['release-manager'], 'reject'), vctx())).toBeNull();
    expect(whyApprovalRefused(req('rm1', ['release-manager'], 'reject'), vctx({ gateState: 'satisfied' }))).toBeNull();
  });

  it('refuses with 409 when the environment has no gate', () => {
    expect(whyApprovalRefused(req('rm1', ['release-manager']), vctx({ gate: null }))).toEqual({
      status: 409,
      message: "environment 'prod' has no gate to decide on",
    });
  });

  it('refuses with 409 when the gate is not the open one', () => {
    for (const gateState of ['waiting', 'satisfied', 'departed', 'rejected', 'skipped'] as const) {
      expect(whyApprovalRefused(req('rm1', ['release-manager']), vctx({ gateState }))).toEqual({
        status: 409,
        message: `gate 'prod' is not open (state ${gateState})`,
      });
    }
  });

  it('refuses with 409 after the gate expired, even before the workflow noticed', () => {
    const late = whyApprovalRefused(req('rm1', ['release-manager']), vctx({ expiryLeftMs: 0 }));
    expect(late).toEqual({ status: 409, message: "gate 'prod' expired; it takes no more decisions" });
    expect(whyApprovalRefused(req('rm1', ['release-manager']), vctx({ gateState: 'expired' }))?.status).toBe(409);
  });

  it('refuses with 403 a person holding none of the roles the gate needs', () => {
    expect(whyApprovalRefused(req('devon', ['developer']), vctx())).toEqual({
      status: 403,
      message: "devon (roles developer) may not decide on gate 'prod': it needs role release-manager",
    });
    expect(whyApprovalRefused(req('nobody', []), vctx())?.message).toMatch(/^nobody \(no roles\)/);
    // Rejecting needs the role too.
    expect(whyApprovalRefused(req('devon', ['developer'], 'reject'), vctx())?.status).toBe(403);
  });

  it('refuses with 403, before any state, a person who may never decide here and the requester approving their own', () => {
    // Authorization comes first: they do not learn whether the gate is open, expired or decided.
    for (const over of [{ gateState: 'waiting' as const }, { gateState: 'expired' as const }, { expiryLeftMs: 0 }, { approvals: [approval('devon', ['developer'])] }]) {
      expect(whyApprovalRefused(req('devon', ['developer']), vctx(over))).toEqual({
        status: 403,
        message: "devon (roles developer) may not decide on gate 'prod': it needs role release-manager",
      });
      expect(whyApprovalRefused(req('rm1', ['release-manager']), vctx({ ...over, requestedBy: 'rm1' }))).toEqual({
        status: 403,
        message: 'rm1 requested this release and may not approve it',
      });
    }
  });

  it('accepts the hotfix role on a hotfix gate that has stability to waive, and only then', () => {
    const hotfix = vctx({ hotfix: true, hotfixApprovalRole: 'sre' });
    expect(whyApprovalRefused(req('sam', ['sre']), hotfix)).toBeNull();
    expect(whyApprovalRefused(req('sam', ['sre']), vctx({ hotfixApprovalRole: 'sre' }))?.message).toMatch(/needs role release-manager$/);
    expect(whyApprovalRefused(req('rm1', ['developer']), hotfix)?.message).toMatch(/needs role release-manager or sre$/);
  });

  it('refuses with 409 a gate that takes no approvals', () => {
    expect(whyApprovalRefused(req('rm1', ['release-manager']), vctx({ gate: gate() }))).toEqual({
      status: 409,
      message: "gate 'prod' needs no approvals",
    });
  });

  it('refuses with 403 the requester approving their own release', () => {
    expect(whyApprovalRefused(req('rm1', ['release-manager']), vctx({ requestedBy: 'rm1' }))).toEqual({
      status: 403,
      message: 'rm1 requested this release and may not approve it',
    });
  });

  it('refuses with 409 the same person deciding twice on this gate', () => {
    const earlier = approval('rm1', ['release-manager']);
    expect(whyApprovalRefused(req('rm1', ['release-manager']), vctx({ approvals: [earlier] }))).toEqual({
      status: 409,
      message: `rm1 already approved gate 'prod' at ${earlier.at}; each person decides once`,
    });
    expect(whyApprovalRefused(req('rm1', ['release-manager'], 'reject'), vctx({ approvals: [earlier] }))?.status).toBe(409);
  });

  it('lets a person who decided on another environment decide on this one', () => {
    const staging = approval('rm1', ['release-manager'], { environment: 'staging' });
    expect(whyApprovalRefused(req('rm1', ['release-manager']), vctx({ approvals: [staging] }))).toBeNull();
  });
});

describe('the people a run knows', () => {
  it('keeps the holders of the roles named, admins and the requester, each with all their roles', () => {
    const people = [
      { name: 'ada', roles: ['admin', 'break-glass'] },
      { name: 'rosa', roles: ['release-manager', 'on-call'] },
      { name: 'quinn', roles: ['qa'] },
      { name: 'dev', roles: ['developer'] },
      { name: 'val', roles: ['viewer'] },
    ];
    expect(decidersOf(people, ['release-manager'], 'dev')).toEqual([people[0], people[1], people[3]]);
    expect(decidersOf(people, ['qa', 'on-call'], 'nobody').map((p) => p.name)).toEqual(['ada', 'rosa', 'quinn']);
    // A copy: a change to config after the start does not reach the run's snapshot.
    const snapshot = decidersOf(people, [], 'val');
    snapshot[0].roles.push('release-manager');
    expect(people[0].roles).toEqual(['admin', 'break-glass']);
  });
});
