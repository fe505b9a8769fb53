import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  buildEntryChain,
  decodeEntry,
  decodeJournal,
  decodeJournalHeader,
  decodePhysical,
  encodeEntry,
  encodeJournal,
  encodeJournalCompressed,
  encodePhysical,
  encodeUnsealedHeader,
  isChangesetError,
  newPhysical,
  readLiveJournal,
  readPhysicalStream,
  sealJournal,
  ZERO_HASH,
  zstdCompress,
  zstdDecompress,
} from '../src/index.js';
import { seededRandom } from '@hadb/testkit';
/** Zero-copy chunking (views), cycling through the sizes. */
function chunked(data: Uint8Array, sizes: readonly number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0, k = 0; i < data.length; k++) {
    const n = sizes[k % sizes.length] as number;
    out.push(data.subarray(i, i + n));
    i += n;
  }
  return out;
}

// 100,000 random and mutated inputs per decoder. Each must either decode or throw a
// ChangesetError: never a RangeError/TypeError, never hang, never take long enough to suggest
// it allocated what the input's length does not justify.
const N = 100_000;
// A hang or a multi-GiB allocation takes seconds; scheduler and GC hiccups on a shared machine do not.
const SLOW_MS = 2000;

function mutator(seed: number, corpus: readonly Uint8Array[]) {
  const rand = seededRandom(seed); // reproducible inputs: the seed is printed on failure
  const int = (n: number): number => Math.floor(rand() * n);
  const big = [0x00, 0xff, 0x7f, 0x80];
  return (): Uint8Array => {
    const kind = int(10);
    if (kind === 0 || corpus.length === 0) {
      const out = new Uint8Array(int(300));
      for (let i = 0; i < out.length; i++) out[i] = int(256);
      return out;
    }
    let data = (corpus[int(corpus.length)] as Uint8Array).slice();
    const edits = 1 + int(4);
    for (let e = 0; e < edits; e++) {
      const op = int(7);
      if (data.length === 0) break;
      const at = int(data.length);
      if (op === 0) data[at]! ^= 1 << int(8);
      else if (op === 1) data[at] = int(256);
      else if (op === 2) data = data.slice(0, at);
      else if (op === 3) {
        const grown = new Uint8Array(data.length + 1 + int(20));
        grown.set(data);
        for (let k = data.length; k < grown.length; k++) grown[k] = int(256);
        data = grown;
      } else if (op === 4) {
        // Forge a length-like field: 4 or 8 bytes of 0xff/0x7f/0x80/0x00.
        const width = int(2) === 0 ? 4 : 8;
        const b = big[int(big.length)] as number;
        for (let k = 0; k < width && at + k < data.length; k++) data[at + k] = b;
      } else if (op === 5) data = data.slice(at);
      else {
        const other = corpus[int(corpus.length)] as Uint8Array;
        const tail = other.subarray(int(other.length + 1));
        const spliced = new Uint8Array(at + tail.length);
        spliced.set(data.subarray(0, at));
        spliced.set(tail, at);
        data = spliced;
      }
    }
    return data;
  };
}

function report(name: string, count: number, ok: number, cpu: NodeJS.CpuUsage, slowest: number): void {
  const used = process.cpuUsage(cpu);
  console.log(
    `fuzz ${name}: ${count} inputs, ${ok} decoded, ${((used.user + used.system) / 1e6).toFixed(1)} s CPU, slowest ${slowest.toFixed(1)} ms`,
  );
}

function expectOnlyChangesetErrors(
  name: string,
  seed: number,
  corpus: Uint8Array[],
  decode: (d: Uint8Array) => unknown,
): void {
  const next = mutator(seed, corpus);
  const cpu = process.cpuUsage();
  let ok = 0;
  let slowest = 0;
  for (let i = 0; i < N; i++) {
    const input = next();
    const start = performance.now();
    try {
      decode(input);
      ok++;
    } catch (err) {
      if (!isChangesetError(err)) {
        throw new Error(
          `${name}: seed ${seed} input #${i} (${Buffer.from(input).toString('hex')}) threw ${String(err)}`,
        );
      }
    }
    const ms = performance.now() - start;
    slowest = Math.max(slowest, ms);
    if (ms > SLOW_MS) throw new Error(`${name}: input #${i} took ${ms.toFixed(0)} ms`);
  }
  report(name, N, ok, cpu, slowest);
  // Some mutations (uncovered fields) must still decode, or the corpus is not reaching the decoder.
  expect(ok, `${name} decoded nothing`).toBeGreaterThan(0);
}

async function expectOnlyChangesetErrorsAsync(
  name: string,
  seed: number,
  corpus: Uint8Array[],
  decode: (d: Uint8Array) => Promise<unknown>,
  count = N,
): Promise<void> {
  const next = mutator(seed, corpus);
  const cpu = process.cpuUsage();
  let ok = 0;
  let slowest = 0;
  for (let i = 0; i < count; i++) {
    const input = next();
    const start = performance.now();
    try {
      await decode(input);
      ok++;
    } catch (err) {
      if (!isChangesetError(err)) {
        throw new Error(
          `${name}: seed ${seed} input #${i} (${Buffer.from(input).toString('hex')}) threw ${String(err)}`,
        );
      }
    }
    const ms = performance.now() - start;
    slowest = Math.max(slowest, ms);
    if (ms > SLOW_MS) throw new Error(`${name}: input #${i} took ${ms.toFixed(0)} ms`);
  }
  report(name, count, ok, cpu, slowest);
  expect(ok, `${name} decoded nothing`).toBeGreaterThan(0);
}

const ascii = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));
const physicalCorpus = [
  encodePhysical(newPhysical(1n, 0n, 4, 4096, [], { createdMs: 0n })),
  encodePhysical(
    newPhysical(2n, 7n, 4, 64, [
      { pageId: 5n, data: ascii('bbbb') },
      { pageId: 1n, data: ascii('a') },
    ]),
  ),
  encodePhysical(
    newPhysical(3n, 9n, 8, 32, [
      { pageId: 0n, data: new Uint8Array(32).fill(3) },
      { pageId: 9n, data: new Uint8Array(0) },
    ]),
  ),
];
const entries = buildEntryChain(ZERO_HASH, [
  [1n, ascii('query_1')],
  [2n, ascii('query_2')],
  [3n, new Uint8Array(0)],
]);
const journalCorpus = [encodeJournal(sealJournal(entries, 0n)), encodeJournal(sealJournal(entries.slice(0, 1), 5n))];
const entryCorpus = entries.map((e) => encodeEntry(e));
const liveCorpus = [
  new Uint8Array([...encodeUnsealedHeader({ firstSeq: 1n, createdMs: 0n }), ...entryCorpus.flatMap((e) => [...e])]),
];

// Wall time depends on how busy the (shared) machine is; each test's CPU time is logged.
describe('fuzz: only ChangesetError, fast, for 100,000 inputs per decoder', { timeout: 180_000 }, () => {
  it('decodePhysical', () => {
    expectOnlyChangesetErrors('decodePhysical', 0x1234, physicalCorpus, decodePhysical);
  });

  it('decodeJournal', () => {
    expectOnlyChangesetErrors('decodeJournal', 0x2345, journalCorpus, (d) =>
      decodeJournal(d, { maxOutputBytes: 1 << 20 }),
    );
  });

  it('decodeEntry', () => {
    expectOnlyChangesetErrors('decodeEntry', 0x3456, entryCorpus, (d) => decodeEntry(d, 0));
  });

  it('decodeJournalHeader (unsealed and sealed headers)', () => {
    expectOnlyChangesetErrors('decodeJournalHeader', 0x4567, [...liveCorpus, ...journalCorpus], decodeJournalHeader);
  });

  it('readPhysicalStream', async () => {
    let n = 0;
    await expectOnlyChangesetErrorsAsync('readPhysicalStream', 0x5678, physicalCorpus, async (d) => {
      const reader = readPhysicalStream(chunked(d, [1 + (n++ % 61)]));
      for await (const _ of reader) {
        // drain
      }
    });
  });

  it('readLiveJournal', async () => {
    let n = 0;
    await expectOnlyChangesetErrorsAsync('readLiveJournal', 0x6789, liveCorpus, async (d) => {
      const reader = readLiveJournal(chunked(d, [1 + (n++ % 67)]), { maxPayloadBytes: 1 << 20 });
      for await (const _ of reader) {
        // drain
      }
    });
  });

  it('compressed journal bodies (checksums re-sealed so that the bytes reach zstd) and raw zstd', async () => {
    const seg = sealJournal(
      buildEntryChain(
        ZERO_HASH,
        Array.from({ length: 30 }, (_, i) => [BigInt(i + 1), ascii(`query number ${i % 7}`)] as const),
      ),
      0n,
    );
    const compressed = await encodeJournalCompressed(seg, 3);
    const body = compressed.subarray(128, compressed.length - 32);
    const frames = [
      body,
      await zstdCompress(new Uint8Array(5000).fill(7)),
      await zstdCompress(ascii('hello hello hello')),
    ];
    const next = mutator(0x789a, frames);
    for (let i = 0; i < 10_000; i++) {
      const mutatedBody = next();
      const header = compressed.slice(0, 128);
      const view = new DataView(header.buffer);
      view.setBigUint64(36, BigInt(mutatedBody.length), false);
      header.set(createHash('sha256').update(mutatedBody).digest(), 44);
      const input = new Uint8Array([...header, ...mutatedBody, ...compressed.subarray(compressed.length - 32)]);
      for (const run of [
        () => decodeJournal(input, { maxOutputBytes: 1 << 16 }),
        () => zstdDecompress(mutatedBody, { maxOutputBytes: 1 << 16 }),
      ]) {
        const start = performance.now();
        try {
          run();
        } catch (err) {
          if (!isChangesetError(err))
            throw new Error(`zstd input #${i} (${Buffer.from(mutatedBody).toString('hex')}) threw ${String(err)}`);
        }
        expect(performance.now() - start).toBeLessThan(SLOW_MS);
      }
    }
  });

  it('forged lengths on tiny inputs fail fast without large allocations', async () => {
    const before = process.memoryUsage().arrayBuffers;
    // 60 bytes claiming 2^32-1 pages of up to 4 GiB each.
    const physical = new Uint8Array(60);
    physical.set(physicalCorpus[0]!.subarray(0, 40));
    const pv = new DataView(physical.buffer);
    pv.setUint32(8, 0xffff_ffff, false);
    pv.setUint32(28, 0xffff_ffff, false);
    pv.setUint32(44, 0xffff_ffff, false);
    // A sealed journal claiming a 2^64-1 byte body, and one claiming 2^64-1 entries.
    const journal = journalCorpus[0]!.slice();
    new DataView(journal.buffer).setBigUint64(36, (1n << 64n) - 1n, false);
    const journalCount = journalCorpus[0]!.slice();
    new DataView(journalCount.buffer).setBigUint64(28, (1n << 64n) - 1n, false);
    // An entry claiming a 4 GiB payload.
    const entry = entryCorpus[0]!.slice();
    new DataView(entry.buffer).setUint32(4, 0xffff_ffff, false);
    const start = performance.now();
    for (const run of [
      () => decodePhysical(physical),
      () => decodeJournal(journal),
      () => decodeJournal(journalCount),
      () => decodeEntry(entry),
    ]) {
      expect(() => run()).toThrow(expect.objectContaining({ name: 'ChangesetError' }));
    }
    for (const stream of [
      async () => {
        for await (const _ of readPhysicalStream([physical])) {
          // drain
        }
      },
      async () => {
        const live = new Uint8Array([...liveCorpus[0]!.subarray(0, 128), ...entry]);
        const reader = readLiveJournal([live], { maxPayloadBytes: 0xffff_ffff });
        for await (const _ of reader) {
          // drain
        }
        expect(reader.end?.torn).toBe(true);
      },
    ]) {
      await stream().catch((err: unknown) => expect(isChangesetError(err)).toBe(true));
    }
    expect(performance.now() - start).toBeLessThan(100);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 1024 * 1024);
  });
});
