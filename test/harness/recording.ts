// The real providers (against moto), with every write recorded in order, and writes that can
// be made to fail on demand: how tests assert "capacity restored before any traffic moves"
// and drive a rollback whose AWS calls keep failing. Reads and writes still reach moto; only
// a failure the test asks for is made up, and it is made up before the call is sent.
import type { Colour, ComputeTarget, TrafficRouterSpec, Weights } from '../../src/domain/types';
import type { Providers } from '../../src/providers/factory';
import type { Compute, DeployImageRequest, TrafficRouter } from '../../src/providers/types';
import type { Notifier, OutgoingMessage } from '../../src/providers/types';

export type Write =
  | { kind: 'deploy'; service: string; colour: Colour; desiredCount: number }
  | { kind: 'scale'; service: string; colour: Colour; desiredCount: number }
  | { kind: 'weights'; router: string; weights: Weights };

export interface Recording {
  providers: Providers;
  /** Every write the providers were asked to make (successful or not), in order. */
  writes: Write[];
  /** A write for which this returns a message fails with it (AccessDenied, throttling...). */
  failWrites: ((w: Write) => string | null) | null;
  /** Every message posted (the run's thread included), as text. */
  messages: string[];
}

function routerName(spec: TrafficRouterSpec): string {
  return spec.type === 'alb' ? spec.listenerArn : `${spec.hostedZoneId}/${spec.recordName}`;
}

export function recording(base: Providers): Recording {
  const rec: Recording = { providers: base, writes: [], failWrites: null, messages: [] };
  const write = (w: Write) => {
    rec.writes.push(w);
    const why = rec.failWrites?.(w);
    if (why) throw Object.assign(new Error(why), { name: 'AccessDeniedException' });
  };
  const compute: Compute = {
    describe: (target, colour) => base.compute.describe(target, colour),
    async deployImage(req: DeployImageRequest) {
      write({ kind: 'deploy', service: req.target.services[req.colour], colour: req.colour, desiredCount: req.desiredCount });
      return base.compute.deployImage(req);
    },
    async scale(target: ComputeTarget, colour: Colour, desiredCount: number) {
      write({ kind: 'scale', service: target.services[colour], colour, desiredCount });
      return base.compute.scale(target, colour, desiredCount);
    },
  };
  const routerFor = (spec: TrafficRouterSpec): TrafficRouter => {
    const router = base.routerFor(spec);
    return {
      ...router,
      getWeights: () => router.getWeights(),
      verify: (w) => router.verify(w),
      isSynced: (t) => router.isSynced(t),
      settleSeconds: () => router.settleSeconds(),
      async setWeights(weights: Weights) {
        write({ kind: 'weights', router: routerName(spec), weights });
        return router.setWeights(weights);
      },
    };
  };
  const notifier: Notifier = {
    async post(m: OutgoingMessage) {
      rec.messages.push(m.text);
      return base.notifier.post(m);
    },
    update: (ref, m) => base.notifier.update(ref, m),
    findRunMessage: (channel, runId) => base.notifier.findRunMessage(channel, runId),
  };
  rec.providers = { ...base, compute, routerFor, notifier };
  return rec;
}

/** Index of the first write matching `pred` at or after `from` (-1: none). */
export function indexOfWrite(writes: Write[], pred: (w: Write) => boolean, from = 0): number {
  for (let i = from; i < writes.length; i++) if (pred(writes[i])) return i;
  return -1;
}
