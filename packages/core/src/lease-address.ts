import { createHmac, timingSafeEqual } from 'node:crypto';

/** Marks the authentication tag appended to a lease record's address (a URL fragment). */
const TAG = '#hadb-mac=';

function mac(key: string, db: string, sessionId: string, epoch: number, address: string): string {
  return createHmac('sha256', key)
    .update(`hadb-lease-address\n${db}\n${sessionId}\n${epoch}\n${address}`)
    .digest('base64url');
}

/**
 * The address to write into a lease record: with `key`, `address#hadb-mac=<HMAC-SHA256>` binding
 * it to the database, session and epoch of the claim (a URL fragment: HTTP clients never send it).
 * Without `key`, the address as is.
 */
export function sealAddress(
  key: string | undefined,
  db: string,
  sessionId: string,
  epoch: number,
  address: string,
): string {
  if (key === undefined || address === '') return address;
  return `${address}${TAG}${mac(key, db, sessionId, epoch, address)}`;
}

/**
 * The address a record's holder may be reached at. Without `key`: the recorded address (minus any
 * tag). With `key`: the address only when its tag verifies for the record's database, session and
 * epoch; otherwise `undefined` — a record written by anyone without the key (a forged one) is
 * never sent writes or the forwarding secret.
 */
export function openAddress(
  key: string | undefined,
  db: string,
  sessionId: string,
  epoch: number,
  recorded: string,
): string | undefined {
  const at = recorded.lastIndexOf(TAG);
  const address = at < 0 ? recorded : recorded.slice(0, at);
  if (key === undefined) return address;
  if (at < 0) return undefined;
  const given = Buffer.from(recorded.slice(at + TAG.length));
  const expected = Buffer.from(mac(key, db, sessionId, epoch, address));
  return given.length === expected.length && timingSafeEqual(given, expected) ? address : undefined;
}
