// npm run sim -- --seeds N [--from S] | --seed S | --budget-s T
// Randomized simulator runs (test/sim/random-run.ts) through vitest, which runs the
// TypeScript sources directly: with --seeds, the regression seeds of random.test.ts,
// then N seeds from S; with --seed, that seed alone. Every seed runs; the first failing
// seeds print their trace. A summary follows: fault kinds played, the failing seeds
// (rules broken, kinds played, how to reproduce), and a last line `N violations` (a run
// that did not converge counts as one). Exits 1 when a seed failed, or (with --seeds)
// when a fault kind of the nemesis never occurred.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string' },
    from: { type: 'string' },
    seed: { type: 'string' },
    'budget-s': { type: 'string' },
  },
});
const env = { ...process.env, CHORUS_SIM_ALL: '1' };
if (values.seed !== undefined) {
  env.CHORUS_SIM_FROM = values.seed;
  env.CHORUS_SIM_SEEDS = '1';
  env.CHORUS_SIM_ONLY = '1';
} else {
  env.CHORUS_SIM_SEEDS = values.seeds ?? '200';
  if (values.from !== undefined) env.CHORUS_SIM_FROM = values.from;
  env.CHORUS_SIM_COVERAGE = '1';
}
env.CHORUS_SIM_BUDGET_S = values['budget-s'] ?? '3600';
const dir = mkdtempSync(join(tmpdir(), 'chorus-sim-'));
env.CHORUS_SIM_SUMMARY = join(dir, 'summary.json');
const root = fileURLToPath(new URL('..', import.meta.url));
const vitest = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));
const r = spawnSync(process.execPath, [vitest, 'run', 'test/sim/random.test.ts'], { cwd: root, stdio: 'inherit', env });
let summary;
try {
  summary = JSON.parse(readFileSync(env.CHORUS_SIM_SUMMARY, 'utf8'));
} catch {
  summary = undefined;
}
rmSync(dir, { recursive: true, force: true });
if (summary === undefined) {
  console.log('\nsimulator summary: none (the test run broke before its end, see above)\n1 violations');
  process.exit(1);
}
const lines = ['', `simulator summary: ${summary.seeds} seeds from ${summary.firstSeed}${summary.seeds > 1 ? " (regression seeds first)" : ""} in ${summary.elapsedS.toFixed(1)} s, ${summary.seedsPerMin.toFixed(0)} seeds/min`];
lines.push(`fault kinds: ${Object.entries(summary.faults).map(([k, v]) => `${k} ${v}`).join(', ')}`);
if (summary.missing.length > 0) lines.push(`FAIL: fault kinds that never occurred: ${summary.missing.join(', ')} (run more seeds)`);
lines.push(`failing seeds: ${summary.failing.length}`);
for (const f of summary.failing) lines.push(`  seed ${f.seed}: ${f.names.join(', ')}  [${f.kinds.join(' ')}]  (npm run sim -- --seed ${f.seed})`);
if (summary.failing.length > 0) {
  lines.push(`failing/played seeds per kind: ${Object.entries(summary.kindSeeds).map(([k, [played, failing]]) => `${k} ${failing}/${played}`).join(', ')}`);
}
lines.push(`${summary.violations} violations`);
console.log(lines.join('\n'));
process.exit(summary.violations > 0 || summary.missing.length > 0 || r.status !== 0 ? 1 : 0);
