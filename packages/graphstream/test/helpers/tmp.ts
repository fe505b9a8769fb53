import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';

const dirs: string[] = [];

/** A fresh temporary directory, removed after the test. */
export async function tempDir(label = 'gs'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `hadb-${label}-`));
  dirs.push(dir);
  return dir;
}

afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

/** Payload bytes `query_{n}` as in the upstream vectors. */
export function q(n: number | bigint): Uint8Array {
  return new TextEncoder().encode(`query_${n}`);
}

export const text = (b: Uint8Array): string => new TextDecoder().decode(b);
