import type { NodeStatus } from './source.js';

/** One sample of one database on one node: `[wallMs, lagSeconds|null, shippedBytes, shippedSegments, appliedBytes, appliedSegments]`. */
export type HistoryPoint = [number, number | null, number | null, number | null, number | null, number | null];

/** The recorded samples of one database on one node. */
export interface HistorySeries {
  readonly node: string;
  readonly db: string;
  readonly points: HistoryPoint[];
}

/**
 * A bounded in-memory record of lag and shipping counters per node and database, for the status
 * page's plots. Keeps the samples of the last `windowMs`; rates are derived by the reader.
 */
export class History {
  readonly #series = new Map<string, HistorySeries>();
  readonly #windowMs: number;

  constructor(windowMs: number) {
    this.#windowMs = windowMs;
  }

  record(nodes: readonly NodeStatus[], wallMs: number): void {
    for (const node of nodes) {
      for (const d of node.databases) {
        const key = `${node.nodeId}\u0000${d.db}`;
        let s = this.#series.get(key);
        if (s === undefined) this.#series.set(key, (s = { node: node.nodeId, db: d.db, points: [] }));
        s.points.push([
          wallMs,
          d.lagSeconds ?? null,
          d.shippedBytes ?? null,
          d.shippedSegments ?? null,
          d.appliedBytes ?? null,
          d.appliedSegments ?? null,
        ]);
      }
    }
    const cutoff = wallMs - this.#windowMs;
    for (const [key, s] of this.#series) {
      let drop = 0;
      while (drop < s.points.length && s.points[drop]![0] < cutoff) drop++;
      if (drop > 0) s.points.splice(0, drop);
      if (s.points.length === 0) this.#series.delete(key);
    }
  }

  snapshot(): HistorySeries[] {
    return [...this.#series.values()].map((s) => ({ node: s.node, db: s.db, points: s.points.slice() }));
  }
}
