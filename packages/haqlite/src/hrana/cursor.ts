/** Hrana 3 cursors over WebSocket: a batch's result as the entries a client fetches. */

type Msg = Record<string, unknown>;

/**
 * The cursor entries of a `batch` response (`{type: 'batch', result}`): for each step that ran,
 * `step_begin`, its rows and `step_end`; for a failed step, `step_error`; nothing for a skipped
 * step.
 */
export function cursorEntries(response: Msg): Msg[] {
  const result = response.result as { step_results?: unknown; step_errors?: unknown } | undefined;
  const results = (Array.isArray(result?.step_results) ? result.step_results : []) as (Msg | null)[];
  const errors = (Array.isArray(result?.step_errors) ? result.step_errors : []) as (Msg | null)[];
  const entries: Msg[] = [];
  for (let step = 0; step < Math.max(results.length, errors.length); step++) {
    const r = results[step] ?? null;
    const e = errors[step] ?? null;
    if (e !== null) entries.push({ type: 'step_error', step, error: e });
    else if (r !== null) {
      entries.push({ type: 'step_begin', step, cols: r.cols });
      for (const row of r.rows as unknown[]) entries.push({ type: 'row', row });
      entries.push({
        type: 'step_end',
        affected_row_count: r.affected_row_count,
        last_insert_rowid: r.last_insert_rowid,
      });
    }
  }
  return entries;
}
