import cliProgress from 'cli-progress';
import type { Io } from './output.js';

/** A byte progress bar with MB/s and ETA, drawn on stderr only when it is a terminal. */
export interface ByteProgress {
  add(bytes: number): void;
  /** Raises the total (when more work is found). */
  setTotal(bytes: number): void;
  stop(): void;
}

const MIB = 1024 * 1024;

/** Starts a bar of `total` bytes labelled `label`; a no-op bar when `io` is not interactive or `enabled` is false. */
export function byteProgress(io: Io, label: string, total: number, enabled = true): ByteProgress {
  if (!io.interactive || !enabled) return { add() {}, setTotal() {}, stop() {} };
  const started = Date.now();
  let done = 0;
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% | {doneMiB}/{totalMiB} MiB | {rate} MB/s | ETA {eta_formatted}`,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
      fps: 5,
      stream: process.stderr,
    },
    cliProgress.Presets.shades_classic,
  );
  const payload = (): Record<string, string> => {
    const secs = Math.max(0.001, (Date.now() - started) / 1000);
    return {
      doneMiB: (done / MIB).toFixed(1),
      totalMiB: (bar.getTotal() / MIB).toFixed(1),
      rate: (done / 1e6 / secs).toFixed(1),
    };
  };
  bar.start(Math.max(1, total), 0, payload());
  return {
    add(bytes) {
      done += bytes;
      bar.update(done, payload());
    },
    setTotal(bytes) {
      bar.setTotal(Math.max(1, bytes));
    },
    stop() {
      bar.update(done, payload());
      bar.stop();
    },
  };
}
