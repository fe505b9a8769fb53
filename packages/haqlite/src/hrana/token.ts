/** The check of the token a Hrana client presents (a bearer header over HTTP, `hello` over WebSocket). */
import { createHash, timingSafeEqual } from 'node:crypto';

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * Whether a presented token is `token`, compared in constant time on SHA-256 digests (so neither
 * the content nor the length leaks); every token passes when `token` is `undefined`.
 */
export function tokenCheck(token: string | undefined): (given: string | undefined) => boolean {
  if (token === undefined) return () => true;
  const want = digest(token);
  return (given) => given !== undefined && timingSafeEqual(digest(given), want);
}
