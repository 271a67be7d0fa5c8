// The package's version, for `chorusd --version` and `chorus --version`: read from the
// package.json beside the code (dist/daemon/ in the package, daemon/ when run from source).
import { readFileSync } from 'node:fs';

function read(): string {
  for (const path of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if ((pkg.name === 'chorusd' || pkg.name === 'chorus') && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not this one
    }
  }
  return 'unknown';
}

export const VERSION = read();
