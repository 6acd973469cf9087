// Live is not done, and safety converges from what is observed: a deployment's tail on the
// production plan (1 h keep, 24 h standby) on Temporal's time-skipping server, against real
// ECS, ALB and Route 53 in moto. Every write to AWS is recorded in order, so the tests can
// say "capacity was restored before any traffic moved"; writes can be made to fail.
import { describe, expect, it } from 'vitest';
import { DescribeServicesCommand, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import type { WorkflowHandle } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { buildDeploymentSpec, startDeployment } from '../../src/temporal/deployments';
import type { DeploymentStatus } from '../../src/domain/deployment';
import type { Colour } from '../../src/domain/types';
import { deploymentActionUpdate, deploymentStatusQuery } from '../../workflows/messages';
import { MOTO_CREDENTIALS, routerOfMetrics } from '../harness/stack';
import { appMetrics, healthy, type Health } from '../harness/app-metrics';
import { allFacts, listedPhases, replayAll } from '../harness/history';
import { indexOfWrite, recording, type Recording } from '../harness/recording';
import { createAwsClients } from '../../src/providers/aws';
import { EXAMPLE_PLANS, useTimeSkippingSandbox } from '../harness/time-skipping';

describe('a deployment\'s tail on the production plan (time-skipping server)', () => {
  const sb = useTimeSkippingSandbox(EXAMPLE_PLANS.production);

  const target = (service: string, environment: string) => sb.files.config.services[service].environments[environment];

  /** Runs `fn` with a worker whose providers record (and may fail) every write. */
  async function withWorker<T>(health: (weight: number, colour: Colour) => Health, fn: (rec: Recording) => Promise<T>, rec = recording(sb.aws.providers)): Promise<T> {
    const metrics = appMetrics(routerOfMetrics(sb.files.config, sb.aws.providers), health);
    return sb.withWorker(metrics, () => fn(rec), { ...rec.providers, metrics });
  }

  async function deploy(service: string, environment: string, version: string): Promise<WorkflowHandle> {
    const spec = buildDeploymentSpec(sb.files.config, { service, environment, version, requestedBy: 'ada' });
    const { id } = await startDeployment(sb.env.client, sb.files.taskQueue, spec);
    return sb.env.client.workflow.getHandle(id);
  }

  /** Lets workflow time run, in steps, until the deployment's status satisfies `ok`. */
  async function skipUntil(handle: WorkflowHandle, what: string, step: Duration, ok: (s: DeploymentStatus) => boolean, maxSteps = 200): Promise<DeploymentStatus> {
    for (let i = 0; i < maxSteps; i++) {
      const s = await handle.query(deploymentStatusQuery);
      if (ok(s)) return s;
      if (s.outcome) throw new Error(`${handle.workflowId} ended (${s.outcome}) while waiting for ${what}`);
      await sb.env.sleep(step);
    }
    throw new Error(`${what} did not happen`);
  }

  /** Waits for the end (time skips), then replays every run of it on a fresh worker. */
  async function end(handle: WorkflowHandle): Promise<DeploymentStatus> {
    await handle.result().catch(() => undefined);
    await replayAll(handle);
    return handle.query(deploymentStatusQuery);
  }

  const act = (handle: WorkflowHandle, action: 'rollback' | 'pause' | 'resume', actor = 'rosa') =>
    handle.executeUpdate(deploymentActionUpdate, { args: [{ action, reason: 'test', actor }] });

  const weightsOf = async (service: string, environment: string) => sb.aws.providers.routerFor(target(service, environment).traffic).getWeights();
  const countOf = async (service: string, environment: string, colour: Colour) => (await sb.aws.providers.compute.describe(target(service, environment).compute, colour)).desiredCount;

  it('is live at 100 % verified and frees its lane; a new deployment during the 24 h standby takes over the tail and succeeds', async () => {
    await withWorker(() => healthy, async (rec) => {
      const first = await deploy('web', 'prod', '3.0.0');
      const live = await skipUntil(first, 'the standby', '30m', (s) => s.phase === 'standby');
      expect(live.liveAt).not.toBeNull();
      expect(live.tail).toMatchObject({ stage: 'standby', colour: 'blue' });
      // The lane was freed at live, not at the end of the tail.
      expect((await sb.env.client.workflow.getHandle('lane:web:prod').describe()).status.name).toBe('COMPLETED');
      expect(await countOf('web', 'prod', 'blue')).toBe(1);
      // BatonPhase lists the phases the run waited in: an ALB shift is over within its one call,
      // so from the first soak to live the listed phase stays soaking, written once.
      expect(listedPhases(await allFacts(first))).toEqual(['starting', 'deploying', 'smoke_testing', 'soaking', 'keeping_previous', 'standby']);

      // A hotfix while blue is on standby: it deploys onto blue, the colour the first one kept.
      const before = rec.writes.length;
      const hotfix = await deploy('web', 'prod', '3.0.1');
      const handedOver = await end(first);
      expect(handedOver).toMatchObject({ outcome: 'succeeded', phase: 'completed', handedOverTo: hotfix.workflowId });
      expect(handedOver.timeline.map((e) => e.type)).toContain('tail_taken_over');
      const done = await end(hotfix);
      expect(done).toMatchObject({ outcome: 'succeeded', tookOver: { from: first.workflowId, colour: 'blue', stage: 'standby' }, liveColour: 'blue' });
      expect(done.timeline.find((e) => e.type === 'took_over')?.message).toMatch(/blue was on standby/);
      // The first deployment never touched blue again: every write after the takeover is the hotfix's.
      const after = rec.writes.slice(before);
      expect(after[0]).toMatchObject({ kind: 'deploy', colour: 'blue', desiredCount: 2 });
      expect(after.filter((w) => w.kind === 'scale' && w.colour === 'blue' && w.desiredCount < 2)).toEqual([]);
      expect(await weightsOf('web', 'prod')).toEqual({ blue: 100, green: 0 });
      expect(await countOf('web', 'prod', 'green')).toBe(0);
      expect(await countOf('web', 'prod', 'blue')).toBe(2);
    });
  }, 240_000);

  it('rolls back during keep at once: the previous colour is still hot, so traffic moves first (ALB)', async () => {
    await withWorker(() => healthy, async (rec) => {
      const d = await deploy('web', 'staging', '3.1.0');
      await skipUntil(d, 'the keep', '5m', (s) => s.phase === 'keeping_previous');
      const before = rec.writes.length;
      await act(d, 'rollback');
      const s = await end(d);
      expect(s.outcome).toBe('rolled_back');
      const writes = rec.writes.slice(before);
      expect(writes[0]).toEqual({ kind: 'weights', router: expect.any(String), weights: { blue: 100, green: 0 } });
      expect(writes.filter((w) => w.kind === 'scale' && w.colour === 'blue')).toEqual([]);
      expect(writes[writes.length - 1]).toMatchObject({ kind: 'scale', colour: 'green', desiredCount: 0 });
      const restored = s.timeline.find((e) => e.type === 'traffic_restored');
      const requested = s.timeline.find((e) => e.type === 'rollback_requested');
      expect(Date.parse(restored!.at) - Date.parse(requested!.at)).toBeLessThan(5_000);
    });
  }, 240_000);

  it('rolls back during standby by restoring the previous colour\'s capacity before any traffic moves (ALB)', async () => {
    await withWorker(() => healthy, async (rec) => {
      const d = await deploy('web', 'dev', '3.2.0');
      await skipUntil(d, 'the standby', '30m', (s) => s.phase === 'standby');
      expect(await countOf('web', 'dev', 'blue')).toBe(1);
      const before = rec.writes.length;
      await act(d, 'rollback');
      const s = await end(d);
      expect(s.outcome).toBe('rolled_back');
      const writes = rec.writes.slice(before);
      const scaleUp = indexOfWrite(writes, (w) => w.kind === 'scale' && w.colour === 'blue' && w.desiredCount === 2);
      const traffic = indexOfWrite(writes, (w) => w.kind === 'weights');
      expect(scaleUp).toBe(0);
      expect(traffic).toBeGreaterThan(scaleUp);
      expect(s.timeline.map((e) => e.type)).toEqual(expect.arrayContaining(['capacity_restoring', 'capacity_restored', 'traffic_restored', 'scaled_down']));
      expect(await weightsOf('web', 'dev')).toEqual({ blue: 100, green: 0 });
      expect(await countOf('web', 'dev', 'blue')).toBe(2);
      expect(await countOf('web', 'dev', 'green')).toBe(0);
    });
  }, 240_000);

  it('rolls back during standby on Route 53 the same way, and scales the bad colour down only after the record\'s TTL and a margin', async () => {
    await withWorker(() => healthy, async (rec) => {
      const d = await deploy('api', 'prod', '3.3.0');
      await skipUntil(d, 'the standby', '30m', (s) => s.phase === 'standby');
      // A Route 53 shift waits for DNS to sync: each is listed in BatonPhase as that wait begins.
      const facts = await allFacts(d);
      expect(listedPhases(facts)).toEqual(['starting', 'deploying', 'smoke_testing', ...Array(3).fill(['shifting', 'soaking']).flat(), 'shifting', 'keeping_previous', 'standby']);
      for (const listed of facts.filter((f) => f.listedPhase === 'shifting')) {
        expect(facts.find((f) => f.id > listed.id && f.type === 'ACTIVITY_TASK_SCHEDULED')?.activityType).toBe('awaitTrafficSync');
      }
      const before = rec.writes.length;
      await act(d, 'rollback');
      const s = await end(d);
      expect(s.outcome).toBe('rolled_back');
      const writes = rec.writes.slice(before);
      expect(indexOfWrite(writes, (w) => w.kind === 'weights')).toBeGreaterThan(indexOfWrite(writes, (w) => w.kind === 'scale' && w.colour === 'blue' && w.desiredCount === 2));
      const restored = Date.parse(s.timeline.find((e) => e.type === 'traffic_restored')!.at);
      const scaledDown = Date.parse(s.timeline.find((e) => e.type === 'scaled_down')!.at);
      // The production plan's margin is 30 s.
      const ttl = await sb.aws.providers.routerFor(target('api', 'prod').traffic).settleSeconds();
      expect(ttl).toBeGreaterThan(0);
      expect(scaledDown - restored).toBeGreaterThanOrEqual((ttl + 30) * 1000);
      expect(s.timeline.find((e) => e.type === 'draining')?.message).toMatch(new RegExp(`DNS TTL ${ttl}s \\+ 30s`));
      expect(await weightsOf('api', 'prod')).toEqual({ blue: 100, green: 0 });
    });
  }, 240_000);

  it('keeps trying a rollback whose AWS calls keep failing, escalates (phase stuck, the error, an alert), and finishes once AWS answers', async () => {
    const rec = recording(sb.aws.providers);
    await withWorker(() => healthy, async () => {
      const d = await deploy('api', 'staging', '3.4.0');
      await skipUntil(d, 'the 10 % soak', '1m', (s) => s.phase === 'soaking' && s.weights?.green === 10);
      rec.failWrites = (w) => (w.kind === 'weights' ? 'AccessDenied: not authorized to perform route53:ChangeResourceRecordSets' : null);
      await act(d, 'rollback');
      const stuck = await skipUntil(d, 'the escalation', '1m', (s) => s.phase === 'stuck', 30);
      expect(stuck.stuck?.lastError).toMatch(/AccessDenied/);
      expect(stuck.error).toMatch(/AccessDenied/);
      expect(rec.messages.some((m) => m.startsWith('<!here> ') && /STUCK/.test(m) && /AccessDenied/.test(m))).toBe(true);
      // Still 10 % on green: nothing was half-done, and it keeps trying.
      expect(await weightsOf('api', 'staging')).toEqual({ blue: 90, green: 10 });
      rec.failWrites = null;
      const s = await end(d);
      expect(s.outcome).toBe('rolled_back');
      expect(s.timeline.map((e) => e.type)).toContain('recovered');
      expect(await weightsOf('api', 'staging')).toEqual({ blue: 100, green: 0 });
    }, rec);
  }, 240_000);

  it('rolls back when cancelled during keep, and leaves the new version live with its tail finishing when cancelled during standby', async () => {
    await withWorker(() => healthy, async () => {
      const keep = await deploy('api', 'dev', '3.5.0');
      await skipUntil(keep, 'the keep', '5m', (s) => s.phase === 'keeping_previous');
      await keep.cancel();
      const cancelled = await end(keep);
      expect(cancelled).toMatchObject({ outcome: 'cancelled', cancel: { effect: 'rollback' } });
      expect(cancelled.timeline.map((e) => e.type)).toContain('traffic_restored');
      expect(await weightsOf('api', 'dev')).toEqual({ blue: 100, green: 0 });
      expect((await keep.describe()).status.name).toBe('CANCELLED');

      const standby = await deploy('api', 'dev', '3.6.0');
      await skipUntil(standby, 'the standby', '30m', (s) => s.phase === 'standby');
      await standby.cancel();
      const after = await standby.query(deploymentStatusQuery);
      expect(after).toMatchObject({ phase: 'standby', cancel: { effect: 'tail_continues' }, tail: { stage: 'standby' } });
      const finished = await end(standby);
      expect(finished).toMatchObject({ outcome: 'succeeded', phase: 'completed', liveColour: 'green', rollback: null });
      expect(finished.timeline.find((e) => e.type === 'cancel_requested')?.message).toMatch(/green stays live with the new version/);
      expect(await weightsOf('api', 'dev')).toEqual({ blue: 0, green: 100 });
      expect(await countOf('api', 'dev', 'blue')).toBe(0);
    });
  }, 240_000);

  it('fails, not succeeds, when ECS reverts the new colour to the previous revision (circuit breaker), before any traffic moves', async () => {
    const rec = recording(sb.aws.providers);
    const t = target('web', 'prod');
    const ecs = createAwsClients({ endpoint: sb.aws.moto.endpoint, credentials: MOTO_CREDENTIALS }).ecs(t.compute.region);
    // What ECS's deployment circuit breaker does: the new revision's tasks fail, and ECS puts
    // the service back on the revision it ran before.
    const deployImage = rec.providers.compute.deployImage;
    rec.providers = {
      ...rec.providers,
      compute: {
        ...rec.providers.compute,
        async deployImage(req) {
          const before = await ecs.send(new DescribeServicesCommand({ cluster: req.target.cluster, services: [req.target.services[req.colour]] }));
          const state = await deployImage(req);
          await ecs.send(new UpdateServiceCommand({ cluster: req.target.cluster, service: req.target.services[req.colour], taskDefinition: before.services?.[0]?.taskDefinition }));
          return state;
        },
      },
    };
    await withWorker(() => healthy, async () => {
      const live = await weightsOf('web', 'prod');
      const liveColour: Colour = live.blue === 100 ? 'blue' : 'green';
      const d = await deploy('web', 'prod', '3.7.0');
      const s = await end(d);
      expect(s.outcome).toBe('rolled_back');
      expect(s.liveAt).toBeNull();
      expect(s.rollback?.reason).toMatch(/did not come to run 3\.7\.0.*circuit breaker rolled it back/);
      expect(rec.writes.filter((w) => w.kind === 'weights')).toEqual([]);
      expect(await weightsOf('web', 'prod')).toEqual(live);
      expect((await d.describe()).status.name).toBe('FAILED');
      void liveColour;
    }, rec);
  }, 240_000);

  it('rolls back at once on a breach while the previous colour is kept hot', async () => {
    // Healthy until the new colour takes all the traffic; then it breaks.
    await withWorker((weight) => (weight === 100 ? { errorRate: 0.2, latencyMs: 90 } : healthy), async () => {
      const d = await deploy('web', 'staging', '3.8.0');
      const s = await end(d);
      expect(s.outcome).toBe('rolled_back');
      expect(s.liveAt).not.toBeNull();
      expect(s.rollback?.reason).toMatch(/error rate 20 %.*the last at 100 %/);
      const facts = await allFacts(d);
      expect(facts.some((f) => f.type === 'TIMER_STARTED' && f.summary === 'Keep blue hot for 1h')).toBe(true);
      expect(await weightsOf('web', 'staging')).toEqual({ blue: 100, green: 0 });
    });
  }, 240_000);
});
