import type { MetricFamily, MetricSample } from './source.js';

/** The content type of the Prometheus text exposition format 0.0.4. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function formatLabels(labels: Readonly<Record<string, string>>): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}="${escapeLabel(labels[k] ?? '')}"`).join(',')}}`;
}

/**
 * Renders families as Prometheus text (format 0.0.4). Families with the same name are merged
 * (first help and type win); families without samples still print `# HELP`/`# TYPE`.
 */
export function renderPrometheus(families: readonly MetricFamily[]): string {
  const merged = mergeFamilies(families);
  const out: string[] = [];
  for (const f of merged) {
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) out.push(`${f.name}${formatLabels(s.labels)} ${formatValue(s.value)}`);
  }
  return `${out.join('\n')}\n`;
}

/** Merges families of equal name, keeping the order of first appearance. */
export function mergeFamilies(families: readonly MetricFamily[]): MetricFamily[] {
  const byName = new Map<string, { name: string; help: string; type: MetricFamily['type']; samples: MetricSample[] }>();
  for (const f of families) {
    const existing = byName.get(f.name);
    if (existing === undefined)
      byName.set(f.name, { name: f.name, help: f.help, type: f.type, samples: [...f.samples] });
    else existing.samples.push(...f.samples);
  }
  return [...byName.values()];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/**
 * Parses Prometheus text exposition (as `@hadb/core`'s `Coordinator.prometheus()` writes it) into
 * families. Lines it cannot parse are skipped; samples without `# TYPE` become `untyped`.
 */
export function parsePrometheus(text: string): MetricFamily[] {
  const families = new Map<
    string,
    { name: string; help: string; type: MetricFamily['type']; samples: MetricSample[] }
  >();
  const family = (name: string) => {
    let f = families.get(name);
    if (f === undefined) families.set(name, (f = { name, help: '', type: 'untyped', samples: [] }));
    return f;
  };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)\s*(.*)$/.exec(line);
      if (m === null) continue;
      const f = family(m[2]!);
      if (m[1] === 'HELP') f.help = (m[3] ?? '').replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
      else if (m[3] === 'counter' || m[3] === 'gauge') f.type = m[3];
      continue;
    }
    const m = SAMPLE.exec(line);
    if (m === null) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(LABEL)) {
      labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    const value = m[4] === '+Inf' ? Infinity : m[4] === '-Inf' ? -Infinity : Number(m[4]);
    family(m[1]!).samples.push({ labels, value });
  }
  return [...families.values()];
}

/** Adds `labels` to every sample (existing labels of the same name are kept). */
export function withLabels(
  families: readonly MetricFamily[],
  labels: Readonly<Record<string, string>>,
): MetricFamily[] {
  return families.map((f) => ({ ...f, samples: f.samples.map((s) => ({ ...s, labels: { ...labels, ...s.labels } })) }));
}
