import { formatDuration } from './durations';
import type { AnalysisSettings, Step } from './types';

/** Checks a plan's steps; returns the problems found (empty when valid). */
export function planProblems(steps: readonly Step[]): string[] {
  const problems: string[] = [];
  if (steps.length === 0) return ['a plan needs at least one step'];
  let last = 0;
  steps.forEach((step, i) => {
    if (step.type === 'shift') {
      if (!Number.isInteger(step.weight) || step.weight < 1 || step.weight > 100) {
        problems.push(`step ${i + 1}: shift weight must be a whole percent from 1 to 100`);
      } else if (step.weight <= last) {
        problems.push(`step ${i + 1}: shift weight ${step.weight} must be above the previous ${last}`);
      } else {
        last = step.weight;
      }
    } else if (step.durationSeconds < 1) {
      problems.push(`step ${i + 1}: soak must last at least 1s`);
    } else if (last === 0) {
      problems.push(`step ${i + 1}: a soak must follow a shift`);
    }
  });
  const final = steps[steps.length - 1];
  if (!(final.type === 'shift' && final.weight === 100) && last !== 100) {
    problems.push('the plan must end by shifting 100 % to the new colour');
  }
  return problems;
}

/**
 * Soaks too short for their analysis: a soak that holds fewer samples than `failureLimit` can
 * never roll back, however bad the new version is.
 */
export function soakProblems(steps: readonly Step[], analysis: Pick<AnalysisSettings, 'intervalSeconds' | 'failureLimit'>): string[] {
  const problems: string[] = [];
  steps.forEach((step, i) => {
    if (step.type !== 'soak') return;
    const samples = Math.floor(step.durationSeconds / analysis.intervalSeconds);
    if (samples < analysis.failureLimit) {
      problems.push(
        `step ${i + 1}: a ${formatDuration(step.durationSeconds)} soak holds ${samples} sample${samples === 1 ? '' : 's'} at ${formatDuration(analysis.intervalSeconds)} intervals, fewer than failureLimit ${analysis.failureLimit}: it could never roll back (soak at least ${formatDuration(analysis.failureLimit * analysis.intervalSeconds)})`,
      );
    }
  });
  return problems;
}

export function describeStep(step: Step, targetColour: string): string {
  switch (step.type) {
    case 'shift':
      return `Shift ${step.weight} % to ${targetColour}`;
    case 'soak':
      return `Soak for ${formatDuration(step.durationSeconds)}`;
    default: {
      const never: never = step;
      return String(never);
    }
  }
}

/** Weight in force while step `index` runs (the last shift at or before it). */
export function weightAt(steps: readonly Step[], index: number): number {
  for (let i = Math.min(index, steps.length - 1); i >= 0; i--) {
    const s = steps[i];
    if (s.type === 'shift') return s.weight;
  }
  return 0;
}

export function totalSoakSeconds(steps: readonly Step[]): number {
  return steps.reduce((sum, s) => sum + (s.type === 'soak' ? s.durationSeconds : 0), 0);
}
