#!/usr/bin/env node
// The README's main job: a haduck leader and a follower as two processes on embedded defaults
// (directory storage in a temp dir, and a lease object in that same storage; no servers). Writes
// rows continuously, shows the follower's lag, SIGKILLs the leader, shows the follower promoted and
// writes continuing, checks that no row acknowledged as shipped was lost or duplicated, and prints
// a summary. Exits non-zero if a check fails.
//
//   pnpm demo                        # local storage in a temp dir
//   pnpm demo sqlite                 # haqlite instead: scripts/demo-sqlite.mjs
//   HADUCK_STORAGE=s3:bucket/prefix HADUCK_S3_ENDPOINT=http://127.0.0.1:7480 HADUCK_S3_UNQUOTED_IF_MATCH=1 \
//     AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… pnpm demo    (lease: @hadb/lease-s3 in the same bucket)
//   HADUCK_LEASE=nats:nats://127.0.0.1:4222 pnpm demo     (or etcd:http://127.0.0.1:2379)
// Each run uses a fresh database name (demo-<pid>); on S3 its objects stay under <prefix>haduck/demo-<pid>/.
// Tuning: DEMO_STEADY_MS (default 8000), DEMO_AFTER_MS (4000), HADUCK_TTL_MS (2000),
// HADUCK_WRITE_RATE (leader rows/s, 20), DEMO_FOLLOWER_RATE (forwarded rows/s, 5).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

// `pnpm demo sqlite`: the same story with haqlite and @libsql/client (scripts/demo-sqlite.mjs).
if (process.argv[2] === 'sqlite') await import('./demo-sqlite.mjs');

const root = fileURLToPath(new URL('..', import.meta.url));
const env = process.env;
const steadyMs = Number(env.DEMO_STEADY_MS ?? 8000);
const afterMs = Number(env.DEMO_AFTER_MS ?? 4000);
const ttlMs = env.HADUCK_TTL_MS ?? '2000';
const scratch = mkdtempSync(join(tmpdir(), 'haduck-demo-'));
const storage = env.HADUCK_STORAGE ?? `local:${join(scratch, 'storage')}`;
const started = Date.now();
const children = new Set();
let failed = false;

const say = (msg) => process.stdout.write(`[demo +${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Starts one example node; returns { child, events, waitFor(pred, ms) }. */
function node(name, example, extraEnv) {
  const child = spawn(
    process.execPath,
    ['--conditions=hadb-source', '--import', 'tsx', join(root, 'examples', example, 'src', 'main.ts')],
    {
      cwd: root,
      env: {
        ...env,
        HADUCK_STORAGE: storage,
        HADUCK_LEASE: env.HADUCK_LEASE ?? 'storage',
        HADUCK_PATH: join(scratch, `${name}.duckdb`),
        HADUCK_INSTANCE: name,
        HADUCK_TTL_MS: ttlMs,
        HADUCK_CHECKPOINT_MS: env.HADUCK_CHECKPOINT_MS ?? '1000',
        HADUCK_PULL_MS: env.HADUCK_PULL_MS ?? '100',
        HADUCK_DB: env.HADUCK_DB ?? `demo-${process.pid}`,
        ...extraEnv,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  children.add(child);
  const events = [];
  const waiters = new Set();
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
    if (stderr.length > 20000) stderr = stderr.slice(-20000);
  });
  createInterface({ input: child.stdout }).on('line', (line) => {
    let e;
    try {
      e = JSON.parse(line);
    } catch {
      return;
    }
    e.node = name;
    events.push(e);
    for (const w of [...waiters]) w(e);
  });
  const exited = new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  function waitFor(pred, ms, what) {
    const hit = events.find(pred);
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        waiters.delete(w);
        reject(
          new Error(
            `${name}: timed out after ${ms} ms waiting for ${what}\n--- ${name} stderr ---\n${stderr.slice(-4000)}`,
          ),
        );
      }, ms);
      const w = (e) => {
        if (pred(e)) {
          clearTimeout(t);
          waiters.delete(w);
          resolve(e);
        }
      };
      waiters.add(w);
      exited.then(({ code, signal }) => {
        if (waiters.has(w)) {
          clearTimeout(t);
          waiters.delete(w);
          reject(
            new Error(
              `${name} exited (${code ?? signal}) while waiting for ${what}\n--- ${name} stderr ---\n${stderr.slice(-4000)}`,
            ),
          );
        }
      });
    });
  }
  return { name, child, events, waitFor, exited, stderr: () => stderr };
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function check(ok, msg) {
  say(`${ok ? 'ok  ' : 'FAIL'} ${msg}`);
  if (!ok) failed = true;
}

async function main() {
  say(
    `storage ${storage.startsWith('local:') ? 'local (temp dir)' : storage.split(':')[0]}, lease ${env.HADUCK_LEASE ?? 'storage'}, TTL ${ttlMs} ms`,
  );
  const a = node('a', 'haduck-leader', { HADUCK_WRITE_RATE: env.HADUCK_WRITE_RATE ?? '20', HADUCK_WRITER: 'a' });
  const leaderRole = await a.waitFor((e) => e.event === 'role', 60_000, 'leader start');
  say(`node a started as ${leaderRole.role} (${leaderRole.address})`);
  await a.waitFor((e) => e.event === 'writing', 30_000, 'leader writing');

  const b = node('b', 'haduck-follower', { HADUCK_WRITE_RATE: env.DEMO_FOLLOWER_RATE ?? '5', HADUCK_WRITER: 'b' });
  const followerRole = await b.waitFor((e) => e.event === 'role', 60_000, 'follower start');
  say(`node b started as ${followerRole.role}; it forwards its own writes to the leader`);
  say(
    'rows are named <writer>#<seq>: a#12 is the 12th row node a wrote; b#3 the 3rd that node b wrote (forwarded to the leader while b follows)',
  );
  say(
    'a follower applies each shipped checkpoint to its own file, then swaps its read-only DuckDB over to it; the read pause is how long queries waited for that swap',
  );
  check(leaderRole.role === 'leader' && followerRole.role === 'follower', 'roles: a leads, b follows');
  await b.waitFor((e) => e.event === 'visible' && e.writer === 'a', 30_000, 'first replicated row');

  // Steady state: report lag every two seconds.
  const steadyEnd = Date.now() + steadyMs;
  while (Date.now() < steadyEnd) {
    await sleep(Math.min(2000, steadyEnd - Date.now()));
    const acks = a.events.filter((e) => e.event === 'ack');
    const lastAck = acks.at(-1);
    const vis = b.events.filter((e) => e.event === 'visible' && e.writer === 'a').at(-1);
    const stats = b.events.filter((e) => e.event === 'stats').at(-1);
    say(
      `leader acked ${acks.length} rows (last a#${lastAck?.seq ?? 0}); follower sees a#${vis?.seq ?? 0}` +
        (stats
          ? `, applied ${stats.appliedSegments} checkpoints, last read pause ${Number(stats.lastReadPauseMs).toFixed(1)} ms`
          : ''),
    );
  }

  const leaderStats = a.events.filter((e) => e.event === 'stats').at(-1);
  say('SIGKILL leader a');
  const killedAt = Date.now();
  a.child.kill('SIGKILL');
  await a.exited;
  const promoted = await b.waitFor((e) => e.event === 'promoted', 30_000, 'promotion');
  const failoverMs = promoted.t - killedAt;
  say(`node b promoted after ${failoverMs} ms`);
  const firstAfter = await b.waitFor(
    (e) => e.event === 'ack' && e.acked > promoted.t,
    30_000,
    'a write on the new leader',
  );
  say(`writes continue on b (b#${firstAfter.seq} acknowledged ${firstAfter.acked - killedAt} ms after the kill)`);
  await sleep(afterMs);

  // Every row acknowledged as shipped must be there exactly once.
  const acked = {};
  for (const e of [...a.events, ...b.events]) if (e.event === 'ack') (acked[e.writer] ??= []).push(e.seq);
  b.child.stdin.write(`${JSON.stringify({ cmd: 'check', acked })}\n`);
  const result = await b.waitFor((e) => e.event === 'check', 30_000, 'check result');
  const ackCount = Object.values(acked).reduce((n, s) => n + s.length, 0);
  check(
    result.missingCount === 0,
    `${ackCount} acknowledged rows, ${result.missingCount} missing${result.missingCount ? `: ${JSON.stringify(result.missing.slice(0, 5))}` : ''}`,
  );
  check(result.duplicates === 0, `${result.duplicates} duplicated rows (retried writes ran once)`);
  check(
    b.events.some((e) => e.event === 'ack' && e.writer === 'b' && e.acked > killedAt),
    'forwarded writer b kept writing through the failover',
  );

  b.child.kill('SIGTERM');
  await b.waitFor((e) => e.event === 'closed', 30_000, 'clean close');
  const finalB = b.events.filter((e) => e.event === 'stats').at(-1);
  check(
    Number(leaderStats?.unexpectedCheckpoints ?? 0) === 0 && Number(finalB?.unexpectedCheckpoints ?? 0) === 0,
    'no checkpoint DuckDB ran on its own (every checkpoint was shipped by haduck)',
  );
  const errors = [...a.events, ...b.events].filter((e) => e.event === 'error' || e.event === 'write_error');
  check(
    errors.length === 0,
    `${errors.length} error events${errors.length ? `: ${JSON.stringify(errors.slice(0, 3))}` : ''}`,
  );

  // Lag: for each acknowledged row of a, when did the follower first see it?
  const visible = b.events.filter((e) => e.event === 'visible' && e.writer === 'a');
  const lags = [];
  for (const ack of a.events.filter((e) => e.event === 'ack')) {
    const v = visible.find((e) => e.seq >= ack.seq);
    if (v) lags.push(v.at - ack.created);
  }
  lags.sort((x, y) => x - y);
  const pauses = b.events.filter((e) => e.event === 'stats').map((e) => Number(e.maxReadPauseMs));
  const bytes = Number(leaderStats?.bytesShipped ?? 0) + Number(finalB?.bytesShipped ?? 0);
  const shippedCheckpoints = Number(leaderStats?.checkpoints ?? 0) + Number(finalB?.checkpoints ?? 0);
  process.stdout.write(
    [
      '',
      'haduck demo summary',
      `  rows acknowledged as shipped  ${ackCount} (${result.rows} rows on the new leader)`,
      `  write-to-follower-visible lag p50 ${percentile(lags, 50)} ms, p99 ${percentile(lags, 99)} ms (${lags.length} rows; 1 s checkpoints)`,
      `  failover (SIGKILL to promoted) ${failoverMs} ms with a ${ttlMs} ms lease TTL`,
      `  follower read pause per swap  max ${Math.max(0, ...pauses).toFixed(1)} ms`,
      `  bytes shipped                 ${(bytes / 1048576).toFixed(1)} MiB (leader a until its last report, then b)`,
      `  result                        ${failed ? 'FAILED' : 'all checks passed'}`,
      '',
      'what these mean',
      "  lag           from a row's write on the leader to its first sight in the follower's own copy; rows ship",
      '                with the next checkpoint (every second while there are changes), so about half a second plus apply',
      '  read pause    a follower serves queries from a read-only DuckDB; after applying a checkpoint it swaps that',
      '                instance for one on the updated file, and queries wait while it swaps',
      `  bytes shipped the initial snapshot and ${shippedCheckpoints} checkpoints (a, then b): ${(bytes / 1048576 / Math.max(1, shippedCheckpoints)).toFixed(2)} MiB per checkpoint on average.`,
      "                DuckDB stores data in 256 KiB blocks and a checkpoint rewrites whole blocks (the table's data,",
      '                its metadata, the free list), so the volume follows checkpoints x changed blocks, not rows',
      '',
    ].join('\n'),
  );
}

const deadline = setTimeout(() => {
  say('FAIL demo took longer than 120 s');
  failed = true;
  cleanup(1);
}, 120_000);

function cleanup(code) {
  for (const c of children) c.kill('SIGKILL');
  clearTimeout(deadline);
  rmSync(scratch, { recursive: true, force: true });
  process.exit(code);
}

main().then(
  () => cleanup(failed ? 1 : 0),
  (err) => {
    say(`FAIL ${err.stack ?? err}`);
    cleanup(1);
  },
);
