import { createRequire } from 'node:module';
import * as zlib from 'node:zlib';
import { Decompress } from 'fzstd';
import { ChunkReader, type ByteSource } from './byte-source.js';
import { throwIfAborted, type OpOptions } from '@hadb/io';
import { ChangesetError, changesetAborted } from './errors.js';
import { ZstdFrameScanner } from './zstd-frames.js';

/** Default cap on decompressed output: 1 GiB. */
export const DEFAULT_MAX_DECOMPRESSED_BYTES = 1024 * 1024 * 1024;
/** Default cap on a frame's window: 32 MiB (also the longest match distance `fzstd` supports). */
export const DEFAULT_MAX_WINDOW_BYTES = 32 * 1024 * 1024;

/** Options of the zstd decompressors. */
export interface ZstdDecompressOptions extends OpOptions {
  /** Output beyond this many bytes is `HADB_CHANGESET_LIMIT_EXCEEDED` (default 1 GiB). */
  readonly maxOutputBytes?: number | undefined;
  /** Frames declaring a larger window are `HADB_CHANGESET_LIMIT_EXCEEDED` (default 32 MiB). */
  readonly maxWindowBytes?: number | undefined;
}

/** Options of the zstd compressors. */
export interface ZstdCompressOptions extends OpOptions {
  /** zstd level, 1-22 (default 3, as graphstream). */
  readonly level?: number | undefined;
}

type NodeZstd = typeof zlib & {
  zstdCompressSync?: (data: Uint8Array, options: { params: Record<number, number> }) => Buffer;
};
const nodeZlib = zlib as NodeZstd;
const nodeLevelParam = (zlib.constants as unknown as Record<string, number>)['ZSTD_c_compressionLevel'];
const hasNodeZstd = typeof nodeZlib.zstdCompressSync === 'function' && typeof nodeLevelParam === 'number';

/**
 * Which code does the work: compression uses `node:zlib` where it has zstd (Node >= 22.15) and
 * the `@bokuweb/zstd-wasm` build of libzstd otherwise; decompression always uses `fzstd`
 * (pure JS, streaming) behind {@link ZstdFrameScanner}, for the same bounded behaviour everywhere.
 */
export const zstdImplementation = {
  compress: hasNodeZstd ? 'node:zlib' : '@bokuweb/zstd-wasm',
  decompress: 'fzstd',
} as const;

interface WasmZstd {
  init(): Promise<void>;
  compress(data: Uint8Array, level?: number): Uint8Array;
}
let wasm: Promise<WasmZstd> | undefined;

function loadWasm(): Promise<WasmZstd> {
  wasm ??= (async () => {
    const mod = createRequire(import.meta.url)('@bokuweb/zstd-wasm') as WasmZstd;
    await mod.init();
    return mod;
  })();
  return wasm;
}

function checkLevel(level: number): number {
  if (!Number.isInteger(level) || level < 1 || level > 22) {
    throw ChangesetError.invalidArgument('zstd level must be an integer in [1, 22]');
  }
  return level;
}

/** Compresses `data` into one standard zstd frame (with its content size). */
export async function zstdCompress(data: Uint8Array, options: ZstdCompressOptions = {}): Promise<Uint8Array> {
  const level = checkLevel(options.level ?? 3);
  throwIfAborted(options.signal, changesetAborted);
  try {
    if (hasNodeZstd) {
      const out = (nodeZlib.zstdCompressSync as NonNullable<NodeZstd['zstdCompressSync']>)(data, {
        params: { [nodeLevelParam as number]: level },
      });
      return new Uint8Array(out.buffer, out.byteOffset, out.length);
    }
    const codec = await loadWasm();
    return codec.compress(data, level);
  } catch (err) {
    throw ChangesetError.io(err, `zstd compression failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * Compresses a stream chunk by chunk, one independent zstd frame per input chunk. The
 * concatenation is a valid zstd stream for any standard decoder (`zstd -d`, libzstd, fzstd).
 */
export async function* zstdCompressStream(
  source: ByteSource,
  options: ZstdCompressOptions = {},
): AsyncGenerator<Uint8Array> {
  const reader = new ChunkReader(source, options.signal);
  try {
    while ((await reader.fill(1)) > 0) {
      yield await zstdCompress(reader.take(reader.available), options);
    }
  } finally {
    await reader.close();
  }
}

/** Blocks fed to the decoder between two hand-overs of its output (at most 1 MiB of output). */
const BLOCKS_PER_STEP = 8;

/**
 * Incremental decompressor: push compressed chunks, receive decompressed chunks. The decoder is
 * fed a few blocks at a time, so however well a chunk compresses, what it produced is handed over
 * in steps of at most {@link BLOCKS_PER_STEP} blocks (1 MiB).
 */
class Inflater {
  readonly #maxOutput: number;
  readonly #scanner: ZstdFrameScanner;
  readonly #inner: Decompress;
  #out: Uint8Array[] = [];
  #total = 0;

  constructor(maxOutput: number, maxWindow: number) {
    this.#maxOutput = maxOutput;
    this.#scanner = new ZstdFrameScanner({ maxOutputBytes: maxOutput, maxWindowBytes: maxWindow });
    this.#inner = new Decompress((chunk) => {
      if (chunk.length === 0) return;
      this.#total += chunk.length;
      if (this.#total > this.#maxOutput) {
        throw new ChangesetError(
          'HADB_CHANGESET_LIMIT_EXCEEDED',
          `zstd: output exceeds the limit of ${this.#maxOutput} bytes`,
        );
      }
      this.#out.push(chunk);
    });
  }

  /** Pushes a chunk (`final` for the last); yields what it produces, one step at a time. */
  *push(chunk: Uint8Array, final: boolean): Generator<Uint8Array[]> {
    const blockEnds: number[] = [];
    this.#guard(() => {
      this.#scanner.push(chunk, blockEnds);
      if (final) this.#scanner.end();
    });
    let start = 0;
    for (let k = BLOCKS_PER_STEP - 1; k < blockEnds.length; k += BLOCKS_PER_STEP) {
      const end = blockEnds[k] as number;
      if (end === chunk.length) break;
      this.#guard(() => this.#inner.push(chunk.subarray(start, end), false));
      start = end;
      yield this.#take();
    }
    if (start < chunk.length || final) this.#guard(() => this.#inner.push(chunk.subarray(start), final));
    yield this.#take();
  }

  #take(): Uint8Array[] {
    const produced = this.#out;
    this.#out = [];
    return produced;
  }

  #guard(step: () => void): void {
    try {
      step();
    } catch (err) {
      if (err instanceof ChangesetError) throw err;
      throw ChangesetError.io(err, `zstd: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

function limits(options: ZstdDecompressOptions): [number, number] {
  return [options.maxOutputBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES, options.maxWindowBytes ?? DEFAULT_MAX_WINDOW_BYTES];
}

/**
 * Decompresses a complete zstd stream (one or more frames, skippable frames allowed). Corrupt
 * input is `HADB_CHANGESET_IO`; a window or output over the limits is `LIMIT_EXCEEDED`, raised
 * before the memory is allocated. Never throws anything but {@link ChangesetError}.
 */
export function zstdDecompress(data: Uint8Array, options: ZstdDecompressOptions = {}): Uint8Array {
  const [maxOutput, maxWindow] = limits(options);
  const parts = [...new Inflater(maxOutput, maxWindow).push(data, true)].flat();
  if (parts.length === 1) return parts[0] as Uint8Array;
  return Buffer.concat(parts);
}

/**
 * Streaming decompression with bounded memory (one window, one input chunk, and at most 1 MiB
 * of output not yet taken by the consumer, however well the input compresses): yields
 * decompressed chunks as they become available and ends only after the whole input was a
 * well-formed zstd stream.
 */
export async function* zstdDecompressStream(
  source: ByteSource,
  options: ZstdDecompressOptions = {},
): AsyncGenerator<Uint8Array> {
  const [maxOutput, maxWindow] = limits(options);
  const inflater = new Inflater(maxOutput, maxWindow);
  const reader = new ChunkReader(source, options.signal);
  try {
    for (;;) {
      const got = await reader.fill(1);
      const chunk = got > 0 ? reader.take(reader.available) : new Uint8Array(0);
      for (const step of inflater.push(chunk, got === 0)) yield* step;
      if (got === 0) return;
    }
  } finally {
    await reader.close();
  }
}
