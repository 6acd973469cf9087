import type { ActionsBlock, Button, ContextBlock, HeaderBlock, KnownBlock, ModalView, SectionBlock } from '@slack/types';
import { describe, expect, it } from 'vitest';
import { SLACK_ACTIONS, type ApprovalCard, type RunCard } from '../../src/domain/notices';
import { cardLinks, progressBar, rejectModal, renderCard, renderReply } from '../../src/slack/blocks';

const LINKS = { temporalUi: 'http://ui.test/namespaces/default/workflows/x', api: 'http://api.test/v1/deployments/x' };

const runCard = (over: Partial<RunCard> = {}): RunCard => ({
  kind: 'deployment',
  id: 'deploy:api:prod:1.4.2',
  title: 'Deploy api 1.4.2 to prod',
  requestedBy: 'rosa',
  phase: 'soaking',
  outcome: null,
  progress: { percent: 40, label: 'on green' },
  countdown: { label: 'Soak', remainingSeconds: 250, totalSeconds: 600, paused: false },
  lines: ['Step 3/7: soak 40 % on green for 10m'],
  note: null,
  ...over,
});

const approvalCard = (over: Partial<ApprovalCard> = {}): ApprovalCard => ({
  kind: 'approval',
  releaseId: 'release:web:1.4.2',
  releaseTitle: 'Release web 1.4.2',
  environment: 'prod',
  state: 'open',
  approvals: [],
  given: 0,
  required: 2,
  pending: ['1 more approval from release-manager'],
  expiresAt: '2026-11-05T12:00:00.000Z',
  ...over,
});

/** Every piece of text a reader would see in the blocks, one string. */
function textOf(blocks: KnownBlock[]): string {
  const out: string[] = [];
  for (const b of blocks) {
    if (b.type === 'header') out.push((b as HeaderBlock).text.text);
    if (b.type === 'section') {
      const s = b as SectionBlock;
      if (s.text) out.push(s.text.text);
      for (const f of s.fields ?? []) out.push(f.text);
    }
    if (b.type === 'context') for (const e of (b as ContextBlock).elements) if ('text' in e) out.push(e.text);
  }
  return out.join('\n');
}

const actionsOf = (blocks: KnownBlock[]): ActionsBlock[] => blocks.filter((b): b is ActionsBlock => b.type === 'actions');

describe('progressBar', () => {
  it('draws ten cells, filled in proportion to the percent', () => {
    expect(progressBar(0)).toBe('░░░░░░░░░░');
    expect(progressBar(40)).toBe('▓▓▓▓░░░░░░');
    expect(progressBar(100)).toBe('▓▓▓▓▓▓▓▓▓▓');
  });

  it('clamps out-of-range values and rounds to the nearest cell', () => {
    expect(progressBar(-20)).toBe(progressBar(0));
    expect(progressBar(250)).toBe(progressBar(100));
    expect(progressBar(Number.NaN)).toBe(progressBar(0));
    expect(progressBar(44)).toBe('▓▓▓▓░░░░░░');
    expect(progressBar(46)).toBe('▓▓▓▓▓░░░░░');
    expect(progressBar(50, 4)).toBe('▓▓░░');
  });
});

describe('renderCard for a run', () => {
  it('shows the traffic bar and the soak countdown while soaking', () => {
    const { text, blocks } = renderCard(runCard(), LINKS);
    const shown = textOf(blocks);
    expect(blocks[0].type).toBe('header');
    expect((blocks[0] as HeaderBlock).text.text).toBe(':hourglass_flowing_sand: Deploy api 1.4.2 to prod');
    expect(shown).toContain('▓▓▓▓░░░░░░ `40 %` on green');
    expect(shown).toContain('Soak: 4m 10s left of 10m');
    expect(shown).not.toContain('(paused)');
    expect(shown).toContain('*Phase*\nsoaking');
    expect(shown).toContain('*Requested by*\nrosa');
    expect(shown).toContain('• Step 3/7: soak 40 % on green for 10m');
    expect(text).toBe('Deploy api 1.4.2 to prod — soaking, 40 % on green');
  });

  it('links to the Temporal UI and the API status in a context block', () => {
    const { blocks } = renderCard(runCard(), LINKS);
    const context = blocks.find((b): b is ContextBlock => b.type === 'context');
    expect(context?.elements).toEqual([
      { type: 'mrkdwn', text: `<${LINKS.temporalUi}|Temporal UI> · <${LINKS.api}|API status>` },
    ]);
  });

  it('leaves the links out when there are none', () => {
    const { blocks } = renderCard(runCard(), {});
    expect(blocks.some((b) => b.type === 'context')).toBe(false);
  });

  it('says when the countdown is paused, in human durations', () => {
    const card = runCard({ countdown: { label: 'Stability', remainingSeconds: 90061, totalSeconds: 3600, paused: true } });
    expect(textOf(renderCard(card, {}).blocks)).toContain('Stability: 1d 1h 1m 1s left of 1h (paused)');
  });

  it('says ROLLED BACK and why, in the blocks and the notification', () => {
    const card = runCard({ phase: 'rolled back', outcome: 'rolled_back', progress: null, countdown: null, note: 'error rate 3.2 % > 1 %' });
    const { text, blocks } = renderCard(card, LINKS);
    expect((blocks[0] as HeaderBlock).text.text).toBe(':leftwards_arrow_with_hook: Deploy api 1.4.2 to prod — ROLLED BACK');
    expect(textOf(blocks)).toContain(':warning: *error rate 3.2 % &gt; 1 %*');
    expect(text).toBe('Deploy api 1.4.2 to prod — ROLLED BACK: error rate 3.2 % &gt; 1 %');
  });

  it('marks each outcome with its own emoji', () => {
    const header = (outcome: RunCard['outcome']): string =>
      (renderCard(runCard({ outcome }), {}).blocks[0] as HeaderBlock).text.text;
    expect(header('succeeded')).toMatch(/^:white_check_mark: /);
    expect(header('failed')).toMatch(/^:x: .* — FAILED$/);
    expect(header('cancelled')).toMatch(/^:no_entry: /);
    expect(header('rejected')).toContain('REJECTED');
    expect(header('expired')).toContain('EXPIRED');
  });

  it('escapes user text so it cannot mention, link or break the markup', () => {
    const card = runCard({ requestedBy: '<!channel>', lines: ['a & b <http://evil|click>'], note: '<@U123> broke it' });
    const { text, blocks } = renderCard(card, {});
    const shown = textOf(blocks);
    expect(shown).toContain('&lt;!channel&gt;');
    expect(shown).toContain('• a &amp; b &lt;http://evil|click&gt;');
    expect(shown).toContain('&lt;@U123&gt; broke it');
    expect(shown).not.toMatch(/<[!@]|<http:\/\/evil/);
    expect(text).not.toContain('<');
  });

  it('shortens long text to Slack\'s limits instead of losing the message', () => {
    const card = runCard({
      title: 'T'.repeat(400),
      outcome: 'rolled_back',
      note: '&'.repeat(4000),
      lines: Array.from({ length: 500 }, (_, i) => `line ${i} ${'x'.repeat(40)}`),
    });
    const { text, blocks } = renderCard(card, LINKS);
    const header = (blocks[0] as HeaderBlock).text.text;
    expect(header.length).toBeLessThanOrEqual(150);
    expect(header).toMatch(/^:leftwards_arrow_with_hook: T+… — ROLLED BACK$/);
    expect(blocks.length).toBeLessThanOrEqual(50);
    for (const b of blocks.filter((x): x is SectionBlock => x.type === 'section')) {
      if (b.text) expect(b.text.text.length).toBeLessThanOrEqual(3000);
      expect((b.fields ?? []).length).toBeLessThanOrEqual(10);
    }
    const note = blocks.find((b): b is SectionBlock => b.type === 'section' && !!b.text?.text.startsWith(':warning:'));
    expect(note?.text?.text).toMatch(/(&amp;)+…$/);
    expect(text.length).toBeLessThanOrEqual(3000);
    expect(text).not.toContain('\n');
  });
});

describe('renderCard for an approval', () => {
  it('offers Approve with a confirmation and Reject without one while open', () => {
    const { blocks } = renderCard(approvalCard(), LINKS);
    const [actions] = actionsOf(blocks);
    const [approve, reject] = actions.elements as Button[];
    const value = { release: 'release:web:1.4.2', environment: 'prod' };

    expect(approve.action_id).toBe(SLACK_ACTIONS.approve);
    expect(approve.style).toBe('primary');
    expect(JSON.parse(approve.value ?? '')).toEqual(value);
    expect(approve.confirm?.title?.text).toBe('Approve prod?');
    expect(approve.confirm?.text.text).toContain('Release web 1.4.2');
    expect(approve.confirm?.confirm?.text).toBe('Approve');
    expect(approve.confirm?.deny?.text).toBe('Cancel');

    expect(reject.action_id).toBe(SLACK_ACTIONS.reject);
    expect(reject.style).toBe('danger');
    expect(JSON.parse(reject.value ?? '')).toEqual(value);
    expect(reject.confirm).toBeUndefined();
  });

  it('says what it needs, what it still waits for and when it expires', () => {
    const { text, blocks } = renderCard(approvalCard(), LINKS);
    const shown = textOf(blocks);
    expect(shown).toContain('*Approval needed for prod* — Release web 1.4.2');
    expect(shown).toContain('0 of 2 approvals');
    expect(shown).toContain('1 more approval from release-manager');
    expect(shown).toContain('expires 2026-11-05 12:00 UTC');
    expect(shown).toContain('|Temporal UI>');
    expect(text).toBe('Release web 1.4.2 — approval needed for prod (0 of 2)');
  });

  it('counts the approvals on the latest approval line', () => {
    const card = approvalCard({ approvals: [{ by: 'Alice', decision: 'approve', comment: null }], given: 1 });
    const shown = textOf(renderCard(card, {}).blocks);
    expect(shown).toContain('Approved by Alice — 1 of 2');
    expect(shown).not.toContain('approvals');
  });

  it('shows each decision with its comment, escaped', () => {
    const card = approvalCard({
      approvals: [
        { by: 'Alice', decision: 'approve', comment: 'LGTM <3' },
        { by: 'Bob', decision: 'approve', comment: null },
      ],
      given: 2,
    });
    const shown = textOf(renderCard(card, {}).blocks);
    expect(shown).toContain('Approved by Alice: “LGTM &lt;3”');
    expect(shown).toContain('Approved by Bob — 2 of 2');
    expect(shown).not.toContain('Alice — ');
  });

  it('has no buttons once the gate is satisfied, and says so', () => {
    const card = approvalCard({ state: 'satisfied', given: 2, approvals: [{ by: 'Alice', decision: 'approve', comment: null }] });
    const { text, blocks } = renderCard(card, LINKS);
    expect(actionsOf(blocks)).toEqual([]);
    expect(textOf(blocks)).toContain(':white_check_mark: Gate to prod satisfied');
    expect(textOf(blocks)).not.toContain('expires');
    expect(text).toBe('Release web 1.4.2 — gate to prod satisfied');
  });

  it('has no buttons once rejected, and names who rejected it and why', () => {
    const card = approvalCard({ state: 'rejected', approvals: [{ by: 'Bob', decision: 'reject', comment: 'p95 looks <bad>' }] });
    const { text, blocks } = renderCard(card, {});
    expect(actionsOf(blocks)).toEqual([]);
    expect(textOf(blocks)).toContain('Rejected by Bob: p95 looks &lt;bad&gt;');
    expect(text).toBe('Release web 1.4.2 — prod rejected by Bob: p95 looks &lt;bad&gt;');
  });

  it('says when it expired or the release ended some other way', () => {
    expect(textOf(renderCard(approvalCard({ state: 'expired' }), {}).blocks)).toContain('Expired');
    expect(textOf(renderCard(approvalCard({ state: 'closed' }), {}).blocks)).toContain('Closed: the release ended');
    expect(actionsOf(renderCard(approvalCard({ state: 'expired' }), {}).blocks)).toEqual([]);
  });

  it('keeps the confirmation within Slack\'s limits for a very long environment name', () => {
    const env = 'e'.repeat(200);
    const [actions] = actionsOf(renderCard(approvalCard({ environment: env, releaseTitle: 'R'.repeat(400) }), {}).blocks);
    const approve = actions.elements[0] as Button;
    expect(approve.confirm?.title?.text.length).toBeLessThanOrEqual(100);
    expect(approve.confirm?.text.text.length).toBeLessThanOrEqual(300);
    expect(approve.text.text.length).toBeLessThanOrEqual(75);
    expect(JSON.parse(approve.value ?? '')).toEqual({ release: 'release:web:1.4.2', environment: env });
  });
});

describe('renderReply', () => {
  it('wraps the text in one section and returns it as the fallback', () => {
    expect(renderReply('Shifted to *10 %* on green')).toEqual({
      text: 'Shifted to *10 %* on green',
      blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'Shifted to *10 %* on green' } }],
    });
  });

  it("escapes what people wrote, so a comment can neither mention a channel nor forge a link", () => {
    const { text, blocks } = renderReply(':white_check_mark: quinn approved staging: <!channel> see <http://evil|docs> & more');
    expect(text).toBe(':white_check_mark: quinn approved staging: &lt;!channel&gt; see &lt;http://evil|docs&gt; &amp; more');
    expect((blocks[0] as SectionBlock).text?.text).toBe(text);
  });

  it('mentions @here for an alert, the alert\'s own text still escaped', () => {
    const { text } = renderReply(':rotating_light: rollback is STUCK: <!channel> AccessDenied', { alert: true });
    expect(text).toBe('<!here> :rotating_light: rollback is STUCK: &lt;!channel&gt; AccessDenied');
    expect(renderReply('no alert').text).toBe('no alert');
  });

  it('shortens a reply longer than a section may hold', () => {
    const { blocks } = renderReply('y'.repeat(5000));
    expect(((blocks[0] as SectionBlock).text?.text ?? '').length).toBe(3000);
  });
});

describe('rejectModal', () => {
  const meta = { release: 'release:web:1.4.2', environment: 'prod', channel: 'C123', messageTs: '1700000000.000100' };

  it('carries the gate and the message in its metadata, for the submission handler', () => {
    const view = rejectModal(meta, 'Release web 1.4.2') as ModalView;
    expect(view.type).toBe('modal');
    expect(view.callback_id).toBe(SLACK_ACTIONS.rejectModal);
    expect(JSON.parse(view.private_metadata ?? '')).toEqual(meta);
    expect(view.title.text).toBe('Reject prod');
    expect(view.submit?.text).toBe('Reject');
    expect(view.close?.text).toBe('Cancel');
  });

  it('asks for a reason of 1 to 500 characters in the expected input', () => {
    const view = rejectModal(meta, 'Release web 1.4.2');
    const input = view.blocks.find((b) => b.type === 'input');
    expect(input).toMatchObject({
      block_id: SLACK_ACTIONS.reasonBlock,
      element: { type: 'plain_text_input', action_id: SLACK_ACTIONS.reasonInput, multiline: true, min_length: 1, max_length: 500 },
    });
  });

  it('keeps the title within 24 characters', () => {
    const view = rejectModal({ ...meta, environment: 'production-eu-west-1-blue' }, 'Release web 1.4.2') as ModalView;
    expect(view.title.text.length).toBeLessThanOrEqual(24);
    expect(view.title.text).toMatch(/^Reject production.*…$/);
  });
});

describe('cardLinks', () => {
  const opts = { temporalUiUrl: 'http://ui.test/', apiUrl: 'https://baton.test//', namespace: 'prod ns' };

  it('links a deployment to its workflow and its API status, encoding the ids', () => {
    expect(cardLinks(runCard(), opts)).toEqual({
      temporalUi: 'http://ui.test/namespaces/prod%20ns/workflows/deploy%3Aapi%3Aprod%3A1.4.2',
      api: 'https://baton.test/v1/deployments/deploy%3Aapi%3Aprod%3A1.4.2',
    });
  });

  it('uses the API path of each kind of run', () => {
    expect(cardLinks(runCard({ kind: 'release', id: 'r1' }), opts).api).toBe('https://baton.test/v1/releases/r1');
    expect(cardLinks(runCard({ kind: 'restore', id: 's1' }), opts).api).toBe('https://baton.test/v1/restores/s1');
    expect(cardLinks(runCard({ kind: 'failover', id: 'f1' }), opts).api).toBe('https://baton.test/v1/failovers/f1');
  });

  it('links an approval to the release it gates', () => {
    expect(cardLinks(approvalCard({ releaseId: 'rel/1' }), opts)).toEqual({
      temporalUi: 'http://ui.test/namespaces/prod%20ns/workflows/rel%2F1',
      api: 'https://baton.test/v1/releases/rel%2F1',
    });
  });

  it('leaves out a link whose base URL is not configured', () => {
    expect(cardLinks(runCard(), { namespace: 'default' })).toEqual({});
    expect(cardLinks(runCard(), { apiUrl: 'http://api.test', namespace: 'default' })).toEqual({
      api: 'http://api.test/v1/deployments/deploy%3Aapi%3Aprod%3A1.4.2',
    });
  });
});
