import { describe, expect, it } from 'vitest';
import { whyActionInvalid, type ActionContext, type ActionRequest } from '../../src/domain/deployment';

const soaking: ActionContext = { phase: 'soaking', paused: false, wait: 'soak', rollbackRequested: false };
const req = (action: ActionRequest['action'], seconds?: number): ActionRequest => ({ action, reason: 'test', actor: 'ada', seconds });

describe('operator actions', () => {
  it('allows pause, promote, extend and rollback during a soak', () => {
    for (const a of ['pause', 'promote', 'rollback'] as const) expect(whyActionInvalid(soaking, req(a))).toBeNull();
    expect(whyActionInvalid(soaking, req('extend', 60))).toBeNull();
  });

  it('refuses resume when not paused, and pause when already paused', () => {
    expect(whyActionInvalid(soaking, req('resume'))).toMatch(/not paused/);
    expect(whyActionInvalid({ ...soaking, paused: true, phase: 'paused' }, req('pause'))).toMatch(/already paused/);
    expect(whyActionInvalid({ ...soaking, paused: true, phase: 'paused' }, req('resume'))).toBeNull();
  });

  it('refuses every action once the deployment has ended', () => {
    for (const a of ['pause', 'resume', 'promote', 'rollback'] as const) {
      expect(whyActionInvalid({ phase: 'completed', paused: false, wait: null, rollbackRequested: false }, req(a))).toMatch(/has ended/);
    }
  });

  it('refuses promote and extend when nothing is being waited on', () => {
    const shifting: ActionContext = { phase: 'shifting', paused: false, wait: null, rollbackRequested: false };
    expect(whyActionInvalid(shifting, req('promote'))).toMatch(/nothing to promote/);
    expect(whyActionInvalid(shifting, req('extend', 30))).toMatch(/nothing to extend/);
  });

  it('refuses an extend without a sensible number of seconds', () => {
    expect(whyActionInvalid(soaking, req('extend'))).toMatch(/seconds/);
    expect(whyActionInvalid(soaking, req('extend', 0))).toMatch(/seconds/);
    expect(whyActionInvalid(soaking, req('extend', 1.5))).toMatch(/seconds/);
  });

  it('refuses a second rollback and pausing after full promotion', () => {
    expect(whyActionInvalid({ ...soaking, rollbackRequested: true }, req('rollback'))).toMatch(/rolling back/);
    expect(whyActionInvalid({ phase: 'keeping_previous', paused: false, wait: 'keep_previous', rollbackRequested: false }, req('pause'))).toMatch(/cannot pause/);
    expect(whyActionInvalid({ phase: 'keeping_previous', paused: false, wait: 'keep_previous', rollbackRequested: false }, req('rollback'))).toBeNull();
    expect(whyActionInvalid({ phase: 'retiring', paused: false, wait: null, rollbackRequested: false }, req('rollback'))).toMatch(/retired/);
  });
});
