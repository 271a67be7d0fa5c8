// dns: and dns+srv: seeds in the configuration (issue 14, item 4): parsed and normalized
// from flags, CHORUS_SEEDS and the config file, mixed with plain seeds; --expect required
// with them; --dns-servers.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { DEFAULT_PEER_PORT, USAGE, formatSeed, parseSeed, resolveConfig } from '../../daemon/config.js';
import { configError } from './helpers/config-error.js';

const dir = mkdtempSync(join(tmpdir(), 'chorus-config-dns-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('parseSeed', () => {
  it('reads host:port, dns:NAME[:PORT] and dns+srv:NAME', () => {
    expect(parseSeed('10.0.0.1:7501')).toEqual({ kind: 'address', address: '10.0.0.1:7501' });
    expect(parseSeed('[::1]:7501')).toEqual({ kind: 'address', address: '[::1]:7501' });
    expect(parseSeed('dns:chorus.default.svc.cluster.local')).toEqual({ kind: 'dns', name: 'chorus.default.svc.cluster.local', port: DEFAULT_PEER_PORT });
    expect(DEFAULT_PEER_PORT).toBe(7500); // the port of the default --listen
    expect(parseSeed('dns:Chorus.Example.COM:7600')).toEqual({ kind: 'dns', name: 'chorus.example.com', port: 7600 });
    expect(parseSeed(' dns:peers.example.com.:7600 ')).toEqual({ kind: 'dns', name: 'peers.example.com.', port: 7600 });
    expect(parseSeed('dns:localhost')).toEqual({ kind: 'dns', name: 'localhost', port: 7500 });
    expect(parseSeed('dns+srv:_peer._tcp.chorus.default.svc.cluster.local')).toEqual({ kind: 'srv', name: '_peer._tcp.chorus.default.svc.cluster.local' });
    expect(parseSeed('DNS+SRV:_peer._tcp.example.com')).toEqual({ kind: 'srv', name: '_peer._tcp.example.com' });
  });

  it('writes a seed back in the form it reads, with the default port spelled out', () => {
    for (const text of ['a:1', '[::1]:2', 'dns:x.example:3', 'dns+srv:_p._tcp.example']) expect(formatSeed(parseSeed(text))).toBe(text);
    expect(formatSeed(parseSeed('dns:x.example'))).toBe('dns:x.example:7500');
  });

  it('refuses malformed DNS seeds with a clear message', () => {
    const message = (s: string) => configError(() => parseSeed(s, 'flag --seeds')).message;
    expect(message('dns:')).toMatch(/flag --seeds: "dns:" names no host/);
    expect(message('dns::7500')).toMatch(/names no host/);
    expect(message('dns+srv:')).toMatch(/names no host/);
    expect(message('dns:a.example:0')).toMatch(/port 0 cannot be dialled/);
    expect(message('dns:a.example:70000')).toMatch(/invalid port/);
    expect(message('dns:a.example:http')).toMatch(/invalid port/);
    expect(message('dns+srv:_p._tcp.example:7500')).toMatch(/takes no port \(its SRV records give the ports\)/);
    expect(message('dns:bad..name')).toMatch(/"bad\.\.name" is not a DNS name/);
    expect(message('dns:-bad.example')).toMatch(/not a DNS name/);
    expect(message('dns:has space.example')).toMatch(/not a DNS name/);
    expect(message(`dns:${'a'.repeat(64)}.example`)).toMatch(/not a DNS name/);
    expect(message(`dns:${'abc.'.repeat(64)}example`)).toMatch(/at most 253 characters/);
    expect(message('dns:10.0.0.1:7500')).toMatch(/an IP address needs no DNS; write it as a host:port seed/);
    expect(message('dns:[::1]:7500')).toMatch(/IP address needs no DNS|not a DNS name/);
    // "dns:7500" is a host named dns rather than a DNS seed with no name: refused, not guessed.
    expect(message('dns:7500')).toMatch(/last label is all digits/);
    expect(message('a.example')).toMatch(/not host:port/);
  });
});

describe('resolveConfig with DNS seeds', () => {
  it('mixes DNS seeds with plain ones from the flag, CHORUS_SEEDS and the config file', () => {
    const c = resolveConfig(['--seeds', 'dns:a.example,10.0.0.1:7500', '--seeds', 'dns+srv:_peer._tcp.b.example', '--expect', '3'], {});
    expect(c.seeds).toEqual(['dns:a.example:7500', '10.0.0.1:7500', 'dns+srv:_peer._tcp.b.example']);
    expect(c.expect).toBe(3);
    expect(c.dnsServers).toEqual([]);

    const env = resolveConfig([], { CHORUS_SEEDS: 'dns:a.example:7501, dns:A.example:7501,h:1', CHORUS_EXPECT: '2' });
    expect(env.seeds).toEqual(['dns:a.example:7501', 'h:1']); // the same name twice is one seed

    const path = join(dir, 'dns.json');
    writeFileSync(path, JSON.stringify({ seeds: ['dns+srv:_peer._tcp.c.example', 'h:2'], expect: 2, dnsServers: ['10.0.0.53'] }));
    const file = resolveConfig(['--config', path], {});
    expect(file.seeds).toEqual(['dns+srv:_peer._tcp.c.example', 'h:2']);
    expect(file.dnsServers).toEqual(['10.0.0.53:53']);
  });

  it('requires --expect with a DNS seed, whose number of daemons is unknown', () => {
    const err = configError(() => resolveConfig(['--seeds', 'h:1,dns:a.example'], {}));
    expect(err.message).toMatch(/flag --seeds: seed "dns:a\.example:7500" names an unknown number of daemons: give --expect/);
    expect(configError(() => resolveConfig([], { CHORUS_SEEDS: 'dns+srv:_p._tcp.x' })).message).toMatch(/environment variable CHORUS_SEEDS.*--expect/);
    // Plain seeds keep their default (seeds + 1).
    expect(resolveConfig(['--seeds', 'h:1,h:2'], {}).expect).toBeUndefined();
    expect(resolveConfig(['--seeds', 'dns:a.example', '--expect', '1'], {}).expect).toBe(1);
  });

  it('names the origin of a malformed DNS seed', () => {
    expect(configError(() => resolveConfig(['--seeds', 'dns:bad..x', '--expect', '2'], {})).message).toMatch(/^flag --seeds: "dns:bad\.\.x"/);
    expect(configError(() => resolveConfig([], { CHORUS_SEEDS: 'dns+srv:x:1', CHORUS_EXPECT: '2' })).message).toMatch(/^environment variable CHORUS_SEEDS/);
  });

  it('reads --dns-servers (CHORUS_DNS_SERVERS, "dnsServers"): IP addresses, port 53 by default', () => {
    const c = resolveConfig(['--dns-servers', '10.0.0.2,10.0.0.3:5353', '--dns-servers', '[::1]:53,::2'], {});
    expect(c.dnsServers).toEqual(['10.0.0.2:53', '10.0.0.3:5353', '[::1]:53', '[::2]:53']);
    expect(resolveConfig([], { CHORUS_DNS_SERVERS: '127.0.0.1:1053' }).dnsServers).toEqual(['127.0.0.1:1053']);
    expect(configError(() => resolveConfig(['--dns-servers', 'dns.example:53'], {})).message).toMatch(/flag --dns-servers: DNS server "dns.example:53" must be an IP address/);
    expect(configError(() => resolveConfig(['--dns-servers', '10.0.0.2:0'], {})).message).toMatch(/port 0/);
    expect(configError(() => resolveConfig(['--dns-servers', '10.0.0.2:x'], {})).message).toMatch(/flag --dns-servers/);
  });

  it('documents the syntax in --help', () => {
    expect(USAGE).toContain('dns:NAME[:PORT]');
    expect(USAGE).toContain('dns+srv:NAME');
    expect(USAGE).toContain('--dns-servers');
  });
});
