import type { DatabaseStatus, NodeStatus } from './source.js';

/** Why a database is (not) ready. */
export interface Readiness {
  readonly ready: boolean;
  readonly reason: string;
}

/**
 * `/ready` for one database: a leader is ready while it holds a valid lease (`leaseValid`); a
 * follower or client while its `lagSeconds` is known and at most `maxLagSeconds`; a database
 * that is not joined is not ready.
 */
export function databaseReadiness(d: DatabaseStatus, maxLagSeconds: number): Readiness {
  switch (d.role) {
    case 'leader':
      return d.leaseValid === false
        ? { ready: false, reason: 'leader without a valid lease' }
        : { ready: true, reason: 'leader holding its lease' };
    case 'follower':
    case 'client':
      if (d.lagSeconds === null || d.lagSeconds === undefined) return { ready: false, reason: 'lag unknown' };
      return d.lagSeconds <= maxLagSeconds
        ? { ready: true, reason: `lag ${d.lagSeconds.toFixed(1)} s within ${maxLagSeconds} s` }
        : { ready: false, reason: `lag ${d.lagSeconds.toFixed(1)} s above ${maxLagSeconds} s` };
    default:
      return { ready: false, reason: 'not joined' };
  }
}

/** A node is ready when it has joined at least one database and every database is ready. */
export function nodeReadiness(node: NodeStatus, maxLagSeconds: number): Readiness {
  if (node.databases.length === 0) return { ready: false, reason: 'no database joined' };
  for (const d of node.databases) {
    const r = databaseReadiness(d, maxLagSeconds);
    if (!r.ready) return { ready: false, reason: `${d.db}: ${r.reason}` };
  }
  return { ready: true, reason: 'every database ready' };
}
