import { JournalShipper, type JournalShipperOptions, type ParamEntry } from '@hadb/graphstream';
import type { GraphFollower } from './follower.js';
import { type Graph, closeGraph, openGraph, run } from './graph.js';

/**
 * The writer: applies each Cypher statement to its own Kuzu database, then journals it. A write
 * is acknowledged (the promise resolves) once it is applied locally and its journal entry is
 * durable on disk; `sync()` waits until it is in object storage too.
 */
export class GraphLeader {
  private constructor(
    readonly graph: Graph,
    readonly journal: JournalShipper,
  ) {}

  static async open(dbPath: string, journal: JournalShipperOptions): Promise<GraphLeader> {
    return new GraphLeader(openGraph(dbPath), await JournalShipper.open(journal));
  }

  /**
   * Takes over from a follower that has caught up: its graph stays, its journal directory (the
   * writer's layout) continues as the writer's, so new entries follow the replayed ones.
   */
  static async promote(follower: GraphFollower, journal: JournalShipperOptions): Promise<GraphLeader> {
    await follower.journal.close();
    return new GraphLeader(follower.graph, await JournalShipper.open(journal));
  }

  /** Applies and journals a mutation; rejects (and journals nothing) if the engine rejects it. */
  async write(query: string, params: readonly ParamEntry[] = []): Promise<bigint> {
    await run(this.graph, query, params);
    return (await this.journal.appendQuery(query, params)).seq;
  }

  /** Reads never touch the journal. */
  read(query: string, params: readonly ParamEntry[] = []): Promise<Record<string, unknown>[]> {
    return run(this.graph, query, params);
  }

  sync(): Promise<void> {
    return this.journal.sync();
  }

  async close(): Promise<void> {
    await this.journal.close();
    await closeGraph(this.graph);
  }
}
