// The ECR registry adapter against moto: a tag resolves to the digest of the image it names now,
// an unknown tag or repository is "not found" naming them, another registry is unsupported, and
// an ECR that does not answer is "unavailable". The sandbox seed's repositories and images too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { startMoto } from '../harness/servers';
import { TEST_CREDENTIALS, type MotoServer } from '../harness/aws';
import { createEcrRegistry, parseEcrImage } from '../../src/providers/ecr';
import type { ImageRegistry, RegistryError } from '../../src/providers/types';
import { pushSandboxImage, SANDBOX_IMAGE_VERSIONS, SANDBOX_REGIONS, seedSandbox, type SeededTarget } from '../../src/sandbox/seed';

const registryError = (kind: RegistryError['kind'], text: string) =>
  expect.objectContaining({ name: 'RegistryError', kind, message: expect.stringContaining(text) });

describe('parseEcrImage', () => {
  it('reads the registry, region and repository of an ECR reference, with or without tag or digest', () => {
    const ref = { registryId: '123456789012', region: 'us-east-1', repositoryName: 'team/web' };
    expect(parseEcrImage('123456789012.dkr.ecr.us-east-1.amazonaws.com/team/web')).toEqual(ref);
    expect(parseEcrImage('123456789012.dkr.ecr.us-east-1.amazonaws.com/team/web:7.0.0')).toEqual(ref);
    expect(parseEcrImage(`123456789012.dkr.ecr.us-east-1.amazonaws.com/team/web@sha256:${'a'.repeat(64)}`)).toEqual(ref);
  });

  it('answers null for any other registry', () => {
    expect(parseEcrImage('ghcr.io/acme/web')).toBeNull();
    expect(parseEcrImage('nginx')).toBeNull();
    expect(parseEcrImage('123456789012.dkr.ecr.us-east-1.example.com/web')).toBeNull();
  });
});

describe('the ECR registry against moto', () => {
  let moto: MotoServer;
  let registry: ImageRegistry;
  let web: SeededTarget;
  const seedOpts = () => ({ endpoint: moto.endpoint, credentials: TEST_CREDENTIALS });

  beforeAll(async () => {
    moto = await startMoto();
    const targets = await seedSandbox(seedOpts());
    web = targets.find((t) => t.service === 'web')!;
    registry = createEcrRegistry(seedOpts());
  });
  afterAll(async () => {
    await moto?.stop();
  });

  it('resolves each of the sandbox\'s versions to a digest of its own', async () => {
    const digests = await Promise.all(SANDBOX_IMAGE_VERSIONS.map((v) => registry.resolveDigest(web.image, v, web.region)));
    for (const d of digests) expect(d).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(new Set(digests).size).toBe(SANDBOX_IMAGE_VERSIONS.length);
    expect(await registry.hasDigest(web.image, digests[0], web.region)).toBe(true);
  });

  it('gives a new digest once a new image is pushed under the same tag', async () => {
    const first = await pushSandboxImage(seedOpts(), 'web', '8.0.0');
    expect(await registry.resolveDigest(web.image, '8.0.0', web.region)).toBe(first);
    const second = await pushSandboxImage(seedOpts(), 'web', '8.0.0');
    expect(second).not.toBe(first);
    expect(await registry.resolveDigest(web.image, '8.0.0', web.region)).toBe(second);
    // The same push lands in the DR region too, with the same digest.
    const drImage = web.image.replace(SANDBOX_REGIONS.primary, SANDBOX_REGIONS.dr);
    expect(await registry.resolveDigest(drImage, '8.0.0', SANDBOX_REGIONS.dr)).toBe(second);
  });

  it('says which repository has no such tag', async () => {
    await expect(registry.resolveDigest(web.image, '9.9.9', web.region)).rejects.toEqual(
      registryError('not_found', 'no image web:9.9.9 in ECR repository web (registry 123456789012, us-east-1) (push it first)'),
    );
    expect(await registry.hasDigest(web.image, `sha256:${'0'.repeat(64)}`, web.region)).toBe(false);
  });

  it('says when the repository itself does not exist', async () => {
    const image = web.image.replace(/\/web$/, '/nothing-here');
    await expect(registry.resolveDigest(image, '1.0.0', web.region)).rejects.toEqual(registryError('not_found', 'there is no ECR repository nothing-here'));
  });

  it('refuses a registry other than ECR', async () => {
    await expect(registry.resolveDigest('ghcr.io/acme/web', '1.0.0', web.region)).rejects.toEqual(registryError('unsupported', 'image ghcr.io/acme/web is not in ECR'));
  });
});

describe('the ECR registry when ECR does not answer', () => {
  let server: Server;
  let port: number;

  beforeAll(async () => {
    // Accepts connections and never answers.
    server = createServer(() => undefined);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });

  it('is unavailable, within its bound, naming the repository', async () => {
    const registry = createEcrRegistry({ endpoint: `http://127.0.0.1:${port}`, credentials: TEST_CREDENTIALS });
    await expect(registry.resolveDigest('123456789012.dkr.ecr.us-east-1.amazonaws.com/web', '1.0.0', 'us-east-1')).rejects.toEqual(
      registryError('unavailable', 'ECR repository web'),
    );
  });

  it('is unavailable when nothing listens there', async () => {
    const registry = createEcrRegistry({ endpoint: 'http://127.0.0.1:1', credentials: TEST_CREDENTIALS });
    await expect(registry.resolveDigest('123456789012.dkr.ecr.us-east-1.amazonaws.com/web', '1.0.0', 'us-east-1')).rejects.toEqual(
      registryError('unavailable', 'ECR did not answer about ECR repository web'),
    );
  });
});
