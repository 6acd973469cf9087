import { describe, expect, it } from 'vitest';
import {
  checkAsideName,
  checkColour,
  checkCompute,
  checkDatabaseTarget,
  checkDbInstance,
  checkDeploymentSpec,
  checkDrSpec,
  checkFailoverDns,
  checkImage,
  checkMetrics,
  checkSetIdentifier,
  checkSmokeTestUrl,
  checkTraffic,
  deploymentScope,
  describeMismatches,
  imageRepository,
  type AllowedConfig,
  type AllowedEnvironment,
} from '../../src/domain/spec-check';
import type { DrSpec } from '../../src/domain/failover';
import type { Colour, DeploymentSpec } from '../../src/domain/types';
import { DR_SPEC } from '../harness/fixtures';

const REPO = '123456789012.dkr.ecr.us-east-1.amazonaws.com/web';

const web: AllowedEnvironment = {
  image: REPO,
  compute: { region: 'us-east-1', cluster: 'web-prod', services: { blue: 'web-prod-blue', green: 'web-prod-green' } },
  traffic: { type: 'alb', region: 'us-east-1', listenerArn: 'arn:listener/web', targetGroups: { blue: 'arn:tg/web-blue', green: 'arn:tg/web-green' } },
  metrics: {
    type: 'cloudwatch',
    region: 'us-east-1',
    namespace: 'AWS/ApplicationELB',
    requests: { metricName: 'RequestCount', statistic: 'Sum' },
    errors: { metricName: 'HTTPCode_Target_5XX_Count', statistic: 'Sum' },
    latency: { metricName: 'TargetResponseTime', statistic: 'p95', unit: 'seconds' },
    extraErrors: [{ metricName: 'HTTPCode_ELB_5XX_Count', statistic: 'Sum', scope: 'loadBalancer' }],
    dimensions: { blue: { TargetGroup: 'tg/web-blue' }, green: { TargetGroup: 'tg/web-green' } },
  },
  smokeTestUrls: { blue: 'http://web-blue.internal/healthz', green: 'http://web-green.internal/healthz' },
};

const api: AllowedEnvironment = {
  image: 'registry.example.com:5000/api',
  compute: DR_SPEC.primaryCompute,
  traffic: { type: 'route53', region: 'us-east-1', hostedZoneId: 'Z1', recordName: 'api.example.com.', recordType: 'CNAME', setIdentifiers: { blue: 'blue', green: 'green' } },
  metrics: DR_SPEC.primaryMetrics,
  smokeTestUrls: DR_SPEC.primarySmokeTestUrls,
};

const config: AllowedConfig = {
  services: {
    web: { environments: { prod: web } },
    api: { environments: { prod: api }, dr: { prod: DR_SPEC as DrSpec } },
  },
  databases: {
    orders: { prod: { target: { kind: 'postgres', host: '127.0.0.1', port: 5432, database: 'orders', user: 'baton', backupDir: '/b', walArchiveDir: '/w', scratchDir: '/s' } } },
    billing: { prod: { target: { kind: 'rds', region: 'us-east-1', instanceId: 'billing-prod', switch: { type: 'rename' } } } },
  },
};

function spec(over: Partial<DeploymentSpec> = {}): DeploymentSpec {
  return {
    id: 'deploy:web:prod:1.4.2',
    service: 'web',
    environment: 'prod',
    version: '1.4.2',
    image: `${REPO}:1.4.2`,
    requestedBy: 'ada',
    compute: web.compute,
    traffic: web.traffic,
    metrics: web.metrics,
    smokeTestUrls: web.smokeTestUrls,
    thresholds: { maxErrorRate: 0.01, maxLatencyMs: 500, minRequests: 10 },
    plan: { name: 'quick', steps: [], analysis: { intervalSeconds: 1, windowSeconds: 1, failureLimit: 1, inconclusiveLimit: 1, lagSeconds: 0 }, keepPreviousForSeconds: 0, standbyForSeconds: 0, standbyCount: 0, stableTimeoutSeconds: 1, escalateAfterSeconds: 1, drainMarginSeconds: 0 },
    notify: { channel: null, updateEverySeconds: 1 } as unknown as DeploymentSpec['notify'],
    ...over,
  };
}

describe('imageRepository', () => {
  it('drops the tag and the digest, and keeps a registry port', () => {
    expect(imageRepository(`${REPO}:1.4.2`)).toBe(REPO);
    expect(imageRepository(`${REPO}@sha256:abc`)).toBe(REPO);
    expect(imageRepository(`${REPO}:1.4.2@sha256:abc`)).toBe(REPO);
    expect(imageRepository('registry.example.com:5000/api')).toBe('registry.example.com:5000/api');
    expect(imageRepository('registry.example.com:5000/api:2.0')).toBe('registry.example.com:5000/api');
  });
});

describe('checkDeploymentSpec', () => {
  it('allows the spec built from config, whatever the version, plan and requester', () => {
    expect(checkDeploymentSpec(config, spec())).toEqual([]);
    expect(checkDeploymentSpec(config, spec({ version: '9.9.9', image: `${REPO}@sha256:beef`, requestedBy: 'someone' }))).toEqual([]);
  });

  it('refuses a service the config does not name', () => {
    expect(checkDeploymentSpec(config, spec({ service: 'billing' }))).toEqual([{ field: 'service', expected: "one of 'web', 'api'", got: "'billing'" }]);
  });

  it('refuses an environment the service does not have', () => {
    expect(checkDeploymentSpec(config, spec({ environment: 'dev' }))).toEqual([{ field: 'environment', expected: "'prod'", got: "'dev'" }]);
  });

  const cases: Array<[string, Partial<DeploymentSpec>, string, string, string]> = [
    ['the cluster', { compute: { ...web.compute, cluster: 'api-prod' } }, 'compute.cluster', "'web-prod'", "'api-prod'"],
    ['the region', { compute: { ...web.compute, region: 'eu-west-1' } }, 'compute.region', "'us-east-1'", "'eu-west-1'"],
    ['the green service', { compute: { ...web.compute, services: { blue: 'web-prod-blue', green: 'evil' } } }, 'compute.services.green', "'web-prod-green'", "'evil'"],
    ['the container', { compute: { ...web.compute, container: 'sidecar' } }, 'compute.container', '(none)', "'sidecar'"],
    ['the listener', { traffic: { ...web.traffic, listenerArn: 'arn:listener/other' } as DeploymentSpec['traffic'] }, 'traffic.listenerArn', "'arn:listener/web'", "'arn:listener/other'"],
    ['a target group', { traffic: { ...web.traffic, targetGroups: { blue: 'arn:tg/web-blue', green: 'arn:tg/x' } } as DeploymentSpec['traffic'] }, 'traffic.targetGroups.green', "'arn:tg/web-green'", "'arn:tg/x'"],
    ['the metrics namespace', { metrics: { ...web.metrics, namespace: 'Other' } }, 'metrics.namespace', "'AWS/ApplicationELB'", "'Other'"],
    ['a metrics dimension', { metrics: { ...web.metrics, dimensions: { ...web.metrics.dimensions, green: { TargetGroup: 'tg/x' } } } }, 'metrics.dimensions.green.TargetGroup', "'tg/web-green'", "'tg/x'"],
    ['a smoke-test URL', { smokeTestUrls: { ...web.smokeTestUrls, green: 'http://169.254.169.254/' } }, 'smokeTestUrls.green', "'http://web-green.internal/healthz'", "'http://169.254.169.254/'"],
    ['the image repository', { image: 'docker.io/attacker/web:1.4.2' }, 'image', `an image of '${REPO}'`, "'docker.io/attacker/web:1.4.2'"],
  ];
  for (const [what, over, field, expected, got] of cases) {
    it(`names ${what} when it differs`, () => {
      expect(checkDeploymentSpec(config, spec(over))).toEqual([{ field, expected, got }]);
    });
  }

  it('refuses a Route 53 router in place of the configured ALB, naming what differs', () => {
    const fields = checkDeploymentSpec(config, spec({ traffic: api.traffic })).map((m) => m.field);
    expect(fields).toContain('traffic.type');
    expect(fields).toContain('traffic.listenerArn');
  });

  it('refuses, given the run\'s id, a spec whose id names another run (the revision is tagged with it)', () => {
    expect(checkDeploymentSpec(config, spec(), 'deploy:web:prod:1.4.2')).toEqual([]);
    expect(checkDeploymentSpec(config, spec({ id: 'deploy:api:prod:1.4.2' }), 'deploy:web:prod:1.4.2')).toEqual([{ field: 'id', expected: "'deploy:web:prod:1.4.2'", got: "'deploy:api:prod:1.4.2'" }]);
  });

  it('names every mismatch in one line', () => {
    const m = checkDeploymentSpec(config, spec({ compute: { ...web.compute, cluster: 'other' }, image: 'evil/web:1' }));
    expect(describeMismatches(m)).toBe(`compute.cluster: expected 'web-prod', got 'other'; image: expected an image of '${REPO}', got 'evil/web:1'`);
  });
});

describe('the pieces an activity is handed', () => {
  it('allows any configured compute (a DR copy too), and names the nearest one otherwise', () => {
    expect(checkCompute(config, web.compute)).toEqual([]);
    expect(checkCompute(config, DR_SPEC.compute)).toEqual([]);
    expect(checkCompute(config, { ...web.compute, cluster: 'other' })).toEqual([{ field: 'compute.cluster', expected: "'web-prod'", got: "'other'" }]);
  });

  it('allows only configured traffic routers and metrics', () => {
    expect(checkTraffic(config, api.traffic)).toEqual([]);
    expect(checkTraffic(config, { ...api.traffic, hostedZoneId: 'Z9' } as typeof api.traffic)).toEqual([{ field: 'traffic.hostedZoneId', expected: "'Z1'", got: "'Z9'" }]);
    expect(checkMetrics(config, web.metrics)).toEqual([]);
    expect(checkMetrics(config, { ...web.metrics, region: 'eu-west-1' })).toEqual([{ field: 'metrics.region', expected: "'us-east-1'", got: "'eu-west-1'" }]);
  });

  it('allows only configured smoke-test URLs (a DR one too)', () => {
    expect(checkSmokeTestUrl(config, web.smokeTestUrls.blue)).toEqual([]);
    expect(checkSmokeTestUrl(config, DR_SPEC.smokeTestUrl)).toEqual([]);
    const [m] = checkSmokeTestUrl(config, 'http://169.254.169.254/latest/meta-data');
    expect(m.field).toBe('smokeTestUrl');
    expect(m.got).toBe("'http://169.254.169.254/latest/meta-data'");
  });

  it('allows a colour only when it is blue or green', () => {
    expect(checkColour('green')).toEqual([]);
    expect(checkColour('red' as Colour)).toEqual([{ field: 'colour', expected: "'blue' or 'green'", got: "'red'" }]);
  });

  it('allows an image only of the repository configured for that compute', () => {
    expect(checkImage(config, web.compute, `${REPO}:2.0.0`)).toEqual([]);
    expect(checkImage(config, api.compute, 'registry.example.com:5000/api:2.0.0')).toEqual([]);
    // web's image onto api's cluster
    expect(checkImage(config, api.compute, `${REPO}:2.0.0`)).toEqual([{ field: 'image', expected: "an image of 'registry.example.com:5000/api'", got: `'${REPO}:2.0.0'` }]);
    // a DR copy is never deployed to
    expect(checkImage(config, DR_SPEC.compute, 'registry.example.com:5000/api:2.0.0')).toEqual([{ field: 'target.region', expected: "'us-east-1'", got: "'us-west-2'" }]);
  });

  it('allows only configured database targets', () => {
    expect(checkDatabaseTarget(config, config.databases.orders.prod.target)).toEqual([]);
    expect(checkDatabaseTarget(config, { ...config.databases.orders.prod.target, host: '10.0.0.9' } as never)).toEqual([{ field: 'target.host', expected: "'127.0.0.1'", got: "'10.0.0.9'" }]);
    expect(checkDatabaseTarget(config, { kind: 'rds', region: 'us-east-1', instanceId: 'payroll', switch: { type: 'rename' } })).toEqual([{ field: 'target.instanceId', expected: "'billing-prod'", got: "'payroll'" }]);
  });

  it('allows the DR instances, their set-aside copies where asked, and only those', () => {
    expect(checkDbInstance(config, DR_SPEC.database.replica)).toEqual([]);
    const aside = { region: 'us-west-2', instanceId: 'api-prod-db-replica-pre-20260101t0000' };
    expect(checkDbInstance(config, aside, { aside: 'also' })).toEqual([]);
    expect(checkDbInstance(config, aside, { aside: 'only' })).toEqual([]);
    expect(checkDbInstance(config, DR_SPEC.database.replica, { aside: 'also' })).toEqual([]);
    expect(checkDbInstance(config, DR_SPEC.database.replica, { aside: 'only' })).toEqual([
      { field: 'instance.instanceId', expected: "a set-aside copy (one of 'api-prod-db-pre-<stamp>', 'api-prod-db-replica-pre-<stamp>')", got: "'api-prod-db-replica'" },
    ]);
    expect(checkDbInstance(config, aside).map((m) => m.field)).toEqual(['instance.instanceId']);
    expect(checkDbInstance(config, { region: 'us-east-1', instanceId: 'payroll' })).toEqual([{ field: 'instance.instanceId', expected: "'api-prod-db'", got: "'payroll'" }]);
    expect(checkAsideName(DR_SPEC.database.primary, 'api-prod-db-pre-x1')).toEqual([]);
    expect(checkAsideName(DR_SPEC.database.primary, 'payroll')).toEqual([{ field: 'newId', expected: "'api-prod-db-pre-<stamp>'", got: "'payroll'" }]);
  });

  it('allows only the configured failover records and their two set identifiers', () => {
    expect(checkFailoverDns(config, DR_SPEC.dns)).toEqual([]);
    expect(checkFailoverDns(config, { ...DR_SPEC.dns, recordName: 'www.example.com.' })).toEqual([{ field: 'dns.recordName', expected: "'api.example.com.'", got: "'www.example.com.'" }]);
    expect(checkSetIdentifier(config, DR_SPEC.dns, 'secondary')).toEqual([]);
    expect(checkSetIdentifier(config, DR_SPEC.dns, 'tertiary')).toEqual([{ field: 'setIdentifier', expected: "one of 'primary', 'secondary'", got: "'tertiary'" }]);
  });
});

describe('deploymentScope', () => {
  it('narrows a deployment run to the service environment its id names', () => {
    const scope = deploymentScope(config, 'deploy:web:prod:1.4.2');
    if (Array.isArray(scope)) throw new Error(describeMismatches(scope));
    expect(scope.label).toBe('web in prod');
    expect(checkCompute(scope.config, web.compute)).toEqual([]);
    // api's cluster is configured, but not for web: a run of web may not touch it
    expect(checkCompute(scope.config, api.compute)).toEqual([
      { field: 'compute.cluster', expected: "'web-prod'", got: "'api-prod'" },
      { field: 'compute.services.blue', expected: "'web-prod-blue'", got: "'api-prod-blue'" },
      { field: 'compute.services.green', expected: "'web-prod-green'", got: "'api-prod-green'" },
    ]);
    expect(checkTraffic(scope.config, api.traffic).length).toBeGreaterThan(0);
    expect(checkSmokeTestUrl(scope.config, DR_SPEC.smokeTestUrl).length).toBe(1);
  });

  it('refuses an id of another shape, or naming what is not configured', () => {
    expect(deploymentScope(config, 'my-deploy')).toEqual([{ field: 'workflowId', expected: "'deploy:<service>:<environment>:<version>'", got: "'my-deploy'" }]);
    expect(deploymentScope(config, 'deploy:billing:prod:1')).toEqual([{ field: 'service', expected: "one of 'web', 'api'", got: "'billing'" }]);
    expect(deploymentScope(config, 'deploy:web:dev:1')).toEqual([{ field: 'environment', expected: "'prod'", got: "'dev'" }]);
  });
});

describe('checkDrSpec', () => {
  it('allows the configured posture', () => {
    expect(checkDrSpec(config, DR_SPEC as DrSpec)).toEqual([]);
  });

  it('names each field that differs', () => {
    const bad: DrSpec = { ...DR_SPEC, compute: { ...DR_SPEC.compute, cluster: 'other' }, database: { ...DR_SPEC.database, replica: { region: 'us-west-2', instanceId: 'x' } }, dns: { ...DR_SPEC.dns, hostedZoneId: 'Z9' } };
    expect(checkDrSpec(config, bad)).toEqual([
      { field: 'compute.cluster', expected: "'api-prod'", got: "'other'" },
      { field: 'database.replica.instanceId', expected: "'api-prod-db-replica'", got: "'x'" },
      { field: 'dns.hostedZoneId', expected: "'Z1'", got: "'Z9'" },
    ]);
  });

  it('refuses a posture for an environment without one', () => {
    expect(checkDrSpec(config, { ...DR_SPEC, service: 'web' })[0].field).toBe('dr');
  });
});
