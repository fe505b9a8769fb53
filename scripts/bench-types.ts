/** One measured value in bench/results.json. */
export interface BenchRow {
  readonly suite: string;
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly note?: string;
}

/** Handed to each `bench/*.bench.ts` module's `run(ctx)`. */
export interface BenchContext {
  readonly suite: string;
  /** Records one row; ratios measured in the same run should be recorded as rows too. */
  record(name: string, value: number, unit: string, note?: string): void;
}
