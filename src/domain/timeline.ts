// The timeline every run keeps in its status: newest last, capped so the state (carried in
// the history and through continue-as-new) stays small however long the run lives.
import type { TimelineEvent } from './types';

export function appendEvent(timeline: TimelineEvent[], e: TimelineEvent, max: number): void {
  timeline.push(e);
  if (timeline.length > max) timeline.splice(0, timeline.length - max);
}
