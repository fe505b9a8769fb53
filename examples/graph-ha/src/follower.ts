import { JournalFollower, type JournalFollowerOptions, decodePayload } from '@hadb/graphstream';
import { type Graph, closeGraph, openGraph, run } from './graph.js';

/** A read replica: downloads the leader's journal and replays each statement into its own copy. */
export class GraphFollower {
  private constructor(
    readonly graph: Graph,
    readonly journal: JournalFollower,
  ) {}

  static async open(dbPath: string, journal: JournalFollowerOptions): Promise<GraphFollower> {
    return new GraphFollower(openGraph(dbPath), await JournalFollower.open(journal));
  }

  /** Downloads and replays everything new; resolves to the number of statements applied. */
  catchUp(): Promise<number> {
    return this.journal.catchUp(async (entry) => {
      const { query, params } = decodePayload(entry.payload);
      await run(this.graph, query, params);
    });
  }

  read(query: string): Promise<Record<string, unknown>[]> {
    return run(this.graph, query);
  }

  async close(): Promise<void> {
    await this.journal.close();
    await closeGraph(this.graph);
  }
}
