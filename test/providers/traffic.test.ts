import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMoto } from '../harness/servers';
import { routerSpec, TEST_CREDENTIALS, type MotoServer } from '../harness/aws';
import { seedTarget, SANDBOX_RECORD_TTL, SANDBOX_REGIONS } from '../../src/sandbox/seed';
import { createProviders, type Providers } from '../../src/providers/factory';
import { ErrorType } from '../../src/domain/errors';
import type { TrafficRouterSpec } from '../../src/domain/types';

const mismatch = (text: string | RegExp) => expect.objectContaining({ name: ErrorType.InfrastructureMismatch, message: expect.stringMatching(text) });

describe('traffic routers against moto', () => {
  let moto: MotoServer;
  let providers: Providers;
  const specs: Partial<Record<'alb' | 'route53', TrafficRouterSpec>> = {};

  beforeAll(async () => {
    moto = await startMoto();
    providers = createProviders({ awsEndpoint: moto.endpoint, awsCredentials: TEST_CREDENTIALS, slack: {} });
    const seed = { endpoint: moto.endpoint, credentials: TEST_CREDENTIALS, region: SANDBOX_REGIONS.primary, environment: 'dev' };
    specs.alb = routerSpec(await seedTarget({ ...seed, service: 'web', router: 'alb' }));
    specs.route53 = routerSpec(await seedTarget({ ...seed, service: 'api', router: 'route53' }));
  });
  afterAll(async () => {
    await moto?.stop();
  });

  describe.each(['alb', 'route53'] as const)('the %s router', (type) => {
    it('starts with all traffic on blue', async () => {
      expect(await providers.routerFor(specs[type]!).getWeights()).toEqual({ blue: 100, green: 0 });
    });

    it('sets, reads back and verifies 90 / 10, and repeating the write changes nothing', async () => {
      const router = providers.routerFor(specs[type]!);
      await router.setWeights({ blue: 90, green: 10 });
      expect(await router.getWeights()).toEqual({ blue: 90, green: 10 });
      await router.setWeights({ blue: 90, green: 10 });
      expect(await router.verify({ blue: 90, green: 10 })).toBe(true);
      expect(await router.verify({ blue: 50, green: 50 })).toBe(false);
    });

    it('moves all traffic to green and back', async () => {
      const router = providers.routerFor(specs[type]!);
      await router.setWeights({ blue: 0, green: 100 });
      expect(await router.getWeights()).toEqual({ blue: 0, green: 100 });
      await router.setWeights({ blue: 100, green: 0 });
      expect(await router.verify({ blue: 100, green: 0 })).toBe(true);
    });

    it('refuses weights that do not add up to 100', async () => {
      await expect(providers.routerFor(specs[type]!).setWeights({ blue: 60, green: 60 })).rejects.toThrow(RangeError);
    });
  });

  describe('after a write', () => {
    it('Route 53 returns its change id, which moto reports INSYNC at once', async () => {
      const router = providers.routerFor(specs.route53!);
      const { syncToken } = await router.setWeights({ blue: 80, green: 20 });
      expect(syncToken).toMatch(/^\/change\/\w+$/);
      expect(await router.isSynced(syncToken!)).toBe(true);
      await router.setWeights({ blue: 100, green: 0 });
    });

    it('Route 53 settles after the longer TTL of the two records', async () => {
      expect(await providers.routerFor(specs.route53!).settleSeconds()).toBe(SANDBOX_RECORD_TTL);
    });

    it('the ALB has nothing to wait for: no token, synced, settled at once', async () => {
      const router = providers.routerFor(specs.alb!);
      expect(await router.setWeights({ blue: 80, green: 20 })).toEqual({ syncToken: null });
      expect(await router.isSynced('anything')).toBe(true);
      expect(await router.settleSeconds()).toBe(0);
      await router.setWeights({ blue: 100, green: 0 });
    });
  });

  describe('when the spec does not match the infrastructure', () => {
    it('names a listener that does not exist', async () => {
      const spec = specs.alb as Extract<TrafficRouterSpec, { type: 'alb' }>;
      const missing = spec.listenerArn.replace(/\/[^/]+$/, '/0000000000000000');
      await expect(providers.routerFor({ ...spec, listenerArn: missing }).getWeights()).rejects.toEqual(mismatch(`listener '${missing}' not found`));
    });

    it('names a target group the listener forwards to but the spec does not know', async () => {
      const spec = specs.alb as Extract<TrafficRouterSpec, { type: 'alb' }>;
      const router = providers.routerFor({ ...spec, targetGroups: { ...spec.targetGroups, green: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/other/1' } });
      await expect(router.setWeights({ blue: 50, green: 50 })).rejects.toEqual(mismatch(/forwards to target group '.*web-dev-green.*', which is neither the blue nor the green one/));
    });

    it('names the Route 53 record set identifier that is missing', async () => {
      const spec = specs.route53 as Extract<TrafficRouterSpec, { type: 'route53' }>;
      const router = providers.routerFor({ ...spec, setIdentifiers: { blue: 'blue', green: 'teal' } });
      await expect(router.getWeights()).rejects.toEqual(mismatch(`CNAME record 'api-dev.sandbox.baton.internal.' with set identifier 'teal' not found`));
    });

    it('names a hosted zone that does not exist', async () => {
      const spec = specs.route53 as Extract<TrafficRouterSpec, { type: 'route53' }>;
      await expect(providers.routerFor({ ...spec, hostedZoneId: 'ZNOTAZONE' }).getWeights()).rejects.toEqual(mismatch(`hosted zone 'ZNOTAZONE' not found`));
    });
  });
});
