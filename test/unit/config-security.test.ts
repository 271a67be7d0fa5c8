// Configuration of transport security (issue 10, must-haves 5 and 6): secrets from a
// flag, a variable or a file, the previous secret of a rotation, and the TLS files.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { ConfigError } from '../../src/errors.js';
import { USAGE, resolveConfig } from '../../daemon/config.js';

const dir = mkdtempSync(join(tmpdir(), 'chorus-config-security-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}
function configError(f: () => unknown): ConfigError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('secrets', () => {
  it('has none by default', () => {
    expect(resolveConfig([], {})).toMatchObject({ secret: undefined, secrets: [], tls: undefined });
  });

  it('takes the current and previous secret from flags or CHORUS_SECRET / CHORUS_SECRET_PREVIOUS', () => {
    expect(resolveConfig(['--secret', 'new', '--secret-previous', 'old'], {}).secrets).toEqual(['new', 'old']);
    const c = resolveConfig([], { CHORUS_SECRET: 'n', CHORUS_SECRET_PREVIOUS: 'o' });
    expect(c).toMatchObject({ secret: 'n', secretPrevious: 'o', secrets: ['n', 'o'] });
    expect(resolveConfig(['--secret', 'same', '--secret-previous', 'same'], {}).secrets).toEqual(['same']);
  });

  it('reads --secret-file: the secret on its first line, the previous one on the second', () => {
    expect(resolveConfig(['--secret-file', file('one', 'abc\n')], {}).secrets).toEqual(['abc']);
    const two = resolveConfig([], { CHORUS_SECRET_FILE: file('two', '  new \r\nold\n') });
    expect(two).toMatchObject({ secret: 'new', secretPrevious: 'old', secrets: ['new', 'old'] });
    expect(resolveConfig(['--secret-file', file('p', 'x'), '--secret-previous', 'y'], {}).secrets).toEqual(['x', 'y']);
  });

  it('refuses ambiguous or empty secrets', () => {
    expect(configError(() => resolveConfig(['--secret', 'a', '--secret-file', file('f', 'b')], {})).message).toMatch(/not both/);
    expect(configError(() => resolveConfig(['--secret-file', file('empty', '\n\n')], {})).message).toMatch(/one line/);
    expect(configError(() => resolveConfig(['--secret-file', file('three', 'a\nb\nc')], {})).message).toMatch(/one line/);
    expect(configError(() => resolveConfig(['--secret-file', join(dir, 'missing')], {})).message).toMatch(/ENOENT/);
    expect(configError(() => resolveConfig(['--secret-previous', 'old'], {})).message).toMatch(/without a current/);
  });

  it('documents the flags in --help', () => {
    for (const flag of ['--secret-previous', '--secret-file', '--tls-cert', '--tls-key', '--tls-ca']) expect(USAGE).toContain(flag);
  });
});

describe('TLS files', () => {
  it('needs all three, readable, a certificate with its key', () => {
    expect(configError(() => resolveConfig(['--tls-cert', 'x.pem'], {})).message).toMatch(/all three/);
    expect(configError(() => resolveConfig(['--tls-cert', join(dir, 'no'), '--tls-key', 'k', '--tls-ca', 'c'], {})).message).toMatch(
      /cannot read certificate/,
    );
    const junk = file('junk.pem', 'not a certificate');
    expect(configError(() => resolveConfig(['--tls-cert', junk, '--tls-key', junk, '--tls-ca', junk], {})).message).toMatch(/not a usable/);
  });

  it.skipIf(!hasOpenssl())('loads a certificate, its key and a CA', () => {
    const key = join(dir, 'k.pem');
    const cert = join(dir, 'c.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=t'], { stdio: 'ignore' });
    const c = resolveConfig([], { CHORUS_TLS_CERT: cert, CHORUS_TLS_KEY: key, CHORUS_TLS_CA: cert });
    expect(c.tls?.files).toEqual({ cert, key, ca: cert });
    expect(c.tls?.cert.toString()).toContain('BEGIN CERTIFICATE');
  });
});

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
