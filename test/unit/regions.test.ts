// Region-pinned work: the queue names workflows derive, and the regions a worker serves
// (BATON_REGIONS, else every region the config names).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configRegions, ConfigError, loadConfig, readRuntimeEnv, resolveConfig, workerRegions } from '../../src/config';
import type { DatabaseTarget } from '../../src/domain/database';
import { databaseQueue, isRegionName, regionQueue } from '../../src/domain/regions';

const examplePath = resolve(__dirname, '../../config/example.yaml');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const example = (): any => parse(readFileSync(examplePath, 'utf8'));

describe('region task queues', () => {
  it('names a region\'s queue after the main queue and the region', () => {
    expect(regionQueue('baton', 'us-east-1')).toBe('baton-us-east-1');
    expect(regionQueue('baton-test-1a2b3c4d', 'us-west-2')).toBe('baton-test-1a2b3c4d-us-west-2');
  });

  it('puts an RDS database on its region\'s queue and a PostgreSQL database on the main queue', () => {
    const rds: DatabaseTarget = { kind: 'rds', region: 'eu-west-1', instanceId: 'billing-prod', switch: { type: 'rename' } };
    const postgres: DatabaseTarget = { kind: 'postgres', host: 'db', port: 5432, database: 'orders', user: 'baton', backupDir: '/b', walArchiveDir: '/w', scratchDir: '/s' };
    expect(databaseQueue('baton', rds)).toBe('baton-eu-west-1');
    expect(databaseQueue('baton', postgres)).toBe('baton');
  });

  it.each(['us-east-1', 'eu-central-2', 'ap-southeast-4', 'us-gov-west-1', 'cn-north-1'])('knows %s as a region name', (name) => {
    expect(isRegionName(name)).toBe(true);
  });

  it.each(['us-east', 'US-EAST-1', 'useast1', 'us-east-1a', 'us-east-1 ', ''])('refuses %j as a region name', (name) => {
    expect(isRegionName(name)).toBe(false);
  });
});

describe('the regions a worker serves', () => {
  const env = (extra: Record<string, string> = {}) => ({ BATON_CONFIG: examplePath, ...extra });

  it('serves every region the config names by default: its services\' environments, their DR regions and its RDS databases', () => {
    expect(configRegions(resolveConfig(example()))).toEqual(['us-east-1', 'us-west-2']);
    const noDr = example();
    delete noDr.services.api.dr;
    expect(configRegions(resolveConfig(noDr))).toEqual(['us-east-1']);
    const doc = example();
    doc.services.web.environments.staging = { ...doc.services.web.environments.prod, region: 'eu-west-1' };
    doc.databases.billing.environments.prod.rds.region = 'us-west-2';
    const config = resolveConfig(doc);
    expect(configRegions(config)).toEqual(['eu-west-1', 'us-east-1', 'us-west-2']);
    expect(readRuntimeEnv(env()).regions).toBeNull();
    expect(readRuntimeEnv(env({ BATON_REGIONS: '  ' })).regions).toBeNull();
    expect(workerRegions(config, readRuntimeEnv(env()))).toEqual(['eu-west-1', 'us-east-1', 'us-west-2']);
  });

  it('serves only the regions BATON_REGIONS lists, each once, or none', () => {
    const { config, runtime } = loadConfig(env({ BATON_REGIONS: 'us-west-2, us-east-1,us-west-2,' }));
    expect(runtime.regions).toEqual(['us-west-2', 'us-east-1']);
    expect(workerRegions(config, runtime)).toEqual(['us-west-2', 'us-east-1']);
    // A DR worker: its own region only.
    expect(workerRegions(config, readRuntimeEnv(env({ BATON_REGIONS: 'us-west-2' })))).toEqual(['us-west-2']);
    expect(workerRegions(config, readRuntimeEnv(env({ BATON_REGIONS: 'none' })))).toEqual([]);
  });

  it.each([
    ['us-east-1,us-east', 'us-east'],
    ['US-EAST-1', 'US-EAST-1'],
    ['baton-us-east-1', 'baton-us-east-1'],
    ['us-east-1 us-west-2', 'us-east-1 us-west-2'],
  ])('refuses BATON_REGIONS=%j, naming %j', (value, bad) => {
    let error: unknown;
    try {
      readRuntimeEnv(env({ BATON_REGIONS: value }));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(`BATON_REGIONS: '${bad}' is not an AWS region name (use a comma-separated list such as us-east-1,us-west-2, or none)`);
  });

  it('refuses a service environment whose region is not a region name, naming the field', () => {
    const doc = example();
    doc.services.web.environments.prod.region = 'virginia';
    expect(() => resolveConfig(doc)).toThrow(/config field 'services\.web\.environments\.prod\.region'/);
  });
});
