// --client-buffer-bytes: the slow-consumer bound (flag, CHORUS_CLIENT_BUFFER_BYTES, config
// file key clientBufferBytes), its default and its lower limit.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { CLIENT_BUFFER_ALLOWANCE_BYTES, USAGE, resolveConfig } from '../../daemon/config.js';
import { configError } from './helpers/config-error.js';

const dir = mkdtempSync(join(tmpdir(), 'chorus-config-cb-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('clientBufferBytes', () => {
  it('defaults to 64 MiB and is listed in --help', () => {
    expect(resolveConfig([], {}).clientBufferBytes).toBe(64 * 1024 * 1024);
    expect(USAGE).toContain('--client-buffer-bytes N');
  });

  it('is read from the flag, the config file and CHORUS_CLIENT_BUFFER_BYTES, in that precedence', () => {
    const path = join(dir, 'cb.json');
    writeFileSync(path, JSON.stringify({ clientBufferBytes: 30_000_000 }));
    const env = { CHORUS_CLIENT_BUFFER_BYTES: '20000000' };
    expect(resolveConfig([], env).clientBufferBytes).toBe(20_000_000);
    expect(resolveConfig(['--config', path], env).clientBufferBytes).toBe(30_000_000);
    expect(resolveConfig(['--config', path, '--client-buffer-bytes', '40000000'], env).clientBufferBytes).toBe(40_000_000);
  });

  it('must hold one largest message plus the allowance, naming both origins', () => {
    const max = 16 * 1024 * 1024;
    expect(resolveConfig(['--client-buffer-bytes', String(max + CLIENT_BUFFER_ALLOWANCE_BYTES)], {}).clientBufferBytes).toBe(
      max + CLIENT_BUFFER_ALLOWANCE_BYTES,
    );
    const err = configError(() => resolveConfig(['--client-buffer-bytes', '1048576'], {}));
    expect(err.message).toContain('clientBufferBytes (1048576, flag --client-buffer-bytes)');
    expect(err.message).toContain('maxMessageBytes (16777216, default maxMessageBytes)');
    const env = configError(() =>
      resolveConfig(['--max-message-bytes', '1048576'], { CHORUS_CLIENT_BUFFER_BYTES: '1048576' }),
    );
    expect(env.message).toContain('environment variable CHORUS_CLIENT_BUFFER_BYTES');
    expect(env.message).toContain('flag --max-message-bytes');
    // A small bound works with small messages (the multi-process test uses this).
    expect(resolveConfig(['--client-buffer-bytes', '1048576', '--max-message-bytes', '65536'], {}).clientBufferBytes).toBe(1_048_576);
  });

  it('refuses a value that is not a positive integer', () => {
    expect(configError(() => resolveConfig(['--client-buffer-bytes', 'lots'], {})).message).toContain('flag --client-buffer-bytes');
    expect(configError(() => resolveConfig(['--client-buffer-bytes', '0'], {})).message).toContain('out of range');
  });
});
