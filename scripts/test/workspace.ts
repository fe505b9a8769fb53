import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * A throwaway copy of the working tree (tracked and new files, as `git ls-files` lists them; no
 * node_modules, no build output), for tests that change the workspace.
 */
export function copyWorkspace(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root })
    .toString('utf8')
    .split('\0')
    .filter(Boolean);
  // Files deleted in the working tree but still in the index are skipped by tar's --ignore-failed-read.
  const r = spawnSync('tar', ['--null', '--ignore-failed-read', '-cf', '-', '-T', '-'], {
    cwd: root,
    input: files.join('\0'),
    maxBuffer: 1 << 30,
  });
  if (r.status !== 0) throw new Error(`tar failed: ${r.stderr.toString()}`);
  execFileSync('tar', ['-xf', '-', '-C', dir], { input: r.stdout, maxBuffer: 1 << 30 });
  return dir;
}

/** The environment for a nested tool run: this process's, without the Vitest worker variables. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('VITEST') || k === 'NODE_OPTIONS' || k === 'TEST' || k === 'NODE_ENV') continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

/** Runs a shell line in `cwd`; returns the result with stdout and stderr as text. */
export function sh(line: string, cwd: string, timeoutMs: number, env = cleanEnv()): SpawnSyncReturns<string> {
  return spawnSync('bash', ['-c', line], { cwd, env, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
}

/** The fenced blocks of a Markdown text whose info string is exactly `info` (e.g. "sh scaffold"). */
export function fencedBlocks(markdown: string, info: string): string[] {
  const out: string[] = [];
  const re = /^```([^\n]*)\n([\s\S]*?)^```$/gm;
  for (let m = re.exec(markdown); m; m = re.exec(markdown)) if (m[1]!.trim() === info) out.push(m[2]!);
  return out;
}

/** The command lines of a shell block (comments after `#` and blank lines dropped). */
export function commandLines(block: string): string[] {
  return block
    .split('\n')
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => l && !l.startsWith('#'));
}
