// No Docker engine runs here, so docker-compose.yml is validated, not run.
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { DEV_SERVER_DYNAMIC_CONFIG, SEARCH_ATTRIBUTES } from '../../src/local/servers';

const root = resolve(__dirname, '../..');
const compose = parse(readFileSync(resolve(root, 'docker-compose.yml'), 'utf8'), { merge: true });

describe('docker-compose.yml', () => {
  it('runs Temporal, the worker and the API', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['api', 'temporal', 'worker']);
  });

  it('starts the worker and the API from files that exist, with a config path', () => {
    for (const name of ['worker', 'api']) {
      const svc = compose.services[name];
      expect(svc.build).toBe('.');
      const entry = svc.command[svc.command.length - 1];
      expect(existsSync(resolve(root, entry)), `${name} runs ${entry}`).toBe(true);
      expect(svc.environment.BATON_CONFIG).toBe('/config/baton.yaml');
      expect(svc.environment.TEMPORAL_ADDRESS).toBe('temporal:7233');
    }
    expect(existsSync(resolve(root, 'Dockerfile'))).toBe(true);
  });

  /** The values of the Temporal service's `--<flag>=` arguments. */
  const temporalFlags = (flag: string): string[] => {
    const prefix = `--${flag}=`;
    return compose.services.temporal.command.filter((c: string) => c.startsWith(prefix)).map((c: string) => c.slice(prefix.length));
  };

  it('registers every search attribute Baton writes', () => {
    expect(temporalFlags('search-attribute').sort()).toEqual(Object.entries(SEARCH_ATTRIBUTES).map(([k, v]) => `${k}=${v}`).sort());
  });

  it("gives Temporal's one history shard the sandbox's poll budget", () => {
    expect(temporalFlags('dynamic-config-value').sort()).toEqual(Object.entries(DEV_SERVER_DYNAMIC_CONFIG).map(([k, v]) => `${k}=${v}`).sort());
  });

  /** Every published port of a service as `host_ip:published:target` (short or long syntax). */
  const published = (name: string): string[] =>
    (compose.services[name].ports ?? []).map((p: string | number | { host_ip?: string; published?: string | number; target: number }) => {
      if (typeof p === 'object') return `${p.host_ip ?? ''}:${p.published ?? ''}:${p.target}`;
      const parts = String(p).split(':');
      return parts.length === 3 ? parts.join(':') : `:${parts.length === 2 ? parts[0] : ''}:${parts[parts.length - 1]}`;
    });

  it("publishes none of Temporal's gRPC, and the API and the UI on 127.0.0.1 only", () => {
    for (const name of Object.keys(compose.services)) {
      expect(compose.services[name].network_mode, `${name} shares the host's network`).toBeUndefined();
      for (const port of published(name)) {
        expect(port, `${name} publishes ${port}`).toMatch(/^127\.0\.0\.1:/);
        expect(port, `${name} publishes Temporal's gRPC`).not.toMatch(/:7233$/);
      }
    }
    expect(published('temporal')).toEqual(['127.0.0.1:8233:8233']);
    expect(published('api')).toEqual(['127.0.0.1:3000:3000']);
    expect(published('worker')).toEqual([]);
  });

  it('reaches Temporal only over an internal network that the worker and the API join', () => {
    const networksOf = (name: string): string[] => {
      const n = compose.services[name].networks ?? [];
      return Array.isArray(n) ? n : Object.keys(n);
    };
    const temporal = networksOf('temporal');
    const shared = temporal.filter((n) => networksOf('worker').includes(n) || networksOf('api').includes(n));
    expect(shared.length).toBeGreaterThan(0);
    for (const n of shared) expect(compose.networks[n]?.internal, `network '${n}' joins Temporal to the others`).toBe(true);
    for (const name of ['worker', 'api']) expect(networksOf(name), `${name} reaches Temporal`).toEqual(expect.arrayContaining(shared));
    // Temporal's other networks (the UI's loopback port needs one) have no one else on them.
    for (const n of temporal.filter((x) => !shared.includes(x))) {
      expect(Object.keys(compose.services).filter((s) => s !== 'temporal' && networksOf(s).includes(n))).toEqual([]);
    }
  });

  it('keeps secrets out of the file: they come from the environment', () => {
    const env = compose.services.api.environment;
    expect(env.SLACK_BOT_TOKEN).toBe('${SLACK_BOT_TOKEN:-}');
    expect(readFileSync(resolve(root, 'docker-compose.yml'), 'utf8')).not.toMatch(/xox[bp]-/);
  });
});
