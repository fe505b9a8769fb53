import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { JournalWriter, recoverJournal, replayJournal } from '../src/index.js';
import { payloadFor } from './fixtures/crash-payload.js';
import { tempDir } from './helpers/tmp.js';

const fixture = fileURLToPath(new URL('./fixtures/crash-writer.ts', import.meta.url));

/**
 * Runs the writer child and SIGKILLs it `killAfterMs` after it is ready (or after it is spawned,
 * with `early`, which can land during startup and recovery). Returns the highest ack it printed.
 */
function runAndKill(
  dir: string,
  seed: number,
  killAfterMs: number,
  early = false,
): Promise<{ ready: bigint; acked: bigint }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--conditions=hadb-source', '--import', 'tsx', fixture, dir, String(seed)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let ready: bigint | undefined;
    let acked = 0n;
    let buf = '';
    let stderr = '';
    if (early) setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const [kind, n] = line.split(' ');
        if (kind === 'ready' && ready === undefined) {
          ready = BigInt(n!);
          if (!early) setTimeout(() => child.kill('SIGKILL'), killAfterMs);
        } else if (kind === 'ack') {
          const seq = BigInt(n!);
          if (seq > acked) acked = seq;
        }
      }
    });
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`child exited ${code} ${signal}: ${stderr}`));
      else resolve({ ready: ready ?? -1n, acked });
    });
  });
}

describe('crash safety with real processes', () => {
  it('a writer SIGKILLed at random points never loses an acknowledged entry', async () => {
    const dir = await tempDir('crash');
    let prng = 0x5eed;
    const next = (): number => {
      prng = (prng * 48271) % 2147483647;
      return prng / 2147483647;
    };
    let highestAcked = 0n;
    let torn = 0;
    const rounds = 12;
    let early = 0;
    for (let round = 0; round < rounds; round++) {
      const killEarly = next() < 0.25;
      if (killEarly) early++;
      const delay = killEarly ? 300 + Math.floor(next() * 900) : 40 + Math.floor(next() * 400);
      const { ready, acked } = await runAndKill(dir, 1 + round, delay, killEarly);
      // The child's recovery saw every entry acknowledged before (when it got that far).
      if (ready >= 0n) expect(ready).toBeGreaterThanOrEqual(highestAcked);
      if (acked > highestAcked) highestAcked = acked;
      const inspect = await recoverJournal(dir);
      if (inspect.truncatedBytes > 0) torn++;
      expect(inspect.position.seq).toBeGreaterThanOrEqual(highestAcked);
    }
    // Final recovery by a fresh writer, then a full verified replay: 1..N contiguous, exact payloads.
    const w = await JournalWriter.open({ dir });
    const last = w.position.seq;
    await w.close();
    expect(last).toBeGreaterThanOrEqual(highestAcked);
    let expected = 1n;
    await replayJournal(dir, (e) => {
      expect(e.seq).toBe(expected);
      expect(Buffer.from(e.payload)).toEqual(Buffer.from(payloadFor(e.seq)));
      expected++;
    });
    expect(expected - 1n).toBe(last);
    expect(highestAcked).toBeGreaterThan(0n);
    console.log(
      `crash test: ${rounds} SIGKILLs (${early} timed from spawn), ${highestAcked} acknowledged, ${last} recovered, ${torn} torn tails seen`,
    );
  }, 120_000);
});
