#!/usr/bin/env node
// npm run test:faults -- [--duration 10m] [--seed N] [--daemons 5]
//
// The fault soak: real chorusd processes under continuous traffic and random faults,
// every round checked by the virtual-synchrony checker (test/faults/soak.ts). Prints a
// line per round, then a summary whose last line is `N violations`; exits 1 when N > 0.
// Durations: 90s, 10m, 1h, or plain seconds. Ctrl-C ends after the current round.
//
// The soak is TypeScript like the tests; vite (through vitest, a dev dependency)
// compiles it on the fly. The daemons and the link proxy run the compiled code in
// dist/: `npm run test:faults` builds first.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const USAGE = 'usage: npm run test:faults -- [--duration 10m] [--seed N] [--daemons N]';

function parseDuration(text) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(String(text).trim());
  if (m === null) throw new Error(`bad duration ${JSON.stringify(text)} (examples: 60s, 10m, 1h)`);
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[m[2] ?? 's'];
  return Math.round(Number(m[1]) * unit);
}

let args;
try {
  args = parseArgs({
    options: {
      duration: { type: 'string', default: '60s' },
      seed: { type: 'string' },
      daemons: { type: 'string', default: '5' },
      help: { type: 'boolean', short: 'h' },
    },
  }).values;
} catch (err) {
  console.error(`${err.message}\n${USAGE}`);
  process.exit(2);
}
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
let durationMs;
try {
  durationMs = parseDuration(args.duration);
} catch (err) {
  console.error(`${err.message}\n${USAGE}`);
  process.exit(2);
}
const daemons = Number(args.daemons);
if (!Number.isInteger(daemons) || daemons < 3 || daemons > 9) {
  console.error(`--daemons must be 3 to 9\n${USAGE}`);
  process.exit(2);
}
if (!existsSync(new URL('../dist/daemon/index.js', import.meta.url))) {
  console.error('dist/ is missing: run npm run build (npm run test:faults does)');
  process.exit(2);
}

const { createViteServer } = await import('vitest/node');
const server = await createViteServer({
  root: ROOT,
  configFile: false,
  logLevel: 'error',
  appType: 'custom',
  server: { middlewareMode: true, hmr: false, ws: false, watch: null },
  optimizeDeps: { noDiscovery: true, include: [] },
});
const abort = new AbortController();
process.on('SIGINT', () => {
  if (abort.signal.aborted) process.exit(130); // the harness kills its daemons on exit
  console.log('(stopping after this round; Ctrl-C again to quit now)');
  abort.abort();
});
process.on('SIGTERM', () => process.exit(143));
let violations = 1;
try {
  const { runSoak } = await server.ssrLoadModule('/test/faults/soak.ts');
  const summary = await runSoak({
    durationMs,
    daemons,
    ...(args.seed !== undefined ? { seed: Number(args.seed) } : {}),
    signal: abort.signal,
    log: (line) => console.log(line),
  });
  violations = summary.violations;
} finally {
  await server.close();
}
process.exit(violations > 0 ? 1 : 0);
