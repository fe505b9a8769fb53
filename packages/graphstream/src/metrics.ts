/** Names of the counters kept by {@link GraphstreamMetrics}. */
export const METRIC_NAMES = [
  'entries_written',
  'entry_bytes_written',
  'fsyncs',
  'segments_sealed',
  'uploads',
  'upload_bytes',
  'upload_errors',
  'downloads',
  'download_bytes',
  'download_errors',
  'entries_replayed',
  'compactions',
  'compaction_errors',
  'cache_files_deleted',
  'errors',
] as const;

/** One counter name. */
export type MetricName = (typeof METRIC_NAMES)[number];

const HELP: Record<MetricName, string> = {
  entries_written: 'Journal entries appended and acknowledged (fsynced)',
  entry_bytes_written: 'Encoded entry bytes appended and acknowledged',
  fsyncs: 'fsync calls made by the journal writer',
  segments_sealed: 'Journal segments sealed (zstd-compressed, chain-hash trailer)',
  uploads: 'Sealed segments uploaded (or found already present with identical content)',
  upload_bytes: 'Bytes of uploaded segments',
  upload_errors: 'Failed segment uploads (the segment stays pending and is retried)',
  downloads: 'Segments downloaded and verified',
  download_bytes: 'Bytes of downloaded segments',
  download_errors: 'Failed or rejected segment downloads',
  entries_replayed: 'Entries handed to a replay callback',
  compactions: 'Compacted segments written',
  compaction_errors: 'Failed compaction runs',
  cache_files_deleted: 'Uploaded local segments removed by cache cleanup',
  errors: 'Errors of any kind reported by graphstream components',
};

/**
 * Monotonic counters shared by the writer, uploader, downloader and compactor. Pass one instance
 * to every component of a database to get a single view; `toPrometheus()` renders the text
 * exposition format (every counter as `hadb_graphstream_<name>_total`).
 */
export class GraphstreamMetrics {
  readonly #values = new Map<MetricName, number>(METRIC_NAMES.map((n) => [n, 0]));

  /** Adds `by` (default 1) to a counter. */
  inc(name: MetricName, by = 1): void {
    this.#values.set(name, (this.#values.get(name) ?? 0) + by);
  }

  /** Current value of one counter. */
  get(name: MetricName): number {
    return this.#values.get(name) ?? 0;
  }

  /** A copy of every counter. */
  snapshot(): Record<MetricName, number> {
    return Object.fromEntries(this.#values) as Record<MetricName, number>;
  }

  /**
   * Prometheus text exposition (version 0.0.4). `labels` are added to every sample, e.g.
   * `{ db: 'social' }`; label values are escaped.
   */
  toPrometheus(labels: Readonly<Record<string, string>> = {}): string {
    const labelText = Object.entries(labels)
      .map(([k, v]) => {
        if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(k)) throw new TypeError('invalid Prometheus label name');
        return `${k}="${v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`;
      })
      .join(',');
    const suffix = labelText === '' ? '' : `{${labelText}}`;
    const lines: string[] = [];
    for (const name of METRIC_NAMES) {
      const metric = `hadb_graphstream_${name}_total`;
      lines.push(`# HELP ${metric} ${HELP[name]}`, `# TYPE ${metric} counter`, `${metric}${suffix} ${this.get(name)}`);
    }
    return `${lines.join('\n')}\n`;
  }
}
