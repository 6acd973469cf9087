import { describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { readFileSync } from 'node:fs';
import { ConfigError, gateFor, hashToken, loadConfigFile, permissionsOf, readRuntimeEnv, resolveConfig } from '../../src/config';
import { newToken, sandboxConfigDoc, sandboxPeople } from '../../src/sandbox/sandbox-config';
import type { SeededTarget } from '../../src/sandbox/seed';

const examplePath = resolve(__dirname, '../../config/example.yaml');
const example = () => parse(readFileSync(examplePath, 'utf8'));


/** A target as the sandbox seeds it (us-east-1, blue live at 1.0.0), routed by `traffic`. */
function seededTarget(service: string, environment: string, traffic: SeededTarget['traffic']): SeededTarget {
  return {
    service,
    environment,
    region: 'us-east-1',
    image: `sandbox/${service}`,
    liveVersion: '1.0.0',
    ecs: { cluster: `${service}-${environment}`, blueService: 'b', greenService: 'g' },
    traffic,
    metrics: {
      namespace: 'Baton/Sandbox',
      requests: { metricName: 'Requests', statistic: 'Sum' },
      errors: { metricName: 'Errors5xx', statistic: 'Sum' },
      latency: { metricName: 'LatencyMs', statistic: 'Average', unit: 'milliseconds' },
      blueDimensions: { Colour: 'blue' },
      greenDimensions: { Colour: 'green' },
    },
  };
}

function errorOf(doc: unknown): string {
  try {
    resolveConfig(doc);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('loads the README example and resolves the production plan', () => {
    const c = loadConfigFile(examplePath);
    const prod = c.services.web.environments.prod;
    expect(prod.plan.steps).toHaveLength(7);
    expect(prod.plan.keepPreviousForSeconds).toBe(3600);
    expect(prod.plan.standbyForSeconds).toBe(86400);
    expect(prod.plan.analysis).toEqual({ intervalSeconds: 60, windowSeconds: 300, failureLimit: 2, inconclusiveLimit: 5, lagSeconds: 60 });
    expect(prod.plan).toMatchObject({ escalateAfterSeconds: 300, drainMarginSeconds: 30 });
    expect(prod.metrics.extraErrors).toEqual([
      { metricName: 'TargetConnectionErrorCount', statistic: 'Sum', scope: 'colour' },
      { metricName: 'HTTPCode_ELB_5XX_Count', statistic: 'Sum', scope: 'loadBalancer' },
    ]);
    expect(prod.metrics.latency).toEqual({ metricName: 'TargetResponseTime', statistic: 'p95', unit: 'seconds' });
    expect(prod.smokeTestUrls.green).toBe('https://web-green.prod.internal.example.com/healthz');
    expect(prod.thresholds).toEqual({ maxErrorRate: 0.01, maxLatencyMs: 500, minRequests: 100 });
    const api = c.services.api.environments.prod;
    expect(api.traffic).toMatchObject({ type: 'route53', recordName: 'api.example.com.', setIdentifiers: { blue: 'blue', green: 'green' } });
    expect(c.temporal.taskQueue).toBe('baton');
  });

  it('names the field when a required one is missing', () => {
    const doc = example();
    delete doc.services.web.environments.prod.ecs.cluster;
    expect(errorOf(doc)).toMatch(/services\.web\.environments\.prod\.ecs\.cluster/);
  });

  it('names the field of a bad traffic router', () => {
    const doc = example();
    doc.services.web.environments.prod.traffic.type = 'nginx';
    expect(errorOf(doc)).toMatch(/services\.web\.environments\.prod\.traffic\.type.*'alb' or 'route53'/);
    const doc2 = example();
    delete doc2.services.web.environments.prod.traffic.listenerArn;
    expect(errorOf(doc2)).toMatch(/traffic\.listenerArn/);
  });

  it('names a malformed duration and a broken plan', () => {
    const doc = example();
    doc.plans.production.keepPreviousFor = 'an hour';
    expect(errorOf(doc)).toMatch(/plans\.production\.keepPreviousFor.*not a duration/);
    const doc2 = example();
    doc2.plans.quick.steps = [{ shift: 50 }];
    expect(errorOf(doc2)).toMatch(/plans\.quick\.steps.*100 %/);
  });

  it('refuses a soak too short for its failure limit: it could never roll back', () => {
    const doc = example();
    doc.plans.production.analysis = { ...doc.plans.production.analysis, interval: '1m', failureLimit: 6 };
    expect(errorOf(doc)).toBe(
      "config field 'plans.production.steps': step 2: a 5m soak holds 5 samples at 1m intervals, fewer than failureLimit 6: it could never roll back (soak at least 6m)",
    );
  });

  it('reads the analysis lag, the escalation time and the ALB\'s extra error metrics', () => {
    const doc = example();
    doc.plans.production.analysis = { ...doc.plans.production.analysis, lag: '2m' };
    doc.plans.production.escalateAfter = '10m';
    doc.services.web.environments.prod.metrics.extraErrors = [{ metricName: 'HTTPCode_ELB_502_Count', scope: 'loadBalancer' }];
    const prod = resolveConfig(doc).services.web.environments.prod;
    expect(prod.plan.analysis.lagSeconds).toBe(120);
    expect(prod.plan.escalateAfterSeconds).toBe(600);
    expect(prod.metrics.extraErrors).toEqual([{ metricName: 'HTTPCode_ELB_502_Count', statistic: 'Sum', scope: 'loadBalancer' }]);
    // Without a LoadBalancer dimension the ALB's own 5xx cannot be read: asked for, it is an error; by default, left out.
    const noLb = example();
    noLb.services.web.environments.prod.metrics.blueDimensions = { TargetGroup: 'tg/blue' };
    expect(resolveConfig(noLb).services.web.environments.prod.metrics.extraErrors.map((x) => x.metricName)).toEqual(['TargetConnectionErrorCount']);
    noLb.services.web.environments.prod.metrics.extraErrors = [{ metricName: 'HTTPCode_ELB_5XX_Count', scope: 'loadBalancer' }];
    expect(errorOf(noLb)).toMatch(/extraErrors\.0\.scope': 'loadBalancer' needs a LoadBalancer dimension/);
  });

  it('refuses references to unknown plans and environments', () => {
    const doc = example();
    doc.environments.prod.plan = 'yolo';
    expect(errorOf(doc)).toMatch(/environments\.prod\.plan.*no plan named 'yolo'/);
    const doc2 = example();
    doc2.services.web.environments.qa = doc2.services.web.environments.prod;
    expect(errorOf(doc2)).toMatch(/'qa' is not declared/);
  });

  it('refuses an unknown role and a plaintext token', () => {
    const doc = example();
    doc.people[0].roles = ['superuser'];
    expect(errorOf(doc)).toMatch(/people\.0\.roles/);
    const doc2 = example();
    doc2.people[0].tokenSha256 = 'hunter2';
    expect(errorOf(doc2)).toMatch(/people\.0\.tokenSha256/);
  });

  it('refuses a smoke-test URL that cannot tell the colours apart', () => {
    const doc = example();
    doc.services.web.environments.prod.smokeTestUrl = 'https://web.example.com/healthz';
    expect(errorOf(doc)).toMatch(/smokeTestUrl.*\{colour\}/);
  });

  it('resolves where Slack messages go, how often they change, and the links they carry', () => {
    const c = loadConfigFile(examplePath);
    expect(c.notifications).toEqual({ channel: 'C0123456789', updateEverySeconds: 5 });
    expect(c.api).toMatchObject({ publicUrl: 'https://baton.example.com', temporalUiUrl: 'https://temporal.example.com' });
    expect(c.people.find((p) => p.name === 'ada')?.slackUserId).toBe('U0ADA');

    const quiet = example();
    delete quiet.notifications;
    expect(resolveConfig(quiet).notifications).toEqual({ updateEverySeconds: 5 });
    const slow = example();
    slow.notifications.updateEvery = '1m';
    expect(resolveConfig(slow).notifications.updateEverySeconds).toBe(60);
    slow.notifications.updateEvery = 'often';
    expect(errorOf(slow)).toMatch(/^config field 'notifications\.updateEvery': 'often' is not a duration/);
    const bad = example();
    bad.api.publicUrl = 'baton.example.com';
    expect(errorOf(bad)).toMatch(/api\.publicUrl/);
  });

  it('explains a missing file and a missing BATON_CONFIG in one line', () => {
    expect(() => loadConfigFile('/nonexistent/baton.yaml')).toThrow(/cannot read config file/);
    expect(() => readRuntimeEnv({})).toThrow(/BATON_CONFIG is not set/);
  });

  it('hashes tokens with SHA-256', () => {
    expect(hashToken('foo')).toBe('2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae');
  });

  describe('roles and permissions', () => {
    const person = (...roles: string[]) => ({ roles });
    const perms = (doc: unknown, ...roles: string[]) => [...permissionsOf(resolveConfig(doc), person(...roles))].sort();

    it('has the built-in roles when `roles:` is omitted', () => {
      const doc = example();
      delete doc.roles;
      delete doc.breakGlass; // these name declared roles
      delete doc.checks;
      delete doc.cancel;
      doc.people = doc.people.filter((p: { roles: string[] }) => p.roles.every((r) => ['viewer', 'deployer', 'approver', 'admin'].includes(r)));
      doc.environments = { dev: { plan: 'quick' }, staging: { plan: 'standard' }, prod: { plan: 'production' } };
      delete doc.trains;
      delete doc.hotfix;
      delete doc.services.web.gates;
      delete doc.services.api.dr; // its emergency role, on-call, is a declared one
      const c = resolveConfig(doc);
      expect(c.roles).toEqual({ viewer: ['read'], deployer: ['read', 'deploy'], approver: ['read'], admin: ['admin'] });
      expect(perms(doc, 'viewer')).toEqual(['read']);
      expect(perms(doc, 'deployer')).toEqual(['deploy', 'read']);
      expect(perms(doc, 'approver')).toEqual(['read']);
      expect(perms(doc, 'admin')).toEqual(['admin', 'deploy', 'failover', 'freeze', 'read', 'release', 'restore']);
    });

    it('resolves declared roles, unions a person\'s roles, and keeps admin all-powerful', () => {
      const doc = example();
      expect(perms(doc, 'developer')).toEqual(['read', 'release']);
      expect(perms(doc, 'qa')).toEqual(['read']);
      expect(perms(doc, 'qa', 'deployer')).toEqual(['deploy', 'read']);
      doc.roles.admin = ['read'];
      doc.roles.viewer = ['read', 'release'];
      doc.roles.boss = ['admin'];
      expect(perms(doc, 'admin')).toEqual(['admin', 'deploy', 'failover', 'freeze', 'read', 'release', 'restore']);
      expect(perms(doc, 'viewer')).toEqual(['read', 'release']);
      expect(perms(doc, 'boss')).toEqual(['admin', 'deploy', 'failover', 'freeze', 'read', 'release', 'restore']);
    });

    it('refuses a person with a role that is neither built in nor declared', () => {
      const doc = example();
      doc.people[3].roles = ['release-manger'];
      expect(errorOf(doc)).toMatch(/^config field 'people\.3\.roles\.0': 'release-manger' is not a role/);
    });

    it('refuses an unknown permission and a badly named role', () => {
      const doc = example();
      doc.roles.qa = ['approve'];
      expect(errorOf(doc)).toMatch(/roles\.qa\.0/);
      const doc2 = example();
      doc2.roles['Release Manager'] = ['read'];
      expect(errorOf(doc2)).toMatch(/roles\.Release Manager.*lower-case/);
    });
  });

  describe('release gates', () => {
    it('resolves each environment\'s gate, with defaults, and the promotion order', () => {
      const c = loadConfigFile(examplePath);
      expect(c.promotion).toEqual(['dev', 'staging', 'prod']);
      expect(c.environments.dev).toEqual({ plan: 'quick', gate: null });
      expect(c.environments.staging.gate).toEqual({
        checks: ['ci'], approvals: [{ role: 'qa', count: 1 }], stabilitySeconds: 0, train: null, expirySeconds: 72 * 3600,
      });
      expect(c.environments.prod.gate).toEqual({
        checks: ['ci', 'security-scan'],
        approvals: [{ role: 'qa', count: 1 }, { role: 'product', count: 1 }],
        stabilitySeconds: 7 * 86400,
        train: 'prod',
        expirySeconds: 72 * 3600,
      });
    });

    it('lets a service replace an environment\'s gate (gateFor)', () => {
      const c = loadConfigFile(examplePath);
      expect(gateFor(c, 'web', 'prod')?.checks).toEqual(['ci', 'security-scan', 'release-notes']);
      expect(gateFor(c, 'web', 'prod')?.approvals).toContainEqual({ role: 'release-manager', count: 1 });
      expect(gateFor(c, 'api', 'prod')).toEqual(c.environments.prod.gate);
      expect(gateFor(c, 'web', 'dev')).toBeNull();
      expect(gateFor(c, 'web', 'nowhere')).toBeNull();
      const doc = example();
      doc.services.web.gates = { prod: null };
      expect(gateFor(resolveConfig(doc), 'web', 'prod')).toBeNull();
    });

    it('defaults the promotion order to the order of environments', () => {
      const doc = example();
      delete doc.promotion;
      doc.environments = { staging: doc.environments.staging, dev: doc.environments.dev, prod: doc.environments.prod };
      expect(resolveConfig(doc).promotion).toEqual(['staging', 'dev', 'prod']);
    });

    it('resolves `train: <environment>` to that environment\'s train', () => {
      const doc = example();
      doc.environments.staging.gate.train = 'prod';
      expect(resolveConfig(doc).environments.staging.gate?.train).toBe('prod');
    });

    const refusals: Array<[string, (doc: Record<string, any>) => void, RegExp]> = [ // eslint-disable-line @typescript-eslint/no-explicit-any
      ['promotion naming an unknown environment', (d) => { d.promotion = ['dev', 'qa', 'prod']; }, /^config field 'promotion\.1': 'qa' is not declared under 'environments'/],
      ['an environment twice in the promotion', (d) => { d.promotion = ['dev', 'prod', 'prod']; }, /^config field 'promotion\.2': 'prod' appears twice/],
      ['a train pointing at an environment without one', (d) => { d.environments.staging.gate.train = true; }, /^config field 'environments\.staging\.gate\.train': environment 'staging' has no train/],
      ['a train pointing at no environment', (d) => { d.environments.prod.gate.train = 'moon'; }, /^config field 'environments\.prod\.gate\.train': 'moon' is not declared/],
      ['an approval by an unknown role', (d) => { d.environments.prod.gate.approvals[1].role = 'ceo'; }, /^config field 'environments\.prod\.gate\.approvals\.1\.role': 'ceo' is not a role/],
      ['more approvals than people with the role', (d) => { d.environments.staging.gate.approvals[0].count = 2; }, /^config field 'environments\.staging\.gate\.approvals\.0\.count': needs 2 distinct people with role 'qa', but only 1 has it/],
      ['a zero approval count', (d) => { d.environments.staging.gate.approvals[0].count = 0; }, /environments\.staging\.gate\.approvals\.0\.count/],
      ['a malformed stability', (d) => { d.environments.prod.gate.stability = 'a week'; }, /^config field 'environments\.prod\.gate\.stability': 'a week' is not a duration/],
      ['stability in the first environment', (d) => { d.environments.dev.gate = { stability: '1h' }; }, /^config field 'environments\.dev\.gate\.stability': 'dev' is the first environment/],
      ['an unknown gate field', (d) => { d.environments.prod.gate.approvers = 2; }, /environments\.prod\.gate/],
      ['a service gate for an undeclared environment', (d) => { d.services.web.gates.qa = {}; }, /^config field 'services\.web\.gates\.qa': 'qa' is not declared/],
      ['a service gate for an environment the service lacks', (d) => { d.services.web.gates.staging = {}; }, /^config field 'services\.web\.gates\.staging': service 'web' has no environment 'staging'/],
      ['a service gate with an unknown role', (d) => { d.services.web.gates.prod.approvals[2].role = 'cto'; }, /^config field 'services\.web\.gates\.prod\.approvals\.2\.role'/],
      ['a hotfix role nobody declared', (d) => { d.hotfix.approvalRole = 'firefighter'; }, /^config field 'hotfix\.approvalRole': 'firefighter' is not a role/],
    ];
    it.each(refusals)('refuses %s, naming the field', (_what, edit, message) => {
      const doc = example();
      edit(doc);
      expect(errorOf(doc)).toMatch(message);
    });
  });

  describe('trains', () => {
    it('resolves the prod train', () => {
      expect(loadConfigFile(examplePath).trains).toEqual({
        prod: {
          environment: 'prod', days: ['TUE'], hour: 10, minute: 0, timeZone: 'America/Los_Angeles',
          windowSeconds: 4 * 3600, concurrency: 2, order: ['api', 'web'], catchupWindowSeconds: 3600,
        },
      });
    });

    it('defaults concurrency, order and catch-up window, orders the days, and spells the zone as Temporal does', () => {
      const doc = example();
      doc.trains.prod = { days: ['THU', 'MON'], at: '09:30', timeZone: 'europe/berlin', window: '2h' };
      expect(resolveConfig(doc).trains.prod).toEqual({
        environment: 'prod', days: ['MON', 'THU'], hour: 9, minute: 30, timeZone: 'Europe/Berlin',
        windowSeconds: 7200, concurrency: 1, order: [], catchupWindowSeconds: 7200,
      });
    });

    const refusals: Array<[string, (doc: Record<string, any>) => void, RegExp]> = [ // eslint-disable-line @typescript-eslint/no-explicit-any
      ['a zone Intl does not know', (d) => { d.trains.prod.timeZone = 'America/Springfield'; }, /^config field 'trains\.prod\.timeZone': 'America\/Springfield' is not an IANA time zone/],
      ['an abbreviation for a zone', (d) => { d.trains.prod.timeZone = 'PST'; }, /^config field 'trains\.prod\.timeZone'/],
      ['a day that is not a day', (d) => { d.trains.prod.days = ['TUESDAY']; }, /trains\.prod\.days\.0/],
      ['no days', (d) => { d.trains.prod.days = []; }, /trains\.prod\.days/],
      ['a time that is not HH:MM', (d) => { d.trains.prod.at = '10am'; }, /trains\.prod\.at/],
      ['an hour past 23', (d) => { d.trains.prod.at = '24:00'; }, /trains\.prod\.at/],
      ['a train for an undeclared environment', (d) => { d.trains.qa = d.trains.prod; }, /^config field 'trains\.qa': 'qa' is not declared/],
      ['an unknown service in the order', (d) => { d.trains.prod.order = ['api', 'www']; }, /^config field 'trains\.prod\.order\.1': no service named 'www'/],
      ['a zero window', (d) => { d.trains.prod.window = '0s'; }, /^config field 'trains\.prod\.window': must be at least 1s/],
      ['a catch-up window Temporal would raise', (d) => { d.trains.prod.catchupWindow = '5s'; }, /^config field 'trains\.prod\.catchupWindow': must be at least 10s/],
      ['a zero concurrency', (d) => { d.trains.prod.concurrency = 0; }, /trains\.prod\.concurrency/],
    ];
    it.each(refusals)('refuses %s, naming the field', (_what, edit, message) => {
      const doc = example();
      edit(doc);
      expect(errorOf(doc)).toMatch(message);
    });
  });

  describe('freezes and hotfixes', () => {
    it('resolves freezes to UTC instants and the hotfix role', () => {
      const c = loadConfigFile(examplePath);
      expect(c.freezes).toEqual([{ id: 'config-1', from: '2026-12-21T08:00:00.000Z', to: '2027-01-04T08:00:00.000Z', environments: ['staging', 'prod'], reason: 'Holiday freeze', source: 'config' }]);
      expect(c.hotfix).toEqual({ approvalRole: 'release-manager' });
      const doc = example();
      delete doc.freezes;
      delete doc.hotfix;
      expect(resolveConfig(doc)).toMatchObject({ freezes: [], hotfix: null });
    });

    const refusals: Array<[string, (doc: Record<string, any>) => void, RegExp]> = [ // eslint-disable-line @typescript-eslint/no-explicit-any
      ['from after to', (d) => { d.freezes[0].to = '2026-12-01T00:00:00Z'; }, /^config field 'freezes\.0\.to': must be after 'from'/],
      ['from equal to to', (d) => { d.freezes[0].to = d.freezes[0].from; }, /^config field 'freezes\.0\.to': must be after 'from'/],
      ['an instant without a zone', (d) => { d.freezes[0].from = '2026-12-21T00:00:00'; }, /^config field 'freezes\.0\.from': '2026-12-21T00:00:00' is not an ISO instant/],
      ['a date that is not one', (d) => { d.freezes[0].from = 'Christmas'; }, /^config field 'freezes\.0\.from'/],
      ['an unknown environment', (d) => { d.freezes[0].environments = ['prod', 'moon']; }, /^config field 'freezes\.0\.environments\.1': 'moon' is not declared/],
      ['a freeze without a reason', (d) => { delete d.freezes[0].reason; }, /freezes\.0\.reason/],
    ];
    it.each(refusals)('refuses %s, naming the field', (_what, edit, message) => {
      const doc = example();
      edit(doc);
      expect(errorOf(doc)).toMatch(message);
    });
  });

  describe('the sandbox config', () => {
    const target = (service: string, environment: string) => seededTarget(service, environment, { type: 'alb', listenerArn: 'arn:l', blueTargetGroupArn: 'arn:b', greenTargetGroupArn: 'arn:g' });
    const targets = ['web', 'api'].flatMap((svc) => ['dev', 'staging', 'prod'].map((env) => target(svc, env)));
    const people = sandboxPeople('the-admin-token');
    const config = resolveConfig(sandboxConfigDoc({ targets, people, controlUrl: 'http://127.0.0.1:9', peopleFile: '/tmp/p.json', apiPort: 0 }));
    const can = (name: string) => [...permissionsOf(config, config.people.find((p) => p.name === name)!)].sort();

    it('has the example people of issue 4, the admin keeping the admin token', () => {
      const roles = Object.fromEntries(people.map((p) => [p.name, p.roles]));
      expect(people.find((p) => p.token === 'the-admin-token')?.roles).toEqual(['admin', 'break-glass']);
      expect(Object.values(roles).flat().sort()).toEqual(['admin', 'break-glass', 'ci', 'deployer', 'developer', 'on-call', 'on-call', 'product', 'qa', 'release-manager', 'release-manager', 'viewer']);
      expect(roles.rosa).toEqual(['release-manager', 'on-call']);
      expect(new Set(people.map((p) => p.token)).size).toBe(people.length);
      expect(can('ada')).toEqual(['admin', 'deploy', 'failover', 'freeze', 'read', 'release', 'restore']);
      expect(can('dev')).toEqual(['read', 'release']);
      expect(can('dan')).toEqual(['deploy', 'read']);
      expect(can('val')).toEqual(['read']);
      expect(newToken()).not.toEqual(newToken());
    });

    it('gives web the runbook rules and every service the prod train', () => {
      expect(config.promotion).toEqual(['dev', 'staging', 'prod']);
      expect(gateFor(config, 'web', 'dev')).toBeNull();
      expect(gateFor(config, 'web', 'staging')).toMatchObject({ checks: ['ci'], approvals: [{ role: 'qa', count: 1 }], stabilitySeconds: 0, train: null });
      expect(gateFor(config, 'web', 'prod')).toMatchObject({
        checks: ['ci', 'security-scan'], approvals: [{ role: 'release-manager', count: 2 }], stabilitySeconds: 30, train: 'prod',
      });
      expect(gateFor(config, 'api', 'prod')).toMatchObject({ train: 'prod' });
      expect(config.trains.prod).toMatchObject({ days: ['TUE'], hour: 10, minute: 0, timeZone: 'America/Los_Angeles', windowSeconds: 14400, concurrency: 2, order: ['api', 'web'] });
      expect(config.hotfix).toEqual({ approvalRole: 'release-manager' });
      // No gate names the developer's role: they may start releases but approve nothing.
      const approvers = [...Object.values(config.environments).map((e) => e.gate), ...Object.values(config.services).flatMap((s) => Object.values(s.gates))]
        .flatMap((g) => g?.approvals ?? []).map((a) => a.role);
      expect(approvers).not.toContain('developer');
    });
  });
});

// The example document, loosely typed so a test can break any field of it.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Doc = any;

describe('config: databases', () => {
  it('resolves a database per environment: its target, the services that use it, objectives, and the environment\'s approval rules', () => {
    const c = loadConfigFile(examplePath);
    const orders = c.databases.orders.prod;
    expect(orders.target).toMatchObject({ kind: 'postgres', database: 'orders', port: 5432 });
    expect(orders.services.map((s) => s.service)).toEqual(['api']);
    expect(orders.services[0].compute).toMatchObject({ cluster: 'prod', services: { blue: 'api-blue', green: 'api-green' } });
    expect(orders).toMatchObject({
      critical: ['orders', 'customers'],
      objectives: { rpoSeconds: 300, rtoSeconds: 1800 },
      watchSeconds: 600,
      sampleSeconds: 60,
      retentionSeconds: 7 * 86400,
      approvalExpirySeconds: 72 * 3600,
      approvals: [{ role: 'qa', count: 1 }, { role: 'product', count: 1 }],
      drill: { cron: '0 4 * * MON', timeZone: 'America/Los_Angeles', maxAgeSeconds: 8 * 86400 },
    });
    expect(c.databases.billing.prod.target).toEqual({ kind: 'rds', region: 'us-east-1', instanceId: 'billing-prod', switch: { type: 'rename' } });
    expect(permissionsOf(c, { roles: ['release-manager'] }).has('restore')).toBe(true);
    expect(permissionsOf(c, { roles: ['deployer'] }).has('restore')).toBe(false);
  });

  it.each([
    [(d: Doc) => (d.databases.orders.services = ['nope']), /'databases\.orders\.services\.0': service 'nope' has no environment 'prod'/],
    [(d: Doc) => (d.databases.orders.environments.qa = d.databases.orders.environments.prod), /'databases\.orders\.environments\.qa': 'qa' is not declared/],
    [(d: Doc) => (d.databases.orders.objectives.rto = 'soon'), /'databases\.orders\.objectives\.rto': 'soon' is not a duration/],
    [(d: Doc) => (d.databases.orders.drill.cron = 'every monday'), /'databases\.orders\.drill\.cron': 'every monday' is not a five-field cron/],
    [(d: Doc) => (d.databases.orders.drill.timeZone = 'Mars/Olympus'), /databases\.orders\.drill\.timeZone/],
    [(d: Doc) => (d.databases.billing.assertions = [{ name: 'x', sql: 'select true' }]), /cannot read an RDS database's rows yet/],
    [(d: Doc) => (d.databases.billing.environments.prod.rds.instanceId = 'a'.repeat(40)), /databases\.billing\.environments\.prod/],
  ])('names the field of a bad database (%#)', (change, message) => {
    const doc = example();
    change(doc);
    expect(errorOf(doc)).toMatch(message);
  });
});

describe('config: disaster recovery', () => {
  it('resolves the example\'s `dr` for api in prod into the spec a failover takes', () => {
    const c = resolveConfig(example());
    expect(c.services.api.dr.prod).toEqual({
      service: 'api',
      environment: 'prod',
      primaryRegion: 'us-east-1',
      region: 'us-west-2',
      compute: { region: 'us-west-2', cluster: 'prod-dr', services: { blue: 'api-blue', green: 'api-green' } },
      productionCount: 6,
      standbyCount: 0,
      database: { primary: { region: 'us-east-1', instanceId: 'api-prod' }, replica: { region: 'us-west-2', instanceId: 'api-prod-replica' } },
      dns: { hostedZoneId: 'Z0123456789ABCDEFGHIJ', recordName: 'api.global.example.com.', recordType: 'CNAME', primarySetIdentifier: 'us-east-1', secondarySetIdentifier: 'us-west-2' },
      smokeTestUrl: 'https://api.prod.us-west-2.internal.example.com/healthz',
      objectives: { rpoSeconds: 60, rtoSeconds: 900 },
      primaryCompute: c.services.api.environments.prod.compute,
      primarySmokeTestUrls: c.services.api.environments.prod.smokeTestUrls,
      approvals: gateFor(c, 'api', 'prod')!.approvals,
      approvalExpirySeconds: gateFor(c, 'api', 'prod')!.expirySeconds,
      monitor: { seconds: 600, everySeconds: 30 },
      metrics: { ...c.services.api.environments.prod.metrics, region: 'us-west-2', dimensions: { blue: { Service: 'api-dr', Colour: 'blue' }, green: { Service: 'api-dr', Colour: 'green' } } },
      primaryMetrics: c.services.api.environments.prod.metrics,
      thresholds: { maxErrorRate: 0.005, maxLatencyMs: 300, minRequests: 200 },
      catchUpSeconds: 600,
      emergency: { role: 'on-call', allowUnfenced: false },
      drills: { allowed: true, everySeconds: 30 * 86400 },
    });
    expect(c.services.api.dr.prod.metrics).toMatchObject({ namespace: 'Api/Service', requests: { metricName: 'Requests' }, latency: { statistic: 'p95', unit: 'milliseconds' } });
    expect(c.services.api.dr.prod.approvals.length).toBeGreaterThan(0);
    expect(c.services.web.dr).toEqual({});
    expect(c.readiness).toEqual({ everySeconds: 900 });
    const noReadiness = example();
    delete noReadiness.readiness;
    expect(resolveConfig(noReadiness).readiness).toEqual({ everySeconds: 900 });
  });

  it('without `dr.metrics`, gives the DR region no analysis (smoke tests only); home keeps the environment\'s metrics', () => {
    const doc = example();
    delete doc.services.api.dr.prod.metrics;
    const dr = resolveConfig(doc).services.api.dr.prod;
    expect(dr.metrics).toBeNull();
    expect(dr.primaryMetrics).toMatchObject({ region: 'us-east-1', dimensions: { blue: { Service: 'api', Colour: 'blue' } } });
  });

  it.each<[string, (d: Doc) => void, RegExp]>([
    ['a DR region equal to the environment\'s', (d) => { d.services.api.dr.prod.region = 'us-east-1'; }, /^config field 'services\.api\.dr\.prod\.region': the DR region must differ from the environment's region \(us-east-1\)/],
    ['an environment the service does not have', (d) => { d.services.api.dr.staging = d.services.api.dr.prod; }, /^config field 'services\.api\.dr\.staging': service 'api' has no environment 'staging'/],
    ['a replica outside the DR region', (d) => { d.services.api.dr.prod.database.replica.region = 'eu-west-1'; }, /^config field 'services\.api\.dr\.prod\.database\.replica\.region': the replica must be in the DR region \(us-west-2\)/],
    ['a primary database outside the environment\'s region', (d) => { d.services.api.dr.prod.database.primary.region = 'us-west-2'; }, /^config field 'services\.api\.dr\.prod\.database\.primary\.region'/],
    ['a standby larger than production', (d) => { d.services.api.dr.prod.standbyCount = 7; }, /^config field 'services\.api\.dr\.prod\.standbyCount': 7 is more than productionCount \(6\)/],
    ['no production count', (d) => { delete d.services.api.dr.prod.productionCount; }, /^config field 'services\.api\.dr\.prod\.productionCount'/],
    ['a zero production count', (d) => { d.services.api.dr.prod.productionCount = 0; }, /^config field 'services\.api\.dr\.prod\.productionCount'/],
    ['one set identifier for both records', (d) => { d.services.api.dr.prod.dns.secondarySetIdentifier = 'us-east-1'; }, /^config field 'services\.api\.dr\.prod\.dns\.secondarySetIdentifier': must differ/],
    ['a bad RPO', (d) => { d.services.api.dr.prod.objectives.rpo = 'soon'; }, /^config field 'services\.api\.dr\.prod\.objectives\.rpo': 'soon' is not a duration/],
    ['an RPO of 0', (d) => { d.services.api.dr.prod.objectives.rpo = '0s'; }, /^config field 'services\.api\.dr\.prod\.objectives\.rpo': must be at least 1s/],
    ['a bad region name', (d) => { d.services.api.dr.prod.region = 'west'; }, /^config field 'services\.api\.dr\.prod\.region'/],
    ['an unknown field', (d) => { d.services.api.dr.prod.quota = 10; }, /^config field 'services\.api\.dr\.prod\.quota'/],
    ['an emergency role no one declared', (d) => { d.services.api.dr.prod.emergency = { role: 'pager' }; }, /^config field 'services\.api\.dr\.prod\.emergency\.role': 'pager' is not a role/],
    ['a drill schedule where drills are not allowed', (d) => { d.services.api.dr.prod.drills = { allowed: false, every: '7d' }; }, /^config field 'services\.api\.dr\.prod\.drills\.every': a drill schedule needs 'drills\.allowed: true'/],
    ['drills more often than hourly', (d) => { d.services.api.dr.prod.drills = { allowed: true, every: '10m' }; }, /^config field 'services\.api\.dr\.prod\.drills\.every': must be at least 1h/],
    ['a bad monitor duration', (d) => { d.services.api.dr.prod.monitor = { for: 'a while' }; }, /^config field 'services\.api\.dr\.prod\.monitor\.for'/],
    ['DR metrics without green dimensions', (d) => { delete d.services.api.dr.prod.metrics.greenDimensions; }, /^config field 'services\.api\.dr\.prod\.metrics\.greenDimensions'/],
    ['DR metrics naming other dimensions than the environment\'s', (d) => { d.services.api.dr.prod.metrics.blueDimensions = { Service: 'api-dr', Color: 'blue' }; }, /^config field 'services\.api\.dr\.prod\.metrics\.blueDimensions': names Color, Service, but the environment's metrics name Colour, Service/],
    ['readiness more often than every minute', (d) => { d.readiness.every = '30s'; }, /^config field 'readiness\.every': must be at least 1m/],
  ])('refuses %s, naming the field', (_what, breakIt, message) => {
    const doc = example();
    breakIt(doc);
    expect(errorOf(doc)).toMatch(message);
  });
});

describe('config: the sandbox\'s disaster recovery', () => {
  it('emits the seeded `dr` of api in prod, and rosa is on call', () => {
    const target = (service: string, environment: string) =>
      seededTarget(service, environment, { type: 'route53', hostedZoneId: 'Z1', recordName: `${service}-${environment}.sandbox.baton.internal`, recordType: 'CNAME', blueSetIdentifier: 'blue', greenSetIdentifier: 'green' });
    const prod = target('api', 'prod');
    prod.dr = {
      region: 'us-west-2',
      ecs: { cluster: 'api-prod', blueService: 'api-prod-blue', greenService: 'api-prod-green' },
      productionCount: 2,
      standbyCount: 0,
      database: { primary: { region: 'us-east-1', instanceId: 'api-prod-db' }, replica: { region: 'us-west-2', instanceId: 'api-prod-db-replica' } },
      dns: { hostedZoneId: 'Z1', recordName: 'api.sandbox.baton.internal', recordType: 'CNAME', primarySetIdentifier: 'primary', secondarySetIdentifier: 'secondary' },
      metrics: { blueDimensions: { Colour: 'blue' }, greenDimensions: { Colour: 'green' } },
    };
    const people = sandboxPeople('t');
    const config = resolveConfig(sandboxConfigDoc({ targets: [target('api', 'dev'), prod, target('web', 'prod')], people, controlUrl: 'http://127.0.0.1:9', peopleFile: '/tmp/p.json', apiPort: 0 }));
    expect(config.services.api.dr.prod).toMatchObject({
      primaryRegion: 'us-east-1',
      region: 'us-west-2',
      dns: { recordName: 'api.sandbox.baton.internal.', primarySetIdentifier: 'primary', secondarySetIdentifier: 'secondary' },
      smokeTestUrl: 'http://127.0.0.1:9/smoke/api/prod/blue',
      objectives: { rpoSeconds: 30, rtoSeconds: 300 },
      // The DR copy's metrics: prod's queries, read in the DR region; prod's thresholds.
      metrics: { namespace: 'Baton/Sandbox', region: 'us-west-2', dimensions: { blue: { Colour: 'blue' }, green: { Colour: 'green' } } },
      thresholds: config.services.api.environments.prod.thresholds,
    });
    expect(Object.keys(config.services.api.dr)).toEqual(['prod']);
    expect(config.roles['on-call']).toEqual(['read', 'failover']);
    expect(config.services.api.dr.prod).toMatchObject({ drills: { allowed: true, everySeconds: null }, emergency: { role: 'on-call', allowUnfenced: false } });
    expect(config.people.find((p) => p.name === 'rosa')?.roles).toEqual(['release-manager', 'on-call']);
  });
});
