// tsc does not copy the generated protobuf module (plain JS beside its .d.ts): copy it.
import { cpSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
cpSync(join(root, 'src/wire/gen'), join(root, 'dist/src/wire/gen'), { recursive: true });
