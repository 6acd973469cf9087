// Builds the providers the worker's activities use, from runtime settings: AWS (real, or a
// local stand-in when an endpoint is given) and Slack, or the log when there is no token.
import type { TrafficRouterSpec } from '../domain/types';
import { createAlbRouter } from './alb';
import { createAwsClients, type AwsClients } from './aws';
import { createCloudWatchMetrics } from './cloudwatch';
import { createEcsCompute } from './ecs';
import { createLogNotifier } from './log-notifier';
import { createRoute53Router } from './route53';
import { createSlackNotifier } from './slack';
import { createHttpSmokeTester } from './smoke';
import type { Compute, MetricsProvider, Notifier, SmokeTester, TrafficRouter, TrafficRouterFactory } from './types';

export interface ProviderOptions {
  awsEndpoint?: string; // local AWS stand-in (moto); undefined = real AWS
  awsCredentials?: { accessKeyId: string; secretAccessKey: string }; // optional explicit credentials (tests against moto pass these)
  slack: { botToken?: string; apiUrl?: string };
  defaultChannel?: string;
  log?: (line: string) => void;
}

export interface Providers {
  compute: Compute;
  routerFor: TrafficRouterFactory;
  metrics: MetricsProvider;
  smoke: SmokeTester;
  notifier: Notifier;
}

export function createProviders(opts: ProviderOptions): Providers {
  const aws = createAwsClients({ endpoint: opts.awsEndpoint, credentials: opts.awsCredentials });
  return {
    compute: createEcsCompute(aws.ecs),
    routerFor: (spec) => routerFor(aws, spec),
    metrics: createCloudWatchMetrics(aws.cloudwatch),
    smoke: createHttpSmokeTester(),
    // Slack needs a token and somewhere to post; without either, notifications go to the log.
    notifier: opts.slack.botToken && opts.defaultChannel
      ? createSlackNotifier({ botToken: opts.slack.botToken, apiUrl: opts.slack.apiUrl, defaultChannel: opts.defaultChannel })
      : createLogNotifier({ defaultChannel: opts.defaultChannel, sink: opts.log }),
  };
}

function routerFor(aws: AwsClients, spec: TrafficRouterSpec): TrafficRouter {
  switch (spec.type) {
    case 'alb':
      return createAlbRouter(aws.elb(spec.region), spec);
    case 'route53':
      return createRoute53Router(aws.route53(spec.region), spec);
    default: {
      const unknown: never = spec;
      throw new Error(`unknown traffic router type ${JSON.stringify(unknown)}`);
    }
  }
}
