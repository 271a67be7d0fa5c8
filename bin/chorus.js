#!/usr/bin/env node
// chorus: the command-line tool (status, tail, send, force-primary, bench). The
// commands live in daemon/cli.ts, compiled to dist/daemon/cli.js.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/daemon/cli.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('chorus: dist/daemon/cli.js is missing: run npm run build first\n');
  process.exit(1);
}

const { runCli } = await import(entry.href);
// Exit explicitly: a command is done when runCli returns, whatever handles remain.
process.exit(await runCli(process.argv.slice(2)));
