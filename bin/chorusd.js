#!/usr/bin/env node
// chorusd: the Chorus daemon. A thin launcher for the compiled daemon in dist/; the
// flags, logging, the ready line and signal handling live in daemon/ (see API.md).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/daemon/index.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('chorusd: dist/daemon/index.js is missing: run npm run build first\n');
  process.exit(1);
}

const { main } = await import(entry.href);
try {
  await main(process.argv.slice(2));
} catch (err) {
  // One line, `chorusd: CODE message` (e.g. ERR_LISTEN for a port in use): no stack.
  const code = err && typeof err === 'object' && 'code' in err ? err.code : 'ERR_FATAL';
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`chorusd: ${code} ${message.replaceAll('\n', ' ')}\n`);
  process.exit(1);
}
