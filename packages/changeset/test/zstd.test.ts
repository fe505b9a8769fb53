import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { gc } from '@hadb/testkit';
import { describe, expect, it } from 'vitest';
import {
  buildEntryChain,
  decodeJournal,
  encodeEntry,
  encodeJournalCompressed,
  isChangesetError,
  sealJournal,
  ZERO_HASH,
  zstdCompress,
  zstdCompressStream,
  zstdDecompress,
  zstdDecompressStream,
  zstdImplementation,
} from '../src/index.js';
import { ascii, chunked, collect, concat, sameBytes } from './support/bytes.js';

const hasCli = spawnSync('zstd', ['--version']).status === 0;
if (!hasCli) {
  console.warn('SKIPPED: zstd CLI interop tests — the `zstd` command is missing (apt-get install -y zstd)');
}

function sample(size: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = 12345;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = i % 7 === 0 ? x >>> 24 : 97 + (i % 13);
  }
  return out;
}

describe('zstd', () => {
  it('reports its implementation', () => {
    expect(['node:zlib', '@bokuweb/zstd-wasm']).toContain(zstdImplementation.compress);
    expect(zstdImplementation.decompress).toBe('fzstd');
  });

  it('compress/decompress roundtrip, empty input too', async () => {
    for (const size of [0, 1, 1000, 300_000]) {
      const data = sample(size);
      expect(sameBytes(zstdDecompress(await zstdCompress(data, { level: 3 })), data)).toBe(true);
    }
  });

  it('streaming: one frame per chunk; the concatenation decodes (also chunk by chunk)', async () => {
    const data = sample(200_000);
    const frames = await collect(zstdCompressStream(chunked(data, [50_000, 7, 60_000])));
    expect(frames.length).toBeGreaterThan(3);
    const whole = concat(frames);
    expect(sameBytes(zstdDecompress(whole), data)).toBe(true);
    const parts = await collect(zstdDecompressStream(chunked(whole, [3, 1000])));
    expect(sameBytes(concat(parts), data)).toBe(true);
  });

  it('streaming: a chunk that inflates 1000-fold is handed over a few blocks at a time', async () => {
    const data = new Uint8Array(48 * 1024 * 1024).map((_, i) => i % 251);
    const compressed = await zstdCompress(data, { level: 3 });
    expect(compressed.length).toBeLessThan(data.length / 1000);
    gc();
    const before = process.memoryUsage().arrayBuffers;
    let seen = 0;
    let sinceSample = 0;
    let peak = 0;
    const digest = createHash('sha256');
    // The whole input arrives as one chunk: the decoder must not inflate all of it at once.
    for await (const part of zstdDecompressStream([compressed])) {
      digest.update(part);
      seen += part.length;
      sinceSample += part.length;
      if (sinceSample < 4 * 1024 * 1024) continue;
      sinceSample = 0;
      gc();
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - before);
    }
    expect(seen).toBe(data.length);
    expect(digest.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    expect(peak).toBeLessThan(12 * 1024 * 1024);
  }, 60_000);

  it('limits: output and window are enforced as LIMIT_EXCEEDED', async () => {
    const compressed = await zstdCompress(new Uint8Array(1_000_000));
    let error: unknown;
    try {
      zstdDecompress(compressed, { maxOutputBytes: 1000 });
    } catch (err) {
      error = err;
    }
    expect(isChangesetError(error, 'HADB_CHANGESET_LIMIT_EXCEEDED')).toBe(true);
    // A frame header claiming a 2 GiB window (descriptor 0xa8 = 2^31) without single-segment.
    const forged = Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xa8, 0x01, 0x00, 0x00);
    error = undefined;
    try {
      zstdDecompress(forged);
    } catch (err) {
      error = err;
    }
    expect(isChangesetError(error, 'HADB_CHANGESET_LIMIT_EXCEEDED')).toBe(true);
  });

  it('garbage is a typed IO error', () => {
    for (const bad of [
      ascii('not zstd at all'),
      Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd),
      Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0x08),
    ]) {
      let error: unknown;
      try {
        zstdDecompress(bad);
      } catch (err) {
        error = err;
      }
      expect(isChangesetError(error, 'HADB_CHANGESET_IO'), Buffer.from(bad).toString('hex')).toBe(true);
    }
  });

  describe.skipIf(!hasCli)('interop with the zstd CLI (libzstd)', () => {
    it('our frames decode with `zstd -d`, and CLI frames (level 3 and 19, multi-frame) decode here', async () => {
      const data = sample(500_000);
      const ours = await zstdCompress(data, { level: 3 });
      const viaCli = execFileSync('zstd', ['-d', '-c', '-q'], { input: ours, maxBuffer: 1 << 26 });
      expect(sameBytes(viaCli, data)).toBe(true);
      for (const level of ['-3', '-19']) {
        const theirs = execFileSync('zstd', [level, '-c', '-q'], { input: data, maxBuffer: 1 << 26 });
        expect(sameBytes(zstdDecompress(new Uint8Array(theirs)), data)).toBe(true);
      }
      // Streamed input (no content size in the frame header) and two concatenated frames.
      const streamed = execFileSync('sh', ['-c', 'cat | zstd -3 -c -q --no-content-size'], {
        input: data,
        maxBuffer: 1 << 26,
      });
      const twice = concat([new Uint8Array(streamed), new Uint8Array(streamed)]);
      expect(sameBytes(concat(await collect(zstdDecompressStream(chunked(twice, [4096])))), concat([data, data]))).toBe(
        true,
      );
      const framesByUs = concat(await collect(zstdCompressStream(chunked(data, [100_000]))));
      expect(sameBytes(execFileSync('zstd', ['-d', '-c', '-q'], { input: framesByUs, maxBuffer: 1 << 26 }), data)).toBe(
        true,
      );
    });

    it('a compressed journal body is a standard zstd frame (as libzstd in Rust would read it)', async () => {
      const seg = sealJournal(
        buildEntryChain(
          ZERO_HASH,
          Array.from({ length: 20 }, (_, i) => [BigInt(i + 1), ascii(`query_${i + 1}`)] as const),
        ),
        0n,
      );
      const bytes = await encodeJournalCompressed(seg, 3);
      const bodyLen = Number(Buffer.from(bytes).readBigUInt64BE(36));
      const body = bytes.subarray(128, 128 + bodyLen);
      const raw = execFileSync('zstd', ['-d', '-c', '-q'], { input: body });
      const decoded = decodeJournal(bytes);
      expect(sameBytes(raw, concat(seg.entries.map((e) => encodeEntry(e))))).toBe(true);
      expect(decoded.entries).toHaveLength(20);
      // Recompress the CLI's output with the CLI and splice it in: still decodes.
      const cliBody = new Uint8Array(execFileSync('zstd', ['-3', '-c', '-q'], { input: raw }));
      const header = bytes.slice(0, 128);
      Buffer.from(header.buffer).writeBigUInt64BE(BigInt(cliBody.length), 36);
      header.set(createHash('sha256').update(cliBody).digest(), 44);
      const spliced = concat([header, cliBody, bytes.subarray(128 + bodyLen)]);
      expect(decodeJournal(spliced).chainHash).toEqual(seg.chainHash);
    });
  });
});
