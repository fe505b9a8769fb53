/**
 * A second database on the HA layer, for the layer's own tests: a key-value map kept in a JSON
 * file, shipped as whole-state segments (`{prefix}{db}/<seq>`) through core's fenced
 * `putIfAbsent`. It is deliberately small: what a database must supply is exactly this engine.
 */
import { existsSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { fencedPutIfAbsent, type FollowerBehavior, type LeaderTerm, type Replicator } from '@hadb/core';
import { sleepUnlessAborted } from '@hadb/io';
import type { StorageBackend } from '@hadb/storage';
import {
  HaError,
  Mutex,
  type EngineFactory,
  type FollowerSide,
  type LeaderSide,
  type WireCodec,
} from '../src/index.js';

export type KvWrite = { readonly set: string; readonly value: string };
export type KvRead = { readonly get: string };
type State = { seq: number; data: Record<string, string>; tokens: Record<string, number> };

const key = (db: string, seq: number): string => `kv/${db}/${String(seq).padStart(12, '0')}`;
const decoder = new TextDecoder();

async function load(path: string): Promise<State> {
  if (!existsSync(path)) return { seq: 0, data: {}, tokens: {} };
  return JSON.parse(await readFile(path, 'utf8')) as State;
}
async function save(path: string, state: State): Promise<void> {
  await writeFile(`${path}.tmp`, JSON.stringify(state));
  await rename(`${path}.tmp`, path);
}
async function head(storage: StorageBackend, db: string): Promise<number> {
  const keys = await storage.list(`kv/${db}/`);
  return keys.length === 0 ? 0 : Number(keys[keys.length - 1]!.split('/').pop());
}

export const kvWire: WireCodec<KvWrite, KvRead, number, string | null> = {
  basePath: '/kv/v1',
  writeOps: ['set'],
  readOps: ['get'],
  encodeWrite: (w) => ({ op: 'set', body: { key: w.set, value: w.value } }),
  decodeWrite: (_op, b) => ({ set: String(b.key), value: String(b.value) }),
  encodeWriteResult: (r) => ({ changed: r }),
  decodeWriteResult: (j) => Number((j as { changed: number }).changed),
  encodeRead: (r) => ({ op: 'get', body: { key: r.get } }),
  decodeRead: (_op, b) => ({ get: String(b.key) }),
  encodeReadResult: (r) => ({ value: r }),
  decodeReadResult: (j) => (j as { value: string | null }).value,
  decodeError: () => undefined,
};

/** The key-value engine over `storage`. */
export function kvEngine(storage: StorageBackend): EngineFactory<KvWrite, KvRead, number, string | null> {
  return ({ db, path, onApplied }) => {
    let term: LeaderTerm | undefined;
    /** Brings the local file to storage's head; reports each step. */
    const pull = async (signal?: AbortSignal): Promise<number> => {
      const state = await load(path);
      const top = await head(storage, db);
      if (top <= state.seq) return state.seq;
      const object = await storage.get(key(db, top), { signal });
      if (object === null) return state.seq;
      await save(path, JSON.parse(decoder.decode(object.data)) as State);
      await onApplied({ seq: BigInt(top), kind: 'snapshot' });
      return top;
    };
    const ship = async (state: State, signal?: AbortSignal): Promise<number> => {
      if (term === undefined) throw new HaError('HADB_HA_NOT_LEADER', 'no term');
      const bytes = new TextEncoder().encode(JSON.stringify(state));
      const res = await fencedPutIfAbsent(storage, key(db, state.seq), bytes, term.fence, { signal });
      if (!res.success) {
        term.fence.trip(`seq ${state.seq} taken`);
        throw new HaError('HADB_HA_FENCED', 'sequence taken by another term');
      }
      return bytes.length;
    };
    const claim = async (t: LeaderTerm): Promise<void> => {
      term = t;
      const state = await load(path);
      state.seq = Math.max(state.seq, await head(storage, db)) + 1;
      await ship(state);
      await save(path, state);
    };
    const replicator: Replicator = {
      startLineage: (_d, _p, t) => claim(t),
      continueLineage: (_d, _p, t) => claim(t),
      pull: async (_d, _p, o) => BigInt(await pull(o?.signal)),
      remove: async () => {
        term = undefined;
      },
      sync: async () => undefined,
    };
    const followerBehavior: FollowerBehavior = {
      async runFollowerLoop(ctx) {
        do {
          let seq: bigint;
          try {
            seq = BigInt(await pull(ctx.signal));
          } catch (err) {
            if (ctx.signal.aborted) return;
            ctx.metrics.pullFailed();
            throw err;
          }
          if (seq > ctx.progress.position) {
            ctx.progress.report(seq);
            ctx.metrics.pullSucceeded();
          } else ctx.metrics.pullNoNewData();
          ctx.progress.setCaughtUp(true);
        } while (await sleepUnlessAborted(ctx.clock, ctx.pollIntervalMs, ctx.signal));
      },
      catchupOnPromotion: async (ctx) => BigInt(await pull(ctx.signal)),
      durableHead: async () => ({ position: BigInt(await head(storage, db)), epoch: 0 }),
    };
    return {
      replicator,
      followerBehavior,
      wire: kvWire,
      reportsPulls: true,
      isClientError: () => false,
      prepareLocalCopy: async () => undefined,
      async openLeader(ctx): Promise<LeaderSide<KvWrite, KvRead, number, string | null>> {
        const lock = new Mutex();
        let state = await load(path);
        let closed = false;
        return {
          write: (w, o) =>
            lock.run(async () => {
              if (closed) throw new HaError('HADB_HA_CLOSED', 'closed');
              ctx.checkWrite();
              if (o.token !== undefined && o.token in state.tokens) return state.tokens[o.token]!;
              const next: State = { ...state, data: { ...state.data, [w.set]: w.value }, tokens: { ...state.tokens } };
              if (o.token !== undefined) next.tokens[o.token] = 1;
              ctx.checkWrite();
              state = next;
              ctx.committed();
              return 1;
            }),
          read: async (r) => state.data[r.get] ?? null,
          ship: (o) =>
            lock.run(async () => {
              ctx.checkTerm();
              o.capturePoint();
              const next = { ...state, seq: state.seq + 1 };
              const bytes = await ship(next, o.signal);
              state = next;
              await save(path, state);
              return { bytes };
            }),
          counters: () => ({}),
          close: () =>
            lock.run(async () => {
              closed = true;
            }),
        };
      },
      openFollower(): FollowerSide<KvRead, string | null> {
        let view: State | undefined;
        return {
          start: async () => {
            if (existsSync(path)) view = await load(path);
          },
          read: async (r) => {
            if (view === undefined) throw new HaError('HADB_HA_NOT_READY', 'no copy yet');
            return view.data[r.get] ?? null;
          },
          refresh: async () => {
            view = await load(path);
          },
          close: async () => undefined,
        };
      },
    };
  };
}

/**
 * `kvEngine(storage)` with replicator methods replaced: `override` gets each engine's own
 * replicator (to call through to) and returns the methods to use instead.
 */
export function kvEngineWith(
  storage: StorageBackend,
  override: (own: Replicator) => Partial<Replicator>,
): EngineFactory<KvWrite, KvRead, number, string | null> {
  const inner = kvEngine(storage);
  return (ctx) => {
    const e = inner(ctx);
    return { ...e, replicator: { ...e.replicator, ...override(e.replicator) } };
  };
}

/** A call that never answers (a huge restore or snapshot): rejects with `signal`'s reason once it fires, recorded in `reasons`. */
export function hangUntilAborted<T>(signal: AbortSignal | undefined, reasons: unknown[]): Promise<T> {
  return new Promise<T>((_resolve, reject) =>
    signal?.addEventListener('abort', () => {
      reasons.push(signal.reason);
      reject(signal.reason);
    }),
  );
}
