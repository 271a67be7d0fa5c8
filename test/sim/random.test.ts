// Randomized fault runs of the simulator. In `npm test`: as many seeds as fit in the
// time budget (CHORUS_SIM_BUDGET_S, default 45 s), each checked by the checker, and a
// coverage check: the fault mix must include coordinator crashes, failures during a
// flush (restarted flushes), one-way cuts, partitions and heals. `npm run sim -- --seeds N`
// runs more; a failing seed prints how to reproduce it and becomes a regression test.
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeFailure, FAULT_KINDS, runSeed, type RunResult } from './random-run.js';

const budgetMs = Number(process.env.CHORUS_SIM_BUDGET_S ?? '45') * 1000;
const maxSeeds = Number(process.env.CHORUS_SIM_SEEDS ?? '100000');
// CI replays the same seeds every run (a red CI is then always reproducible); local runs
// start elsewhere each time, so they explore new schedules. `npm run sim` runs more.
const firstSeed = Number(process.env.CHORUS_SIM_FROM ?? (process.env.CI ? '1' : String(1 + (Date.now() % 1_000_000))));
/** `npm test` stops at the first failing seed; `npm run sim` runs them all and lists the failing ones. */
const stopAtFirst = process.env.CHORUS_SIM_ALL !== '1';

/** Seeds that once failed: they run first, every time. */
const REGRESSION_SEEDS: number[] = [959057, 33321, 411759, 396365, 367773, 503404, 20232, 90136];

describe('randomized fault schedules', () => {
  it(
    'keeps every guarantee and converges after the faults heal',
    () => {
      const started = Date.now();
      const results: RunResult[] = [];
      const seeds = [...REGRESSION_SEEDS];
      for (let s = firstSeed; seeds.length < REGRESSION_SEEDS.length + maxSeeds; s++) seeds.push(s);
      const failures: RunResult[] = [];
      for (const seed of seeds) {
        if (Date.now() - started > budgetMs) break;
        const r = runSeed(seed);
        results.push(r);
        if (r.error !== undefined || r.violations.length > 0) {
          failures.push(r);
          // The first few in full; the rest in one line each (the summary lists them all).
          if (failures.length <= 3) console.log(describeFailure(r));
          else console.log(`seed ${r.seed} failed: ${failureNames(r).join(', ')}`);
          if (stopAtFirst) break;
        }
      }
      const elapsedS = (Date.now() - started) / 1000;
      const faults: Record<string, number> = {};
      for (const r of results) for (const [k, v] of Object.entries(r.faults)) faults[k] = (faults[k] ?? 0) + v;
      const restarts = results.reduce((a, r) => a + r.flushRestarts, 0);
      const views = results.reduce((a, r) => a + r.daemonViews, 0);
      const longest = Math.max(...results.map((r) => r.longestFlushMs));
      const longestAttempt = Math.max(...results.map((r) => r.longestAttemptMs));
      const sent = results.reduce((a, r) => a + r.messagesSent, 0);
      const byOrder: Record<string, number> = {};
      for (const r of results) for (const [k, v] of Object.entries(r.sentByOrder)) byOrder[k] = (byOrder[k] ?? 0) + v;
      const violations = failures.reduce((a, r) => a + r.violations.length + (r.error !== undefined ? 1 : 0), 0);
      // Every fault kind must have been played (only meaningful with enough seeds in `npm
      // test`; `npm run sim -- --seeds N` asks for it whatever N).
      const coverage = process.env.CHORUS_SIM_COVERAGE === '1' || results.length >= 20;
      const missing = coverage ? FAULT_KINDS.filter((k) => (faults[k] ?? 0) === 0) : [];
      const summary = {
        seeds: results.length,
        firstSeed,
        elapsedS,
        seedsPerMin: (results.length / elapsedS) * 60,
        viewsPerRun: views / results.length,
        flushRestarts: restarts,
        longestFlushMs: longest,
        longestAttemptMs: longestAttempt,
        sent,
        byOrder,
        faults,
        missing,
        failing: failures.map((r) => ({ seed: r.seed, names: failureNames(r) })),
        violations,
      };
      if (process.env.CHORUS_SIM_SUMMARY) writeFileSync(process.env.CHORUS_SIM_SUMMARY, JSON.stringify(summary));
      console.log(
        [
          `simulator: ${results.length} seeds from ${firstSeed} in ${elapsedS.toFixed(1)} s (${summary.seedsPerMin.toFixed(0)} seeds/min), ${failures.length} failing seeds`,
          `views per run: ${summary.viewsPerRun.toFixed(1)} daemon views; flush restarts: ${restarts}; longest flush: ${longest.toFixed(1)} simulated ms with restarts, ${longestAttempt.toFixed(1)} ms for one attempt`,
          `messages sent: ${sent} ${JSON.stringify(byOrder)}; fault mix: ${JSON.stringify(faults)}`,
          `${violations} violations`,
        ].join('\n'),
      );
      expect(
        failures.map((r) => `seed ${r.seed}: ${failureNames(r).join(', ')}`),
        'failing seeds (each reproduces with npm run sim -- --seed S)',
      ).toEqual([]);
      expect(missing, 'fault kinds that never occurred (run more seeds)').toEqual([]);
      if (coverage) {
        expect(restarts, 'no flush restarted').toBeGreaterThan(0);
        for (const o of ['fifo', 'causal', 'total', 'safe']) expect(byOrder[o] ?? 0, `no ${o} multicast`).toBeGreaterThan(0);
      }
    },
    budgetMs + 120_000,
  );
});

/** The rules a failing run broke (`G2 same-set`), and `liveness: did not converge` for an error. */
function failureNames(r: RunResult): string[] {
  const names = [...new Set(r.violations.map((v) => `G${v.guarantee} ${v.rule}`))];
  if (r.error !== undefined) names.push(`error: ${r.error.split('\n')[0]}`);
  return names;
}
