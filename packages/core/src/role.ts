/**
 * A node's role for one database.
 * - `leader`: holds the lease; the only node that may write and replicate.
 * - `follower`: applies the leader's segments and may be promoted.
 * - `client`: read-only replica that never claims the lease.
 */
export type Role = 'leader' | 'follower' | 'client';

/** Rust `Role::to_u8` codes (Leader=0, Follower=1, Client=2). */
export const ROLE_CODES: Readonly<Record<Role, number>> = Object.freeze({ leader: 0, follower: 1, client: 2 });
