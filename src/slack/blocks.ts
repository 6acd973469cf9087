// Renders Baton's cards (src/domain/notices.ts) as Slack Block Kit. Pure: no I/O, no clock.
// Two rules hold everywhere below:
//  - every piece of user-provided text goes through `esc` before it lands in mrkdwn, so a
//    name or a comment can never turn into a mention, a link or broken markup;
//  - every string Slack bounds is clipped to its limit, so a long note or a flood of lines
//    shortens the message instead of making Slack refuse it (a refused update would leave
//    the channel showing a stale state).
import type {
  ActionsBlock,
  Button,
  ContextBlock,
  HeaderBlock,
  KnownBlock,
  MrkdwnElement,
  PlainTextElement,
  SectionBlock,
  View,
} from '@slack/types';
import { formatDuration } from '../domain/durations';
import {
  SLACK_ACTIONS,
  type ApprovalButtonValue,
  type ApprovalCard,
  type ApprovalCardState,
  type Card,
  type RunCard,
  type RunKind,
} from '../domain/notices';
import type { Outcome } from '../domain/types';

export interface CardLinks {
  temporalUi?: string;
  api?: string;
}

/** Slack's documented maximums, in characters. */
const LIMITS = {
  header: 150,
  text: 3000,
  field: 2000,
  button: 75,
  buttonValue: 2000,
  confirmTitle: 100,
  confirmText: 300,
  blocks: 50,
  fields: 10,
  modalTitle: 24,
} as const;

const API_PATHS: Record<RunKind, string> = {
  deployment: 'deployments',
  release: 'releases',
  restore: 'restores',
  failover: 'failovers',
};

export interface LinkBases {
  temporalUiUrl?: string;
  apiUrl?: string;
  namespace: string;
}

/** Links for a card's run (for an approval card, the release it gates). */
export function cardLinks(card: Card, bases: LinkBases): CardLinks {
  return card.kind === 'approval' ? runLinks('release', card.releaseId, bases) : runLinks(card.kind, card.id, bases);
}

/** Links to a run in the Temporal UI and the API; a missing base URL means no link. */
export function runLinks(kind: RunKind, id: string, bases: LinkBases): CardLinks {
  const ui = trimBase(bases.temporalUiUrl);
  const api = trimBase(bases.apiUrl);
  const links: CardLinks = {};
  if (ui) links.temporalUi = `${ui}/namespaces/${encodeURIComponent(bases.namespace)}/workflows/${encodeURIComponent(id)}`;
  if (api) links.api = `${api}/v1/${API_PATHS[kind]}/${encodeURIComponent(id)}`;
  return links;
}

/** "<ui|Temporal UI> · <api|API status>" in mrkdwn; empty without links. */
export function linksText(links: CardLinks): string {
  const parts: string[] = [];
  if (links.temporalUi) parts.push(`<${escapeMrkdwn(links.temporalUi)}|Temporal UI>`);
  if (links.api) parts.push(`<${escapeMrkdwn(links.api)}|API status>`);
  return parts.join(' · ');
}

/** "https://ui.example/" → "https://ui.example"; blank → undefined. */
function trimBase(base: string | undefined): string | undefined {
  const trimmed = base?.trim().replace(/\/+$/, '');
  return trimmed ? trimmed : undefined;
}

/** The notification text (plain, one line) and the blocks of a card. */
export function renderCard(card: Card, links: CardLinks): { text: string; blocks: KnownBlock[] } {
  const rendered = card.kind === 'approval' ? renderApproval(card, links) : renderRun(card, links);
  // The layouts above have a fixed number of blocks, well under the limit; this is a backstop.
  return { text: rendered.text, blocks: rendered.blocks.slice(0, LIMITS.blocks) };
}

/**
 * A thread reply, as one section; the same text is the fallback. The text is escaped: replies
 * carry people's comments and reasons, which must not mention a channel or forge a link
 * (emoji codes like :rocket: still work). An `alert` mentions @here before it.
 */
export function renderReply(text: string, opts: { alert?: boolean } = {}): { text: string; blocks: KnownBlock[] } {
  // An alert's @here is Baton's own markup, added after the escaping.
  const clipped = clip(`${opts.alert ? '<!here> ' : ''}${escapeMrkdwn(text)}`, LIMITS.text);
  // Slack refuses a section with empty text.
  return { text: clipped, blocks: clipped.trim() === '' ? [] : [section(clipped)] };
}

/** A text bar: progressBar(40) → "▓▓▓▓░░░░░░". */
export function progressBar(percent: number, cells = 10): string {
  const p = Number.isFinite(percent) ? Math.min(100, Math.max(0, percent)) : 0;
  const filled = Math.round((p / 100) * cells);
  return '▓'.repeat(filled) + '░'.repeat(cells - filled);
}

/** The modal that asks why a gate is rejected; what it decides travels in private_metadata. */
export function rejectModal(meta: ApprovalButtonValue & { channel: string; messageTs: string }, releaseTitle: string): View {
  // Only the declared fields: the interaction handler parses exactly these back.
  const metadata: ApprovalButtonValue & { channel: string; messageTs: string } = {
    release: meta.release,
    environment: meta.environment,
    channel: meta.channel,
    messageTs: meta.messageTs,
  };
  return {
    type: 'modal',
    callback_id: SLACK_ACTIONS.rejectModal,
    private_metadata: JSON.stringify(metadata),
    title: plain(clip(`Reject ${meta.environment}`, LIMITS.modalTitle)),
    submit: plain('Reject'),
    close: plain('Cancel'),
    blocks: [
      section(clip(`Rejecting *${escapeMrkdwn(releaseTitle)}* for *${escapeMrkdwn(meta.environment)}*. The release stops at this gate.`, LIMITS.text)),
      {
        type: 'input',
        block_id: SLACK_ACTIONS.reasonBlock,
        label: plain('Reason'),
        element: {
          type: 'plain_text_input',
          action_id: SLACK_ACTIONS.reasonInput,
          multiline: true,
          min_length: 1,
          max_length: 500,
        },
      },
    ],
  };
}

// ---- run cards ----

const OUTCOMES: Record<Outcome, { emoji: string; word: string }> = {
  succeeded: { emoji: ':white_check_mark:', word: 'succeeded' },
  rolled_back: { emoji: ':leftwards_arrow_with_hook:', word: 'ROLLED BACK' },
  failed: { emoji: ':x:', word: 'FAILED' },
  cancelled: { emoji: ':no_entry:', word: 'cancelled' },
  rejected: { emoji: ':no_entry_sign:', word: 'REJECTED' },
  expired: { emoji: ':alarm_clock:', word: 'EXPIRED' },
};

function renderRun(card: RunCard, links: CardLinks): { text: string; blocks: KnownBlock[] } {
  const ended = card.outcome ? OUTCOMES[card.outcome] : null;
  const emoji = ended?.emoji ?? (card.countdown?.paused ? ':double_vertical_bar:' : ':hourglass_flowing_sand:');
  // The title is what gets shortened, never the outcome: "ROLLED BACK" must stay visible.
  const suffix = ended ? ` — ${ended.word}` : '';
  const head = `${emoji} ${clip(card.title, LIMITS.header - emoji.length - 1 - suffix.length)}${suffix}`;

  const blocks: KnownBlock[] = [header(head)];
  if (card.note) blocks.push(section(clip(`:warning: *${escapeMrkdwn(card.note)}*`, LIMITS.text)));
  blocks.push({
    type: 'section',
    fields: [
      mrkdwn(clip(`*Phase*\n${escapeMrkdwn(card.phase)}`, LIMITS.field)),
      mrkdwn(clip(`*Requested by*\n${escapeMrkdwn(card.requestedBy)}`, LIMITS.field)),
    ].slice(0, LIMITS.fields),
  });

  const status: string[] = [];
  if (card.progress) status.push(`${progressBar(card.progress.percent)} \`${Math.round(card.progress.percent)} %\` ${escapeMrkdwn(card.progress.label)}`);
  if (card.countdown) status.push(`:stopwatch: ${countdownText(card.countdown)}`);
  if (status.length > 0) blocks.push(section(clip(status.join('\n'), LIMITS.text)));

  // All the lines share one section, so a long list costs characters, not blocks.
  if (card.lines.length > 0) blocks.push(section(clip(card.lines.map((l) => `• ${escapeMrkdwn(l)}`).join('\n'), LIMITS.text)));

  const context = linksContext(links);
  if (context) blocks.push(context);

  return { text: fallback(runSummary(card, ended?.word ?? null)), blocks };
}

function runSummary(card: RunCard, word: string | null): string {
  if (word) return `${card.title} — ${word}${card.note ? `: ${card.note}` : ''}`;
  const progress = card.progress ? `, ${Math.round(card.progress.percent)} % ${card.progress.label}` : '';
  return `${card.title} — ${card.phase}${progress}${card.note ? ` — ${card.note}` : ''}`;
}

function countdownText(c: NonNullable<RunCard['countdown']>): string {
  const text = `${escapeMrkdwn(c.label)}: ${humanDuration(c.remainingSeconds)} left of ${humanDuration(c.totalSeconds)}`;
  return c.paused ? `${text} (paused)` : text;
}

/** 250 → "4m 10s": formatDuration's compact form, spaced for reading in a sentence. */
function humanDuration(seconds: number): string {
  return formatDuration(seconds).replace(/([a-z])(?=\d)/g, '$1 ');
}

// ---- approval cards ----

function renderApproval(card: ApprovalCard, links: CardLinks): { text: string; blocks: KnownBlock[] } {
  const env = escapeMrkdwn(card.environment);
  const blocks: KnownBlock[] = [
    section(clip(`:raised_hand: *Approval needed for ${env}* — ${escapeMrkdwn(card.releaseTitle)}`, LIMITS.text)),
    section(clip(decisionLines(card).join('\n'), LIMITS.text)),
  ];

  if (card.state === 'open') {
    // What the gate waits for and when it lapses only matter while someone can still act.
    const waiting = card.pending.map((p) => `:hourglass: ${escapeMrkdwn(p)}`);
    if (card.expiresAt) waiting.push(`:alarm_clock: expires ${readableUtc(card.expiresAt)}`);
    if (waiting.length > 0) blocks.push(section(clip(waiting.join('\n'), LIMITS.text)));
    blocks.push(approvalButtons(card));
  } else {
    blocks.push(section(clip(resultLine(card, card.state), LIMITS.text)));
  }

  const context = linksContext(links);
  if (context) blocks.push(context);

  return { text: fallback(approvalSummary(card)), blocks };
}

/** One line per decision; the count sits on the latest approval, or on its own line when there is none. */
function decisionLines(card: ApprovalCard): string[] {
  const count = `${card.given} of ${card.required}`;
  const latestApproval = card.approvals.map((a) => a.decision).lastIndexOf('approve');
  const lines = card.approvals.map((a, i) => {
    const verb = a.decision === 'approve' ? ':white_check_mark: Approved' : ':x: Rejected';
    const tally = i === latestApproval ? ` — ${count}` : '';
    const comment = a.comment ? `: “${escapeMrkdwn(a.comment)}”` : '';
    return `${verb} by ${escapeMrkdwn(a.by)}${tally}${comment}`;
  });
  if (latestApproval === -1) lines.unshift(`${count} approvals`);
  return lines;
}

function resultLine(card: ApprovalCard, state: Exclude<ApprovalCardState, 'open'>): string {
  switch (state) {
    case 'satisfied':
      return `:white_check_mark: Gate to ${escapeMrkdwn(card.environment)} satisfied`;
    case 'rejected': {
      const rejection = lastRejection(card);
      if (!rejection) return ':no_entry_sign: Rejected';
      return `:no_entry_sign: Rejected by ${escapeMrkdwn(rejection.by)}${rejection.comment ? `: ${escapeMrkdwn(rejection.comment)}` : ''}`;
    }
    case 'expired':
      return ':alarm_clock: Expired';
    case 'closed':
      return ':white_circle: Closed: the release ended';
  }
}

function approvalSummary(card: ApprovalCard): string {
  const title = card.releaseTitle;
  const env = card.environment;
  switch (card.state) {
    case 'open':
      return `${title} — approval needed for ${env} (${card.given} of ${card.required})`;
    case 'satisfied':
      return `${title} — gate to ${env} satisfied`;
    case 'rejected': {
      const rejection = lastRejection(card);
      const by = rejection ? ` by ${rejection.by}${rejection.comment ? `: ${rejection.comment}` : ''}` : '';
      return `${title} — ${env} rejected${by}`;
    }
    case 'expired':
      return `${title} — approval for ${env} expired`;
    case 'closed':
      return `${title} — approval for ${env} closed: the release ended`;
  }
}

function lastRejection(card: ApprovalCard): ApprovalCard['approvals'][number] | undefined {
  return [...card.approvals].reverse().find((a) => a.decision === 'reject');
}

function approvalButtons(card: ApprovalCard): ActionsBlock {
  // Service, environment and version are at most 64 characters each (API schemas), so the
  // value stays far below Slack's 2000; clipping JSON would only make it unparseable.
  const value = JSON.stringify({ release: card.releaseId, environment: card.environment } satisfies ApprovalButtonValue);
  const approve: Button = {
    type: 'button',
    action_id: SLACK_ACTIONS.approve,
    text: plain(clip('Approve', LIMITS.button)),
    style: 'primary',
    value,
    confirm: {
      title: plain(clip(`Approve ${card.environment}?`, LIMITS.confirmTitle)),
      text: plain(clip(`Approve ${card.releaseTitle} for ${card.environment}?`, LIMITS.confirmText)),
      confirm: plain('Approve'),
      deny: plain('Cancel'),
    },
  };
  // No confirm on Reject: it opens a modal that asks for the reason, which is confirmation enough.
  const reject: Button = {
    type: 'button',
    action_id: SLACK_ACTIONS.reject,
    text: plain(clip('Reject', LIMITS.button)),
    style: 'danger',
    value,
  };
  return { type: 'actions', elements: [approve, reject] };
}

/** "2026-11-05T12:00:00.000Z" → "2026-11-05 12:00 UTC"; anything unparseable is shown as given. */
function readableUtc(iso: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return escapeMrkdwn(iso);
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

// ---- shared pieces ----

function linksContext(links: CardLinks): ContextBlock | null {
  const text = linksText(links);
  return text ? { type: 'context', elements: [mrkdwn(text)] } : null;
}

/** The top-level text: what a notification shows, so one line; Slack parses it like mrkdwn. */
function fallback(text: string): string {
  return clip(escapeMrkdwn(text.replace(/\s*\n\s*/g, ' ')), LIMITS.text);
}

/** Escapes the three characters Slack's mrkdwn treats as control characters. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Shortens to at most `max` characters, ending with "…". It never leaves half an escape
 * ("&am") or half a surrogate pair behind, either of which Slack would show as garbage.
 */
function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = text.slice(0, Math.max(0, max - 1));
  cut = cut.replace(/&[a-z]{0,3}$/, '');
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}…`;
}

function plain(text: string): PlainTextElement {
  return { type: 'plain_text', text, emoji: true };
}

function mrkdwn(text: string): MrkdwnElement {
  return { type: 'mrkdwn', text };
}

function header(text: string): HeaderBlock {
  return { type: 'header', text: plain(text) };
}

function section(text: string): SectionBlock {
  return { type: 'section', text: mrkdwn(text) };
}
