import { createHash, randomFillSync } from 'node:crypto';
import type { BenchContext } from '../../../scripts/bench-types.js';
import {
  buildEntryChain,
  decodeJournal,
  decodePhysical,
  encodeJournal,
  encodePhysical,
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
    let encoded = encodePhysical(cs);
    const target = new Uint8Array(encoded.length);
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < encoded.length; i += 64 * 1024) chunks.push(encoded.subarray(i, i + 64 * 1024));
    // The machine is shared: interleave the measurements round by round and keep each one's best,
    // so that every ratio compares runs taken under the same conditions.
    const ops: Record<string, () => void | Promise<void>> = {
      sha: () => {
        createHash('sha256').update(bytes).digest();
      },
      create: () => {
        cs = newPhysical(1n, 0n, 8, pageSize, pages);
      },
      encode: () => {
        encoded = encodePhysical(cs);
      },
      encodeInto: () => {
        encodePhysicalInto(cs, target);
      },
      decode: () => {
        decodePhysical(encoded);
      },
      stream: async () => {
        for await (const _ of readPhysicalStream(chunks)) {
          // consume
        }
      },
    };
    const t: Record<string, number> = {};
    for (let round = 0; round < runs; round++) {
      for (const [name, op] of Object.entries(ops)) {
        const start = process.hrtime.bigint();
        await op();
        const secs = Number(process.hrtime.bigint() - start) / 1e9;
        t[name] = Math.min(t[name] ?? Infinity, secs);
      }
    }
    const time = (name: string): number => t[name] ?? Number.NaN;
    const [sha, create, encode, encodeInto, decode, stream] = ['sha', 'create', 'encode', 'encodeInto', 'decode', 'stream'].map(time) as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const note = `64 MiB, ${TOTAL / pageSize} pages, u64 ids`;
    ctx.record(`raw SHA-256 (${label})`, mbps(TOTAL, sha), 'MB/s', `node:crypto, one update over the same 64 MiB`);
    ctx.record(`newPhysical (${label})`, mbps(TOTAL, create), 'MB/s', `${note}; sorts + computes the checksum`);
    ctx.record(`encodePhysical (${label})`, mbps(TOTAL, encode), 'MB/s', `${note}; serialises (checksum already known)`);
    ctx.record(`encodePhysicalInto (${label})`, mbps(TOTAL, encodeInto), 'MB/s', `${note}; into a reused buffer`);
    ctx.record(`decodePhysical (${label})`, mbps(TOTAL, decode), 'MB/s', `${note}; parses + verifies the checksum`);
    ctx.record(`readPhysicalStream (${label})`, mbps(TOTAL, stream), 'MB/s', `${note}; 64 KiB chunks`);
    ctx.record(`newPhysical / raw SHA-256 (${label})`, sha / create, 'ratio', 'goal >= 0.85');
    ctx.record(`encodePhysical / raw SHA-256 (${label})`, sha / encode, 'ratio', 'goal >= 0.85');
    ctx.record(`newPhysical+encodePhysical / raw SHA-256 (${label})`, sha / (create + encode), 'ratio', 'goal >= 0.85');
    ctx.record(`decodePhysical / raw SHA-256 (${label})`, sha / decode, 'ratio', 'goal >= 0.85');
    ctx.record(`readPhysicalStream / raw SHA-256 (${label})`, sha / stream, 'ratio', '');
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
  ctx.record('journal chain+seal+encode', n / (build + encodeJ), 'entries/s', `${note}; buildEntryChain + sealJournal + encodeJournal`);
  ctx.record('journal decode', n / decodeJ, 'entries/s', `${note}; decodeJournal: body SHA-256, CRC-32C, chain`);
}
