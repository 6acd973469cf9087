// Activities that post to Slack (or the log): a run's card and its thread replies.
import { ApplicationFailure, Context } from '@temporalio/activity';
import { ErrorType } from '../src/domain/errors';
import type { Card, MessageRef } from '../src/domain/notices';
import { NotifierRateLimited } from '../src/providers/types';
import { cardLinks, renderCard, renderReply } from '../src/slack/blocks';
import type { ActivityDeps } from './deps';

export interface PostMessageRequest {
  channel?: string;
  /** A card to render, else `text` as a plain reply. */
  card?: Card;
  text?: string;
  /** With `text`: the reply mentions @here (what `text` cannot do: it is escaped). */
  alert?: boolean;
  threadTs?: string;
  /** Set on a run's parent message: tags it so a retried post finds it again. */
  runId?: string;
  /**
   * Instead of `text`: several replies in the thread `threadTs`, posted in order, each a message
   * of its own (one activity for a burst of replies, so one workflow task instead of one each).
   */
  replies?: Reply[];
}

export interface Reply {
  text: string;
  alert?: boolean;
}

/** A post's message; for `replies`, the last one posted and how many of them were. */
export type PostedMessage = MessageRef & { posted?: number };

/** Replies of one call stop being posted after this long (the rest go in the next call), well inside its 10 s timeout. */
const REPLIES_BUDGET_MS = 5_000;

/** The notifier's failures, as Temporal should retry them: a rate limit waits as long as Slack asks. */
async function notifying<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof NotifierRateLimited) {
      throw ApplicationFailure.create({ type: ErrorType.NotifierRateLimited, message: err.message, nextRetryDelay: `${err.retryAfterSeconds}s` });
    }
    throw err;
  }
}

export function notifyActivities(deps: ActivityDeps) {
  const linksOf = (card: Card) => cardLinks(card, { namespace: 'default', ...deps.links });
  /**
   * Posts `replies` in order until one fails or the budget is spent, and says how many went. Only
   * a failure of the first fails the call (and is retried): one after it ends the call with what
   * was posted, so a retry never posts a reply twice; the caller sends the rest later.
   */
  async function postReplies(m: PostMessageRequest, replies: Reply[]): Promise<PostedMessage> {
    if (replies.length === 0) throw ApplicationFailure.nonRetryable('postMessage: an empty list of replies');
    const post = (r: Reply) => deps.notifier.post({ channel: m.channel, threadTs: m.threadTs, ...renderReply(r.text, { alert: r.alert === true }) });
    const started = Date.now();
    let last = await notifying(() => post(replies[0]));
    let posted = 1;
    for (const r of replies.slice(1)) {
      if (Date.now() - started > REPLIES_BUDGET_MS) break;
      const ref = await post(r).catch(() => null);
      if (!ref) break;
      last = ref;
      posted++;
    }
    return { ...last, posted };
  }

  return {
    // ------------------------------------------------------------ notifications
    /**
     * Posts a run's card (its parent message, or a keyed card in its thread) or a reply. A retry
     * of a parent post first looks for the message a lost attempt may have posted, so a run has
     * one parent message.
     */
    async postMessage(m: PostMessageRequest): Promise<PostedMessage> {
      if (m.replies) return postReplies(m, m.replies);
      return notifying(async () => {
        if (m.runId && Context.current().info.attempt > 1) {
          // A rate limit applies to the post too: wait for it. Any other failure to look (e.g. a
          // channel given by name, which history does not take) must not stop the post.
          const found = await deps.notifier.findRunMessage(m.channel, m.runId).catch((err: unknown) => {
            if (err instanceof NotifierRateLimited) throw err;
            return null;
          });
          if (found) return found;
        }
        const body = m.card ? renderCard(m.card, linksOf(m.card)) : renderReply(m.text ?? '', { alert: m.alert === true });
        return deps.notifier.post({ channel: m.channel, threadTs: m.threadTs, runId: m.runId, ...body });
      });
    },

    /** Re-renders a card into the message it was posted as. */
    async updateMessage(ref: MessageRef, card: Card): Promise<void> {
      return notifying(() => deps.notifier.update(ref, renderCard(card, linksOf(card))));
    },
  };
}
