import { ChangesetError } from './errors.js';

/** Limits applied to zstd input before any decoder allocates for it. */
export interface ZstdLimits {
  /** Largest accepted window (the decoder allocates this much per frame). */
  readonly maxWindowBytes: number;
  /** Largest accepted decompressed size (declared frame sizes are checked against it). */
  readonly maxOutputBytes: number;
}

const ZSTD_MAGIC = 0xfd2fb528;
const BLOCK_MAX = 128 * 1024;

const enum State {
  Magic,
  FrameHeader,
  SkipSize,
  Skip,
  BlockHeader,
  BlockContent,
  Checksum,
}

function invalid(reason: string): ChangesetError {
  return ChangesetError.io(new Error(reason), `zstd: ${reason}`);
}

function limit(reason: string): ChangesetError {
  return new ChangesetError('HADB_CHANGESET_LIMIT_EXCEEDED', `zstd: ${reason}`);
}

/**
 * Walks the frame and block structure of a zstd stream (RFC 8878) without decompressing, so
 * that forged headers are rejected before the decompressor sees them: unknown magic, reserved
 * bits, dictionaries, windows above `maxWindowBytes`, declared content above `maxOutputBytes`,
 * reserved block types and oversized blocks. Feed the same chunks, in order, that go to the
 * decompressor, each before it goes there.
 */
export class ZstdFrameScanner {
  #state = State.Magic;
  #need = 4; // bytes wanted for the current fixed-size field
  readonly #field = new Uint8Array(18);
  #have = 0;
  #skip = 0; // bytes left to pass over (skippable frame, block content)
  readonly #limits: ZstdLimits;
  #lastBlock = false;
  #checksumFlag = false;
  #fhd = 0;
  /** Bytes scanned. */
  position = 0;

  constructor(limits: ZstdLimits) {
    this.#limits = limits;
  }

  /**
   * Scans the next chunk; throws `HADB_CHANGESET_IO` / `LIMIT_EXCEEDED` on a bad structure. When
   * `blockEnds` is given, the offset within `chunk` just past each block that ends in it is
   * appended to it (a block decompresses to at most 128 KiB).
   */
  push(chunk: Uint8Array, blockEnds?: number[]): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.#state === State.Skip || this.#state === State.BlockContent) {
        const block = this.#state === State.BlockContent;
        const m = Math.min(this.#skip, n - i);
        this.#skip -= m;
        i += m;
        if (this.#skip === 0) {
          if (block) blockEnds?.push(i);
          this.#afterSkip();
        }
        continue;
      }
      const m = Math.min(this.#need - this.#have, n - i);
      this.#field.set(chunk.subarray(i, i + m), this.#have);
      this.#have += m;
      i += m;
      if (this.#have === this.#need) {
        const wasHeader = this.#state === State.BlockHeader;
        this.#onField();
        // An empty raw or compressed block has no content: it ends with its header.
        if (wasHeader && (this.#state as State) !== State.BlockContent) blockEnds?.push(i);
      }
    }
    this.position += n;
  }

  /** Call at the end of input: throws if the input stopped inside a frame. */
  end(): void {
    if (this.#state !== State.Magic || this.#have !== 0) throw invalid('input ends inside a frame');
  }

  #expect(state: State, need: number): void {
    this.#state = state;
    this.#need = need;
    this.#have = 0;
  }

  #afterSkip(): void {
    if (this.#state === State.Skip) this.#expect(State.Magic, 4);
    else this.#afterBlock();
  }

  #afterBlock(): void {
    if (!this.#lastBlock) this.#expect(State.BlockHeader, 3);
    else if (this.#checksumFlag) this.#expect(State.Checksum, 4);
    else this.#expect(State.Magic, 4);
  }

  #onField(): void {
    const f = this.#field;
    switch (this.#state) {
      case State.Magic: {
        const magic =
          ((f[0] as number) | ((f[1] as number) << 8) | ((f[2] as number) << 16) | ((f[3] as number) << 24)) >>> 0;
        if (magic === ZSTD_MAGIC) {
          this.#expect(State.FrameHeader, 1);
        } else if (magic >>> 4 === 0x184d2a5) {
          this.#expect(State.SkipSize, 4);
        } else {
          throw invalid('unknown frame magic');
        }
        return;
      }
      case State.SkipSize: {
        this.#skip =
          ((f[0] as number) | ((f[1] as number) << 8) | ((f[2] as number) << 16) | ((f[3] as number) << 24)) >>> 0;
        this.#state = State.Skip;
        if (this.#skip === 0) this.#expect(State.Magic, 4);
        return;
      }
      case State.FrameHeader: {
        if (this.#need === 1) {
          const fhd = f[0] as number;
          if (fhd & 0x08) throw invalid('reserved frame header bit set');
          this.#fhd = fhd;
          const single = (fhd >> 5) & 1;
          const didSize = [0, 1, 2, 4][fhd & 3] as number;
          const fcsFlag = fhd >> 6;
          const fcsSize = fcsFlag === 0 ? single : ([0, 2, 4, 8][fcsFlag] as number);
          const rest = (single ? 0 : 1) + didSize + fcsSize;
          if (rest > 0) {
            this.#need = 1 + rest;
            return;
          }
        }
        this.#frameHeader();
        return;
      }
      case State.BlockHeader: {
        const h = (f[0] as number) | ((f[1] as number) << 8) | ((f[2] as number) << 16);
        this.#lastBlock = (h & 1) === 1;
        const type = (h >> 1) & 3;
        const size = h >>> 3;
        if (type === 3) throw invalid('reserved block type');
        if (size > BLOCK_MAX) throw invalid('block larger than 128 KiB');
        this.#skip = type === 1 ? 1 : size;
        this.#state = State.BlockContent;
        this.#have = 0;
        if (this.#skip === 0) this.#afterBlock();
        return;
      }
      case State.Checksum:
        this.#expect(State.Magic, 4);
        return;
      default:
        return;
    }
  }

  #frameHeader(): void {
    const f = this.#field;
    const fhd = this.#fhd;
    const single = (fhd >> 5) & 1;
    this.#checksumFlag = ((fhd >> 2) & 1) === 1;
    const didSize = [0, 1, 2, 4][fhd & 3] as number;
    const fcsFlag = fhd >> 6;
    const fcsSize = fcsFlag === 0 ? single : ([0, 2, 4, 8][fcsFlag] as number);
    let pos = 1;
    let window = 0;
    if (!single) {
      const wd = f[pos++] as number;
      const base = 2 ** (10 + (wd >> 3));
      window = base + (base / 8) * (wd & 7);
    }
    let dict = 0;
    for (let k = 0; k < didSize; k++) dict += (f[pos++] as number) * 2 ** (8 * k);
    if (dict !== 0) throw invalid('dictionaries are not supported');
    let fcs = -1;
    if (fcsSize > 0) {
      fcs = 0;
      for (let k = 0; k < fcsSize; k++) fcs += (f[pos++] as number) * 2 ** (8 * k);
      if (fcsSize === 2) fcs += 256;
    }
    if (single) window = fcs;
    if (window > this.#limits.maxWindowBytes) {
      throw limit(`window of ${window} bytes exceeds the limit of ${this.#limits.maxWindowBytes}`);
    }
    if (fcs > this.#limits.maxOutputBytes) {
      throw limit(`declared content of ${fcs} bytes exceeds the limit of ${this.#limits.maxOutputBytes}`);
    }
    this.#expect(State.BlockHeader, 3);
  }
}
