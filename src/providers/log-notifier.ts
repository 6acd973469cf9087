// Notifications without Slack: one line per message to a sink (the log by default), so the
// sandbox and Slack-less installs still show what Baton would have posted.
import type { Notification, Notifier } from './types';

export function createLogNotifier(opts: { defaultChannel?: string; sink?: (line: string) => void } = {}): Notifier {
  const sink = opts.sink ?? ((line: string) => console.log(line));
  return {
    async post(n: Notification): Promise<void> {
      const channel = n.channel ?? opts.defaultChannel;
      sink(`notify${channel ? ` ${channel}` : ''}: ${n.text.replace(/\s*\n\s*/g, ' / ')}`);
    },
  };
}
