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
}

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
  return {
    // ------------------------------------------------------------ notifications
    /**
     * Posts a run's card (its parent message, or a keyed card in its thread) or a reply. A retry
     * of a parent post first looks for the message a lost attempt may have posted, so a run has
     * one parent message.
     */
    async postMessage(m: PostMessageRequest): Promise<MessageRef> {
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
