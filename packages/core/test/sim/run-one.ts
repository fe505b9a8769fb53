// Debug helper: node --conditions=hadb-source --import tsx test/sim/run-one.ts <seed> [count]
if (process.env.NOSTACK) Error.stackTraceLimit = 0;
import { runSeed } from './scenario.js';

const first = Number(process.argv[2] ?? 1);
const count = Number(process.argv[3] ?? 1);
const t0 = performance.now();
const c0 = process.cpuUsage();
let steps = 0;
let bad = 0;
const failovers: number[] = [];
for (let s = first; s < first + count; s++) {
  const r = await runSeed(s, { trace: count === 1 });
  steps += r.steps;
  if (r.failoverMs !== undefined) failovers.push(r.failoverMs);
  if (r.violations.length > 0) {
    bad++;
    console.log(`SEED=${s}`, r.violations.slice(0, 5));
    if (count === 1) console.log(r.trace?.join('\n'));
  }
}
failovers.sort((a, b) => a - b);
console.log({
  seeds: count,
  bad,
  ms: Math.round(performance.now() - t0),
  cpuMs: Math.round((process.cpuUsage(c0).user + process.cpuUsage(c0).system) / 1000),
  stepsPerSeed: Math.round(steps / count),
  failoverP50: failovers[Math.floor(failovers.length / 2)],
  failoverMax: failovers[failovers.length - 1],
});
