import { createHmac, timingSafeEqual } from 'node:crypto';

/** Header carrying a webhook body's signature. */
export const SIGNATURE_HEADER = 'X-Hadb-Signature';

/**
 * `sha256=<hex HMAC-SHA256 of body keyed by secret>` — the value of {@link SIGNATURE_HEADER}, the
 * same shape the Rust `hadb-io` webhook sender writes, so one receiver verifies both.
 */
export function signWebhookBody(secret: string, body: string | Uint8Array): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * Whether `signature` (the header value) is the signature of `body` under `secret`, compared in
 * constant time. For receivers: verify the raw body bytes before parsing them.
 */
export function verifyWebhookSignature(
  secret: string,
  body: string | Uint8Array,
  signature: string | undefined | null,
): boolean {
  if (typeof signature !== 'string') return false;
  const expected = Buffer.from(signWebhookBody(secret, body));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
