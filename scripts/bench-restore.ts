// Shared by the restore benches (duckblock, walstream): the `cp` + fsync baseline, cache control,
// the S3 backend from the test env, and same-run ratio rows.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { BenchContext } from './bench-types.js';

const exec = promisify(execFile);

/** CPU seconds (user + system) of the last `cp` run by {@link cpFsync}. */
let lastCpCpu = 0;

/** `cp src dst` (coreutils, whatever copy path it picks), then fsync of `dst`. */
export async function cpFsync(src: string, dst: string): Promise<void> {
  const { stderr } = await exec('/usr/bin/time', ['-f', '%U %S', 'cp', src, dst]);
  const [user, sys] = stderr.trim().split('\n').pop()!.split(' ').map(Number);
  lastCpCpu = (user ?? 0) + (sys ?? 0);
  const fh = await open(dst, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Writes back dirty pages and drops the page cache (`sync; echo 3 > /proc/sys/vm/drop_caches`).
 * Returns false where that is not allowed (not root, or a read-only /proc); cold rows are then skipped.
 */
export function dropCaches(): boolean {
  try {
    execFileSync('sync');
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}

/**
 * A generated bench input kept across runs in `$HADB_BENCH_CACHE` (default
 * `<tmpdir>/hadb-bench-cache`): `generate(path)` runs only when `name` is not there yet.
 * Returns the file's path and the generation time in ms (`undefined` when it was cached).
 */
export async function cachedInput(
  name: string,
  generate: (path: string) => Promise<void>,
): Promise<{ path: string; generatedMs: number | undefined }> {
  // biome-ignore lint/suspicious/noUndeclaredEnvVars: a local cache location, not an input of any turbo task
  const dir = process.env.HADB_BENCH_CACHE ?? join(tmpdir(), 'hadb-bench-cache');
  const path = join(dir, name);
  if (existsSync(path)) return { path, generatedMs: undefined };
  await mkdir(dir, { recursive: true });
  const partial = `${path}.partial-${process.pid}`;
  await rm(partial, { force: true });
  const t0 = performance.now();
  try {
    await generate(partial);
    await rename(partial, path);
  } finally {
    await rm(partial, { force: true });
  }
  return { path, generatedMs: performance.now() - t0 };
}

/** Options of `S3StorageBackend.open` from the test env (Ceph RGW), or undefined when the env is not set. */
export function s3OptionsFromEnv() {
  const env = process.env;
  if (env.HADB_TEST_S3_ENDPOINT === undefined || env.HADB_TEST_S3_BUCKET === undefined) return undefined;
  return {
    bucket: env.HADB_TEST_S3_BUCKET,
    endpoint: env.HADB_TEST_S3_ENDPOINT,
    region: env.HADB_TEST_S3_REGION ?? 'us-east-1',
    credentials: {
      accessKeyId: env.HADB_TEST_S3_ACCESS_KEY_ID ?? '',
      secretAccessKey: env.HADB_TEST_S3_SECRET_ACCESS_KEY ?? '',
    },
    unquotedIfMatch: env.HADB_TEST_S3_UNQUOTED_IF_MATCH === '1',
  };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** One comparison: `restore(dir)` against `cp` + fsync of `source` (same bytes), in one run. */
export interface RestoreComparison {
  readonly ctx: BenchContext;
  /** Label of the row, e.g. `duckblock snapshot restore, storage-local`. */
  readonly label: string;
  /** A local file holding the same bytes the restore downloads. */
  readonly source: string;
  readonly bytes: number;
  /** Scratch directory; each run gets a fresh subdirectory. */
  readonly scratch: string;
  /** Restores into a fresh directory. */
  readonly restore: (dir: string) => Promise<void>;
  readonly rounds?: number;
  /** Extra note for the rows (what the restore includes). */
  readonly note: string;
  /** Cache states to measure (default both; `cold` is skipped where caches cannot be dropped). */
  readonly modes?: readonly ('warm' | 'cold')[];
  /**
   * CPU seconds used so far by the storage server when it runs on this machine (see
   * {@link localProcessesCpuSeconds}); its share per GiB is then recorded too.
   */
  readonly serverCpuSeconds?: (() => number | undefined) | undefined;
}

/** Median times (ms) of one {@link compareRestore} per cache state measured. */
export type RestoreMedians = Partial<Record<'warm' | 'cold', { restoreMs: number; cpMs: number }>>;

/**
 * CPU seconds (user + system) used so far by this machine's processes whose command name is one
 * of `names` (from `/proc/<pid>/stat`), or `undefined` when none runs here.
 */
function localProcessesCpuSeconds(names: readonly string[]): number | undefined {
  let ticks = 0;
  let found = false;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const open = stat.indexOf('(');
    const close = stat.lastIndexOf(')');
    if (!names.includes(stat.slice(open + 1, close))) continue;
    // Fields after the command: state is field 3, utime 14, stime 15.
    const fields = stat.slice(close + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
    found = true;
  }
  return found ? ticks / clockTicks() : undefined;
}

/** CPU seconds used so far by a Ceph RGW running on this machine (`scripts/services/ceph-s3.sh`), or `undefined`. */
export function localCephCpuSeconds(): number | undefined {
  return localProcessesCpuSeconds(['radosgw', 'ceph-osd', 'ceph-mon']);
}

let clockTicksPerSecond: number | undefined;

/** `sysconf(_SC_CLK_TCK)`: the unit of `/proc/<pid>/stat` CPU times (100 on Linux); asked once, when first needed. */
function clockTicks(): number {
  if (clockTicksPerSecond === undefined) {
    try {
      clockTicksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicksPerSecond = 100;
    }
  }
  return clockTicksPerSecond;
}

/**
 * Records, for warm (source in page cache) and cold (caches dropped before each run), the
 * median time of restore and of `cp` + fsync, interleaved with alternating order, and the
 * ratio `cp time ÷ restore time` (1.0 = as fast as cp; goal ≥ 0.8). Load is in the note.
 */
export async function compareRestore(c: RestoreComparison): Promise<RestoreMedians> {
  const medians: RestoreMedians = {};
  const rounds = c.rounds ?? 3;
  let n = 0;
  const fresh = async () => {
    const d = join(c.scratch, `run-${n++}`);
    await mkdir(d, { recursive: true });
    return d;
  };
  const cpu = { restore: 0, restores: 0, restoreMs: 0, cp: 0, cps: 0, server: 0, servers: 0 };
  const timed = async (fn: (d: string) => Promise<void>, cold: boolean): Promise<number> => {
    const d = await fresh();
    if (cold) dropCaches();
    const before = process.cpuUsage();
    const serverBefore = fn === cp ? undefined : c.serverCpuSeconds?.();
    const t = performance.now();
    await fn(d);
    const ms = performance.now() - t;
    const serverAfter = serverBefore === undefined ? undefined : c.serverCpuSeconds?.();
    if (serverBefore !== undefined && serverAfter !== undefined) {
      cpu.server += serverAfter - serverBefore;
      cpu.servers++;
    }
    if (fn === cp) {
      cpu.cp += lastCpCpu;
      cpu.cps++;
    } else {
      const used = process.cpuUsage(before);
      cpu.restore += (used.user + used.system) / 1e6;
      cpu.restores++;
      cpu.restoreMs += ms;
    }
    await rm(d, { recursive: true, force: true });
    return ms;
  };
  const cp = (d: string) => cpFsync(c.source, join(d, 'copy'));
  const canDrop = dropCaches();
  const modes = c.modes ?? (['warm', 'cold'] as const);
  for (const mode of modes.filter((m) => m === 'warm' || canDrop)) {
    const cold = mode === 'cold';
    if (!cold) {
      // Warm-up: both paths once, so the source (and, for storage-local, the object) is cached.
      await timed(cp, false);
      await timed(c.restore, false);
    }
    const cps: number[] = [];
    const restores: number[] = [];
    const loads: number[] = [];
    for (let r = 0; r < rounds; r++) {
      loads.push(loadavg()[0]!);
      if (r % 2 === 0) {
        cps.push(await timed(cp, cold));
        restores.push(await timed(c.restore, cold));
      } else {
        restores.push(await timed(c.restore, cold));
        cps.push(await timed(cp, cold));
      }
    }
    const mib = c.bytes / 2 ** 20;
    medians[mode] = { restoreMs: median(restores), cpMs: median(cps) };
    const load = `load ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} on ${rounds} rounds`;
    const cache = cold ? 'cold: caches dropped before each run' : 'warm: source in page cache';
    c.ctx.record(`${c.label}, ${mode}`, mib / (median(restores) / 1000), 'MiB/s', `${mib.toFixed(0)} MiB, ${c.note}`);
    c.ctx.record(`cp + fsync of the same bytes, ${mode} (${c.label})`, mib / (median(cps) / 1000), 'MiB/s', cache);
    c.ctx.record(
      `${c.label} ÷ cp + fsync, ${mode}`,
      median(cps) / median(restores),
      'ratio',
      `cp time ÷ restore time, medians, same run; goal ≥ 0.8; ${load}`,
    );
  }
  const gib = c.bytes / 2 ** 30;
  c.ctx.record(
    `${c.label}: CPU seconds per GiB`,
    cpu.restore / cpu.restores / gib,
    's/GiB',
    'user + system of this process (hashing, parsing, copies in and out of user space, GC), mean of every run',
  );
  c.ctx.record(
    `cp: CPU seconds per GiB (${c.label})`,
    cpu.cp / cpu.cps / gib,
    's/GiB',
    'user + system of cp (an in-kernel copy), mean of every run',
  );
  const serverCpuSecondsPerGiB = cpu.servers > 0 ? cpu.server / cpu.servers / gib : undefined;
  if (serverCpuSecondsPerGiB !== undefined) {
    c.ctx.record(
      `${c.label}: storage server CPU seconds per GiB`,
      serverCpuSecondsPerGiB,
      's/GiB',
      "user + system of the server's processes on this machine while it served the runs, mean of every run",
    );
  }
  // How busy the machine's cores were: near 1, only less CPU per byte makes the restore faster.
  const busy = cpu.restore + cpu.server;
  c.ctx.record(
    `${c.label}: share of the machine's CPU busy`,
    busy / ((cpu.restoreMs / 1000) * availableParallelism()),
    'ratio',
    `CPU seconds of this process${serverCpuSecondsPerGiB === undefined ? '' : ' and the storage server'} ÷ (wall seconds × ${availableParallelism()} cores), every run`,
  );
  if (!canDrop && modes.includes('cold')) {
    c.ctx.record(`${c.label}, cold`, 0, 'skipped', 'cannot drop the page cache here (not root)');
  }
  return medians;
}
