// The SDK as one ESM file for browsers (`chorusd/client/browser`): dist/browser/chorus-client.js,
// with its size printed. esbuild-wasm (no native binary is downloaded at install time)
// bundles client-sdk/index.ts with protobufjs and eventemitter3. The SDK has no static
// Node import; its `import('ws')` (Node 20 without a global WebSocket) is left external
// and never runs in a browser, which has WebSocket.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

import * as esbuild from 'esbuild-wasm';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outfile = join(root, 'dist/browser/chorus-client.js');
mkdirSync(dirname(outfile), { recursive: true });
await esbuild.build({
  entryPoints: [join(root, 'client-sdk/index.ts')],
  outfile,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  sourcemap: false,
  external: ['ws'],
  legalComments: 'none',
  logLevel: 'warning',
});
// The types are the SDK's own (the same API in Node and browsers).
writeFileSync(join(root, 'dist/browser/chorus-client.d.ts'), "export * from '../client-sdk/index.js';\n");
const bytes = readFileSync(outfile);
console.log(`browser bundle: dist/browser/chorus-client.js ${(bytes.length / 1024).toFixed(0)} KiB, ${(gzipSync(bytes).length / 1024).toFixed(0)} KiB gzipped`);
await esbuild.stop?.();
