import type { StorageBackend } from '@hadb/storage';
import { MemStorageBackend } from '@hadb/storage-mem';
import { generateHybridIdentity, generateX25519Identity, identityToRecipient } from 'age-encryption';
import { encryptedStorage, type EncryptedStorageBackend, type EncryptedStorageOptions } from '../src/index.js';

/** A fresh identity and its recipient. */
export interface KeyPair {
  readonly identity: string;
  readonly recipient: string;
}

export async function x25519Pair(): Promise<KeyPair> {
  const identity = await generateX25519Identity();
  return { identity, recipient: await identityToRecipient(identity) };
}

export async function hybridPair(): Promise<KeyPair> {
  const identity = await generateHybridIdentity();
  return { identity, recipient: await identityToRecipient(identity) };
}

/** The wrapper over `inner` with one key pair. */
export function encrypt(
  inner: StorageBackend,
  pair: KeyPair,
  extra: Partial<EncryptedStorageOptions> = {},
): Promise<EncryptedStorageBackend> {
  return encryptedStorage(inner, { recipients: [pair.recipient], identities: [pair.identity], ...extra });
}

/** Encrypted storage over a fresh in-memory backend. */
export async function memEncrypted(
  pair: KeyPair,
  extra: Partial<EncryptedStorageOptions> = {},
): Promise<EncryptedStorageBackend> {
  return encrypt(new MemStorageBackend(), pair, extra);
}

export const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'utf8'));
export const text = (data: Uint8Array | null | undefined): string | null =>
  data == null ? null : Buffer.from(data).toString('utf8');

/** The rejection of `p` (fails if it resolves). */
export async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection, but the promise resolved');
}
