// Seeds moto with the sandbox's example infrastructure, so a machine with no AWS account runs
// real deployments end to end. Idempotent: every resource is looked up by name before it is
// created and nothing that exists is changed, so a second run changes nothing and returns the
// same values (moto's ids are random, which is why they are read back, never assumed).
import { createHash, randomUUID } from 'node:crypto';
import { CreateRepositoryCommand, DescribeImagesCommand, ECRClient, PutImageCommand } from '@aws-sdk/client-ecr';
import { CreateSubnetCommand, CreateVpcCommand, DescribeSubnetsCommand, DescribeVpcsCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  CreateClusterCommand,
  CreateServiceCommand,
  DescribeClustersCommand,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  RegisterTaskDefinitionCommand,
  UpdateServiceCommand,
  type ECSClient,
} from '@aws-sdk/client-ecs';
import {
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  CreateTargetGroupCommand,
  DescribeListenersCommand,
  DescribeLoadBalancersCommand,
  DescribeTargetGroupsCommand,
  type ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import {
  ChangeResourceRecordSetsCommand,
  CreateHostedZoneCommand,
  ListHostedZonesByNameCommand,
  ListResourceRecordSetsCommand,
  type Route53Client,
} from '@aws-sdk/client-route-53';
import {
  CreateDBInstanceCommand,
  CreateDBInstanceReadReplicaCommand,
  CreateDBParameterGroupCommand,
  DescribeDBInstancesCommand,
  DescribeDBParameterGroupsCommand,
  ModifyDBParameterGroupCommand,
  type RDSClient,
} from '@aws-sdk/client-rds';
import { awsClientConfig, createAwsClients, type AwsClientConfig, type AwsClients } from '../providers/aws';
import type { Colour } from '../domain/types';
import { READ_ONLY_PARAMETER } from '../providers/dr-ops';

/** The sandbox's weighted records' TTL: short, so a rollback of `api` drains in seconds, as the sandbox's minute-long calendar wants. */
export const SANDBOX_RECORD_TTL = 5;

export const SANDBOX_REGIONS = { primary: 'us-east-1', dr: 'us-west-2' } as const;
export type SandboxRouter = 'alb' | 'route53';

export interface SeededTarget {
  service: string;
  environment: string;
  region: string;
  image: string;
  liveVersion: string;
  ecs: { cluster: string; blueService: string; greenService: string };
  traffic:
    | { type: 'alb'; listenerArn: string; blueTargetGroupArn: string; greenTargetGroupArn: string }
    | { type: 'route53'; hostedZoneId: string; recordName: string; recordType: 'CNAME'; blueSetIdentifier: string; greenSetIdentifier: string };
  metrics: {
    namespace: string;
    requests: { metricName: string; statistic: string };
    errors: { metricName: string; statistic: string };
    latency: { metricName: string; statistic: string; unit: 'seconds' | 'milliseconds' };
    blueDimensions: Record<string, string>;
    greenDimensions: Record<string, string>;
  };
  /** The disaster-recovery copy of this target, when the sandbox keeps one (api in prod). */
  dr?: SeededDr;
}

/** What the seed made for one target's disaster recovery, in the shape of config's `services.<s>.dr.<env>` (less what the sandbox config adds). */
export interface SeededDr {
  region: string;
  ecs: { cluster: string; blueService: string; greenService: string };
  productionCount: number;
  standbyCount: number;
  database: { primary: { region: string; instanceId: string }; replica: { region: string; instanceId: string } };
  dns: { hostedZoneId: string; recordName: string; recordType: 'CNAME'; primarySetIdentifier: string; secondarySetIdentifier: string };
  /** The DR copy's metrics dimensions per colour (what the feeder publishes there while it takes traffic). */
  metrics: { blueDimensions: Record<string, string>; greenDimensions: Record<string, string> };
}

/** The services that keep a DR copy with a database and failover records (the others only a DR copy of their compute). */
const DR_SERVICES = new Set(['api']);

export interface SeedOptions {
  endpoint: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

type TargetOptions = SeedOptions & { region: string; service: string; environment: string; router: SandboxRouter };

const ACCOUNT = '123456789012'; // moto's default account
const LIVE_VERSION = '1.0.0';
const ZONE = 'sandbox.baton.internal';
const SANDBOX_SERVICES: { service: string; router: SandboxRouter }[] = [
  { service: 'web', router: 'alb' },
  { service: 'api', router: 'route53' },
];
const SANDBOX_ENVIRONMENTS = ['dev', 'staging', 'prod'];

/** One blue/green target: ECS cluster `<service>-<environment>` with services `<service>-<environment>-blue|green`, a task definition family `<service>-<environment>` running `<image>:1.0.0`, blue at desiredCount 2 and stable (running), green at 0; traffic 100 % blue. */
export async function seedTarget(opts: TargetOptions): Promise<SeededTarget> {
  return seed(createAwsClients(opts), opts, 2);
}

/**
 * The sandbox: `web` (ALB) and `api` (Route 53, hosted zone `sandbox.baton.internal`, record
 * `api-<env>.sandbox.baton.internal` CNAMEs with set identifiers blue/green) in dev, staging and
 * prod, in SANDBOX_REGIONS.primary; plus a disaster-recovery copy of prod (cluster and services at
 * their standby size, 0, its own ALB / records) in SANDBOX_REGIONS.dr. For api in prod also an RDS
 * primary with a cross-region read replica in the DR region, and Route 53 failover records
 * (seedDr). Returns the primary targets (6); api's prod target carries its `dr`.
 */
export async function seedSandbox(opts: SeedOptions): Promise<SeededTarget[]> {
  const clients = createAwsClients(opts);
  const primary: SeededTarget[] = [];
  // One at a time: targets share a VPC and a hosted zone, which must be created only once.
  for (const { service, router } of SANDBOX_SERVICES) {
    for (const environment of SANDBOX_ENVIRONMENTS) {
      primary.push(await seed(clients, { ...opts, region: SANDBOX_REGIONS.primary, service, environment, router }, 2));
    }
    const drCopy = await seed(clients, { ...opts, region: SANDBOX_REGIONS.dr, service, environment: 'prod', router }, DR_STANDBY_COUNT);
    const prod = primary.find((t) => t.service === service && t.environment === 'prod')!;
    if (DR_SERVICES.has(service)) prod.dr = await seedDr(clients, prod, drCopy);
  }
  await seedImages(opts);
  return primary;
}

async function seed(clients: AwsClients, opts: TargetOptions, blueCount: number): Promise<SeededTarget> {
  const name = `${opts.service}-${opts.environment}`;
  const image = `${ACCOUNT}.dkr.ecr.${opts.region}.amazonaws.com/${opts.service}`;
  const ecs = { cluster: name, blueService: `${name}-blue`, greenService: `${name}-green` };
  await seedCompute(clients.ecs(opts.region), { ...ecs, family: name, container: opts.service, image: `${image}:${LIVE_VERSION}`, blueCount });
  const routing = opts.router === 'alb' ? await seedAlb(clients.elb(opts.region), opts, name) : await seedRecords(clients.route53(opts.region), opts);
  return { service: opts.service, environment: opts.environment, region: opts.region, image, liveVersion: LIVE_VERSION, ecs, ...routing };
}

type Routing = Pick<SeededTarget, 'traffic' | 'metrics'>;

// ---------------------------------------------------------------- ECS

interface ComputeSeed {
  cluster: string;
  blueService: string;
  greenService: string;
  family: string;
  container: string;
  image: string;
  blueCount: number;
}

async function seedCompute(ecs: ECSClient, s: ComputeSeed): Promise<void> {
  const clusters = await ecs.send(new DescribeClustersCommand({ clusters: [s.cluster] }));
  if (!clusters.clusters?.some((c) => c.status === 'ACTIVE')) await ecs.send(new CreateClusterCommand({ clusterName: s.cluster }));
  const taskDefinition = await ensureTaskDefinition(ecs, s);
  await ensureService(ecs, s.cluster, s.blueService, taskDefinition, s.blueCount);
  await ensureService(ecs, s.cluster, s.greenService, taskDefinition, 0);
}

async function ensureTaskDefinition(ecs: ECSClient, s: ComputeSeed): Promise<string> {
  try {
    const out = await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: s.family }));
    if (out.taskDefinition?.taskDefinitionArn) return out.taskDefinition.taskDefinitionArn;
  } catch (err) {
    if ((err as Error).name !== 'ClientException') throw err;
  }
  const out = await ecs.send(
    new RegisterTaskDefinitionCommand({
      family: s.family,
      containerDefinitions: [{ name: s.container, image: s.image, essential: true, memory: 256, portMappings: [{ containerPort: 8080 }] }],
    }),
  );
  return out.taskDefinition!.taskDefinitionArn!;
}

/**
 * Creates the service when it is missing, at 0 tasks, then scales it (as a settled real service
 * would look). moto does not run tasks: it reports a service's tasks running once an UpdateService
 * sets the count, and it fixes the service's one deployment when the service is created, never
 * updating it. Created at 0, that deployment reads COMPLETED; created at 2, it would read
 * IN_PROGRESS forever and the service would never count as stable.
 */
async function ensureService(ecs: ECSClient, cluster: string, service: string, taskDefinition: string, desiredCount: number): Promise<void> {
  const out = await ecs.send(new DescribeServicesCommand({ cluster, services: [service] }));
  if (out.services?.some((s) => s.status === 'ACTIVE')) return;
  await ecs.send(new CreateServiceCommand({ cluster, serviceName: service, taskDefinition, desiredCount: 0 }));
  await ecs.send(new UpdateServiceCommand({ cluster, service, desiredCount }));
}

// ---------------------------------------------------------------- ECR
//
// Releases deploy the digest a tag points to when they start (src/providers/ecr.ts), so the
// sandbox's repositories hold an image for every version its examples release. moto derives an
// image's digest from its manifest's layers: each push below has a layer of its own, so each is a
// new digest, as a real rebuild would be.

/** The versions the sandbox's examples and the README release; POST /v1/sandbox/images pushes any other. */
export const SANDBOX_IMAGE_VERSIONS = ['1.0.0', '1.1.0', '1.2.0', '1.4.2', '1.4.3', '7.0.0'];

const ecrClients = new WeakMap<SeedOptions, Map<string, ECRClient>>();
function ecrOf(opts: SeedOptions, region: string): ECRClient {
  let byRegion = ecrClients.get(opts);
  if (!byRegion) ecrClients.set(opts, (byRegion = new Map()));
  let client = byRegion.get(region);
  if (!client) byRegion.set(region, (client = new ECRClient(awsClientConfig(region, opts))));
  return client;
}

/** Repositories `web` and `api` in each sandbox region, with an image per SANDBOX_IMAGE_VERSIONS; a tag already there is kept. */
async function seedImages(opts: SeedOptions): Promise<void> {
  for (const region of Object.values(SANDBOX_REGIONS)) {
    for (const { service } of SANDBOX_SERVICES) {
      const ecr = ecrOf(opts, region);
      await ensureRepository(ecr, service);
      for (const version of SANDBOX_IMAGE_VERSIONS) {
        if ((await taggedDigest(ecr, service, version)) === null) await putImage(ecr, service, version, `${service}:${version}:seed`);
      }
    }
  }
}

/**
 * What CI does after a build: a new image tagged `version` in `service`'s repository, in every
 * sandbox region (the same digest in each); a tag that existed moves to it. Returns the digest.
 */
export async function pushSandboxImage(opts: SeedOptions, service: string, version: string): Promise<string> {
  const build = `${service}:${version}:${randomUUID()}`;
  let digest = '';
  for (const region of Object.values(SANDBOX_REGIONS)) {
    const ecr = ecrOf(opts, region);
    await ensureRepository(ecr, service);
    digest = await putImage(ecr, service, version, build);
  }
  return digest;
}

async function ensureRepository(ecr: ECRClient, name: string): Promise<void> {
  try {
    await ecr.send(new CreateRepositoryCommand({ repositoryName: name, registryId: ACCOUNT }));
  } catch (err) {
    if ((err as Error).name !== 'RepositoryAlreadyExistsException') throw err;
  }
}

async function taggedDigest(ecr: ECRClient, repositoryName: string, tag: string): Promise<string | null> {
  const found = await findByName(
    async () => (await ecr.send(new DescribeImagesCommand({ registryId: ACCOUNT, repositoryName, imageIds: [{ imageTag: tag }] }))).imageDetails?.[0]?.imageDigest,
    'ImageNotFoundException',
  );
  return found ?? null;
}

/** Pushes a manifest whose one layer is named by `build` (the same build gives the same digest); returns its digest. */
async function putImage(ecr: ECRClient, repositoryName: string, tag: string, build: string): Promise<string> {
  const layer = (text: string) => ({ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: 1024, digest: `sha256:${createHash('sha256').update(text).digest('hex')}` });
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: 512, digest: layer(`config ${build}`).digest },
    layers: [layer(build)],
  };
  const out = await ecr.send(new PutImageCommand({ registryId: ACCOUNT, repositoryName, imageTag: tag, imageManifest: JSON.stringify(manifest) }));
  const digest = out.image?.imageId?.imageDigest;
  if (!digest) throw new Error(`ECR did not return the digest of ${repositoryName}:${tag}`);
  return digest;
}

// ---------------------------------------------------------------- ALB

async function seedAlb(elb: ElasticLoadBalancingV2Client, opts: TargetOptions, name: string): Promise<Routing> {
  const network = await ensureNetwork(awsClientConfig(opts.region, opts));
  const lb = await ensureLoadBalancer(elb, name, network.subnetIds);
  const blue = await ensureTargetGroup(elb, `${name}-blue`, network.vpcId);
  const green = await ensureTargetGroup(elb, `${name}-green`, network.vpcId);
  const listenerArn = await ensureListener(elb, lb, blue, green);
  const dimensions = (tg: string) => ({ LoadBalancer: lb.slice(lb.indexOf(':loadbalancer/') + ':loadbalancer/'.length), TargetGroup: tg.slice(tg.lastIndexOf(':') + 1) });
  return {
    traffic: { type: 'alb', listenerArn, blueTargetGroupArn: blue, greenTargetGroupArn: green },
    metrics: {
      namespace: 'AWS/ApplicationELB',
      requests: { metricName: 'RequestCount', statistic: 'Sum' },
      errors: { metricName: 'HTTPCode_Target_5XX_Count', statistic: 'Sum' },
      // Real ALBs are best judged on p95; moto answers percentiles badly, so the sandbox uses Average.
      latency: { metricName: 'TargetResponseTime', statistic: 'Average', unit: 'seconds' },
      blueDimensions: dimensions(blue),
      greenDimensions: dimensions(green),
    },
  };
}

/** Describe-by-name that answers undefined for "not found" instead of throwing. */
async function findByName<T>(describe: () => Promise<T | undefined>, notFound: string): Promise<T | undefined> {
  try {
    return await describe();
  } catch (err) {
    if ((err as Error).name === notFound) return undefined;
    throw err;
  }
}

async function ensureLoadBalancer(elb: ElasticLoadBalancingV2Client, name: string, subnetIds: string[]): Promise<string> {
  const found = await findByName(
    async () => (await elb.send(new DescribeLoadBalancersCommand({ Names: [name] }))).LoadBalancers?.[0]?.LoadBalancerArn,
    'LoadBalancerNotFoundException',
  );
  if (found) return found;
  const out = await elb.send(new CreateLoadBalancerCommand({ Name: name, Subnets: subnetIds, Type: 'application', Scheme: 'internal' }));
  return out.LoadBalancers![0].LoadBalancerArn!;
}

async function ensureTargetGroup(elb: ElasticLoadBalancingV2Client, name: string, vpcId: string): Promise<string> {
  const found = await findByName(
    async () => (await elb.send(new DescribeTargetGroupsCommand({ Names: [name] }))).TargetGroups?.[0]?.TargetGroupArn,
    'TargetGroupNotFoundException',
  );
  if (found) return found;
  const out = await elb.send(
    new CreateTargetGroupCommand({ Name: name, Protocol: 'HTTP', Port: 8080, VpcId: vpcId, TargetType: 'ip', HealthCheckPath: '/healthz' }),
  );
  return out.TargetGroups![0].TargetGroupArn!;
}

async function ensureListener(elb: ElasticLoadBalancingV2Client, lbArn: string, blue: string, green: string): Promise<string> {
  const out = await elb.send(new DescribeListenersCommand({ LoadBalancerArn: lbArn }));
  const found = out.Listeners?.find((l) => l.Port === 80)?.ListenerArn;
  if (found) return found;
  const created = await elb.send(
    new CreateListenerCommand({
      LoadBalancerArn: lbArn,
      Protocol: 'HTTP',
      Port: 80,
      DefaultActions: [{ Type: 'forward', ForwardConfig: { TargetGroups: [{ TargetGroupArn: blue, Weight: 100 }, { TargetGroupArn: green, Weight: 0 }] } }],
    }),
  );
  return created.Listeners![0].ListenerArn!;
}

// ---------------------------------------------------------------- EC2 (a VPC and two subnets for the ALBs)

const VPC_NAME = 'baton-sandbox';
const VPC_CIDR = '10.90.0.0/16';

/** The sandbox VPC with one subnet in each of two zones (an ALB needs two). */
async function ensureNetwork(cfg: AwsClientConfig): Promise<{ vpcId: string; subnetIds: string[] }> {
  const ec2 = new EC2Client(cfg);
  try {
    const found = await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'tag:Name', Values: [VPC_NAME] }] }));
    const vpcId =
      found.Vpcs?.[0]?.VpcId ??
      (await ec2.send(new CreateVpcCommand({ CidrBlock: VPC_CIDR, TagSpecifications: [{ ResourceType: 'vpc', Tags: [{ Key: 'Name', Value: VPC_NAME }] }] }))).Vpc?.VpcId;
    if (!vpcId) throw new Error(`could not find or create the sandbox VPC in ${cfg.region}`);
    const subnetIds: string[] = [];
    for (const [i, zone] of ['a', 'b'].entries()) subnetIds.push(await ensureSubnet(ec2, vpcId, `${cfg.region}${zone}`, `10.90.${i}.0/24`));
    return { vpcId, subnetIds };
  } finally {
    ec2.destroy();
  }
}

async function ensureSubnet(ec2: EC2Client, vpcId: string, zone: string, cidr: string): Promise<string> {
  const found = await ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }, { Name: 'availability-zone', Values: [zone] }] }));
  const id = found.Subnets?.[0]?.SubnetId ?? (await ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: cidr, AvailabilityZone: zone }))).Subnet?.SubnetId;
  if (!id) throw new Error(`could not find or create a sandbox subnet in ${zone}`);
  return id;
}

// ---------------------------------------------------------------- Route 53

async function seedRecords(route53: Route53Client, opts: TargetOptions): Promise<Routing> {
  const hostedZoneId = await ensureZone(route53);
  // The primary region owns the short name; a disaster-recovery copy gets its own records.
  const host = opts.region === SANDBOX_REGIONS.primary ? `${opts.service}-${opts.environment}` : `${opts.service}-${opts.environment}.${opts.region}`;
  const recordName = `${host}.${ZONE}`;
  await ensureWeightedRecords(route53, hostedZoneId, recordName, (c) => `${opts.service}-${opts.environment}-${c}.${opts.region}.${ZONE}`);
  const dimensions = (colour: Colour) => ({ Service: opts.service, Environment: opts.environment, Colour: colour });
  return {
    traffic: { type: 'route53', hostedZoneId, recordName, recordType: 'CNAME', blueSetIdentifier: 'blue', greenSetIdentifier: 'green' },
    metrics: {
      namespace: 'Baton/Sandbox',
      requests: { metricName: 'Requests', statistic: 'Sum' },
      errors: { metricName: 'Errors5xx', statistic: 'Sum' },
      latency: { metricName: 'LatencyMs', statistic: 'Average', unit: 'milliseconds' },
      blueDimensions: dimensions('blue'),
      greenDimensions: dimensions('green'),
    },
  };
}

async function ensureZone(route53: Route53Client): Promise<string> {
  const out = await route53.send(new ListHostedZonesByNameCommand({ DNSName: ZONE, MaxItems: 1 }));
  const found = out.HostedZones?.find((z) => z.Name === `${ZONE}.`)?.Id;
  const id = found ?? (await route53.send(new CreateHostedZoneCommand({ Name: ZONE, CallerReference: `baton-sandbox-${ZONE}` }))).HostedZone?.Id;
  if (!id) throw new Error(`could not find or create the hosted zone ${ZONE}`);
  return id.replace(/^\/hostedzone\//, '');
}

/** Creates whichever of the two weighted CNAMEs is missing (blue 100, green 0), in one batch. */
async function ensureWeightedRecords(route53: Route53Client, zoneId: string, name: string, valueFor: (c: Colour) => string): Promise<void> {
  const out = await route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId, StartRecordName: name, StartRecordType: 'CNAME' }));
  const existing = new Set((out.ResourceRecordSets ?? []).filter((r) => r.Name === `${name}.` && r.Type === 'CNAME').map((r) => r.SetIdentifier));
  const missing = (['blue', 'green'] as const).filter((c) => !existing.has(c));
  if (missing.length === 0) return;
  await route53.send(
    new ChangeResourceRecordSetsCommand({
      HostedZoneId: zoneId,
      ChangeBatch: {
        Changes: missing.map((c) => ({
          Action: 'CREATE',
          ResourceRecordSet: { Name: name, Type: 'CNAME', SetIdentifier: c, Weight: c === 'blue' ? 100 : 0, TTL: SANDBOX_RECORD_TTL, ResourceRecords: [{ Value: valueFor(c) }] },
        })),
      },
    }),
  );
}

// ---------------------------------------------------------------- disaster recovery (RDS replica, failover records)

/** How many tasks the DR region runs after a failover: what prod runs (blue at 2). */
const DR_PRODUCTION_COUNT = 2;
/** How many tasks the DR copy's services run until a failover: none (a cold standby). */
const DR_STANDBY_COUNT = 0;

/** The engine the sandbox's RDS databases claim to run, and the parameter group family that goes with it. */
const DB_ENGINE_VERSION = '16.3';
const DB_PARAMETER_GROUP_FAMILY = 'postgres16';
export { READ_ONLY_PARAMETER };

/** A database's own parameter group: `<instance>-params`. Never the shared `default.*` group, which AWS refuses to change. */
export const parameterGroupName = (instanceId: string): string => `${instanceId}-params`;

/**
 * A target's DR posture: an RDS primary `<service>-<environment>-db` in the target's region with
 * a cross-region read replica `<service>-<environment>-db-replica` in the DR copy's region, each
 * on its own parameter group `<instance>-params` (`default_transaction_read_only` 0), and
 * Route 53 failover CNAMEs at `<service>.sandbox.baton.internal` (the name clients use): PRIMARY
 * (set identifier `primary`) → the primary region's blue/green name, SECONDARY (`secondary`) →
 * the DR copy's. Route 53 allows only one routing policy per name, so the failover records sit
 * one level above the weighted records a deployment shifts.
 */
async function seedDr(clients: AwsClients, primary: SeededTarget, drCopy: SeededTarget): Promise<SeededDr> {
  if (primary.traffic.type !== 'route53' || drCopy.traffic.type !== 'route53') throw new Error(`the sandbox's DR records need ${primary.service} to route by Route 53`);
  const name = `${primary.service}-${primary.environment}-db`;
  const database = { primary: { region: primary.region, instanceId: name }, replica: { region: drCopy.region, instanceId: `${name}-replica` } };
  const parameterGroups = { primary: parameterGroupName(database.primary.instanceId), replica: parameterGroupName(database.replica.instanceId) };
  await ensureParameterGroup(clients.rds(primary.region), parameterGroups.primary, `${name}: the primary's own parameters (a failover fences it here)`);
  await ensureParameterGroup(clients.rds(drCopy.region), parameterGroups.replica, `${name}: the DR replica's own parameters`);
  await ensurePrimaryDatabase(clients.rds(primary.region), database.primary.instanceId, primary.service, parameterGroups.primary);
  await ensureReplica(clients.rds(drCopy.region), database.primary, database.replica.instanceId, parameterGroups.replica);
  const hostedZoneId = primary.traffic.hostedZoneId;
  const recordName = `${primary.service}.${ZONE}`;
  await ensureFailoverRecords(clients.route53(primary.region), hostedZoneId, recordName, { primary: primary.traffic.recordName, secondary: drCopy.traffic.recordName });
  return {
    region: drCopy.region,
    ecs: drCopy.ecs,
    productionCount: DR_PRODUCTION_COUNT,
    standbyCount: DR_STANDBY_COUNT,
    database,
    dns: { hostedZoneId, recordName, recordType: 'CNAME', primarySetIdentifier: 'primary', secondarySetIdentifier: 'secondary' },
    metrics: { blueDimensions: drCopy.metrics.blueDimensions, greenDimensions: drCopy.metrics.greenDimensions },
  };
}

async function dbExists(rds: RDSClient, instanceId: string): Promise<boolean> {
  try {
    const out = await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: instanceId }));
    return (out.DBInstances ?? []).length > 0;
  } catch (err) {
    // The SDK names moto's and RDS's "not found" either way.
    if (['DBInstanceNotFoundFault', 'DBInstanceNotFound'].includes((err as Error).name)) return false;
    throw err;
  }
}

/**
 * Creates the parameter group with `default_transaction_read_only` present and 0 (a fresh group
 * in moto has no parameters at all, so fencing would have nothing to read back). An existing
 * group is left as it is: a fenced primary stays fenced.
 */
async function ensureParameterGroup(rds: RDSClient, name: string, description: string): Promise<void> {
  try {
    const out = await rds.send(new DescribeDBParameterGroupsCommand({ DBParameterGroupName: name }));
    if ((out.DBParameterGroups ?? []).length > 0) return;
  } catch (err) {
    if (!['DBParameterGroupNotFoundFault', 'DBParameterGroupNotFound'].includes((err as Error).name)) throw err;
  }
  await rds.send(new CreateDBParameterGroupCommand({ DBParameterGroupName: name, DBParameterGroupFamily: DB_PARAMETER_GROUP_FAMILY, Description: description }));
  await rds.send(new ModifyDBParameterGroupCommand({
    DBParameterGroupName: name,
    Parameters: [{ ParameterName: READ_ONLY_PARAMETER, ParameterValue: '0', ApplyMethod: 'immediate' }],
  }));
}

async function ensurePrimaryDatabase(rds: RDSClient, instanceId: string, service: string, parameterGroup: string): Promise<void> {
  if (await dbExists(rds, instanceId)) return;
  await rds.send(new CreateDBInstanceCommand({
    DBInstanceIdentifier: instanceId,
    DBInstanceClass: 'db.t3.micro',
    Engine: 'postgres',
    EngineVersion: DB_ENGINE_VERSION,
    DBParameterGroupName: parameterGroup,
    AllocatedStorage: 20,
    MasterUsername: service,
    MasterUserPassword: 'sandbox-only-password',
    // A read replica needs automated backups on its source.
    BackupRetentionPeriod: 7,
  }));
}

/**
 * A cross-region replica names its source by ARN (a same-region id would be looked up in the
 * replica's region), and its own parameter group by name: moto copies the source's settings
 * into a replica, the source's group name included, which does not exist in the replica's region.
 */
async function ensureReplica(rds: RDSClient, source: { region: string; instanceId: string }, instanceId: string, parameterGroup: string): Promise<void> {
  if (await dbExists(rds, instanceId)) return;
  await rds.send(new CreateDBInstanceReadReplicaCommand({
    DBInstanceIdentifier: instanceId,
    SourceDBInstanceIdentifier: `arn:aws:rds:${source.region}:${ACCOUNT}:db:${source.instanceId}`,
    DBInstanceClass: 'db.t3.micro',
    DBParameterGroupName: parameterGroup,
  }));
}

/** Creates whichever of the two failover CNAMEs is missing, in one batch. */
async function ensureFailoverRecords(route53: Route53Client, zoneId: string, name: string, targets: { primary: string; secondary: string }): Promise<void> {
  const out = await route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId, StartRecordName: name, StartRecordType: 'CNAME' }));
  const existing = new Set((out.ResourceRecordSets ?? []).filter((r) => r.Name === `${name}.` && r.Type === 'CNAME').map((r) => r.SetIdentifier));
  const missing = (['primary', 'secondary'] as const).filter((id) => !existing.has(id));
  if (missing.length === 0) return;
  await route53.send(
    new ChangeResourceRecordSetsCommand({
      HostedZoneId: zoneId,
      ChangeBatch: {
        Changes: missing.map((id) => ({
          Action: 'CREATE',
          ResourceRecordSet: {
            Name: name,
            Type: 'CNAME',
            SetIdentifier: id,
            Failover: id === 'primary' ? 'PRIMARY' : 'SECONDARY',
            TTL: SANDBOX_RECORD_TTL,
            ResourceRecords: [{ Value: targets[id] }],
          },
        })),
      },
    }),
  );
}
