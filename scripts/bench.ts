// `pnpm bench [filter]`: runs every packages/*/bench/*.bench.ts (or those whose path contains the
// filter), writes bench/results.json, prints a table and refreshes the table in BENCHMARKS.md.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchContext, BenchRow } from './bench-types.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const filter = process.argv[2];

function benchFiles(): string[] {
  const files: string[] = [];
  for (const group of ['packages', 'examples']) {
    const base = join(root, group);
    if (!existsSync(base)) continue;
    for (const pkg of readdirSync(base).sort()) {
      const dir = join(base, pkg, 'bench');
      if (!existsSync(dir)) continue;
      for (const f of readdirSync(dir).sort()) {
        if (f.endsWith('.bench.ts')) files.push(join(dir, f));
      }
    }
  }
  return files.filter((f) => filter === undefined || relative(root, f).includes(filter));
}

const rows: BenchRow[] = [];
const suitesRun = new Set<string>();
for (const file of benchFiles()) {
  const suite = relative(root, file).replace(/\.bench\.ts$/, '');
  suitesRun.add(suite);
  const ctx: BenchContext = {
    suite,
    record(name, value, unit, note) {
      const row: BenchRow = { suite, name, value, unit, ...(note === undefined ? {} : { note }) };
      rows.push(row);
      process.stdout.write(`  ${name}: ${formatValue(value)} ${unit}${note ? `  (${note})` : ''}\n`);
    },
  };
  process.stdout.write(`\n# ${suite}\n`);
  const mod = (await import(pathToFileURL(file).href)) as { run(ctx: BenchContext): Promise<void> };
  await mod.run(ctx);
}

function formatValue(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3);
}

const resultsPath = join(root, 'bench', 'results.json');
const previous: { rows?: BenchRow[] } = existsSync(resultsPath) ? JSON.parse(readFileSync(resultsPath, 'utf8')) : {};
const kept = (previous.rows ?? []).filter((r) => !suitesRun.has(r.suite));
const all = [...kept, ...rows].sort((a, b) => a.suite.localeCompare(b.suite));
const machine = {
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  memGiB: Math.round(totalmem() / 2 ** 30),
  date: new Date().toISOString(),
};
writeFileSync(resultsPath, `${JSON.stringify({ machine, rows: all }, null, 2)}\n`);

const table = [
  '| suite | measurement | value | unit | note |',
  '|---|---|---:|---|---|',
  ...all.map((r) => `| ${r.suite} | ${r.name} | ${formatValue(r.value)} | ${r.unit} | ${r.note ?? ''} |`),
].join('\n');
process.stdout.write(`\n${table}\n`);

const mdPath = join(root, 'BENCHMARKS.md');
const start = '<!-- bench:start -->';
const end = '<!-- bench:end -->';
if (existsSync(mdPath)) {
  const md = readFileSync(mdPath, 'utf8');
  const i = md.indexOf(start);
  const j = md.indexOf(end);
  if (i >= 0 && j > i) {
    const stamp = `Last run: ${machine.date}, Node ${machine.node}, ${machine.cores} × ${machine.cpu}, ${machine.memGiB} GiB.`;
    writeFileSync(mdPath, `${md.slice(0, i + start.length)}\n${stamp}\n\n${table}\n${md.slice(j)}`);
  }
}
