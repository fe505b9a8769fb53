import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * Checks `Authorization: Bearer <token>` in constant time: both sides are hashed to 32 bytes
 * first, so neither the comparison nor its length check depends on the secret.
 */
export function bearerMatches(req: IncomingMessage, expectedDigest: Buffer): boolean {
  const header = req.headers.authorization;
  if (typeof header !== 'string') return false;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (m === null) return false;
  return timingSafeEqual(tokenDigest(m[1]!), expectedDigest);
}

/** SHA-256 of a token (what is kept in memory and compared). */
export function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

const LOOPBACK = /^(127(?:\.\d{1,3}){3}|::1|localhost|::ffff:127(?:\.\d{1,3}){3})$/i;

/** Whether binding `host` exposes the server only to this machine. */
export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.test(host.replace(/^\[|\]$/g, ''));
}
