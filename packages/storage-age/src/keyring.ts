/**
 * The keys of one wrapper: recipients to encrypt to, identities to decrypt with. Parsing, header
 * creation, recipient wrapping and unwrapping (X25519 and the ML-KEM-768 + X25519 hybrid) and the
 * header MAC are all the `age-encryption` library's; this file only decides which keys are
 * acceptable together and turns the library's failures into typed errors.
 *
 * Key strings live in private fields and are never part of a message, `toString`, `inspect` or
 * JSON output.
 */
import { hkdfSync } from 'node:crypto';
import { configChecker, type ConfigChecker } from '@hadb/io';
import { Decrypter, Encrypter, identityToRecipient } from 'age-encryption';
import { BindingRecipient, bindingOf, checkBinding, headerStanzas } from './binding.js';
import { StorageAgeError, corrupt, invalidConfig } from './errors.js';
import { NONCE_BYTES, TAG_BYTES } from './layout.js';

/** Kinds of recipient the wrapper encrypts to. */
export type RecipientKind = 'x25519' | 'hybrid';

/** A freshly sealed object header: its bytes, payload nonce and derived payload key. */
export interface SealedHeader {
  readonly header: Uint8Array;
  readonly nonce: Uint8Array;
  readonly streamKey: Buffer;
}

const check: ConfigChecker = configChecker(invalidConfig);

function recipientKind(recipient: string): RecipientKind | 'tag' | undefined {
  if (recipient.startsWith('age1pq1')) return 'hybrid';
  if (recipient.startsWith('age1tag')) return 'tag';
  if (recipient.startsWith('age1')) return 'x25519';
  return undefined;
}

/** The payload key: HKDF-SHA-256(file key, salt = nonce, info = "payload"), as in the age format. */
export function payloadKey(fileKey: Uint8Array, nonce: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', fileKey, nonce, 'payload', 32));
}

/**
 * Splits the text of an age identity file (`age-keygen` output) into identity strings: one per
 * line, `#` comments and blank lines skipped.
 */
export function parseIdentities(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0 && !line.startsWith('#'));
}

export class KeyRing {
  readonly #recipients: readonly string[];
  /** One decrypter for every read, so identities are parsed (and their public halves derived) once. */
  readonly #decrypter: Decrypter;
  /** Kind of every recipient (all the same kind). */
  readonly kind: RecipientKind;
  readonly recipientCount: number;
  readonly identityCount: number;

  private constructor(recipients: readonly string[], identities: readonly string[], kind: RecipientKind) {
    this.#recipients = recipients;
    this.#decrypter = new Decrypter();
    for (const id of identities) this.#decrypter.addIdentity(id);
    this.kind = kind;
    this.recipientCount = recipients.length;
    this.identityCount = identities.length;
  }

  /**
   * Validates the keys (throwing `HADB_STORAGE_AGE_INVALID_CONFIG` naming the option and index,
   * never the value): at least one recipient and one identity; recipients all X25519 (`age1…`) or
   * all hybrid post-quantum (`age1pq1…`), since mixing would let a quantum attacker read what the
   * hybrid keys protect; identities `AGE-SECRET-KEY-1…` or `AGE-SECRET-KEY-PQ-1…`; and at least one
   * recipient must belong to one of the identities, so the wrapper can read what it writes.
   */
  static async create(recipients: unknown, identities: unknown): Promise<KeyRing> {
    check.require(
      Array.isArray(recipients) && recipients.length > 0,
      'recipients must be a non-empty array of age recipients (encryption cannot be turned on without one)',
    );
    check.require(
      Array.isArray(identities) && identities.length > 0,
      'identities must be a non-empty array of age identities',
    );
    const recips = (recipients as unknown[]).map((r, i) => {
      check.require(typeof r === 'string' && r.trim().length > 0, `recipients[${i}] must be a non-empty string`);
      return (r as string).trim();
    });
    const kinds = new Set<RecipientKind>();
    recips.forEach((r, i) => {
      const kind = recipientKind(r);
      if (kind === 'tag')
        check.fail(
          `recipients[${i}] is a tag (hardware) recipient; only X25519 and hybrid post-quantum recipients are supported`,
        );
      if (kind === undefined) check.fail(`recipients[${i}] is not an age recipient (expected age1… or age1pq1…)`);
      try {
        new Encrypter().addRecipient(r);
      } catch {
        check.fail(
          `recipients[${i}] is not a valid age ${kind === 'hybrid' ? 'hybrid post-quantum' : 'X25519'} recipient`,
        );
      }
      kinds.add(kind);
    });
    if (kinds.size > 1) {
      check.fail(
        'recipients mix X25519 and hybrid post-quantum keys; use one kind (rotate by writing to the new kind and keeping the old identity for reads)',
      );
    }
    const ids = (identities as unknown[]).map((id, i) => {
      check.require(typeof id === 'string' && id.trim().length > 0, `identities[${i}] must be a non-empty string`);
      return (id as string).trim();
    });
    const own = new Set<string>();
    for (const [i, id] of ids.entries()) {
      if (!id.startsWith('AGE-SECRET-KEY-1') && !id.startsWith('AGE-SECRET-KEY-PQ-1')) {
        check.fail(`identities[${i}] is not an age identity (expected AGE-SECRET-KEY-1… or AGE-SECRET-KEY-PQ-1…)`);
      }
      try {
        own.add(await identityToRecipient(id));
      } catch {
        check.fail(`identities[${i}] is not a valid age identity`);
      }
    }
    if (!recips.some((r) => own.has(r))) {
      check.fail('no recipient belongs to any of the identities: the wrapper could not read what it writes');
    }
    const [kind] = kinds;
    return new KeyRing(Object.freeze([...recips]), Object.freeze([...ids]), kind as RecipientKind);
  }

  /**
   * Creates the header of a new object at `key`: a fresh file key wrapped to every recipient, the
   * binding stanza, the MAC, a fresh payload nonce, and the payload key derived from them.
   */
  async seal(key: string): Promise<SealedHeader> {
    const encrypter = new Encrypter();
    for (const r of this.#recipients) encrypter.addRecipient(r);
    const binding = new BindingRecipient(bindingOf(key));
    encrypter.addRecipient(binding);
    // The library writes header ‖ nonce ‖ the one (empty, final) payload chunk of an empty file.
    const empty = await encrypter.encrypt(new Uint8Array(0));
    const headerEnd = empty.length - NONCE_BYTES - TAG_BYTES;
    const fileKey = binding.takeFileKey();
    const header = empty.slice(0, headerEnd);
    const nonce = empty.slice(headerEnd, headerEnd + NONCE_BYTES);
    const streamKey = payloadKey(fileKey, nonce);
    fileKey.fill(0);
    return { header, nonce, streamKey };
  }

  /**
   * Opens the header of the object read at `key` and returns its payload key. The library parses
   * the header, unwraps the file key with the first identity that matches and verifies the MAC;
   * then the binding (read from the verified header) must name `key` (or be absent, when
   * `acceptUnbound`).
   */
  async open(key: string, header: Uint8Array, nonce: Uint8Array, acceptUnbound: boolean): Promise<Buffer> {
    let fileKey: Uint8Array;
    try {
      fileKey = await this.#decrypter.decryptHeader(header);
    } catch (error) {
      const message = error instanceof Error ? error.message : '';
      if (message.includes('no identity matched')) {
        throw new StorageAgeError(
          'HADB_STORAGE_AGE_WRONG_KEY',
          `object ${JSON.stringify(key)}: none of the ${this.identityCount} configured identities opens it`,
        );
      }
      throw corrupt(
        key,
        `age header failed verification (${message.includes('HMAC') ? 'MAC mismatch' : 'malformed header'})`,
        error,
      );
    }
    try {
      const state = checkBinding(headerStanzas(header), key);
      if (state === 'mismatch') {
        throw new StorageAgeError(
          'HADB_STORAGE_AGE_KEY_MISMATCH',
          `object ${JSON.stringify(key)} is bound to another object key (copied or moved inside the bucket)`,
        );
      }
      if (state === 'malformed') throw corrupt(key, 'malformed key-binding stanza');
      if (state === 'unbound' && !acceptUnbound) {
        throw new StorageAgeError(
          'HADB_STORAGE_AGE_UNBOUND',
          `object ${JSON.stringify(key)} has no key binding (encrypted by another age client); set acceptUnbound to read such objects`,
        );
      }
      return payloadKey(fileKey, nonce);
    } finally {
      fileKey.fill(0);
    }
  }

  toString(): string {
    return `KeyRing(${this.recipientCount} ${this.kind} recipient(s), ${this.identityCount} identity(ies))`;
  }

  toJSON(): Record<string, unknown> {
    return { kind: this.kind, recipients: this.recipientCount, identities: this.identityCount };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}
