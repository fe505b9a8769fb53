import type { AdminEvent } from '@hadb/admin';
import { resolveCommandWebhooks } from './admin-config.js';
import { loadBackend } from './backends.js';
import type { Context } from './context.js';

/** One delivery's budget: a one-shot command never waits on a dead webhook for long. */
const DELIVERY = { maxRetries: 3, baseDelayMs: 200, maxDelayMs: 2000, timeoutMs: 5000 } as const;

/** Sends a one-shot command's events (see {@link commandEvents}). */
export interface CommandEvents {
  /**
   * Sends `event` to every webhook that takes it (signed, retried as `@hadb/admin` does for the
   * daemon) and waits for the delivery. A failed delivery is reported on stderr and never changes
   * the command's outcome.
   */
  report(event: Omit<AdminEvent, 'nodeId'>): Promise<void>;
}

/**
 * The event reporter of a one-shot command (`hadb restore`): its events go to the config file's
 * `admin.webhooks`, named after `admin.node`; nothing is sent without webhooks. Resolve it before
 * the command's work, so a bad `admin:` section fails at once (`HADB_CLI_INVALID_CONFIG`).
 */
export function commandEvents(ctx: Context): CommandEvents {
  const config = ctx.settings.config;
  const hooks = config === undefined ? undefined : resolveCommandWebhooks(config.admin, config.path);
  return {
    async report(event) {
      if (hooks === undefined) return;
      const { WebhookNotifier } = await loadBackend('admin');
      const notifier = new WebhookNotifier({ ...DELIVERY, ...hooks.webhooks });
      const stop = (): void => void notifier.close();
      ctx.signal.addEventListener('abort', stop, { once: true });
      try {
        notifier.notify({ ...event, nodeId: hooks.node });
        await notifier.flush();
        const { failed, dropped } = notifier.stats();
        if (failed + dropped > 0)
          ctx.io.err(`webhook: ${event.type} was not delivered to ${failed + dropped} target(s)`);
      } finally {
        ctx.signal.removeEventListener('abort', stop);
        await notifier.close();
      }
    },
  };
}
