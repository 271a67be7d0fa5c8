// npm run sim -- --seeds N [--from S] | --seed S | --budget-s T
// Randomized simulator runs (test/sim/random-run.ts) through vitest, which runs the
// TypeScript sources directly. Failing seeds print their trace; a summary follows.
import { spawnSync } from 'node:child_process';
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
const env = { ...process.env };
if (values.seed !== undefined) {
  env.CHORUS_SIM_FROM = values.seed;
  env.CHORUS_SIM_SEEDS = '1';
} else {
  env.CHORUS_SIM_SEEDS = values.seeds ?? '200';
  if (values.from !== undefined) env.CHORUS_SIM_FROM = values.from;
}
env.CHORUS_SIM_BUDGET_S = values['budget-s'] ?? '3600';
const root = fileURLToPath(new URL('..', import.meta.url));
const vitest = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));
const r = spawnSync(process.execPath, [vitest, 'run', 'test/sim/random.test.ts'], { cwd: root, stdio: 'inherit', env });
process.exit(r.status ?? 1);
