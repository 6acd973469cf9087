// Pure types shared by workflows, activities, the API and config. Nothing here does I/O;
// everything here is safe to put in a workflow input or history (no secrets).
import type { NotifySpec } from './notices';

export type Colour = 'blue' | 'green';
export const COLOURS: readonly Colour[] = ['blue', 'green'];

export function otherColour(colour: Colour): Colour {
  return colour === 'blue' ? 'green' : 'blue';
}

/** Percent of traffic on each colour; always sums to 100. */
export interface Weights {
  blue: number;
  green: number;
}

export function weightsFor(colour: Colour, percent: number): Weights {
  return colour === 'blue' ? { blue: percent, green: 100 - percent } : { blue: 100 - percent, green: percent };
}

/** A rollout step (argo-rollouts' CanaryStep, narrowed to what Baton does). */
export type Step =
  | { type: 'shift'; weight: number }
  | { type: 'soak'; durationSeconds: number };

export interface AnalysisSettings {
  /** Seconds between two samples during a soak. */
  intervalSeconds: number;
  /** How far back each sample looks, in seconds. */
  windowSeconds: number;
  /** Consecutive failing samples that roll back. */
  failureLimit: number;
  /** Inconclusive samples a single soak tolerates (each extends the soak by one interval) before failing safe. */
  inconclusiveLimit: number;
  /**
   * How far behind "now" a sample's window ends: CloudWatch publishes ALB metrics a minute or
   * so late, and a window that ends now would read the newest minute as missing or partial.
   */
  lagSeconds: number;
}

export interface RolloutPlan {
  name: string;
  steps: Step[];
  analysis: AnalysisSettings;
  /** After 100 %, the previous colour stays at full size this long (rollback is instant). */
  keepPreviousForSeconds: number;
  /** Then it runs at `standbyCount` tasks this long, then it is retired (scaled to 0). */
  standbyForSeconds: number;
  standbyCount: number;
  /** How long the new colour's ECS service may take to become stable. */
  stableTimeoutSeconds: number;
  /** A rollback or retirement still failing after this long escalates (phase `stuck`, an alert); it keeps trying. */
  escalateAfterSeconds: number;
  /** Added to a DNS record's TTL before the colour traffic left is scaled down (resolvers overshoot TTLs). */
  drainMarginSeconds: number;
}

export interface Thresholds {
  /** Highest acceptable 5xx / requests ratio, 0..1. */
  maxErrorRate: number;
  /** Highest acceptable latency, in milliseconds, of the configured statistic. */
  maxLatencyMs: number;
  /** Below this many requests in a window, a sample is inconclusive. */
  minRequests: number;
}

export interface ComputeTarget {
  region: string;
  cluster: string;
  services: Record<Colour, string>;
  /** Container in the task definition whose image is replaced; default: the first one. */
  container?: string;
}

export type TrafficRouterSpec =
  | {
      type: 'alb';
      region: string;
      listenerArn: string;
      targetGroups: Record<Colour, string>;
    }
  | {
      type: 'route53';
      region: string;
      hostedZoneId: string;
      recordName: string;
      recordType: 'A' | 'AAAA' | 'CNAME';
      setIdentifiers: Record<Colour, string>;
    };

export interface MetricQuery {
  metricName: string;
  /** CloudWatch statistic: Sum, Average, p95, ... */
  statistic: string;
}

/**
 * A further count of failed requests added to `errors`: per colour (with the colour's
 * dimensions, e.g. an ALB target group's TargetConnectionErrorCount) or for the whole load
 * balancer (only the `LoadBalancer` dimension, e.g. HTTPCode_ELB_5XX_Count, which ALBs do not
 * publish per target group: counted in full against the colour being analysed, to fail safe).
 */
export interface ExtraErrorQuery extends MetricQuery {
  scope: 'colour' | 'loadBalancer';
}

export interface MetricsSpec {
  type: 'cloudwatch';
  region: string;
  namespace: string;
  requests: MetricQuery;
  errors: MetricQuery;
  latency: MetricQuery & { unit: 'seconds' | 'milliseconds' };
  /** Added to `errors` (an ALB's own 5xx and target connection errors by default). */
  extraErrors: ExtraErrorQuery[];
  dimensions: Record<Colour, Record<string, string>>;
}

/** Everything a deployment needs, resolved from config when it starts and fixed for its life. */
export interface DeploymentSpec {
  id: string;
  service: string;
  environment: string;
  version: string;
  /** Full image reference for the new version, e.g. `123.dkr.ecr.../web:1.4.2`. */
  image: string;
  requestedBy: string;
  /** A direct deployment around a gate: who broke glass, and why (recorded on the run). */
  breakGlass?: { by: string; reason: string } | null;
  /** The API's decision key (Ed25519 public key, hex): operator actions must be signed with it. */
  decisionKey?: string;
  compute: ComputeTarget;
  traffic: TrafficRouterSpec;
  metrics: MetricsSpec;
  /** Smoke-test URL per colour. */
  smokeTestUrls: Record<Colour, string>;
  thresholds: Thresholds;
  plan: RolloutPlan;
  notify: NotifySpec;
}

/** What one analysis read of the metrics returned (null: no datapoints). */
export interface Measurement {
  requests: number | null;
  errors: number | null;
  latencyMs: number | null;
  windowSeconds: number;
  /**
   * Where `errors` came from: each error metric's count (the errors metric and every extra one,
   * by metric name), so a verdict can say which failures broke it. Absent when `errors` is null.
   */
  errorSources?: Record<string, number>;
}

export type Verdict = 'pass' | 'fail' | 'inconclusive';
export type SampleReason = 'healthy' | 'error_rate' | 'latency' | 'no_data' | 'low_traffic' | 'provider_error';

export interface Evidence {
  metric: 'error_rate' | 'latency_ms' | 'inconclusive_samples';
  value: number;
  threshold: number;
}

export interface Sample {
  at: string;
  /** Index of the plan step being soaked. */
  step: number;
  weight: number;
  verdict: Verdict;
  reason: SampleReason;
  requests: number | null;
  errorRate: number | null;
  latencyMs: number | null;
  evidence?: Evidence;
  message: string;
}

export interface TimelineEvent {
  at: string;
  type: string;
  message: string;
}

export type Outcome = 'succeeded' | 'rolled_back' | 'failed' | 'rejected' | 'expired' | 'cancelled';
