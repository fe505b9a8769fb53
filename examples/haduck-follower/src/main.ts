// A haduck node that serves reads from its own copy, reports how far behind the leader it is, and
// keeps the rows coming when it is promoted (`run`, the default). `insert` and `query` do one thing
// on the storage you name and exit. Every line on stdout is one JSON event; `--help` lists the
// commands and settings.
//
// While running, stdin accepts one JSON command per line:
//   {"cmd":"check","acked":{"<writer>":[seq,...]}}  → {"event":"check", missing, duplicates, rows}
import { createInterface } from 'node:readline';
import { HaDuck, isHaDuckError, isHaError } from '@hadb/haduck';
import { runCli, usage } from '@hadb/example-haduck-leader/cli';
import { parseCommand, runOneShot } from '@hadb/example-haduck-leader/commands';
import { loadConfig, type ExampleConfig } from '@hadb/example-haduck-leader/config';
import { log } from '@hadb/example-haduck-leader/log';
import { readCommandLine } from '@hadb/example-haduck-leader/settings';
import { startRowWriter, type RowWriter } from '@hadb/example-haduck-leader/writer';

const program = 'haduck-follower';
const argv = process.argv.slice(2);

await runCli(
  program,
  argv,
  usage(program, 'follow: print rows as they become visible, answer "check" on stdin'),
  async () => {
    const line = readCommandLine(argv, process.env);
    const command = parseCommand(line);
    const config = await loadConfig(line.settings, process.env, { writeRate: 0 });
    let db: HaDuck;
    try {
      db = await HaDuck.open(config.haduck);
    } catch (err) {
      await config.close();
      throw config.explain(err);
    }
    log('role', { role: db.role, instance: config.haduck.instanceId, address: db.address });
    if (command.kind !== 'run') {
      try {
        await runOneShot(db, command);
      } finally {
        await db.close();
        await config.close();
      }
      return;
    }
    follow(db, config);
  },
);

function follow(db: HaDuck, config: ExampleConfig): void {
  db.on('error', (err) => log('error', { message: err.message }));

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
  let stopping = false;
  if (config.writeRate > 0) {
    void startRowWriter(
      db,
      { writer: config.writer, rate: config.writeRate, durability: config.durability },
      () => stopping,
    ).then((w) => {
      writer = w;
    });
  }
  db.on('promoted', () => {
    log('promoted', { instance: config.haduck.instanceId });
  });
  db.on('demoted', () => log('demoted', { instance: config.haduck.instanceId }));

  const stats = setInterval(() => log('stats', { ...db.stats() }), 1000);

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

  async function shutdown(): Promise<void> {
    if (stopping) return;
    stopping = true;
    polling = false;
    clearInterval(stats);
    // A close that cannot finish (no storage, no lease server) must not keep the process alive.
    setTimeout(() => {
      log('error', { message: 'shutdown took longer than 30 s' });
      process.exit(1);
    }, 30_000).unref();
    await writer?.stop();
    await db.close();
    log('stats', { ...db.stats() });
    log('closed', {});
    await config.close();
    process.exit(0);
  }
  process.on('SIGTERM', () => void shutdown());
  process.on('SIGINT', () => void shutdown());
}
