// From clone to dependency (issue 15): `npm pack` ships dist/, bin/, proto/, README and
// LICENSE only (API.md "Package"), and the tarball installed into an empty project (its
// dependencies from npm's cache, the registry only if the cache lacks one) runs both bins,
// imports the three exports, and type-checks a TypeScript file against the shipped types.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
let tmp: string;
let app: string;
let files: string[];

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'chorus-pack-'));
  // `npm test` has just built dist/ (pretest); prepack would build it again.
  const packed = JSON.parse(execFileSync(npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], { cwd: root, encoding: 'utf8' })) as Array<{
    filename: string;
    files: Array<{ path: string }>;
  }>;
  files = packed[0]!.files.map((f) => f.path);
  app = join(tmp, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
  execFileSync(npm, ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', join(tmp, packed[0]!.filename)], {
    cwd: app,
    encoding: 'utf8',
    stdio: 'pipe',
  });
}, 180_000);

afterAll(() => {
  if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
});

const inApp = (cmd: string, args: string[]): string => execFileSync(cmd, args, { cwd: app, encoding: 'utf8', timeout: 60_000 });

describe('the packed package', () => {
  it('ships only dist/, bin/, proto/, README.md, LICENSE and package.json', () => {
    const outside = files.filter((f) => !/^(dist|bin|proto)\//.test(f) && !['README.md', 'LICENSE', 'package.json'].includes(f));
    expect(outside).toEqual([]);
    for (const f of ['bin/chorusd.js', 'bin/chorus.js', 'dist/daemon/index.js', 'dist/client-sdk/index.d.ts', 'dist/browser/chorus-client.js', 'dist/src/wire/gen/chorus.js', 'LICENSE']) {
      expect(files).toContain(f);
    }
    expect(files.some((f) => f.startsWith('test/') || f.startsWith('src/') || f.startsWith('.ci/'))).toBe(false);
  });

  it('runs both bins', () => {
    expect(inApp(join(app, 'node_modules/.bin/chorusd'), ['--version'])).toMatch(/^chorusd \d+\.\d+\.\d+/);
    expect(inApp(join(app, 'node_modules/.bin/chorus'), ['--help'])).toMatch(/^Usage: chorus/);
  });

  it('imports chorusd/client, chorusd/client/browser and chorusd/daemon', () => {
    const out = inApp(process.execPath, [
      '--input-type=module',
      '-e',
      "const a = await import('chorusd/client'); const b = await import('chorusd/client/browser'); const d = await import('chorusd/daemon'); console.log(typeof a.connect, typeof b.connect, typeof d.startDaemon);",
    ]);
    expect(out.trim()).toBe('function function function');
  });

  it('type-checks an application against the shipped .d.ts', () => {
    writeFileSync(
      join(app, 'check.ts'),
      [
        "import { connect, ChorusError, type Group, type View } from 'chorusd/client';",
        "import { connect as browserConnect } from 'chorusd/client/browser';",
        "import { startDaemon } from 'chorusd/daemon';",
        'export async function main(): Promise<View> {',
        "  const client = await connect({ url: 'ws://127.0.0.1:7400', name: 'app' });",
        "  const group: Group = await client.join('orders');",
        "  await group.multicast('hi', { order: 'safe' });",
        '  void browserConnect; void startDaemon; void ChorusError;',
        '  return group.view;',
        '}',
      ].join('\n'),
    );
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    inApp(process.execPath, [tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--typeRoots', join(root, 'node_modules/@types'), '--types', 'node', 'check.ts']);
  });
});
