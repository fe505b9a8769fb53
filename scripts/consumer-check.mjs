#!/usr/bin/env node
// The plain-npm consumer's walk, automated: builds every package, checks what each tarball ships,
// packs them, installs the tarballs into a scratch npm project (no pnpm, no TypeScript) and runs
// every package README's runnable example — each fenced block opened with ```js example — verbatim
// as an .mjs file against real servers. Each example must exit 0 by itself within its time limit.
//   node scripts/consumer-check.mjs [--no-build] [--keep] [PACKAGE_DIR_NAME...]
// Servers come from the test variables (HADB_TEST_S3_*, HADB_TEST_NATS_URL, HADB_TEST_ETCD_URL; see
// scripts/test.mjs); the examples read the variables a user would set (S3_BUCKET, NATS_URL, ...).
// Exit 0: every check passed; 1: a check failed (each failure is one line on stderr).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const build = !args.includes('--no-build');
const keep = args.includes('--keep');
const only = args.filter((a) => !a.startsWith('--'));
const EXAMPLE_TIMEOUT_MS = 60_000;
const failures = [];

function log(msg) {
  process.stderr.write(`[consumer] ${msg}\n`);
}
function fail(msg) {
  failures.push(msg);
  process.stderr.write(`[consumer] FAIL ${msg}\n`);
}
function run(cmd, argv, options = {}) {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  if (r.error) throw r.error;
  return r;
}

/** The publishable packages: packages/* that are not private. */
function packages() {
  const dirs = readdirSync(join(root, 'packages')).sort();
  const out = [];
  for (const dir of dirs) {
    const file = join(root, 'packages', dir, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8'));
    if (pkg.private) continue;
    out.push({ dir, path: join(root, 'packages', dir), pkg });
  }
  return out;
}

/** The fenced blocks of a Markdown file opened with ```js example (the runnable examples). */
/** `vitest` marks a block that is a Vitest test file (run with `vitest run`, not `node`). */
export function readmeExamples(markdown) {
  const blocks = [];
  const fence = /^```js example( vitest)?[^\n]*\n([\s\S]*?)^```$/gm;
  for (let m = fence.exec(markdown); m; m = fence.exec(markdown)) blocks.push({ code: m[2], vitest: Boolean(m[1]) });
  return blocks;
}

/** Every string an exports / typesVersions map points at. */
function targets(value, out = []) {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) targets(v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) targets(v, out);
  return out;
}

/** Checks one package's file list as `npm pack` would ship it. */
function checkShippedFiles({ dir, path, pkg }) {
  const r = run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: path });
  if (r.status !== 0) return fail(`${pkg.name}: npm pack --dry-run failed: ${r.stderr.trim().split('\n').pop()}`);
  const files = new Set(JSON.parse(r.stdout)[0].files.map((f) => f.path));
  if (!files.has('LICENSE')) fail(`${pkg.name}: npm pack ships no LICENSE (add it to "files" and to packages/${dir}/)`);
  if (!files.has('README.md')) fail(`${pkg.name}: npm pack ships no README.md`);
  const wanted = [...targets(pkg.exports), ...targets(pkg.typesVersions), pkg.types].filter(Boolean);
  for (const t of wanted) {
    const rel = posix.normalize(t).replace(/^\.\//, '');
    if (rel === 'package.json') continue;
    if (!files.has(rel)) fail(`${pkg.name}: package.json points at ${t}, which the tarball does not contain`);
  }
  for (const file of files) {
    if (!file.endsWith('.map')) continue;
    const map = JSON.parse(readFileSync(join(path, file), 'utf8'));
    for (const source of map.sources ?? []) {
      const rel = posix.normalize(posix.join(posix.dirname(file), map.sourceRoot ?? '', source));
      if (!files.has(rel)) fail(`${pkg.name}: ${file} points at ${source}, which the tarball does not contain`);
    }
  }
}

/**
 * Type-checks imports of every package and subpath export from the installed tarballs under each
 * TypeScript module resolution a consumer may use (node10 needs typesVersions for subpaths).
 */
export function checkTypes(app, pkgs) {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const specifiers = pkgs.flatMap(({ pkg }) =>
    Object.keys(pkg.exports ?? { '.': null })
      .filter((k) => k !== './package.json')
      .map((k) => (k === '.' ? pkg.name : `${pkg.name}/${k.slice(2)}`)),
  );
  const imports = specifiers.map((s, i) => `import * as m${i} from '${s}';\nexport { m${i} };`).join('\n');
  for (const [resolution, module, file] of [
    ['node10', 'commonjs', 'types-node10.ts'],
    ['node16', 'node16', 'types-node16.mts'],
  ]) {
    writeFileSync(join(app, file), `${imports}\n`);
    const r = run(
      process.execPath,
      [
        tsc,
        '--noEmit',
        '--strict',
        '--skipLibCheck',
        '--types',
        'node',
        '--typeRoots',
        join(root, 'node_modules', '@types'),
        '--target',
        'es2023',
        '--module',
        module,
        '--moduleResolution',
        resolution,
        file,
      ],
      { cwd: app },
    );
    if (r.status !== 0)
      fail(
        `TypeScript (${resolution} resolution) cannot resolve the packages: ${r.stdout.trim().split('\n').slice(0, 4).join(' | ')}`,
      );
    else log(`ok types resolve under moduleResolution ${resolution} (${specifiers.length} entry points)`);
  }
}

/** The environment a user of the READMEs would set, from the test services' variables. */
function exampleEnv() {
  const e = process.env;
  const need = [
    'HADB_TEST_S3_ENDPOINT',
    'HADB_TEST_S3_BUCKET',
    'HADB_TEST_S3_ACCESS_KEY_ID',
    'HADB_TEST_S3_SECRET_ACCESS_KEY',
    'HADB_TEST_NATS_URL',
    'HADB_TEST_ETCD_URL',
  ];
  const missing = need.filter((v) => !e[v]);
  if (missing.length > 0) {
    fail(`missing ${missing.join(', ')}: run through \`pnpm test\` or load the services' env first`);
    return undefined;
  }
  return {
    PATH: e.PATH,
    HOME: e.HOME,
    TMPDIR: e.TMPDIR ?? tmpdir(),
    S3_ENDPOINT: e.HADB_TEST_S3_ENDPOINT,
    S3_BUCKET: e.HADB_TEST_S3_BUCKET,
    S3_REGION: e.HADB_TEST_S3_REGION ?? 'us-east-1',
    AWS_ACCESS_KEY_ID: e.HADB_TEST_S3_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: e.HADB_TEST_S3_SECRET_ACCESS_KEY,
    AWS_REGION: e.HADB_TEST_S3_REGION ?? 'us-east-1',
    ...(e.HADB_TEST_S3_UNQUOTED_IF_MATCH === '1' ? { S3_UNQUOTED_IF_MATCH: '1' } : {}),
    NATS_URL: e.HADB_TEST_NATS_URL,
    ETCD_URL: e.HADB_TEST_ETCD_URL,
  };
}

function main() {
  log(`node ${process.version}`);
  const env = exampleEnv();
  if (!env) return;
  const all = packages().filter((p) => only.length === 0 || only.includes(p.dir));
  if (build) {
    log('building every package (turbo)');
    const b = run(
      'npx',
      ['-y', 'pnpm@10.34.8', 'exec', 'turbo', 'run', 'build', '--filter=./packages/*', '--output-logs=errors-only'],
      { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] },
    );
    if (b.status !== 0) return fail('build failed');
  }
  const work = mkdtempSync(join(tmpdir(), 'hadb-consumer-'));
  try {
    const packs = join(work, 'packs');
    mkdirSync(packs);
    // pnpm pack rewrites workspace: ranges to the real versions, as `pnpm publish` does.
    const packed = run(
      'npx',
      ['-y', 'pnpm@10.34.8', '-r', '--filter', './packages/*', 'pack', '--pack-destination', packs],
      { cwd: root },
    );
    if (packed.status !== 0) return fail(`pnpm pack failed: ${packed.stderr.trim()}`);
    const deps = {};
    for (const p of packages()) {
      checkShippedFiles(p);
      const tgz = join(packs, `${p.pkg.name.replace('@', '').replace('/', '-')}-${p.pkg.version}.tgz`);
      if (!existsSync(tgz)) return fail(`${p.pkg.name}: pnpm pack made no ${tgz}`);
      deps[p.pkg.name] = `file:${tgz}`;
    }
    const app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(
      join(app, 'package.json'),
      `${JSON.stringify({ name: 'hadb-consumer', private: true, type: 'module', dependencies: deps }, null, 2)}\n`,
    );
    log(`npm install of ${Object.keys(deps).length} tarballs into ${app}`);
    const install = run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=warn'], { cwd: app });
    if (install.status !== 0)
      return fail(`npm install failed: ${install.stderr.trim().split('\n').slice(-5).join(' | ')}`);
    for (const line of install.stderr.split('\n')) {
      if (/EBADENGINE/.test(line) && /@hadb\//.test(line)) fail(`npm install: ${line.trim()}`);
    }
    checkTypes(app, packages());
    for (const p of all) {
      const blocks = readmeExamples(readFileSync(join(p.path, 'README.md'), 'utf8'));
      if (blocks.length === 0) {
        fail(`${p.pkg.name}: README.md has no runnable example (a fenced block opened with \`\`\`js example)`);
        continue;
      }
      blocks.forEach(({ code, vitest }, i) => {
        const file = join(app, `${p.dir}-${i + 1}${vitest ? '.test' : ''}.mjs`);
        writeFileSync(file, code);
        const t0 = Date.now();
        // A Vitest example runs through the vitest that npm installed as @hadb/testkit's peer.
        const argv = vitest ? [join(app, 'node_modules', 'vitest', 'vitest.mjs'), 'run', file] : [file];
        const r = run(process.execPath, argv, { cwd: app, env, timeout: EXAMPLE_TIMEOUT_MS, killSignal: 'SIGKILL' });
        const ms = Date.now() - t0;
        if (r.signal)
          fail(`${p.pkg.name} README example ${i + 1}: did not exit by itself within ${EXAMPLE_TIMEOUT_MS} ms`);
        else if (r.status !== 0)
          fail(
            `${p.pkg.name} README example ${i + 1}: exit ${r.status}: ${r.stderr.trim().split('\n').slice(0, 6).join(' | ')}`,
          );
        else
          log(
            `ok ${p.pkg.name} README example ${i + 1} (${ms} ms)${r.stdout.trim() ? `: ${r.stdout.trim().split('\n')[0]}` : ''}`,
          );
      });
    }
  } finally {
    if (keep) log(`kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main();
  if (failures.length > 0) {
    log(`${failures.length} check(s) failed`);
    process.exit(1);
  }
  log('every check passed');
}
