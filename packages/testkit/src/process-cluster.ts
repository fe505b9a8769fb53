/**
 * Real-process clusters for failover tests: each node is a child process running a fixture script
 * (TypeScript, through tsx, with workspace packages from source) that reads `NODE_ID`,
 * `NODE_STORAGE` (a shared storage root) and `NODE_PATH` (its database file) from the environment,
 * prints one JSON object per line — events, or `{ id, ok | error }` answers — and takes
 * `{ id, op, ...args }` requests on standard input.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** What a {@link ProcessCluster} starts. */
export interface NodeProcessSpec {
  /** Absolute path of the fixture script. */
  readonly fixture: string;
  /** Working directory of the node processes (the package root, so its imports resolve). */
  readonly cwd: string;
  /** Prefix of the scratch directory's name. */
  readonly tmpPrefix: string;
  /** Ending of each node's database file name (`.duckdb`, `.db`). */
  readonly fileSuffix: string;
}

/**
 * A scratch cluster directory: one shared storage root, one database file per node. `env` is given
 * to every node (for example S3 and NATS settings).
 */
export class ProcessCluster {
  readonly dir: string;
  readonly nodes = new Set<NodeProcess>();
  readonly #spec: NodeProcessSpec;
  readonly env: Record<string, string>;

  constructor(spec: NodeProcessSpec, env: Record<string, string> = {}) {
    this.#spec = spec;
    this.env = env;
    this.dir = mkdtempSync(join(tmpdir(), spec.tmpPrefix));
  }

  start(id: string, env: Record<string, string> = {}): NodeProcess {
    const node = new NodeProcess(id, this.#spec, this.dir, { ...this.env, ...env });
    this.nodes.add(node);
    return node;
  }

  async dispose(): Promise<void> {
    for (const n of this.nodes) n.kill();
    await Promise.all([...this.nodes].map((n) => n.exited));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One node process of a {@link ProcessCluster}. */
export class NodeProcess {
  readonly id: string;
  readonly child: ChildProcessWithoutNullStreams;
  readonly events: Record<string, unknown>[] = [];
  readonly exited: Promise<void>;
  #next = 1;
  #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #waiters = new Set<() => void>();
  stderr = '';

  constructor(id: string, spec: NodeProcessSpec, dir: string, env: Record<string, string>) {
    this.id = id;
    this.child = spawn(process.execPath, ['--conditions=hadb-source', '--import', 'tsx', spec.fixture], {
      cwd: spec.cwd,
      env: {
        ...process.env,
        NODE_ID: id,
        NODE_STORAGE: join(dir, 'storage'),
        NODE_PATH: join(dir, `${id}${spec.fileSuffix}`),
        ...env,
      },
    });
    this.child.stderr.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-8000);
    });
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if (typeof msg.id === 'number') {
        const p = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        if (msg.error !== undefined)
          p?.reject(Object.assign(new Error((msg.error as { message: string }).message), msg.error));
        else p?.resolve(msg.ok);
      } else {
        this.events.push(msg);
        for (const w of [...this.#waiters]) w();
      }
    });
    this.exited = new Promise((resolve) =>
      this.child.on('exit', () => {
        for (const p of this.#pending.values()) p.reject(new Error(`${id} exited\n${this.stderr}`));
        this.#pending.clear();
        for (const w of [...this.#waiters]) w();
        resolve();
      }),
    );
  }

  call<T = unknown>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.stdin.write(`${JSON.stringify({ id, op, ...args })}\n`);
    });
  }

  /** Resolves with the first event matching `pred` (already seen or future). */
  waitFor(pred: (e: Record<string, unknown>) => boolean, ms = 30_000): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const hit = this.events.find(pred);
        if (hit) {
          clearTimeout(t);
          this.#waiters.delete(check as () => void);
          resolve(hit);
          return true;
        }
        if (this.child.exitCode !== null || this.child.signalCode !== null) {
          clearTimeout(t);
          this.#waiters.delete(check as () => void);
          reject(new Error(`${this.id} exited while waiting\n${this.stderr}`));
          return true;
        }
        return false;
      };
      const t = setTimeout(() => {
        this.#waiters.delete(check as () => void);
        reject(new Error(`${this.id}: timed out waiting for an event\n${this.stderr}`));
      }, ms);
      if (!check()) this.#waiters.add(check as () => void);
    });
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}
