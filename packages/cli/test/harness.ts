import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const pkgDir = fileURLToPath(new URL('..', import.meta.url));
const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url));

/** What a finished `hadb` process printed and returned. */
export interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A clean environment for the child: PATH and HOME only, plus `env`. */
export function childEnv(env: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...env };
}

/**
 * Starts the `hadb` binary as a user would (a separate process), from source through tsx and
 * the `hadb-source` condition, so tests need no build.
 */
export function spawnHadb(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  nodeArgs: readonly string[] = [],
): ChildProcess {
  return spawn(process.execPath, ['--conditions=hadb-source', '--import', 'tsx', ...nodeArgs, bin, ...args], {
    cwd: pkgDir,
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Collects a child's output and exit code. */
export function finished(child: ChildProcess): Promise<Result> {
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs `hadb args…` to completion. */
export function hadb(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  nodeArgs: readonly string[] = [],
): Promise<Result> {
  return finished(spawnHadb(args, env, nodeArgs));
}
