import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { isStorageError, type StorageBackend, type StorageErrorCode } from '@hadb/storage';
import { describe, expect } from 'vitest';
import type { ResolvedSuiteOptions, StorageSuiteGroup } from './options.js';

/** What each test group's registration function receives. */
export interface SuiteContext {
  readonly options: ResolvedSuiteOptions;
  /** A fresh backend, closed and destroyed after the current test. */
  fresh(): Promise<StorageBackend>;
  /** Per-test timeout in ms, scaled by `timeoutScale`. */
  timeout(ms: number): number;
  /** The skip reason for a group, if the caller skipped it. */
  skipped(group: StorageSuiteGroup): string | undefined;
}

export function bytes(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'utf8'));
}

export function text(data: Uint8Array | null | undefined): string | null {
  return data == null ? null : Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
}

/** Every byte value 0..255, `repeat` times. */
export function allBytes(repeat = 1): Uint8Array {
  const out = new Uint8Array(256 * repeat);
  for (let i = 0; i < out.length; i++) out[i] = i & 0xff;
  return out;
}

export async function collect(body: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of body) parts.push(chunk);
  return new Uint8Array(Buffer.concat(parts));
}

export async function* chunksOf(data: Uint8Array, sizes: readonly number[]): AsyncGenerator<Uint8Array> {
  let at = 0;
  let i = 0;
  while (at < data.length) {
    const size = sizes[i++ % sizes.length] ?? 1;
    yield data.slice(at, at + size);
    at += size;
  }
}

/**
 * Runs `fn` and expects it to reject with a StorageError of `code`. A synchronous throw fails the
 * check: backend methods must return rejected promises.
 */
export async function expectCode(fn: () => Promise<unknown>, code: StorageErrorCode, what = ''): Promise<void> {
  let promise: Promise<unknown>;
  try {
    promise = fn();
  } catch (error) {
    expect.fail(`${what}: threw synchronously instead of returning a rejected promise: ${String(error)}`);
  }
  let outcome: unknown;
  try {
    outcome = await promise;
  } catch (error) {
    if (!isStorageError(error, code)) {
      const got = isStorageError(error) ? error.code : String(error);
      expect.fail(`${what}: expected StorageError ${code}, got ${got}`);
    }
    return;
  }
  expect.fail(`${what}: expected rejection with ${code}, but it resolved to ${JSON.stringify(outcome)}`);
}

let forcedGc: (() => void) | undefined;

/**
 * A `gc()` function obtained at run time (no `--expose-gc` needed). The first call also turns off
 * concurrent ArrayBuffer sweeping for the process, so that `process.memoryUsage().arrayBuffers`
 * read right after `gc()` no longer counts collected buffers whose memory a busy background thread
 * has not yet freed.
 */
export function gc(): void {
  if (forcedGc === undefined) {
    setFlagsFromString('--no-concurrent-array-buffer-sweeping');
    setFlagsFromString('--expose-gc');
    forcedGc = runInNewContext('gc') as () => void;
  }
  forcedGc();
}

/** Tracks the peak growth of retained memory (RSS and ArrayBuffers) over a baseline. */
export class MemoryWatch {
  readonly #gcEveryBytes: number;
  readonly #baseRss: number;
  readonly #baseBuffers: number;
  #peakRss = 0;
  #peakBuffers = 0;
  #sinceGc = 0;

  constructor(gcEveryBytes = 16 * 1024 * 1024) {
    this.#gcEveryBytes = gcEveryBytes;
    gc();
    const m = process.memoryUsage();
    this.#baseRss = m.rss;
    this.#baseBuffers = m.arrayBuffers;
  }

  /** Call after each chunk; collects garbage every `gcEveryBytes` and samples. */
  tick(chunkBytes: number): void {
    this.#sinceGc += chunkBytes;
    if (this.#sinceGc < this.#gcEveryBytes) return;
    this.#sinceGc = 0;
    gc();
    this.sample();
  }

  sample(): void {
    const m = process.memoryUsage();
    this.#peakRss = Math.max(this.#peakRss, m.rss - this.#baseRss);
    this.#peakBuffers = Math.max(this.#peakBuffers, m.arrayBuffers - this.#baseBuffers);
  }

  /** Peak growth in bytes (the larger of RSS and ArrayBuffers growth). */
  get peakGrowth(): number {
    return Math.max(this.#peakRss, this.#peakBuffers);
  }

  describe(): string {
    const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
    return `peak RSS growth ${mib(this.#peakRss)}, peak ArrayBuffer growth ${mib(this.#peakBuffers)}`;
  }
}

/** Resolves after `ms` (no timers left behind). */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** An already-aborted signal. */
export function abortedSignal(): AbortSignal {
  const c = new AbortController();
  c.abort(new Error('aborted by the storage suite'));
  return c.signal;
}

/** `describe`, or `describe.skip` with the reason in the title when the caller skipped `group`. */
export function group(ctx: SuiteContext, name: StorageSuiteGroup, body: () => void): void {
  const reason = ctx.skipped(name);
  if (reason === undefined) describe(name, body);
  else describe.skip(`${name} (skipped: ${reason})`, body);
}
