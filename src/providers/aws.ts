// Shared AWS plumbing for the adapters and the sandbox seeder: one client config per region,
// clients cached per region, the bounds on every AWS call (timeouts, attempts, the caller's
// cancellation), and the one error shape that means "the spec does not match the real
// infrastructure" (activities turn it into a non-retryable failure).
import { AsyncLocalStorage } from 'node:async_hooks';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { ECSClient } from '@aws-sdk/client-ecs';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { RDSClient } from '@aws-sdk/client-rds';
import { Route53Client } from '@aws-sdk/client-route-53';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { Command, MetadataBearer } from '@smithy/types';
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
  requestHandler: NodeHttpHandler;
  maxAttempts: number;
}

// ------------------------------------------------------------ bounds on one AWS call
//
// The SDK's defaults are no timeout and 3 attempts: a request to an endpoint that accepts the
// connection and never answers hangs until the activity's start-to-close (60 s) kills it,
// and the retry that follows hangs the same way. These bounds keep one SDK call, retry
// included (2 x 10 s plus a backoff well under a second), inside an activity's 60 s, so a
// slow AWS fails as a retryable error the activity's retry policy sees, not as a timeout.

/** Opening a connection to an AWS endpoint takes milliseconds; after 3 s it is unreachable. */
export const AWS_CONNECTION_TIMEOUT_MS = 3_000;
/** One HTTP request, connection included: the control-plane calls Baton makes answer in well under a second. */
export const AWS_REQUEST_TIMEOUT_MS = 10_000;
/** The first try and one retry (the SDK retries throttling and transient errors, never an abort). */
export const AWS_MAX_ATTEMPTS = 2;

/**
 * Credentials for a local stand-in when none are given: moto accepts any, and falling back to
 * the machine's credential chain would fail (or worse, pick up real keys) on a laptop.
 */
const LOCAL_CREDENTIALS: AwsCredentials = { accessKeyId: 'baton-local', secretAccessKey: 'baton-local' };

/** A client's settings: where to, as whom, and the bounds above (each client its own connection pool). */
export function awsClientConfig(region: string, opts: AwsOptions): AwsClientConfig {
  const bounds = {
    requestHandler: new NodeHttpHandler({
      connectionTimeout: AWS_CONNECTION_TIMEOUT_MS,
      requestTimeout: AWS_REQUEST_TIMEOUT_MS,
      // Without it, a request past requestTimeout only logs a warning and keeps waiting.
      throwOnRequestTimeout: true,
    }),
    maxAttempts: AWS_MAX_ATTEMPTS,
  };
  if (!opts.endpoint) return opts.credentials ? { region, credentials: opts.credentials, ...bounds } : { region, ...bounds };
  return { region, endpoint: opts.endpoint, credentials: opts.credentials ?? LOCAL_CREDENTIALS, ...bounds };
}

// ------------------------------------------------------------ the caller's cancellation
//
// An activity that is cancelled (or timed out) must not leave its HTTP request running. The
// providers do not know about Temporal: the activity layer runs a provider call inside
// withAbortSignal(signal, ...), and every adapter sends through send(), which hands the signal
// of the call it is part of to the SDK. Outside withAbortSignal, calls run unbounded by a signal
// (the timeouts above still apply).

const ambientSignal = new AsyncLocalStorage<AbortSignal>();

/** Runs `fn` so that every AWS call it makes through send() is aborted when `signal` is. */
export function withAbortSignal<T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
  return ambientSignal.run(signal, fn);
}

type AwsCommand<Input extends object, Output extends MetadataBearer> = Command<object, Input, MetadataBearer, Output, unknown>;

/** The SDK clients' send, as the adapters use it. */
interface Sender<Input extends object, Output extends MetadataBearer> {
  send(command: AwsCommand<Input, Output>, options?: { abortSignal?: AbortSignal }): Promise<Output>;
}

/** The signal of the withAbortSignal() the caller runs in, if any: adapters that wait between calls sleep under it. */
export function currentAbortSignal(): AbortSignal | undefined {
  return ambientSignal.getStore();
}

/** Sends one command, aborted with the signal of the withAbortSignal() it runs in, if any. */
export function send<Input extends object, Output extends MetadataBearer>(
  client: Sender<NoInfer<Input>, NoInfer<Output>>,
  command: AwsCommand<Input, Output>,
): Promise<Output> {
  const abortSignal = ambientSignal.getStore();
  return abortSignal ? client.send(command, { abortSignal }) : client.send(command);
}

// ------------------------------------------------------------ clients

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
  rds(region: string): RDSClient;
}

export function createAwsClients(opts: AwsOptions): AwsClients {
  return {
    ecs: perRegion(ECSClient, opts),
    elb: perRegion(ElasticLoadBalancingV2Client, opts),
    route53: perRegion(Route53Client, opts),
    cloudwatch: perRegion(CloudWatchClient, opts),
    rds: perRegion(RDSClient, opts),
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
