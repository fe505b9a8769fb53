import type { AdminEvent } from '@hadb/admin';
import { resolveCommandWebhooks } from './admin-config.js';
import { loadBackend } from './backends.js';
import type { Context } from './context.js';

/** One delivery's budget: a one-shot command never waits on a dead webhook for long. */
const DELIVERY = { maxRetries: 3, baseDelayMs: 200, maxDelayMs: 2000, timeoutMs: 5000 } as const;

/** What a finished restore reports in `restore_completed`'s context (snake_case in the payload). */
export interface RestoredReport {
  /** The command that restored: `restore`, or `follow` after its initial restore and catch-up. */
  readonly command: 'restore' | 'follow';
  readonly engine: string;
  readonly path: string;
  readonly seq: bigint;
  /** The snapshot the restore started from, when the engine tells. */
  readonly snapshotSeq?: bigint | undefined;
  /** Segments (incrementals) applied on top of the snapshot. */
  readonly segments?: number | undefined;
  /** Bytes downloaded, when the engine tells. */
  readonly bytes?: number | undefined;
  /** `follow` only: whether a snapshot was restored (false when an existing replica was resumed). */
  readonly restored?: boolean | undefined;
  readonly seconds: number;
}

/** Sends a one-shot command's events (see {@link commandEvents}). */
export interface CommandEvents {
  /**
   * Sends `event` to every webhook that takes it (signed, retried as `@hadb/admin` does for the
   * daemon) and waits for the delivery. A failed delivery is reported on stderr and never changes
   * the command's outcome; this never throws.
   */
  report(event: Omit<AdminEvent, 'nodeId'>): Promise<void>;
  /** Sends `restore_completed` for `db` (see {@link RestoredReport}) and waits for the delivery. */
  restored(db: string, report: RestoredReport): Promise<void>;
  /**
   * Runs `work`, a restore of `db`. When it throws — and the command was not interrupted
   * (SIGINT/SIGTERM) — sends `restore_failed` (`@hadb/admin`'s `restoreFailedEvent`: the typed
   * code and a log-safe message, with `context` added), waits for the delivery and rethrows.
   */
  failures<T>(db: string, context: Readonly<Record<string, unknown>>, work: () => Promise<T>): Promise<T>;
}

/**
 * The event reporter of a one-shot command (`hadb restore`, `hadb follow`): its events go to the
 * config file's `admin.webhooks`, named after `admin.node`; nothing is sent without webhooks.
 * Resolve it before the command's work, so a bad `admin:` section fails at once
 * (`HADB_CLI_INVALID_CONFIG`).
 */
export function commandEvents(ctx: Context): CommandEvents {
  const config = ctx.settings.config;
  const hooks = config === undefined ? undefined : resolveCommandWebhooks(config.admin, config.path);
  const report = async (event: Omit<AdminEvent, 'nodeId'>): Promise<void> => {
    if (hooks === undefined) return;
    try {
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
    } catch (error) {
      ctx.io.err(`webhook: ${event.type} was not sent: ${(error as Error).message ?? String(error)}`);
    }
  };
  return {
    report,
    restored: (db, r) =>
      report({
        type: 'restore_completed',
        db,
        context: {
          command: r.command,
          engine: r.engine,
          path: r.path,
          seq: r.seq.toString(),
          ...(r.snapshotSeq === undefined ? {} : { snapshot_seq: r.snapshotSeq.toString() }),
          ...(r.segments === undefined ? {} : { segments: r.segments }),
          ...(r.bytes === undefined ? {} : { bytes: r.bytes }),
          ...(r.restored === undefined ? {} : { restored: r.restored }),
          seconds: r.seconds,
        },
      }),
    async failures(db, context, work) {
      try {
        return await work();
      } catch (error) {
        if (hooks !== undefined && !ctx.signal.aborted) {
          const event = await loadBackend('admin').then(
            (admin) => admin.restoreFailedEvent(db, error, context),
            () => undefined,
          );
          if (event !== undefined) await report(event);
        }
        throw error;
      }
    },
  };
}
