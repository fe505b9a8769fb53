/**
 * The object-key binding: every object the wrapper writes carries one extra header stanza,
 * `-> hadb.storage-age/key <base64 SHA-256 of the object key>`, with an empty body. The age header
 * MAC (HMAC keyed from the file key) covers every stanza, so the binding cannot be changed or
 * removed without the file key; an object copied to another key still opens, but its binding then
 * names the wrong key and the read fails with `HADB_STORAGE_AGE_KEY_MISMATCH`.
 *
 * Age identities skip stanzas of types they do not know, so any age client (the `age` CLI
 * included) decrypts these objects and outputs exactly the stored plaintext.
 */
import { createHash } from 'node:crypto';
import { Stanza, type Recipient } from 'age-encryption';

/** Stanza type of the binding (first argument of the stanza line). */
export const BINDING_STANZA = 'hadb.storage-age/key';

const DOMAIN = 'hadb storage-age key binding v1\n';

/** The binding argument for `key`: unpadded base64 of SHA-256(domain ‖ UTF-8 key). */
export function bindingOf(key: string): string {
  return createHash('sha256').update(DOMAIN).update(key, 'utf8').digest('base64').replace(/=+$/, '');
}

/**
 * A recipient that adds the binding stanza and keeps the file key it was handed, so the payload
 * can be encrypted with it (see `payload.ts`). One instance per encrypted object.
 */
export class BindingRecipient implements Recipient {
  #fileKey: Uint8Array | undefined;

  constructor(private readonly binding: string) {}

  wrapFileKey(fileKey: Uint8Array): Stanza[] {
    this.#fileKey = Uint8Array.from(fileKey);
    return [new Stanza([BINDING_STANZA, this.binding], new Uint8Array(0))];
  }

  /** The captured file key (once `wrapFileKey` ran). */
  takeFileKey(): Uint8Array {
    const key = this.#fileKey;
    if (key === undefined) throw new Error('age Encrypter did not wrap the file key for the binding recipient');
    this.#fileKey = undefined;
    return key;
  }
}

/** One stanza of a header: its arguments (after `->`) and its base64 body lines. */
export interface StanzaLines {
  readonly args: readonly string[];
  readonly body: readonly string[];
}

/**
 * The stanzas of an age header, read line by line. Only meaningful on a header whose MAC the
 * library has verified: then these lines are exactly what the writer wrote (stanza lines start
 * with `"-> "`; body lines are base64 and never do).
 */
export function headerStanzas(header: Uint8Array): StanzaLines[] {
  const lines = Buffer.from(header.buffer, header.byteOffset, header.byteLength).toString('latin1').split('\n');
  const out: { args: string[]; body: string[] }[] = [];
  for (const line of lines.slice(1)) {
    if (line.startsWith('---')) break;
    if (line.startsWith('-> ')) out.push({ args: line.slice(3).split(' '), body: [] });
    else out[out.length - 1]?.body.push(line);
  }
  return out;
}

/** What the (MAC-verified) stanzas say about the binding. */
export type BindingState = 'bound' | 'unbound' | 'mismatch' | 'malformed';

/** Compares the header's binding stanza(s) with `key`. */
export function checkBinding(stanzas: readonly StanzaLines[], key: string): BindingState {
  const found = stanzas.filter((s) => s.args[0] === BINDING_STANZA);
  if (found.length === 0) return 'unbound';
  const [stanza] = found;
  if (found.length > 1 || stanza === undefined || stanza.args.length !== 2 || stanza.body.join('') !== '')
    return 'malformed';
  return stanza.args[1] === bindingOf(key) ? 'bound' : 'mismatch';
}
