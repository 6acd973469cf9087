// Shared AWS plumbing for the adapters and the sandbox seeder: one client config per region,
// clients cached per region, and the one error shape that means "the spec does not match the
// real infrastructure" (activities turn it into a non-retryable failure).
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { ECSClient } from '@aws-sdk/client-ecs';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { Route53Client } from '@aws-sdk/client-route-53';
import { ErrorType } from '../domain/errors';
import type { Weights } from '../domain/types';

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface AwsOptions {
  /** A local AWS stand-in (moto); undefined means real AWS with the standard credential chain. */
  endpoint?: string;
  credentials?: AwsCredentials;
}

export interface AwsClientConfig {
  region: string;
  endpoint?: string;
  credentials?: AwsCredentials;
}

/**
 * Credentials for a local stand-in when none are given: moto accepts any, and falling back to
 * the machine's credential chain would fail (or worse, pick up real keys) on a laptop.
 */
const LOCAL_CREDENTIALS: AwsCredentials = { accessKeyId: 'baton-local', secretAccessKey: 'baton-local' };

export function awsClientConfig(region: string, opts: AwsOptions): AwsClientConfig {
  if (!opts.endpoint) return opts.credentials ? { region, credentials: opts.credentials } : { region };
  return { region, endpoint: opts.endpoint, credentials: opts.credentials ?? LOCAL_CREDENTIALS };
}

type ClientClass<T> = new (config: AwsClientConfig) => T;

function perRegion<T>(Client: ClientClass<T>, opts: AwsOptions): (region: string) => T {
  const cache = new Map<string, T>();
  return (region) => {
    let client = cache.get(region);
    if (!client) {
      client = new Client(awsClientConfig(region, opts));
      cache.set(region, client);
    }
    return client;
  };
}

export interface AwsClients {
  ecs(region: string): ECSClient;
  elb(region: string): ElasticLoadBalancingV2Client;
  route53(region: string): Route53Client;
  cloudwatch(region: string): CloudWatchClient;
}

export function createAwsClients(opts: AwsOptions): AwsClients {
  return {
    ecs: perRegion(ECSClient, opts),
    elb: perRegion(ElasticLoadBalancingV2Client, opts),
    route53: perRegion(Route53Client, opts),
    cloudwatch: perRegion(CloudWatchClient, opts),
  };
}

/** An Error whose `name` is ErrorType.InfrastructureMismatch; the message names the missing thing. */
export function infrastructureMismatch(message: string): Error {
  const err = new Error(message);
  err.name = ErrorType.InfrastructureMismatch;
  return err;
}

/** Runs an AWS call, turning the SDK errors listed in `notFound` into an InfrastructureMismatch. */
export async function orMismatch<T>(call: () => Promise<T>, notFound: Record<string, string>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    const message = notFound[(err as Error)?.name];
    if (message) throw infrastructureMismatch(message);
    throw err;
  }
}

// ------------------------------------------------------------ weights shared by the AWS routers

/** Refuses weights that are not whole percentages summing to 100 (a caller bug, not AWS). */
export function assertWeights(w: Weights): void {
  const whole = (n: number) => Number.isInteger(n) && n >= 0 && n <= 100;
  if (!whole(w.blue) || !whole(w.green) || w.blue + w.green !== 100) {
    throw new RangeError(`weights must be whole percentages summing to 100 (got blue ${w.blue} / green ${w.green})`);
  }
}

/** Normalises raw router weights (ALB 0..999, Route 53 0..255) to percent; null when both are 0. */
export function toPercent(raw: Weights): Weights | null {
  const total = raw.blue + raw.green;
  if (total <= 0) return null;
  const blue = Math.round((raw.blue * 100) / total);
  return { blue, green: 100 - blue };
}

export function sameWeights(a: Weights, b: Weights): boolean {
  return a.blue === b.blue && a.green === b.green;
}
