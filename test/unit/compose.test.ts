// No Docker engine runs here, so docker-compose.yml is validated, not run.
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { SEARCH_ATTRIBUTES } from '../../src/local/servers';

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

  it('registers every search attribute Baton writes', () => {
    const flags: string[] = compose.services.temporal.command.filter((c: string) => c.startsWith('--search-attribute='));
    const declared = flags.map((f) => f.slice('--search-attribute='.length));
    expect(declared.sort()).toEqual(Object.entries(SEARCH_ATTRIBUTES).map(([k, v]) => `${k}=${v}`).sort());
  });

  it('keeps secrets out of the file: they come from the environment', () => {
    const env = compose.services.api.environment;
    expect(env.SLACK_BOT_TOKEN).toBe('${SLACK_BOT_TOKEN:-}');
    expect(readFileSync(resolve(root, 'docker-compose.yml'), 'utf8')).not.toMatch(/xox[bp]-/);
  });
});
