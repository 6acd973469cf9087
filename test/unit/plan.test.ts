import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../src/domain/durations';
import { describeStep, planProblems, totalSoakSeconds, weightAt } from '../../src/domain/plan';
import type { Step } from '../../src/domain/types';

const production: Step[] = [
  { type: 'shift', weight: 1 },
  { type: 'soak', durationSeconds: 300 },
  { type: 'shift', weight: 10 },
  { type: 'soak', durationSeconds: 600 },
  { type: 'shift', weight: 50 },
  { type: 'soak', durationSeconds: 900 },
  { type: 'shift', weight: 100 },
];

describe('durations', () => {
  it('parses the forms config uses', () => {
    expect(parseDuration('90s')).toBe(90);
    expect(parseDuration('5m')).toBe(300);
    expect(parseDuration('1h30m')).toBe(5400);
    expect(parseDuration('24h')).toBe(86400);
    expect(parseDuration('2d')).toBe(172800);
    expect(parseDuration(45)).toBe(45);
    expect(parseDuration('45')).toBe(45);
  });

  it('rejects what it cannot read', () => {
    for (const bad of ['', 'five minutes', '5 m', '1.5h', '-3s', 'm']) expect(parseDuration(bad)).toBeNull();
    expect(parseDuration(-1)).toBeNull();
  });

  it('formats seconds back compactly', () => {
    expect(formatDuration(300)).toBe('5m');
    expect(formatDuration(5400)).toBe('1h30m');
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(61)).toBe('1m1s');
  });
});

describe('plans', () => {
  it('accepts the production plan', () => {
    expect(planProblems(production)).toEqual([]);
    expect(totalSoakSeconds(production)).toBe(1800);
  });

  it('refuses a plan that never reaches 100 %', () => {
    expect(planProblems([{ type: 'shift', weight: 50 }])).toContain('the plan must end by shifting 100 % to the new colour');
  });

  it('refuses weights that go down, and a soak before any shift', () => {
    expect(planProblems([{ type: 'shift', weight: 50 }, { type: 'shift', weight: 10 }, { type: 'shift', weight: 100 }])[0]).toMatch(/must be above/);
    expect(planProblems([{ type: 'soak', durationSeconds: 5 }, { type: 'shift', weight: 100 }])[0]).toMatch(/must follow a shift/);
  });

  it('knows the weight in force at each step and describes steps for the UI', () => {
    expect(weightAt(production, 3)).toBe(10);
    expect(weightAt(production, 0)).toBe(1);
    expect(describeStep(production[2], 'green')).toBe('Shift 10 % to green');
    expect(describeStep(production[3], 'green')).toBe('Soak for 10m');
  });
});
