// Both tools say their version, take -h, and a config error is one line plus a pointer to
// --help (it used to print the error buried under 25 lines of usage). Issue 15.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const version = (JSON.parse(readFileSync(`${root}/package.json`, 'utf8')) as { version: string }).version;
const run = (bin: string, ...args: string[]) => spawnSync(process.execPath, [`${root}/bin/${bin}.js`, ...args], { encoding: 'utf8', timeout: 30_000 });

describe('chorusd and chorus on the command line', () => {
  it('print their version with --version and -V', () => {
    for (const flag of ['--version', '-V']) {
      expect(run('chorusd', flag).stdout).toBe(`chorusd ${version}\n`);
      expect(run('chorus', flag).stdout).toBe(`chorus ${version}\n`);
    }
  });

  it('print their help with -h', () => {
    expect(run('chorusd', '-h').stdout).toMatch(/^Usage: chorusd/);
    expect(run('chorus', '-h').stdout).toMatch(/^Usage: chorus/);
  });

  it('chorusd answers a bad flag with the error and one line, exit code 2', () => {
    const r = run('chorusd', '--bogus');
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual(['chorusd: unknown flag --bogus (chorusd --help lists the flags)', 'Run "chorusd --help" for the flags.']);
  });
});
