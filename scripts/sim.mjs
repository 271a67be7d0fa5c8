// npm run sim -- --seeds N [--from S] [--jobs J] | --seed S | --budget-s T
// Randomized simulator runs (test/sim/random-run.ts) through vitest, which runs the
// TypeScript sources directly: with --seeds, the regression seeds of random.test.ts,
// then N seeds from S; with --seed, that seed alone. Every seed runs; the first failing
// seeds print their trace. A summary follows: fault kinds played, the failing seeds
// (rules broken, kinds played, how to reproduce), and a last line `N violations` (a run
// that did not converge counts as one). Exits 1 when a seed failed, or (with --seeds)
// when a fault kind of the nemesis never occurred. With --jobs J the N seeds are split
// into J consecutive ranges run by J processes at once (the first also runs the
// regression seeds), and their summaries are added up.
import { spawn } from 'node:child_process';
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
    jobs: { type: 'string' },
  },
});
const jobs = values.seed !== undefined ? 1 : Math.max(1, Number(values.jobs ?? 1));
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
const root = fileURLToPath(new URL('..', import.meta.url));
const vitest = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));
const total = Number(env.CHORUS_SIM_SEEDS);
const from = Number(env.CHORUS_SIM_FROM ?? 1);
const started = Date.now();
const runs = [];
for (let j = 0; j < jobs; j++) {
  const first = from + Math.floor((total * j) / jobs);
  const count = from + Math.floor((total * (j + 1)) / jobs) - first;
  const jobEnv = { ...env, CHORUS_SIM_SUMMARY: join(dir, `summary-${j}.json`) };
  if (jobs > 1) {
    jobEnv.CHORUS_SIM_FROM = String(first);
    jobEnv.CHORUS_SIM_SEEDS = String(count);
    // Coverage is judged on the sum below; the regression seeds run once, in the first job.
    delete jobEnv.CHORUS_SIM_COVERAGE;
    if (j > 0) jobEnv.CHORUS_SIM_ONLY = '1';
  }
  runs.push(
    new Promise((resolve) => {
      const child = spawn(process.execPath, [vitest, 'run', 'test/sim/random.test.ts'], { cwd: root, stdio: 'inherit', env: jobEnv });
      child.on('exit', (code) => resolve({ code, file: jobEnv.CHORUS_SIM_SUMMARY }));
    }),
  );
}
const done = await Promise.all(runs);
const parts = [];
for (const d of done) {
  try {
    parts.push(JSON.parse(readFileSync(d.file, 'utf8')));
  } catch {
    parts.push(undefined);
  }
}
rmSync(dir, { recursive: true, force: true });
const r = { status: done.some((d) => d.code !== 0) ? 1 : 0 };
const summary = parts.includes(undefined) ? undefined : merge(parts);
if (summary === undefined) {
  console.log('\nsimulator summary: none (the test run broke before its end, see above)\n1 violations');
  process.exit(1);
}
const lines = ['', `simulator summary: ${summary.seeds} seeds from ${summary.firstSeed}${summary.seeds > 1 ? " (regression seeds first)" : ""}${jobs > 1 ? ` in ${jobs} jobs` : ""} in ${summary.elapsedS.toFixed(1)} s, ${summary.seedsPerMin.toFixed(0)} seeds/min`];
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

/** One summary from the jobs' summaries: sums, and the kinds missing from all of them. */
function merge(list) {
  if (list.length === 1) return list[0];
  const elapsedS = (Date.now() - started) / 1000;
  const add = (a, b) => {
    const out = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
    return out;
  };
  const faults = list.reduce((a, p) => add(a, p.faults), {});
  const kindSeeds = {};
  for (const p of list) for (const [k, [played, failing]] of Object.entries(p.kindSeeds)) {
    const [a, b] = kindSeeds[k] ?? [0, 0];
    kindSeeds[k] = [a + played, b + failing];
  }
  const seeds = list.reduce((a, p) => a + p.seeds, 0);
  return {
    seeds,
    firstSeed: list[0].firstSeed,
    elapsedS,
    seedsPerMin: (seeds / elapsedS) * 60,
    faults,
    missing: Object.keys(kindSeeds).filter((k) => (faults[k] ?? 0) === 0),
    failing: list.flatMap((p) => p.failing),
    kindSeeds,
    violations: list.reduce((a, p) => a + p.violations, 0),
  };
}
