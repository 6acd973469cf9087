// The one policy every path shares (src/domain/policy.ts), the signed decisions runs demand
// (src/domain/signing.ts), and the config that feeds them.
import { describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { ConfigError, resolveConfig, type BatonConfig } from '../../src/config';
import {
  attestRefusal,
  cancelRefusal,
  checkRuleOf,
  deploymentActionRefusal,
  directDeploymentRefusal,
  mayIn,
  type DirectDeployment,
} from '../../src/domain/policy';
import { canonicalJson, decisionKeyPair, newDecisionSecret, signDecision, whySignatureRefused } from '../../src/domain/signing';

const example = () => parse(readFileSync(resolve(__dirname, '../../config/example.yaml'), 'utf8')) as Record<string, unknown>;
const config = (edit: (doc: Record<string, unknown>) => void = () => undefined): BatonConfig => {
  const doc = example();
  edit(doc);
  return resolveConfig(doc);
};
const person = (name: string, ...roles: string[]) => ({ name, roles });

describe('permissions per environment', () => {
  const c = config();
  it('scopes a role to its environments; read is never scoped; admin holds everywhere', () => {
    expect(mayIn(c, person('grace', 'deployer'), 'deploy', 'dev')).toBe(true);
    expect(mayIn(c, person('grace', 'deployer'), 'deploy', 'prod')).toBe(false);
    expect(mayIn(c, person('grace', 'deployer'), 'read', 'prod')).toBe(true);
    expect(mayIn(c, person('margaret', 'release-manager'), 'deploy', 'prod')).toBe(true);
    expect(mayIn(c, person('ada', 'admin'), 'deploy', 'prod')).toBe(true);
    expect(mayIn(c, person('devon', 'developer'), 'deploy', 'dev')).toBe(false);
  });

  it('keeps the built-in deployer out of the promotion\'s last environment unless redefined', () => {
    const builtIn = config((d) => {
      delete (d.roles as Record<string, unknown>).deployer;
    });
    expect(builtIn.roleEnvironments.deployer).toEqual(['dev', 'staging']);
    const everywhere = config((d) => {
      (d.roles as Record<string, unknown>).deployer = ['read', 'deploy'];
    });
    expect(everywhere.roleEnvironments.deployer).toBeNull();
  });

  it('refuses a scope naming an unknown environment, and unknown roles in breakGlass, checks and cancel', () => {
    const msg = (edit: (d: Record<string, unknown>) => void) => {
      try {
        config(edit);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as Error).message;
      }
      throw new Error('expected a ConfigError');
    };
    expect(msg((d) => ((d.roles as Record<string, unknown>).deployer = { permissions: ['deploy'], environments: ['qa'] })))
      .toBe("config field 'roles.deployer.environments.0': 'qa' is not declared under 'environments'");
    expect(msg((d) => (d.breakGlass = { role: 'hero' }))).toMatch(/^config field 'breakGlass.role': 'hero' is not a role/);
    expect(msg((d) => (d.checks = { ci: { attestedBy: ['robot'] } }))).toMatch(/^config field 'checks.ci.attestedBy.0': 'robot' is not a role/);
    expect(msg((d) => (d.cancel = { roles: ['boss'] }))).toMatch(/^config field 'cancel.roles.0': 'boss' is not a role/);
  });
});

describe('direct deployments', () => {
  const c = config();
  const d = (over: Partial<DirectDeployment>): DirectDeployment => ({ service: 'web', environment: 'prod', gated: true, breakGlass: null, freezes: [], nowMs: Date.parse('2026-11-30T12:00:00Z'), ...over });
  const freeze = (allowBreakGlass: boolean) => ({ id: 'freeze-1', from: '2026-11-30T00:00:00Z', to: '2026-12-01T00:00:00Z', environments: ['prod'], reason: 'launch', allowBreakGlass });

  it('needs deploy in the environment', () => {
    expect(directDeploymentRefusal(c, person('grace', 'deployer'), d({}))).toEqual({ status: 403, message: expect.stringMatching(/^grace \(deployer\) may not deploy to prod \(needs admin or release-manager\)$/) });
  });
  it('sends a gated environment to the release path unless breaking glass, with the role', () => {
    const rm = person('margaret', 'release-manager');
    expect(directDeploymentRefusal(c, rm, d({}))?.message).toMatch(/^prod is gated for web: deploy through a release \(POST \/v1\/releases\).*'break-glass' may send breakGlass/);
    expect(directDeploymentRefusal(c, rm, d({ breakGlass: { reason: 'x' } }))?.message).toBe("margaret may not break glass (needs role 'break-glass')");
    expect(directDeploymentRefusal(c, person('bea', 'release-manager', 'break-glass'), d({ breakGlass: { reason: 'x' } }))).toBeNull();
    expect(directDeploymentRefusal(c, rm, d({ gated: false }))).toBeNull();
  });
  it('stops at an active freeze; break-glass only gets through a freeze that allows it', () => {
    const bea = person('bea', 'release-manager', 'break-glass');
    expect(directDeploymentRefusal(c, bea, d({ gated: false, freezes: [freeze(true)] }))?.status).toBe(409);
    expect(directDeploymentRefusal(c, bea, d({ breakGlass: { reason: 'x' }, freezes: [freeze(false)] }))?.message).toMatch(/frozen until .*; this freeze does not allow break-glass$/);
    expect(directDeploymentRefusal(c, bea, d({ breakGlass: { reason: 'x' }, freezes: [freeze(true)] }))).toBeNull();
    expect(directDeploymentRefusal(c, bea, d({ gated: false, freezes: [freeze(false)], nowMs: Date.parse('2026-12-02T00:00:00Z') }))).toBeNull();
  });
  it('lets whoever may deploy roll back, and keeps promote in a gated environment for break-glass', () => {
    const rm = person('margaret', 'release-manager');
    expect(deploymentActionRefusal(c, rm, 'prod', 'rollback', true)).toBeNull();
    expect(deploymentActionRefusal(c, rm, 'prod', 'promote', true)?.message).toMatch(/promoting skips prod's soaks/);
    expect(deploymentActionRefusal(c, rm, 'dev', 'promote', false)).toBeNull();
    expect(deploymentActionRefusal(c, person('grace', 'deployer'), 'prod', 'rollback', true)?.status).toBe(403);
  });
});

describe('checks and cancels', () => {
  const c = config();
  it('attests a check by its roles, not by the requester when a gate requires it', () => {
    const ci = checkRuleOf(c, 'ci');
    expect(attestRefusal(ci, person('ci', 'ci'), { name: 'ci', requestedBy: 'devon', required: true })).toBeNull();
    expect(attestRefusal(ci, person('devon', 'developer'), { name: 'ci', requestedBy: 'x', required: true })?.message).toBe("devon may not attest 'ci' (attested by ci)");
    expect(attestRefusal(ci, person('ada', 'admin'), { name: 'ci', requestedBy: 'ada', required: true })?.message).toMatch(/requested this release and may not attest 'ci'/);
    expect(attestRefusal(ci, person('ada', 'admin'), { name: 'ci', requestedBy: 'ada', required: false })).toBeNull();
    // A check config does not name: whoever may start releases.
    const notes = checkRuleOf(c, 'release-notes');
    expect(notes.attestedBy).toEqual(expect.arrayContaining(['admin', 'release-manager', 'developer']));
    expect(attestRefusal(notes, person('devon', 'developer'), { name: 'release-notes', requestedBy: 'devon', required: false })).toBeNull();
  });
  it('cancels for the requester, a cancel role or an admin', () => {
    expect(cancelRefusal(c.cancelRoles, person('devon', 'developer'), 'devon', 'release')).toBeNull();
    expect(cancelRefusal(c.cancelRoles, person('m', 'release-manager'), 'devon', 'release')).toBeNull();
    expect(cancelRefusal(c.cancelRoles, person('ada', 'admin'), 'devon', 'release')).toBeNull();
    expect(cancelRefusal(c.cancelRoles, person('quinn', 'qa'), 'devon', 'release')?.message).toBe("quinn may not cancel devon's release (the requester, release-manager or admin may)");
  });
});

describe('signed decisions', () => {
  const { secret, publicKey } = decisionKeyPair(newDecisionSecret());
  const input = { environment: 'prod', decision: 'approve', by: 'rosa', comment: null };
  it('signs canonical JSON: key order does not matter, undefined is left out', () => {
    expect(canonicalJson({ b: 1, a: [1, { d: undefined, c: 'x' }] })).toBe('{"a":[1,{"c":"x"}],"b":1}');
  });
  it('verifies a signature for its run and Update once, and refuses anything else', () => {
    const signed = signDecision(secret, 'release:web:1.0.0', 'approval', input, Date.parse('2026-11-30T00:00:00Z'));
    const used = new Set<string>();
    expect(whySignatureRefused(publicKey, 'release:web:1.0.0', 'approval', signed, used)).toBeNull();
    expect(whySignatureRefused(publicKey, 'release:web:1.0.1', 'approval', signed, used)).toMatch(/does not verify/);
    expect(whySignatureRefused(publicKey, 'release:web:1.0.0', 'check', signed, used)).toMatch(/does not verify/);
    expect(whySignatureRefused(publicKey, 'release:web:1.0.0', 'approval', { ...signed, by: 'remi' } as typeof signed, used)).toMatch(/does not verify/);
    expect(whySignatureRefused(publicKey, 'release:web:1.0.0', 'approval', { ...signed, signature: 'zz' }, used)).toMatch(/does not verify/);
    expect(whySignatureRefused(publicKey, 'release:web:1.0.0', 'approval', input, used)).toMatch(/not signed by Baton's API/);
    used.add(signed.signature);
    expect(whySignatureRefused(publicKey, 'release:web:1.0.0', 'approval', signed, used)).toMatch(/used already/);
    const other = decisionKeyPair(newDecisionSecret()).publicKey;
    expect(whySignatureRefused(other, 'release:web:1.0.0', 'approval', signed, new Set())).toMatch(/does not verify/);
  });
});
