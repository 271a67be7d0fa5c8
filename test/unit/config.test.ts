import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { defaultDaemonName, formatHostPort, parseHostPort, resolveConfig } from '../../daemon/config.js';
import { configError } from './helpers/config-error.js';

const dir = mkdtempSync(join(tmpdir(), 'chorus-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

describe('resolveConfig', () => {
  it('uses the documented defaults', () => {
    const c = resolveConfig([], {});
    expect(c).toMatchObject({
      name: defaultDaemonName(),
      cluster: 'chorus',
      listen: '127.0.0.1:7500',
      advertise: undefined,
      client: '127.0.0.1:7400',
      admin: '127.0.0.1:7600',
      seeds: [],
      expect: undefined,
      heartbeatMs: 250,
      suspectMs: 1500,
      maxMessageBytes: 16777216,
      maxBufferBytes: 67108864,
      logLevel: 'info',
      secret: undefined,
      token: undefined,
      configFile: undefined,
      help: false,
    });
  });

  it('applies flags over the config file over CHORUS_* env over defaults', () => {
    const path = file('precedence.json', { name: 'from-file', cluster: 'file-cluster', heartbeatMs: 100 });
    const env = {
      CHORUS_NAME: 'from-env',
      CHORUS_CLUSTER: 'env-cluster',
      CHORUS_HEARTBEAT_MS: '200',
      CHORUS_SUSPECT_MS: '900',
      CHORUS_LOG_LEVEL: 'debug',
    };
    const c = resolveConfig(['--name', 'from-flag', '--config', path], env);
    expect(c.name).toBe('from-flag'); // flag beats file and env
    expect(c.cluster).toBe('file-cluster'); // file beats env
    expect(c.heartbeatMs).toBe(100); // file beats env
    expect(c.suspectMs).toBe(900); // env beats default
    expect(c.logLevel).toBe('debug');
    expect(c.maxMessageBytes).toBe(16777216); // default
    expect(c.configFile).toBe(path);
  });

  it('reads every flag', () => {
    const c = resolveConfig(
      [
        '--name=n1',
        '--cluster',
        'c1',
        '--listen',
        '0.0.0.0:0',
        '--advertise',
        'db1.example.com:7500',
        '--client',
        '127.0.0.1:0',
        '--admin',
        '127.0.0.1:0',
        '--seeds',
        'a:1,b:2',
        '--seeds',
        '[::1]:3',
        '--expect',
        '3',
        '--heartbeat-ms',
        '50',
        '--suspect-ms',
        '400',
        '--max-message-bytes',
        '1024',
        '--log-level',
        'warn',
        '--secret',
        's3cret',
        '--client-token',
        'tok',
        '--admin-token',
        'adm',
      ],
      {},
    );
    expect(c).toMatchObject({
      name: 'n1',
      cluster: 'c1',
      listen: '0.0.0.0:0',
      advertise: 'db1.example.com:7500',
      client: '127.0.0.1:0',
      admin: '127.0.0.1:0',
      seeds: ['a:1', 'b:2', '[::1]:3'],
      expect: 3,
      heartbeatMs: 50,
      suspectMs: 400,
      maxMessageBytes: 1024,
      logLevel: 'warn',
      secret: 's3cret',
      token: 'tok',
      adminToken: 'adm',
    });
  });

  it('reads CHORUS_* variables, with comma-separated seeds, secret and client token', () => {
    const c = resolveConfig([], {
      CHORUS_SEEDS: '10.0.0.1:7500, 10.0.0.2:7500,',
      CHORUS_SECRET: 'x',
      CHORUS_CLIENT_TOKEN: 'y',
      CHORUS_EXPECT: '2',
      CHORUS_MAX_MESSAGE_BYTES: '65536',
    });
    expect(c.seeds).toEqual(['10.0.0.1:7500', '10.0.0.2:7500']);
    expect(c.secret).toBe('x');
    expect(c.token).toBe('y');
    expect(c.expect).toBe(2);
    expect(c.maxMessageBytes).toBe(65536);
  });

  it('takes the admin token from CHORUS_ADMIN_TOKEN or the file key adminToken, and refuses an empty one', () => {
    expect(resolveConfig([], { CHORUS_ADMIN_TOKEN: 'e' }).adminToken).toBe('e');
    expect(resolveConfig([], { CHORUS_CONFIG: file('admin.json', { adminToken: 'f' }) }).adminToken).toBe('f');
    expect(resolveConfig([], {}).adminToken).toBeUndefined();
    expect(configError(() => resolveConfig(['--admin-token', ''], {})).message).toMatch(/admin-token/);
  });

  it('takes the config file from CHORUS_CONFIG, with seeds as an array and clientToken', () => {
    const path = file('env-path.json', { seeds: ['h1:1', 'h2:2'], clientToken: 't', expect: 2 });
    const c = resolveConfig([], { CHORUS_CONFIG: path });
    expect(c.seeds).toEqual(['h1:1', 'h2:2']);
    expect(c.token).toBe('t');
    expect(c.configFile).toBe(path);
  });

  it('accepts IPv6 addresses in brackets', () => {
    const c = resolveConfig(['--listen', '[::1]:7500', '--client', '[::]:0', '--seeds', '[fe80::1]:7501'], {});
    expect(c.listen).toBe('[::1]:7500');
    expect(c.client).toBe('[::]:0');
    expect(c.seeds).toEqual(['[fe80::1]:7501']);
  });

  it('refuses an unknown flag, naming it', () => {
    expect(configError(() => resolveConfig(['--nmae', 'x'], {})).message).toMatch(/unknown flag --nmae/);
    expect(configError(() => resolveConfig(['stray'], {})).message).toMatch(/unexpected argument "stray"/);
    expect(configError(() => resolveConfig(['--name'], {})).message).toMatch(/--name/);
  });

  it('refuses bad values, naming the source and the key', () => {
    expect(configError(() => resolveConfig(['--heartbeat-ms', 'abc'], {})).message).toMatch(/flag --heartbeat-ms/);
    expect(configError(() => resolveConfig(['--expect', '0'], {})).message).toMatch(/flag --expect.*out of range/);
    expect(configError(() => resolveConfig(['--listen', '::1:7500'], {})).message).toMatch(/flag --listen.*brackets/);
    expect(configError(() => resolveConfig(['--listen', 'host:99999'], {})).message).toMatch(/flag --listen.*port/);
    expect(configError(() => resolveConfig(['--listen', 'nohost'], {})).message).toMatch(/not host:port/);
    expect(configError(() => resolveConfig(['--advertise', 'h:0'], {})).message).toMatch(/--advertise.*port 0/);
    expect(configError(() => resolveConfig(['--seeds', 'a:1,b'], {})).message).toMatch(/flag --seeds/);
    expect(configError(() => resolveConfig(['--log-level', 'loud'], {})).message).toMatch(/--log-level.*loud/);
    expect(configError(() => resolveConfig(['--name', 'a#b'], {})).message).toMatch(/--name.*daemon name/);
    expect(configError(() => resolveConfig([], { CHORUS_SUSPECT_MS: '-1' })).message).toMatch(
      /environment variable CHORUS_SUSPECT_MS/,
    );
    expect(configError(() => resolveConfig([], { CHORUS_MAX_MESSAGE_BYTES: '1e9' })).message).toMatch(
      /CHORUS_MAX_MESSAGE_BYTES/,
    );
    const bad = file('bad-value.json', { heartbeatMs: 'fast' });
    expect(configError(() => resolveConfig(['--config', bad], {})).message).toMatch(
      new RegExp(`config file ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, key "heartbeatMs"`),
    );
    const frac = file('fraction.json', { suspectMs: 1.5 });
    expect(configError(() => resolveConfig(['--config', frac], {})).message).toMatch(/key "suspectMs"/);
  });

  it('refuses suspectMs not above heartbeatMs', () => {
    expect(configError(() => resolveConfig(['--heartbeat-ms', '500', '--suspect-ms', '500'], {})).message).toMatch(
      /suspectMs.*greater than heartbeatMs/,
    );
  });

  it('refuses an unreadable, invalid or unknown-keyed config file', () => {
    expect(configError(() => resolveConfig(['--config', join(dir, 'missing.json')], {})).message).toMatch(
      /cannot read config file .*missing\.json.*ENOENT/,
    );
    const notJson = file('not-json.json', '{ name: ');
    expect(configError(() => resolveConfig(['--config', notJson], {})).message).toMatch(/not valid JSON/);
    const array = file('array.json', [1]);
    expect(configError(() => resolveConfig(['--config', array], {})).message).toMatch(/JSON object/);
    const unknown = file('unknown.json', { heartbeat_ms: 1 });
    expect(configError(() => resolveConfig(['--config', unknown], {})).message).toMatch(/unknown key "heartbeat_ms"/);
  });
});

describe('parseHostPort / formatHostPort', () => {
  it('round-trips IPv4, names and IPv6', () => {
    expect(parseHostPort('127.0.0.1:7500')).toEqual({ host: '127.0.0.1', port: 7500 });
    expect(parseHostPort('example.com:0')).toEqual({ host: 'example.com', port: 0 });
    expect(parseHostPort('[::1]:7500')).toEqual({ host: '::1', port: 7500 });
    expect(formatHostPort('::1', 7500)).toBe('[::1]:7500');
    expect(formatHostPort('10.1.2.3', 1)).toBe('10.1.2.3:1');
    expect(formatHostPort(...(Object.values(parseHostPort('[fe80::2]:9')) as [string, number]))).toBe('[fe80::2]:9');
  });

  it('refuses malformed addresses', () => {
    for (const bad of ['', ':7500', 'h:', 'h:-1', 'h:65536', '[::1]', '[::1]7500', '::1:7500', '[1.2.3.4]:1', 'h:1x']) {
      configError(() => parseHostPort(bad));
    }
  });
});

describe('defaultDaemonName', () => {
  it('turns a host name into a valid daemon name', () => {
    expect(defaultDaemonName('web-01.example.com')).toBe('web-01');
    expect(defaultDaemonName('My Host')).toBe('My-Host');
    expect(defaultDaemonName('')).toBe('chorusd');
  });
});
