// Generates static protobuf code (src/wire/gen/chorus.js + .d.ts) from proto/chorus.proto.
// Static code is generated at build time rather than loading the .proto at run time:
// it is the fastest protobufjs mode (no reflection on the hot path) and gives types.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const proto = join(root, 'proto/chorus.proto');
const outDir = join(root, 'src/wire/gen');
const js = join(outDir, 'chorus.js');
const dts = join(outDir, 'chorus.d.ts');
mkdirSync(outDir, { recursive: true });

if (existsSync(js) && existsSync(dts) && statSync(js).mtimeMs > statSync(proto).mtimeMs) {
  process.exit(0); // up to date
}
const require = createRequire(import.meta.url);
const cliDir = dirname(require.resolve('protobufjs-cli/package.json'));
const pbjs = join(cliDir, 'bin/pbjs');
const pbts = join(cliDir, 'bin/pbts');
execFileSync(process.execPath, [pbjs, '-t', 'static-module', '-w', 'es6', '--no-verify', '--no-delimited', '--no-convert', '--no-beautify', '-o', js, proto], { stdio: 'inherit' });
// pbjs emits `import * as $protobuf from "protobufjs/minimal"`; ESM needs the extension.
writeFileSync(js, readFileSync(js, 'utf8').replace('"protobufjs/minimal"', '"protobufjs/minimal.js"'));
execFileSync(process.execPath, [pbts, '-o', dts, js], { stdio: 'inherit' });
