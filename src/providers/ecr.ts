// The ECR adapter behind ImageRegistry: what a tag of an ECR repository points to now. Releases
// ask it once, when they start, and deploy the digest it answers in every environment, so what
// was approved in staging is byte for byte what reaches prod even if someone pushes the tag again.
//
// The API calls it inside a request, which has 4 s for everything (app.ts), so a lookup is
// bounded tighter than the workers' AWS calls: an unreachable registry is a clear 503 from the
// release route, not the request's generic deadline.
import { DescribeImagesCommand, ECRClient } from '@aws-sdk/client-ecr';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { awsClientConfig, send, type AwsOptions } from './aws';
import { RegistryError, type ImageRegistry } from './types';

/** One lookup, both attempts included, ends within this (well inside the API's 4 s per request). */
export const REGISTRY_LOOKUP_TIMEOUT_MS = 3_000;

/** What an ECR image reference names: `<account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repository>`. */
export interface EcrRepositoryRef {
  registryId: string;
  region: string;
  repositoryName: string;
}

const ECR_HOST = /^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/;

/** The registry, region and repository of an ECR image reference (tag or digest ignored); null for any other registry. */
export function parseEcrImage(image: string): EcrRepositoryRef | null {
  const slash = image.indexOf('/');
  if (slash < 0) return null;
  const host = ECR_HOST.exec(image.slice(0, slash));
  if (!host) return null;
  const rest = image.slice(slash + 1);
  // The repository is what precedes a digest or a tag (a ':' after the last '/').
  const at = rest.indexOf('@');
  const noDigest = at >= 0 ? rest.slice(0, at) : rest;
  const colon = noDigest.lastIndexOf(':');
  const repositoryName = colon > noDigest.lastIndexOf('/') ? noDigest.slice(0, colon) : noDigest;
  if (!repositoryName) return null;
  return { registryId: host[1], region: host[2], repositoryName };
}

/** `image`, resolved against ECR in the region its host names (else `region`), with the standard AWS settings in `opts`. */
export function createEcrRegistry(opts: AwsOptions): ImageRegistry {
  const clients = new Map<string, ECRClient>();
  const clientFor = (region: string): ECRClient => {
    let client = clients.get(region);
    if (!client) {
      client = new ECRClient({
        ...awsClientConfig(region, opts),
        requestHandler: new NodeHttpHandler({ connectionTimeout: 1_000, requestTimeout: 1_400, throwOnRequestTimeout: true }),
        maxAttempts: 2,
      });
      clients.set(region, client);
    }
    return client;
  };

  /** The digest of the one image `imageId` names in the repository, or null when there is none. */
  async function describe(image: string, imageId: { imageTag: string } | { imageDigest: string }, region: string): Promise<string | null> {
    const ref = parseEcrImage(image);
    if (!ref) {
      throw new RegistryError('unsupported', `image ${image} is not in ECR, the only registry Baton can read: Baton deploys only what it can pin to a digest`);
    }
    const where = whereIs(ref);
    try {
      const out = await send(clientFor(ref.region || region), new DescribeImagesCommand({
        registryId: ref.registryId,
        repositoryName: ref.repositoryName,
        imageIds: [imageId],
      }));
      return out.imageDetails?.[0]?.imageDigest ?? null;
    } catch (err) {
      const name = (err as Error)?.name;
      if (name === 'ImageNotFoundException') return null;
      if (name === 'RepositoryNotFoundException') throw new RegistryError('not_found', `there is no ${where}`);
      if (name === 'AccessDeniedException' || name === 'AccessDenied') {
        throw new RegistryError('unavailable', `Baton's API may not read ${where}: it needs ecr:DescribeImages there`);
      }
      throw new RegistryError('unavailable', `ECR did not answer about ${where}: ${(err as Error)?.message ?? String(err)}`);
    }
  }

  /** Runs a lookup under REGISTRY_LOOKUP_TIMEOUT_MS: past it, the registry is unavailable. */
  async function bounded<T>(what: string, lookup: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RegistryError('unavailable', `ECR did not answer within ${REGISTRY_LOOKUP_TIMEOUT_MS / 1000} s about ${what}`)), REGISTRY_LOOKUP_TIMEOUT_MS);
    });
    try {
      return await Promise.race([lookup, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    async resolveDigest(image, tag, region) {
      const digest = await bounded(`${image}:${tag}`, describe(image, { imageTag: tag }, region));
      if (!digest) {
        const ref = parseEcrImage(image)!; // describe() refused any other
        throw new RegistryError('not_found', `no image ${ref.repositoryName}:${tag} in ${whereIs(ref)} (push it first)`);
      }
      return digest;
    },
    async hasDigest(image, digest, region) {
      return (await bounded(`${image}@${digest}`, describe(image, { imageDigest: digest }, region))) !== null;
    },
  };
}

/** `ECR repository web (registry 123456789012, us-east-1)`. */
function whereIs(ref: EcrRepositoryRef): string {
  return `ECR repository ${ref.repositoryName} (registry ${ref.registryId}, ${ref.region})`;
}
