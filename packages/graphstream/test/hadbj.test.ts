import { systemClock } from '@hadb/io';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeJournal, decodeJournalHeader, encodeUnsealedHeader } from '@hadb/changeset';
import { describe, expect, it } from 'vitest';
import { JournalWriter, segmentFileName } from '../src/index.js';
import { q, tempDir } from './helpers/tmp.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const ENTRY_1 = '0e1054e2000000070000000000000001' + '00'.repeat(32) + '71756572795f31';
const ENTRY_2 =
  '05f1c12c000000070000000000000002bea52bdef4f3e8a027bdf2102c115c3dc88a8ceb9fb1dd5155ad98025895df7771756572795f32';

describe('.hadbj files written by the journal writer', () => {
  it('live file: unsealed header then the spec entry vectors, byte for byte', async () => {
    const dir = await tempDir();
    const w = await JournalWriter.open({ dir, fsyncMs: 0, clock: { ...systemClock, wallMs: () => 1_700_000_000_000 } });
    await w.append(q(1));
    await w.append(q(2));
    const live = await readFile(join(dir, segmentFileName(1n)));
    expect(hex(live.subarray(0, 128))).toBe(hex(encodeUnsealedHeader({ firstSeq: 1n, createdMs: 1_700_000_000_000n })));
    expect(hex(live.subarray(0, 20))).toBe('484144424a0100000000000000000000000000' + '01');
    expect(hex(live.subarray(128))).toBe(ENTRY_1 + ENTRY_2);
    await w.close();
  });

  it('sealed file: flags 0x0d, compression 1, counts, prev_segment_checksum and trailer', async () => {
    const dir = await tempDir();
    const w = await JournalWriter.open({ dir, fsyncMs: 0, clock: { ...systemClock, wallMs: () => 1_700_000_000_000 } });
    await w.append(q(1));
    await w.sealForUpload();
    await w.append(q(2));
    await w.close();
    const second = await readFile(join(dir, segmentFileName(2n)));
    const h = decodeJournalHeader(second);
    expect(h.flags).toBe(0x0d);
    expect(h.compression).toBe(1);
    expect([h.firstSeq, h.lastSeq, h.entryCount]).toEqual([2n, 2n, 1n]);
    expect(h.createdMs).toBe(1_700_000_000_000n);
    // prev_segment_checksum = first 8 bytes of the chain hash before the segment (entry 1's hash).
    expect(h.prevSegmentChecksum).toBe(0xbea52bdef4f3e8a0n);
    expect(hex(second.subarray(second.length - 32))).toBe(
      '11d6af76ae99f98a83b33f8d96293170960366ec15bdd76b52121ac487e7f500',
    );
    expect(decodeJournal(second).entries[0]!.sequence).toBe(2n);
  });
});
