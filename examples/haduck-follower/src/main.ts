// A haduck node that serves reads from its own copy, reports how far behind the leader it is, and
// keeps the rows coming when it is promoted (`run`, the default). `insert` and `query` do one thing
// on the storage you name and exit. Every line on stdout is one JSON event; `--help` lists the
// commands and settings.
//
// While running, stdin accepts one JSON command per line:
//   {"cmd":"check","acked":{"<writer>":[seq,...]}}  → {"event":"check", missing, duplicates, rows}
import { createInterface } from 'node:readline';
import { type HaDuck, isHaDuckError, isHaError } from '@hadb/haduck';
import type { ExampleConfig } from '@hadb/example-haduck-leader/config';
import { log } from '@hadb/example-haduck-leader/log';
import { handleShutdown, runExampleNode } from '@hadb/example-haduck-leader/node';
import { startRowWriter, type RowWriter } from '@hadb/example-haduck-leader/writer';

await runExampleNode(
  'haduck-follower',
  'follow: print rows as they become visible, answer "check" on stdin',
  { writeRate: 0 },
  (db, config) => follow(db, config),
);

function follow(db: HaDuck, config: ExampleConfig): void {
  // Watch what is visible locally: every time a writer's highest row grows, print it.
  const seen = new Map<string, number>();
  let polling = true;
  async function poll(): Promise<void> {
    while (polling) {
      try {
        const r = await db.query('SELECT writer, max(seq) FROM demo_rows GROUP BY writer');
        const at = Date.now();
        for (const [writer, max] of r.rows) {
          const seq = Number(max);
          if (seq > (seen.get(String(writer)) ?? 0)) {
            seen.set(String(writer), seq);
            log('visible', { writer, seq, at });
          }
        }
      } catch (err) {
        // Before the first checkpoint arrives there is no table (or no data) yet.
        if (!isHaDuckError(err, 'HADB_HADUCK_SQL') && !isHaError(err, 'HADB_HA_NOT_READY'))
          log('error', { message: String(err) });
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  void poll();

  let writer: RowWriter | undefined;
  const stopping = handleShutdown(db, config, async () => {
    polling = false;
    await writer?.stop();
  });
  if (config.writeRate > 0) {
    void startRowWriter(
      db,
      { writer: config.writer, rate: config.writeRate, durability: config.durability },
      stopping,
    ).then((w) => {
      writer = w;
    });
  }
  createInterface({ input: process.stdin }).on('line', (line) => {
    void (async () => {
      let cmd: { cmd?: string; acked?: Record<string, number[]> };
      try {
        cmd = JSON.parse(line);
      } catch {
        return log('error', { message: 'stdin: not JSON' });
      }
      if (cmd.cmd !== 'check') return;
      const r = await db.query('SELECT writer, seq, count(*) AS n FROM demo_rows GROUP BY writer, seq');
      const present = new Map<string, Set<number>>();
      let duplicates = 0;
      for (const [w, s, n] of r.rows) {
        if (!present.has(String(w))) present.set(String(w), new Set());
        present.get(String(w))!.add(Number(s));
        if (Number(n) > 1) duplicates += Number(n) - 1;
      }
      const missing: { writer: string; seq: number }[] = [];
      for (const [w, seqs] of Object.entries(cmd.acked ?? {})) {
        for (const s of seqs) if (!present.get(w)?.has(s)) missing.push({ writer: w, seq: s });
      }
      log('check', { rows: r.rows.length, duplicates, missing: missing.slice(0, 50), missingCount: missing.length });
    })();
  });
}
