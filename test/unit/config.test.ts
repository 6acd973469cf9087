import { describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { readFileSync } from 'node:fs';
import { ConfigError, hashToken, loadConfigFile, readRuntimeEnv, resolveConfig } from '../../src/config';

const examplePath = resolve(__dirname, '../../config/example.yaml');
const example = () => parse(readFileSync(examplePath, 'utf8'));

function errorOf(doc: unknown): string {
  try {
    resolveConfig(doc);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('loads the README example and resolves the production plan', () => {
    const c = loadConfigFile(examplePath);
    const prod = c.services.web.environments.prod;
    expect(prod.plan.steps).toHaveLength(7);
    expect(prod.plan.keepPreviousForSeconds).toBe(3600);
    expect(prod.plan.standbyForSeconds).toBe(86400);
    expect(prod.plan.analysis).toEqual({ intervalSeconds: 60, windowSeconds: 300, failureLimit: 2, inconclusiveLimit: 5 });
    expect(prod.metrics.latency).toEqual({ metricName: 'TargetResponseTime', statistic: 'p95', unit: 'seconds' });
    expect(prod.smokeTestUrls.green).toBe('https://web-green.prod.internal.example.com/healthz');
    expect(prod.thresholds).toEqual({ maxErrorRate: 0.01, maxLatencyMs: 500, minRequests: 100 });
    const api = c.services.api.environments.prod;
    expect(api.traffic).toMatchObject({ type: 'route53', recordName: 'api.example.com.', setIdentifiers: { blue: 'blue', green: 'green' } });
    expect(c.temporal.taskQueue).toBe('baton');
  });

  it('names the field when a required one is missing', () => {
    const doc = example();
    delete doc.services.web.environments.prod.ecs.cluster;
    expect(errorOf(doc)).toMatch(/services\.web\.environments\.prod\.ecs\.cluster/);
  });

  it('names the field of a bad traffic router', () => {
    const doc = example();
    doc.services.web.environments.prod.traffic.type = 'nginx';
    expect(errorOf(doc)).toMatch(/services\.web\.environments\.prod\.traffic\.type.*'alb' or 'route53'/);
    const doc2 = example();
    delete doc2.services.web.environments.prod.traffic.listenerArn;
    expect(errorOf(doc2)).toMatch(/traffic\.listenerArn/);
  });

  it('names a malformed duration and a broken plan', () => {
    const doc = example();
    doc.plans.production.keepPreviousFor = 'an hour';
    expect(errorOf(doc)).toMatch(/plans\.production\.keepPreviousFor.*not a duration/);
    const doc2 = example();
    doc2.plans.quick.steps = [{ shift: 50 }];
    expect(errorOf(doc2)).toMatch(/plans\.quick\.steps.*100 %/);
  });

  it('refuses references to unknown plans and environments', () => {
    const doc = example();
    doc.environments.prod.plan = 'yolo';
    expect(errorOf(doc)).toMatch(/environments\.prod\.plan.*no plan named 'yolo'/);
    const doc2 = example();
    doc2.services.web.environments.qa = doc2.services.web.environments.prod;
    expect(errorOf(doc2)).toMatch(/'qa' is not declared/);
  });

  it('refuses an unknown role and a plaintext token', () => {
    const doc = example();
    doc.people[0].roles = ['superuser'];
    expect(errorOf(doc)).toMatch(/people\.0\.roles/);
    const doc2 = example();
    doc2.people[0].tokenSha256 = 'hunter2';
    expect(errorOf(doc2)).toMatch(/people\.0\.tokenSha256/);
  });

  it('refuses a smoke-test URL that cannot tell the colours apart', () => {
    const doc = example();
    doc.services.web.environments.prod.smokeTestUrl = 'https://web.example.com/healthz';
    expect(errorOf(doc)).toMatch(/smokeTestUrl.*\{colour\}/);
  });

  it('explains a missing file and a missing BATON_CONFIG in one line', () => {
    expect(() => loadConfigFile('/nonexistent/baton.yaml')).toThrow(/cannot read config file/);
    expect(() => readRuntimeEnv({})).toThrow(/BATON_CONFIG is not set/);
  });

  it('hashes tokens with SHA-256', () => {
    expect(hashToken('foo')).toBe('2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae');
  });
});
