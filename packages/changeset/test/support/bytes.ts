/** Hex helpers for tests. */
export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');
}

export function unhex(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text.replace(/[^0-9a-f]/gi, ''), 'hex'));
}

export function ascii(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'latin1'));
}

export function fill(byte: number, length: number): Uint8Array {
  return new Uint8Array(length).fill(byte);
}

/** Splits `data` into chunks of the given sizes, cycling through `sizes`. */
export function chunked(data: Uint8Array, sizes: readonly number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let i = 0;
  for (let k = 0; i < data.length; k++) {
    const n = Math.max(1, sizes[k % sizes.length] ?? 1);
    out.push(data.slice(i, i + n));
    i += n;
  }
  return out;
}

export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

/** Fast byte equality (vitest's deep equality walks typed arrays element by element). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

/** Page lists equal by id and bytes. */
export function samePages(
  a: readonly { pageId: bigint; data: Uint8Array }[],
  b: readonly { pageId: bigint; data: Uint8Array }[],
): boolean {
  return a.length === b.length && a.every((p, i) => p.pageId === b[i]?.pageId && sameBytes(p.data, b[i].data));
}
