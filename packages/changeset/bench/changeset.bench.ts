import { createHash, randomFillSync } from 'node:crypto';
import type { BenchContext } from '../../../scripts/bench-types.js';
import {
  buildEntryChain,
  decodeJournal,
  decodePhysical,
  encodeJournal,
  encodePhysical,
  encodePhysicalChunks,
  encodePhysicalInto,
  newPhysical,
  readPhysicalStream,
  sealJournal,
  ZERO_HASH,
  type PageEntry,
} from '../src/index.js';

const TOTAL = 64 * 1024 * 1024;

/** Best (shortest) wall time of `runs` calls, in seconds. */
function best(runs: number, fn: () => void): number {
  let min = Infinity;
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    fn();
    min = Math.min(min, Number(process.hrtime.bigint() - t) / 1e9);
  }
  return min;
}

type Ops = Record<string, () => void | Promise<void>>;

/** Runs every operation once per round, `runs` rounds; returns each one's best time in seconds. */
async function interleaved(ops: Ops, runs: number): Promise<Record<string, number>> {
  const t: Record<string, number> = {};
  for (let round = 0; round < runs; round++) {
    for (const [name, op] of Object.entries(ops)) {
      const start = process.hrtime.bigint();
      await op();
      t[name] = Math.min(t[name] ?? Infinity, Number(process.hrtime.bigint() - start) / 1e9);
    }
  }
  return t;
}

const mbps = (bytes: number, seconds: number): number => bytes / seconds / 1e6;

export async function run(ctx: BenchContext): Promise<void> {
  const bytes = randomFillSync(new Uint8Array(TOTAL));
  const runs = 12;

  for (const pageSize of [4096, 256 * 1024]) {
    const label = pageSize === 4096 ? '4 KiB pages' : '256 KiB pages';
    const pages: PageEntry[] = [];
    for (let i = 0; i < TOTAL / pageSize; i++) {
      pages.push({ pageId: BigInt(i), data: bytes.subarray(i * pageSize, (i + 1) * pageSize) });
    }
    let cs = newPhysical(1n, 0n, 8, pageSize, pages);
    const encoded = encodePhysical(cs);
    const target = new Uint8Array(encoded.length);
    const streamed: Uint8Array[] = [];
    for (let i = 0; i < encoded.length; i += 64 * 1024) streamed.push(encoded.subarray(i, i + 64 * 1024));
    let sink = 0;
    // The machine is shared: interleave the measurements round by round and keep each one's best,
    // so that every ratio compares runs taken under the same conditions. Each "encode" path is
    // timed as one operation, from the pages to the encoded bytes. The two operations that leave
    // a 64 MiB buffer behind run in a second group: in steady state each pays for unmapping one
    // such buffer (as a real caller does), and none of the first group's measurements does.
    const light: Ops = {
      sha: () => {
        sink += createHash('sha256').update(bytes).digest()[0] as number;
      },
      create: () => {
        cs = newPhysical(1n, 0n, 8, pageSize, pages);
      },
      gather: () => {
        sink += encodePhysicalChunks(newPhysical(1n, 0n, 8, pageSize, pages)).length;
      },
      reused: () => {
        sink += encodePhysicalInto(newPhysical(1n, 0n, 8, pageSize, pages), target);
      },
      decode: () => {
        sink += decodePhysical(encoded).pages.length;
      },
      stream: async () => {
        for await (const _ of readPhysicalStream(streamed)) sink++;
      },
    };
    const heavy: Ops = {
      contiguous: () => {
        sink += encodePhysical(newPhysical(1n, 0n, 8, pageSize, pages)).length;
      },
      freshCopy: () => {
        const fresh = Buffer.allocUnsafeSlow(TOTAL);
        fresh.set(bytes);
        sink += fresh[0] as number;
      },
    };
    const t = { ...(await interleaved(light, runs)), ...(await interleaved(heavy, runs)) };
    if (sink === 0) throw new Error('nothing measured');
    const time = (name: string): number => t[name] ?? Number.NaN;
    const sha = time('sha');
    const note = `64 MiB, ${TOTAL / pageSize} pages, u64 ids`;
    const row = (name: string, key: string, what: string, goal?: string): void => {
      ctx.record(`${name} (${label})`, mbps(TOTAL, time(key)), 'MB/s', `${note}; ${what}`);
      ctx.record(`${name} / raw SHA-256 (${label})`, sha / time(key), 'ratio', goal ?? '');
    };
    ctx.record(`raw SHA-256 (${label})`, mbps(TOTAL, sha), 'MB/s', 'node:crypto, one update over the same 64 MiB');
    row(
      'encode: newPhysical+encodePhysicalChunks',
      'gather',
      'pages to encoded bytes as a zero-copy gather list (for writev/streams)',
      'goal >= 0.85',
    );
    row('newPhysical', 'create', 'sorts + computes the checksum');
    row(
      'encode: newPhysical+encodePhysical',
      'contiguous',
      'pages to one new contiguous buffer (copy + page faults + unmapping)',
    );
    row('encode: newPhysical+encodePhysicalInto', 'reused', 'pages to a reused buffer (copy, no page faults)');
    ctx.record(
      `copy into a new 64 MiB Buffer (${label})`,
      mbps(TOTAL, time('freshCopy')),
      'MB/s',
      'reference: Buffer.allocUnsafeSlow + set, the floor of any new contiguous output',
    );
    row('decodePhysical', 'decode', 'parses + verifies the checksum', 'goal >= 0.85');
    row('readPhysicalStream', 'stream', '64 KiB chunks');
  }

  const n = 100_000;
  const payloads: [bigint, Uint8Array][] = [];
  for (let i = 0; i < n; i++) payloads.push([BigInt(i + 1), bytes.subarray(i * 200, i * 200 + 200)]);
  let segment = sealJournal(buildEntryChain(ZERO_HASH, payloads), 0n);
  const build = best(3, () => {
    segment = sealJournal(buildEntryChain(ZERO_HASH, payloads), 0n);
  });
  let journal = encodeJournal(segment);
  const encodeJ = best(3, () => {
    journal = encodeJournal(segment);
  });
  const decodeJ = best(3, () => {
    decodeJournal(journal);
  });
  const note = `${n} entries, 200-byte payloads`;
  ctx.record(
    'journal chain+seal+encode',
    n / (build + encodeJ),
    'entries/s',
    `${note}; buildEntryChain + sealJournal + encodeJournal`,
  );
  ctx.record('journal decode', n / decodeJ, 'entries/s', `${note}; decodeJournal: body SHA-256, CRC-32C, chain`);
}
