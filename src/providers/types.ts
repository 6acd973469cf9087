// One narrow interface per concern. Each vendor adapter lives in its own file behind these;
// `factory.ts` picks the adapter from a spec. Every write is set-to-value, safe to repeat,
// and verified by reading back before the caller moves on.
import type { DrComputeFacts, FailoverDns, FailoverRecordFacts, InstanceFacts, RdsInstanceRef, ReplicaFacts, ReplicaLagFacts } from '../domain/failover';
import type { MessageRef } from '../domain/notices';
import type { Colour, ComputeTarget, Measurement, MetricsSpec, TrafficRouterSpec, Weights } from '../domain/types';

/** The deployment ECS considers primary: the revision it rolls out (or runs), and how far it got. */
export interface PrimaryDeployment {
  taskDefinitionArn: string;
  /** ECS's rolloutState; null where the API does not report one (older services, emulators). */
  rolloutState: 'IN_PROGRESS' | 'COMPLETED' | 'FAILED' | null;
  desiredCount: number;
  runningCount: number;
}

export interface ServiceState {
  serviceName: string;
  /** The task definition the service is set to run. */
  taskDefinitionArn: string;
  /** Image of the replaced container in the service's current task definition. */
  image: string | null;
  desiredCount: number;
  runningCount: number;
  /** The primary deployment, or null when ECS reports none. */
  primary: PrimaryDeployment | null;
  /** How many deployments ECS reports (more than one: a rollout is still replacing tasks). */
  deployments: number;
  /** The Baton deployment that registered the service's task definition (its `baton:deployment` tag), or null. */
  deployedBy: string | null;
  /** One deployment, rolled out (not IN_PROGRESS or FAILED), running as many tasks as desired. */
  stable: boolean;
}

export interface DeployImageRequest {
  target: ComputeTarget;
  /** The idle colour, which receives the new image. */
  colour: Colour;
  /** The live colour, whose task definition is the template for the new revision. */
  templateColour: Colour;
  image: string;
  desiredCount: number;
  /** Recorded on the task definition revision so a repeat finds and reuses it. */
  deploymentId: string;
}

export interface Compute {
  describe(target: ComputeTarget, colour: Colour): Promise<ServiceState>;
  /** Registers (or reuses) a task definition revision with `image` and points the service at it. */
  deployImage(req: DeployImageRequest): Promise<ServiceState>;
  /** Sets the service's desired count and reads it back. */
  scale(target: ComputeTarget, colour: Colour, desiredCount: number): Promise<ServiceState>;
}

/** What a traffic write left to wait for: a token to ask whether it has reached every server, or null. */
export interface TrafficWrite {
  syncToken: string | null;
}

export interface TrafficRouter {
  getWeights(): Promise<Weights>;
  /** Writes the weights (set-to-value, idempotent). Returns without waiting for propagation. */
  setWeights(weights: Weights): Promise<TrafficWrite>;
  /** Whether the write with this token reached every server that answers for the router (Route 53: INSYNC). */
  isSynced(syncToken: string): Promise<boolean>;
  /** Reads back and says whether the router serves exactly `weights`. */
  verify(weights: Weights): Promise<boolean>;
  /** How long clients may keep using the previous answer after a change: Route 53, the records' TTL; ALB, 0. */
  settleSeconds(): Promise<number>;
}

export type TrafficRouterFactory = (spec: TrafficRouterSpec) => TrafficRouter;

export interface MetricsProvider {
  /**
   * Reads requests, 5xx and latency for one colour over the `windowSeconds` ending at `end`
   * (default: now). The workflow passes the time it decided to sample, so a retried read asks
   * about the same window.
   */
  measure(spec: MetricsSpec, colour: Colour, windowSeconds: number, end?: Date): Promise<Measurement>;
}

export interface SmokeResult {
  ok: boolean;
  status: number | null;
  detail: string;
}

export interface SmokeTester {
  check(url: string): Promise<SmokeResult>;
}

/** A message to post: a run's parent message, or a reply in its thread. */
export interface OutgoingMessage {
  /** A channel id or name; absent: the notifier's default channel. */
  channel?: string;
  /** Plain-text fallback (notifications, screen readers) and the log line. */
  text: string;
  /** Slack Block Kit blocks, optional. */
  blocks?: unknown[];
  /** Post as a reply in this message's thread. */
  threadTs?: string;
  /** Tags a run's parent message (workflow id and first run id), so a retried post can find it again. */
  runId?: string;
}

export interface Notifier {
  /** Posts a message and says where it landed; throws when the channel is unreachable (the caller retries). */
  post(m: OutgoingMessage): Promise<MessageRef>;
  /** Replaces a posted message's text and blocks. */
  update(ref: MessageRef, m: Pick<OutgoingMessage, 'text' | 'blocks'>): Promise<void>;
  /** A run's parent message if it was already posted (by an attempt whose answer was lost), else null. */
  findRunMessage(channel: string | undefined, runId: string): Promise<MessageRef | null>;
}

/** The channel asks us to wait before calling again (Slack's 429 and its Retry-After). */
export class NotifierRateLimited extends Error {
  override name = 'NotifierRateLimited';
  constructor(readonly retryAfterSeconds: number) {
    super(`rate limited: retry after ${retryAfterSeconds} s`);
  }
}

/**
 * The writes of a failover, failback or drill (src/providers/dr-ops.ts). Every call is
 * set-to-value and safe to repeat (a retry after a worker crash finds the work done and
 * returns what it reads), and reads back what it wrote before it returns.
 */
export interface DrOperator {
  /** What an RDS instance is now; `status: null` when it does not exist. */
  describeInstance(instance: RdsInstanceRef): Promise<InstanceFacts>;
  /**
   * Makes the instance refuse writes: `default_transaction_read_only = 1` (applied at once) in
   * its own DB parameter group, read back, and tags the instance `baton:fenced = <runId>`.
   * Throws a spec mismatch for an instance on a `default.*` parameter group (shared; AWS
   * refuses to change it).
   */
  fenceDatabase(instance: RdsInstanceRef, runId: string): Promise<InstanceFacts>;
  /** Undoes fenceDatabase: `default_transaction_read_only = 0`, the tag removed. Safe when never fenced. */
  unfenceDatabase(instance: RdsInstanceRef): Promise<InstanceFacts>;
  /** Promotes a read replica to a standalone instance and waits until it is available; an instance that is no replica is returned as is. */
  promoteReplica(instance: RdsInstanceRef): Promise<InstanceFacts>;
  /**
   * Creates `replica` as a read replica of `source` (by ARN when in another region), with the
   * instance class and parameter group of `like` (in the replica's region), and waits until it
   * is available. An existing replica of `source` is returned as is; an existing instance that
   * is anything else is a spec mismatch.
   */
  createReplica(source: RdsInstanceRef, replica: RdsInstanceRef, like: RdsInstanceRef): Promise<InstanceFacts>;
  /** Renames an instance (sets it aside) and waits until the new name answers; done when only `newId` exists. */
  renameInstance(instance: RdsInstanceRef, newId: string): Promise<InstanceFacts>;
  /** Deletes an instance (a final snapshot named `finalSnapshotId`, or none); done when it does not exist. */
  deleteInstance(instance: RdsInstanceRef, finalSnapshotId: string | null): Promise<void>;
  /**
   * Records the services' desired counts on them (tag `baton:fenced-counts`, unless already
   * there: a repeat keeps the first counts) and scales both colours to 0. Returns the counts
   * recorded.
   */
  fenceServices(target: ComputeTarget, runId: string): Promise<Record<Colour, number>>;
  /**
   * Scales both colours to `counts`, or (null) back to the counts fenceServices recorded, and
   * removes the tag; with no tag and no counts it changes nothing. Returns the counts now desired.
   */
  unfenceServices(target: ComputeTarget, counts: Record<Colour, number> | null): Promise<Record<Colour, number>>;
  /** The counts fenceServices recorded on the services, or null when they are not fenced. */
  fencedCounts(target: ComputeTarget): Promise<Record<Colour, number> | null>;
  /**
   * Makes `primarySetIdentifier` the record Route 53 answers with: for failover records, it
   * becomes PRIMARY and the other SECONDARY, in one change batch; waits until the change is
   * INSYNC and reads the records back (throws when they disagree). `region` picks the client.
   */
  setDnsPrimary(dns: FailoverDns, primarySetIdentifier: string, region: string): Promise<FailoverRecordFacts[]>;
}

/**
 * Reads a service's disaster-recovery posture, for readiness (src/domain/failover.ts). Read-only;
 * "not found" is an answer (a null status), not an error: only a failed read throws.
 */
export interface DrInspector {
  /** The DR cluster and both colours' services, with whether each service's task definition is ACTIVE. */
  compute(target: ComputeTarget): Promise<DrComputeFacts>;
  /** The replica instance: its status and what it replicates. */
  replica(instance: RdsInstanceRef): Promise<ReplicaFacts>;
  /** The newest `ReplicaLag` datapoint (AWS/RDS, Maximum per minute) in the `windowSeconds` before `end`. */
  replicaLag(instance: RdsInstanceRef, windowSeconds: number, end: Date): Promise<ReplicaLagFacts>;
  /** The records named `dns.recordName` with either failover set identifier (Route 53 is global; `region` picks the client). */
  failoverRecords(dns: FailoverDns, region: string): Promise<FailoverRecordFacts[]>;
}

/**
 * Where releases learn what a tag points to, so that every environment deploys the same bytes
 * (src/providers/ecr.ts). Read-only. A failure is a RegistryError saying which kind it is.
 */
export interface ImageRegistry {
  /** The digest (`sha256:<hex>`) `image:tag` points to now; `region` is where to ask when the reference does not say. */
  resolveDigest(image: string, tag: string, region: string): Promise<string>;
  /** Whether the repository `image` names holds an image with this digest. */
  hasDigest(image: string, digest: string, region: string): Promise<boolean>;
}

/**
 * `not_found`: no such repository or tag; `unavailable`: the registry did not answer (or refused
 * to); `unsupported`: a registry the adapter cannot read.
 */
export type RegistryErrorKind = 'not_found' | 'unavailable' | 'unsupported';

export class RegistryError extends Error {
  override name = 'RegistryError';
  constructor(readonly kind: RegistryErrorKind, message: string) {
    super(message);
  }
}
