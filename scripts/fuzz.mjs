// npm run fuzz -- [--inputs N] [--seed S]
// Structure-aware fuzzing (test/fuzz/fuzz.test.ts, through vitest, which runs the
// TypeScript sources directly): N inputs (default 100,000) split between the codec, the
// core fed by a garbage-sending peer in the simulator, and the real client gateway. Prints
// the crashes found and, last, `N crashes`; exits 1 when there is any.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { inputs: { type: 'string' }, seed: { type: 'string' } } });
const dir = mkdtempSync(join(tmpdir(), 'chorus-fuzz-'));
const env = {
  ...process.env,
  CHORUS_FUZZ_INPUTS: values.inputs ?? '100000',
  CHORUS_FUZZ_SEED: values.seed ?? String(1 + (Date.now() % 1_000_000)),
  CHORUS_FUZZ_SUMMARY: join(dir, 'summary.json'),
};
const root = fileURLToPath(new URL('..', import.meta.url));
const vitest = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));
const r = spawnSync(process.execPath, [vitest, 'run', 'test/fuzz/fuzz.test.ts'], { cwd: root, stdio: 'inherit', env });
let summary;
try {
  summary = JSON.parse(readFileSync(env.CHORUS_FUZZ_SUMMARY, 'utf8'));
} catch {
  summary = undefined;
}
rmSync(dir, { recursive: true, force: true });
if (summary === undefined) {
  console.log('\nfuzz summary: none (the run broke before its end, see above)\n1 crashes');
  process.exit(1);
}
const lines = ['', `fuzz summary: ${summary.inputs} inputs from seed ${summary.seed} in ${summary.elapsedS.toFixed(1)} s (codec ${summary.counts.codec}, core ${summary.counts.core}, gateway ${summary.counts.gateway}); reproduce with npm run fuzz -- --inputs ${env.CHORUS_FUZZ_INPUTS} --seed ${summary.seed}`];
for (const c of summary.crashes.slice(0, 50)) lines.push(`  ${c.target}: ${c.what}${c.input ? ` [input ${c.input.slice(0, 200)}]` : ''}`);
lines.push(`${summary.crashes.length} crashes`);
console.log(lines.join('\n'));
process.exit(summary.crashes.length > 0 || r.status !== 0 ? 1 : 0);
