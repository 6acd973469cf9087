import { describe, expect, it } from 'vitest';
import { parseCommand, USAGE } from '../../src/slack/commands';

describe('parseCommand (/baton)', () => {
  it('reads status, deploy and rollback with their words in order', () => {
    expect(parseCommand('status web prod')).toEqual({ kind: 'status', service: 'web', environment: 'prod' });
    expect(parseCommand('deploy web 1.4.2 prod')).toEqual({ kind: 'deploy', service: 'web', version: '1.4.2', environment: 'prod' });
    expect(parseCommand('rollback api staging')).toEqual({ kind: 'rollback', service: 'api', environment: 'staging' });
  });

  it('reads approve with an optional comment, unescaping what Slack escaped', () => {
    expect(parseCommand('approve release:web:1.4.2')).toEqual({ kind: 'approve', release: 'release:web:1.4.2' });
    expect(parseCommand('approve release:web:1.4.2   looks good &amp; tested &lt;3')).toEqual({
      kind: 'approve',
      release: 'release:web:1.4.2',
      comment: 'looks good & tested <3',
    });
  });

  it('ignores case of the command word and extra whitespace', () => {
    expect(parseCommand('  STATUS   web\tprod \n')).toEqual({ kind: 'status', service: 'web', environment: 'prod' });
  });

  it('answers help for nothing and for help', () => {
    expect(parseCommand('')).toEqual({ kind: 'help' });
    expect(parseCommand('   ')).toEqual({ kind: 'help' });
    expect(parseCommand('help')).toEqual({ kind: 'help' });
  });

  it('names what is missing, and shows the usage', () => {
    const c = parseCommand('deploy web 1.4.2');
    expect(c).toEqual({ kind: 'invalid', message: expect.stringMatching(/^deploy is missing <environment> \(it takes `deploy <service> <version> <environment>`\)\n/) });
    expect(c.kind === 'invalid' && c.message.endsWith(USAGE)).toBe(true);
    expect(parseCommand('status')).toMatchObject({ message: expect.stringMatching(/^status is missing <service> <environment>/) });
    expect(parseCommand('approve')).toMatchObject({ kind: 'invalid', message: expect.stringMatching(/^approve needs a release id/) });
  });

  it('names extra words, unknown commands and words that cannot be names', () => {
    expect(parseCommand('rollback web prod now')).toMatchObject({ kind: 'invalid', message: expect.stringMatching(/^rollback takes 2 words .*'now' is extra/) });
    expect(parseCommand('destroy web prod')).toMatchObject({ kind: 'invalid', message: expect.stringMatching(/^unknown command 'destroy'\nUsage:/) });
    expect(parseCommand('status <@U123> prod')).toMatchObject({ kind: 'invalid', message: expect.stringMatching(/^'<@U123>' is not a valid service/) });
    expect(parseCommand('approve <https://x|y>')).toMatchObject({ kind: 'invalid', message: expect.stringMatching(/is not a release id/) });
  });

  it('usage lists every command', () => {
    for (const word of ['status', 'deploy', 'rollback', 'approve', 'help']) expect(USAGE).toContain(`/baton ${word}`);
  });
});
