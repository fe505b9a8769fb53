/**
 * Fencing of writers. A writer term (`@hadb/core`'s `WriteFence` fits this shape) has an epoch
 * that is strictly greater than every earlier term's. walstream stamps the epoch into the
 * metadata entry of every changeset and snapshot it writes under the term (see `meta.ts`), and
 * writes every changeset with `putIfAbsent` at its sequence key, so a sequence is written at most
 * once, by one writer.
 *
 * A new lineage first **claims** its sequence `S` in the incremental key space: a changeset at
 * `{prefix}{name}/0000/{S}.hadbp` holding only a metadata entry with the claim flag, a random
 * `prev_checksum` (so nothing chains from an older lineage into it) and the writer's epoch. The
 * snapshot at `{prefix}{name}/0001/{S}.hadbp` is anchored at the claim's checksum, and the
 * lineage's incrementals continue from it. A deposed writer's late incremental at `S` therefore
 * finds the key taken and is refused by storage; reading the claim, it learns of the newer epoch
 * and stops (its fence is tripped). Readers never apply a claim: a follower at `S − 1` that meets
 * one restores the new lineage's snapshot once it exists; a restore stops at one.
 */
import { randomBytes } from 'node:crypto';
import { PageIdSize, encodePhysical, newPhysical } from '@hadb/changeset';
import type { OpOptions, StorageBackend } from '@hadb/storage';
import { WalstreamError } from './errors.js';
import { META_PAGE_ID, metaEntry, parseMetaFull, type ChangesetMeta } from './meta.js';
import { incrementalKey, listRemote, remoteChainAt } from './remote.js';

/**
 * The write permission of one writer term. `@hadb/core`'s `WriteFence` (a `LeaderTerm`'s
 * `fence`) satisfies it.
 */
export interface WriterTerm {
  /** The term's epoch: strictly greater than every earlier writer's. Stamped into every changeset. */
  readonly epoch: number;
  /** Aborts when the term ends; passed to every storage write. */
  readonly signal?: AbortSignal | undefined;
  /** Throws when the term may no longer write; called right before every durable write. */
  check?(): void;
  /** Ends the term at once: called on evidence of a writer with an equal or higher epoch. */
  trip?(reason: string): void;
}

/** A sequence claimed for a new lineage (see {@link claimLineage}). */
export interface LineageClaim {
  readonly seq: bigint;
  /** The claim's checksum: the anchor (`prev_checksum`) of the lineage's snapshot. */
  readonly checksum: bigint;
}

/** A stored changeset's header fields and metadata, read with one range read. */
export interface RemoteMeta extends ChangesetMeta {
  readonly seq: bigint;
  readonly prevChecksum: bigint;
}

/** Bytes that always cover the header and a fenced metadata entry (u64 page id). */
const META_PROBE = 40 + 8 + 4 + 13;

/**
 * Reads the header and the metadata entry of the changeset at `key` (one range read); `null`
 * if it is missing. A changeset without a walstream metadata entry reads as epoch 0, no claim.
 */
export async function readRemoteMeta(
  storage: StorageBackend,
  key: string,
  options: OpOptions = {},
): Promise<RemoteMeta | null> {
  const bytes = await storage.rangeGet(key, 0, META_PROBE, options);
  if (bytes === null || bytes.byteLength < 40) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const seq = view.getBigUint64(12, false);
  const prevChecksum = view.getBigUint64(20, false);
  const idSize = bytes[7] === 8 ? 8 : 4;
  const count = view.getUint32(28, false);
  const none = { seq, prevChecksum, dbPages: 0, epoch: 0n, claim: false };
  if (count === 0 || bytes.byteLength < 40 + idSize + 4) return none;
  const id = idSize === 8 ? view.getBigUint64(40, false) : BigInt(view.getUint32(40, false));
  if (id !== META_PAGE_ID) return none;
  const len = view.getUint32(40 + idSize, false);
  const start = 40 + idSize + 4;
  const data = bytes.subarray(start, Math.min(start + len, bytes.byteLength));
  if (data.byteLength < 4) return none;
  return { seq, prevChecksum, ...parseMetaFull(data, key) };
}

/** The outcome of {@link putChangesetFenced}: written (now or by an earlier attempt), or taken by another writer. */
export type FencedPut =
  | { readonly kind: 'written' }
  | { readonly kind: 'taken'; readonly epoch: bigint; readonly claim: boolean };

/**
 * Runs `fn` with a signal that aborts when `signal` or the term's signal does. Listeners are
 * removed afterwards (no `AbortSignal.any`: its composite signals pile up on a long-lived term
 * signal under Node 20).
 */
async function underTerm<T>(
  term: WriterTerm | undefined,
  signal: AbortSignal | undefined,
  fn: (signal: AbortSignal | undefined) => Promise<T>,
): Promise<T> {
  const fence = term?.signal;
  if (fence === undefined) return fn(signal);
  const controller = new AbortController();
  const onFence = (): void => controller.abort(fence.reason);
  const onSignal = (): void => controller.abort(signal?.reason);
  if (fence.aborted) onFence();
  else if (signal?.aborted === true) onSignal();
  fence.addEventListener('abort', onFence, { once: true });
  signal?.addEventListener('abort', onSignal, { once: true });
  try {
    return await fn(controller.signal);
  } finally {
    fence.removeEventListener('abort', onFence);
    signal?.removeEventListener('abort', onSignal);
  }
}

/**
 * Writes an encoded changeset at `key` with `putIfAbsent`, checking the term right before. When
 * the key exists: a changeset with the same checksum is this writer's earlier attempt
 * (`written`); otherwise the existing one's epoch is reported (`taken`). Storage errors propagate
 * (the write may have landed; retrying resolves it through the checksum comparison).
 */
export async function putChangesetFenced(
  storage: StorageBackend,
  key: string,
  data: Uint8Array,
  checksum: bigint,
  term: WriterTerm | undefined,
  options: OpOptions = {},
): Promise<FencedPut> {
  term?.check?.();
  return underTerm(term, options.signal, async (signal): Promise<FencedPut> => {
    const res = await storage.putIfAbsent(key, data, { signal });
    if (res.success) return { kind: 'written' };
    const existing = await readRemoteMeta(storage, key, { signal });
    if (existing === null) {
      // Deleted in between (retention): the sequence is free again only for a retry by the caller.
      return { kind: 'taken', epoch: 0n, claim: false };
    }
    if ((await remoteChainAt(storage, key, false, { signal })) === checksum) return { kind: 'written' };
    return { kind: 'taken', epoch: existing.epoch, claim: existing.claim };
  });
}

/**
 * Refuses to go on when `taken` was written under an epoch equal to or above the term's: trips
 * the term and throws `HADB_WALSTREAM_FENCED`. Returns for a lower epoch (or without a term).
 */
export function refuseNewerWriter(
  name: string,
  seq: bigint,
  taken: { readonly epoch: bigint },
  term: WriterTerm | undefined,
): void {
  if (term === undefined || taken.epoch < BigInt(term.epoch)) return;
  const reason = `seq ${seq} of ${name} was written under epoch ${taken.epoch} (this term: ${term.epoch})`;
  term.trip?.(reason);
  throw new WalstreamError('HADB_WALSTREAM_FENCED', `${name}: ${reason}; this writer is deposed`);
}

/** Inputs of {@link claimLineage}. */
export interface ClaimInput {
  readonly storage: StorageBackend;
  readonly prefix: string;
  readonly name: string;
  /** The sequence to claim (the next one after everything the caller has applied). */
  readonly seq: bigint;
  readonly term?: WriterTerm | undefined;
  /** Wall-clock ms stored as the claim's `created_ms`. */
  readonly createdMs: number;
  readonly signal?: AbortSignal | undefined;
}

/**
 * Claims `seq` for a new lineage (see the module comment). Resolves `claimed` with the anchor
 * for the lineage's snapshot, or `taken` when another writer of a lower epoch (or, without a
 * term, any writer) holds the key: a claim (no data; the caller may claim the next sequence) or a
 * late changeset of an older term (the caller applies it first if it must not lose it). Throws
 * `HADB_WALSTREAM_FENCED` (after tripping the term) when the key holds an equal or higher epoch.
 */
export async function claimLineage(
  input: ClaimInput,
): Promise<
  | { readonly kind: 'claimed'; readonly claim: LineageClaim }
  | { readonly kind: 'taken'; readonly epoch: bigint; readonly claim: boolean }
> {
  const epoch = BigInt(input.term?.epoch ?? 0);
  const cs = newPhysical(
    input.seq,
    randomBytes(8).readBigUInt64BE(0),
    PageIdSize.U32,
    4096,
    [metaEntry(0, epoch, true)],
    { createdMs: BigInt(input.createdMs) },
  );
  const key = incrementalKey(input.prefix, input.name, input.seq);
  const put = await putChangesetFenced(input.storage, key, encodePhysical(cs), cs.checksum, input.term, {
    signal: input.signal,
  });
  if (put.kind === 'written') return { kind: 'claimed', claim: { seq: input.seq, checksum: cs.checksum } };
  refuseNewerWriter(input.name, input.seq, put, input.term);
  return put;
}

/** The newest durable state of a database (see {@link readDurableHead}). */
export interface DurableHead {
  /** Sequence of the newest snapshot or data-carrying incremental (`0n` when there is none). */
  readonly seq: bigint;
  /** Highest writer epoch seen at the head, including abandoned claims above it (0 without terms). */
  readonly epoch: bigint;
}

/**
 * The durable head a follower can reach: the newest snapshot or incremental, skipping lineage
 * claims whose snapshot was never stored (an abandoned claim holds no data). Their epochs still
 * count toward `epoch`, the floor for the next writer's epoch. One listing plus a range read per
 * inspected object.
 */
export async function readDurableHead(
  storage: StorageBackend,
  prefix: string,
  name: string,
  options: OpOptions = {},
): Promise<DurableHead> {
  const remote = await listRemote(storage, prefix, name, options);
  const snapshots = new Set(remote.snapshots.map((s) => s.seq));
  const lastSnapshot = remote.snapshots[remote.snapshots.length - 1];
  let epoch = 0n;
  for (let i = remote.incrementals.length - 1; i >= 0; i--) {
    const inc = remote.incrementals[i]!;
    if (lastSnapshot !== undefined && inc.seq <= lastSnapshot.seq) break;
    const meta = await readRemoteMeta(storage, inc.key, options);
    if (meta === null) continue;
    if (meta.epoch > epoch) epoch = meta.epoch;
    if (meta.claim && !snapshots.has(inc.seq)) continue;
    return { seq: inc.seq, epoch };
  }
  if (lastSnapshot === undefined) return { seq: 0n, epoch };
  const meta = await readRemoteMeta(storage, lastSnapshot.key, options);
  const snapEpoch = meta?.epoch ?? 0n;
  return { seq: lastSnapshot.seq, epoch: snapEpoch > epoch ? snapEpoch : epoch };
}
