import { decodeJournal, isChangesetError, readPhysicalStream } from '@hadb/changeset';
import type { StorageBackend } from '@hadb/storage';
import { bySeq, describeObjects, type ObjectDetails, type StoredObject } from './catalog.js';
import { CliError } from './errors.js';
import { mapLimit } from './map-limit.js';

/** One integrity problem, tied to the object it was found in. */
export interface Problem {
  readonly key: string;
  readonly reason: string;
}

/** Outcome of {@link verifyDatabase}. */
export interface VerifyReport {
  readonly objects: number;
  readonly bytes: number;
  /** Objects not checked (compaction levels this reader does not decode). */
  readonly skipped: readonly string[];
  /** Every problem, in key order; the first names the first bad object. */
  readonly problems: readonly Problem[];
  /** Highest seq a restore can reach, `null` when nothing is restorable. */
  readonly head: bigint | null;
}

interface Checked {
  readonly object: ObjectDetails;
  /** `.hadbp`: the verified checksum; `.hadbj`: the first entry's prev hash and the chain hash. */
  readonly checksum?: bigint;
  readonly prevChecksum?: bigint;
  readonly firstPrevHash?: Uint8Array;
  readonly chainHash?: Uint8Array;
  readonly lastSeq?: bigint;
}

function describe(error: unknown): string {
  if (isChangesetError(error)) return `${error.code}: ${error.message}`;
  if (error instanceof Error)
    return (error as { code?: string }).code ? `${(error as { code?: string }).code}: ${error.message}` : error.message;
  return String(error);
}

async function checkPhysical(
  storage: StorageBackend,
  o: ObjectDetails,
  onBytes: (n: number) => void,
  signal?: AbortSignal,
): Promise<Checked | Problem> {
  const stream = await storage.getStream(o.key, { signal });
  if (stream === null) return { key: o.key, reason: 'object disappeared during verification' };
  const body = (async function* () {
    for await (const c of stream.body) {
      onBytes(c.length);
      yield c;
    }
  })();
  const reader = readPhysicalStream(body, { signal });
  try {
    const header = await reader.header();
    if (header.seq !== o.seq) return { key: o.key, reason: `header says seq ${header.seq}, key says ${o.seq}` };
    for await (const _page of reader) {
      // pages are checked by the reader; the checksum is known once the iteration completes
    }
    return { object: o, checksum: reader.checksum!, prevChecksum: header.prevChecksum };
  } catch (error) {
    if (isChangesetError(error, 'HADB_CHANGESET_IO') || isChangesetError(error, 'HADB_CHANGESET_ABORTED'))
      throw error.cause ?? error;
    return { key: o.key, reason: describe(error) };
  } finally {
    await reader.close().catch(() => undefined);
  }
}

async function checkJournal(
  storage: StorageBackend,
  o: ObjectDetails,
  onBytes: (n: number) => void,
  signal?: AbortSignal,
): Promise<Checked | Problem> {
  const got = await storage.get(o.key, { signal });
  if (got === null) return { key: o.key, reason: 'object disappeared during verification' };
  onBytes(got.data.length);
  try {
    const segment = decodeJournal(got.data);
    if (segment.header.firstSeq !== o.seq)
      return { key: o.key, reason: `header says first seq ${segment.header.firstSeq}, key says ${o.seq}` };
    const first = segment.entries[0];
    return {
      object: o,
      lastSeq: segment.header.lastSeq,
      chainHash: segment.chainHash,
      ...(first ? { firstPrevHash: first.prevHash } : {}),
    };
  } catch (error) {
    return { key: o.key, reason: describe(error) };
  }
}

function hex(n: bigint): string {
  return n.toString(16).padStart(16, '0');
}

/** Chain and gap rules of `.hadbp` incrementals (generation 0) and snapshots (generation 1). */
function physicalChain(incrementals: Checked[], snapshots: Checked[]): { problems: Problem[]; head: bigint | null } {
  const problems: Problem[] = [];
  const snapAt = new Map(snapshots.map((s) => [s.object.seq, s]));
  const incAt = new Map(incrementals.map((c) => [c.object.seq, c]));
  let prev: Checked | undefined;
  let head: bigint | null = null;
  for (const c of incrementals) {
    const seq = c.object.seq;
    if (prev !== undefined && seq === prev.object.seq + 1n) {
      // A new lineage (a leader that could not continue the chain) claims its seq with an unlinked
      // segment and stores a snapshot at the same seq anchored on it: followers restore that.
      const lineage = snapAt.get(seq);
      if (c.prevChecksum !== prev.checksum && !(lineage !== undefined && lineage.prevChecksum === c.checksum)) {
        problems.push({
          key: c.object.key,
          reason: `chain break at seq ${seq}: prev_checksum ${hex(c.prevChecksum!)} != checksum ${hex(prev.checksum!)} of seq ${prev.object.seq}`,
        });
      }
    } else if (seq > 1n || prev !== undefined) {
      const base = snapAt.get(seq - 1n);
      if (base === undefined) {
        const from = prev === undefined ? 1n : prev.object.seq + 1n;
        problems.push({
          key: c.object.key,
          reason: `gap: seq ${from}..${seq - 1n} missing and no snapshot at seq ${seq - 1n} bridges it`,
        });
      } else if (base.prevChecksum !== c.prevChecksum) {
        problems.push({
          key: c.object.key,
          reason: `chain break at seq ${seq}: prev_checksum ${hex(c.prevChecksum!)} != anchor ${hex(base.prevChecksum!)} of snapshot ${seq - 1n}`,
        });
      }
    }
    prev = c;
  }
  for (const s of snapshots) {
    const at = incAt.get(s.object.seq);
    if (at !== undefined && at.checksum !== s.prevChecksum) {
      problems.push({
        key: s.object.key,
        reason: `snapshot anchor ${hex(s.prevChecksum!)} != checksum ${hex(at.checksum!)} of incremental seq ${s.object.seq}`,
      });
    }
  }
  // The head: the end of the run of incrementals reachable from the newest snapshot (or from seq 1).
  const newestSnap = snapshots.length > 0 ? snapshots[snapshots.length - 1]!.object.seq : null;
  let at = newestSnap ?? (incAt.has(1n) ? 1n : null);
  if (at !== null) {
    while (incAt.has(at + 1n)) at++;
    head = at;
  }
  return { problems, head };
}

/** Chain and gap rules of `.hadbj` segments: contiguous seqs, each linked to the previous chain hash. */
function journalChain(segments: Checked[]): { problems: Problem[]; head: bigint | null } {
  const problems: Problem[] = [];
  let prev: Checked | undefined;
  for (const c of segments) {
    if (prev !== undefined) {
      const expected = prev.lastSeq! + 1n;
      if (c.object.seq !== expected) {
        problems.push({
          key: c.object.key,
          reason:
            c.object.seq > expected
              ? `gap: seq ${expected}..${c.object.seq - 1n} missing`
              : `overlaps the previous segment (first seq ${c.object.seq} <= ${prev.lastSeq})`,
        });
      } else if (c.firstPrevHash !== undefined && !Buffer.from(c.firstPrevHash).equals(Buffer.from(prev.chainHash!))) {
        problems.push({
          key: c.object.key,
          reason: `chain break at seq ${c.object.seq}: first entry does not link to the previous segment's chain hash`,
        });
      }
    }
    prev = c;
  }
  return { problems, head: prev?.lastSeq ?? null };
}

/**
 * Verifies everything stored for a database: each object's checksum (by decoding it fully), key
 * against header, then the chain (every link), gaps not bridged by a snapshot, and snapshot
 * anchors. Reads `parallel` objects at a time; `onBytes` reports progress.
 */
export async function verifyDatabase(
  storage: StorageBackend,
  objects: readonly StoredObject[],
  options: {
    parallel?: number;
    onBytes?: (n: number) => void;
    onTotal?: (n: number) => void;
    signal?: AbortSignal;
  } = {},
): Promise<VerifyReport> {
  const { signal } = options;
  const onBytes = options.onBytes ?? (() => {});
  const details = await describeObjects(storage, objects, { signal, epochs: false });
  const bytes = details.reduce((n, d) => n + d.size, 0);
  options.onTotal?.(bytes);
  const skipped = details.filter((d) => d.generation > 1).map((d) => d.key);
  const todo = details.filter((d) => d.generation <= 1);
  const results = await mapLimit(todo, options.parallel ?? 4, (o) =>
    o.kind === 'hadbp' ? checkPhysical(storage, o, onBytes, signal) : checkJournal(storage, o, onBytes, signal),
  );
  const problems: Problem[] = [];
  const good: Checked[] = [];
  for (const r of results) {
    if ('reason' in r) problems.push(r);
    else good.push(r);
  }
  const physical = good.filter((c) => c.object.kind === 'hadbp');
  const journal = good.filter((c) => c.object.kind === 'hadbj').sort((a, b) => bySeq(a.object, b.object));
  const broken = new Set(problems.map((p) => p.key));
  const incrementals = physical.filter((c) => c.object.generation === 0).sort((a, b) => bySeq(a.object, b.object));
  const snapshots = physical.filter((c) => c.object.generation === 1).sort((a, b) => bySeq(a.object, b.object));
  // A corrupt object is reported once: it is left out of the chain, so its neighbours show as a gap only if nothing else explains it.
  const chainP = physicalChain(incrementals, snapshots);
  const chainJ = journalChain(journal);
  for (const p of [...chainP.problems, ...chainJ.problems]) if (!broken.has(p.key)) problems.push(p);
  problems.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const head = journal.length > 0 ? chainJ.head : chainP.head;
  return { objects: details.length, bytes, skipped, problems, head };
}

/** Throws `HADB_CLI_CORRUPT` naming the first bad object when `report` has problems. */
export function assertVerified(db: string, report: VerifyReport): void {
  const first = report.problems[0];
  if (first === undefined) return;
  const more =
    report.problems.length > 1
      ? ` (and ${report.problems.length - 1} more problem${report.problems.length > 2 ? 's' : ''})`
      : '';
  throw new CliError('HADB_CLI_CORRUPT', `${db}: integrity check failed at ${first.key}: ${first.reason}${more}`);
}
