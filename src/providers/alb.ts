// Traffic on an Application Load Balancer: the weights live on the listener's default forward
// action (ForwardConfig.TargetGroups). A write replaces only that forward action, keeping any
// other default action (authentication) and the stickiness settings as they are. A listener
// change applies at once: there is nothing to wait for after a write, and no DNS answer to expire.
import {
  DescribeListenersCommand,
  ModifyListenerCommand,
  type Action,
  type ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { TrafficRouterSpec, Weights } from '../domain/types';
import type { TrafficRouter, TrafficWrite } from './types';
import { assertWeights, infrastructureMismatch, orMismatch, sameWeights, send, toPercent } from './aws';

export type AlbSpec = Extract<TrafficRouterSpec, { type: 'alb' }>;

export function createAlbRouter(client: ElasticLoadBalancingV2Client, spec: AlbSpec): TrafficRouter {
  async function defaultActions(): Promise<Action[]> {
    const out = await orMismatch(() => send(client, new DescribeListenersCommand({ ListenerArns: [spec.listenerArn] })), {
      ListenerNotFoundException: `ALB listener '${spec.listenerArn}' not found in ${spec.region}`,
    });
    const listener = out.Listeners?.[0];
    if (!listener) throw infrastructureMismatch(`ALB listener '${spec.listenerArn}' not found in ${spec.region}`);
    return listener.DefaultActions ?? [];
  }

  async function getWeights(): Promise<Weights> {
    return weightsOf(forwardAction(await defaultActions(), spec), spec);
  }

  async function setWeights(weights: Weights): Promise<TrafficWrite> {
    assertWeights(weights);
    const actions = await defaultActions();
    const current = forwardAction(actions, spec);
    weightsOf(current, spec); // refuses a listener that forwards elsewhere
    const forward: Action = {
      Type: 'forward',
      Order: current.Order,
      ForwardConfig: {
        TargetGroups: [
          { TargetGroupArn: spec.targetGroups.blue, Weight: weights.blue },
          { TargetGroupArn: spec.targetGroups.green, Weight: weights.green },
        ],
        TargetGroupStickinessConfig: current.ForwardConfig?.TargetGroupStickinessConfig,
      },
    };
    const DefaultActions = actions.map((a) => (a === current ? forward : a));
    await send(client, new ModifyListenerCommand({ ListenerArn: spec.listenerArn, DefaultActions }));
    return { syncToken: null };
  }

  async function verify(weights: Weights): Promise<boolean> {
    return sameWeights(await getWeights(), weights);
  }

  return {
    getWeights,
    setWeights,
    verify,
    isSynced: async () => true,
    settleSeconds: async () => 0,
  };
}

function forwardAction(actions: Action[], spec: AlbSpec): Action {
  const forward = actions.find((a) => a.Type === 'forward');
  if (!forward) throw infrastructureMismatch(`ALB listener '${spec.listenerArn}' has no default forward action`);
  return forward;
}

/** Raw weights per configured target group; anything else the listener forwards to is a mismatch. */
function weightsOf(action: Action, spec: AlbSpec): Weights {
  const groups = action.ForwardConfig?.TargetGroups ?? (action.TargetGroupArn ? [{ TargetGroupArn: action.TargetGroupArn, Weight: 1 }] : []);
  const raw = { blue: 0, green: 0 };
  let configured = 0;
  for (const g of groups) {
    const colour = g.TargetGroupArn === spec.targetGroups.blue ? 'blue' : g.TargetGroupArn === spec.targetGroups.green ? 'green' : null;
    if (colour === null) {
      throw infrastructureMismatch(`ALB listener '${spec.listenerArn}' forwards to target group '${g.TargetGroupArn}', which is neither the blue nor the green one`);
    }
    raw[colour] += g.Weight ?? 1;
    configured++;
  }
  if (configured === 0) {
    throw infrastructureMismatch(
      `ALB listener '${spec.listenerArn}' does not forward to target groups '${spec.targetGroups.blue}' / '${spec.targetGroups.green}'`,
    );
  }
  const percent = toPercent(raw);
  if (!percent) throw infrastructureMismatch(`ALB listener '${spec.listenerArn}' gives every target group weight 0`);
  return percent;
}
