// Notifications without Slack: one line per message to a sink (the log by default), so the
// sandbox and Slack-less installs still show what Baton would have posted. An update is
// printed only when its text changed, so a soak's countdown does not flood the log.
import type { MessageRef } from '../domain/notices';
import type { Notifier } from './types';

export function createLogNotifier(opts: { defaultChannel?: string; sink?: (line: string) => void } = {}): Notifier {
  const sink = opts.sink ?? ((line: string) => console.log(line));
  const shown = new Map<string, string>();
  let seq = 0;
  const oneLine = (text: string) => text.replace(/\s*\n\s*/g, ' / ');
  return {
    async post(m): Promise<MessageRef> {
      const channel = m.channel ?? opts.defaultChannel ?? 'log';
      const ts = `log.${++seq}`;
      shown.set(ts, m.text);
      sink(`notify ${channel}${m.threadTs ? ' (thread)' : ''}: ${oneLine(m.text)}`);
      return { channel, ts };
    },
    async update(ref, m): Promise<void> {
      if (shown.get(ref.ts) === m.text) return;
      shown.set(ref.ts, m.text);
      sink(`notify ${ref.channel} (update): ${oneLine(m.text)}`);
    },
    async findRunMessage(): Promise<MessageRef | null> {
      return null; // nothing to find again: the log keeps no messages
    },
  };
}
