import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  JournalUploader,
  JournalWriter,
  decodePayload,
  encodePayload,
  param,
  type ParamValue,
  recoverJournal,
} from '../src/index.js';
import { DB, PREFIX, memStorage, readAll } from './helpers/journal.js';
import { tempDir } from './helpers/tmp.js';

const leaf: fc.Arbitrary<ParamValue> = fc.oneof(
  fc.constant(param.null()),
  fc.boolean().map(param.bool),
  fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }).map(param.int),
  fc.double({ noNaN: true }).map(param.float),
  fc.string().map(param.string),
  fc.uint8Array({ maxLength: 16 }).map(param.bytes),
  fc.string().map(param.date),
  fc.string().map(param.duration),
  fc
    .record({ s: fc.nat({ max: 0xffffffff }), x: fc.double({ noNaN: true }), y: fc.double({ noNaN: true }) })
    .map((p) => param.point(p.s, p.x, p.y)),
);
const value: fc.Arbitrary<ParamValue> = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    leaf,
    fc.array(tie('v'), { maxLength: 3 }).map((xs) => param.list(xs as ParamValue[])),
    fc.array(fc.tuple(fc.string(), tie('v')), { maxLength: 3 }).map((es) => param.map(es as [string, ParamValue][])),
  ),
})).v as fc.Arbitrary<ParamValue>;

describe('properties', () => {
  it('payload round trip', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.array(fc.tuple(fc.string(), value), { maxLength: 4 }),
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        (query, params, seq) => {
          const p = { sequence: seq, query, params, timestampMs: 5n };
          expect(decodePayload(encodePayload(p))).toEqual(p);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('rotation preserves entries and the chain survives reopen at any point', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 256, max: 2048 }),
        fc.array(fc.nat(), { maxLength: 3 }),
        async (payloads, maxBytes, reopenAt) => {
          const dir = await tempDir('prop');
          let w = await JournalWriter.open({ dir, fsyncMs: 0, segmentMaxBytes: maxBytes });
          const cuts = new Set(reopenAt.map((n) => n % payloads.length));
          for (let i = 0; i < payloads.length; i++) {
            if (cuts.has(i)) {
              await w.close();
              w = await JournalWriter.open({ dir, fsyncMs: 0, segmentMaxBytes: maxBytes });
            }
            await w.append(payloads[i]!);
          }
          const pos = w.position;
          await w.close();
          const rec = await recoverJournal(dir);
          expect(rec.position.seq).toBe(pos.seq);
          expect(Buffer.from(rec.position.chainHash)).toEqual(Buffer.from(pos.chainHash));
          const all = await readAll(dir);
          expect(all.map((e) => Buffer.from(e.payload))).toEqual(payloads.map((p) => Buffer.from(p)));
        },
      ),
      { numRuns: 25 },
    );
  });

  it('upload is idempotent', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 2, max: 4 }),
        async (n, per, times) => {
          const dir = await tempDir('prop');
          const w = await JournalWriter.open({ dir, fsyncMs: 0 });
          for (let i = 1; i <= n; i++) {
            await w.append(Uint8Array.of(i));
            if (i % per === 0) await w.sealForUpload();
          }
          await w.close();
          const storage = memStorage();
          for (let t = 0; t < times; t++) {
            const up = await JournalUploader.open({ storage, prefix: PREFIX, db: DB, dir });
            await up.manifest.forget(up.manifest.names());
            await up.uploadPending();
          }
          const keys = await storage.list(`${PREFIX}${DB}/0000/`);
          expect(keys).toHaveLength(Math.ceil(n / per));
        },
      ),
      { numRuns: 20 },
    );
  });
});
