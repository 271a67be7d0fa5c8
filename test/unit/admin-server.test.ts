// Admin port hardening (issue 10, must-have 7): a token for state-changing endpoints,
// Host and Origin checks against browser pages, 400 for malformed URLs, a connection cap
// and a working header timeout.
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

import { startAdminServer, tokenMatches, requestPath, type AdminServer, type AdminServerOptions } from '../../daemon/admin-server.js';
import { createLogger } from '../../daemon/logger.js';
import { raw } from './helpers/http.js';

const logger = createLogger({ level: 'silent' });
let servers: AdminServer[] = [];
let forced = 0;

afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
  forced = 0;
});

async function start(extra: Partial<AdminServerOptions> = {}): Promise<AdminServer> {
  const s = await startAdminServer({
    listen: '127.0.0.1:0',
    logger,
    status: () => ({ ok: true }),
    metrics: () => '',
    forcePrimary: async () => {
      forced++;
      return { ok: true, message: 'forced' };
    },
    ...extra,
  });
  servers.push(s);
  return s;
}

describe('admin token', () => {
  it('POST /force-primary needs the bearer token when --admin-token is set', async () => {
    const s = await start({ token: 's3cret' });
    expect((await raw(s.address, 'POST', '/force-primary')).status).toBe(401);
    expect((await raw(s.address, 'POST', '/force-primary', { authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await raw(s.address, 'POST', '/force-primary', { authorization: 'Bearer s3cret!' })).status).toBe(401);
    expect(forced).toBe(0);
    const ok = await raw(s.address, 'POST', '/force-primary', { authorization: 'Bearer s3cret' });
    expect(ok.status).toBe(200);
    expect(forced).toBe(1);
    // GET endpoints stay open.
    expect((await raw(s.address, 'GET', '/status')).status).toBe(200);
  });

  it('without a token, serves POST /force-primary to loopback callers only', async () => {
    const s = await start();
    expect((await raw(s.address, 'POST', '/force-primary')).status).toBe(200);
    expect(forced).toBe(1);
  });

  it('compares tokens in constant time, whatever their lengths', () => {
    expect(tokenMatches('abc', 'abc')).toBe(true);
    expect(tokenMatches('abc', 'abd')).toBe(false);
    expect(tokenMatches('ab', 'abc')).toBe(false);
    expect(tokenMatches('', 'abc')).toBe(false);
  });
});

describe('browser pages cannot post', () => {
  it('refuses a cross-site POST (Origin of another site), even with no token configured', async () => {
    const s = await start();
    const r = await raw(s.address, 'POST', '/force-primary', { origin: 'https://evil.example' });
    expect(r.status).toBe(403);
    const site = await raw(s.address, 'POST', '/force-primary', { 'sec-fetch-site': 'cross-site' });
    expect(site.status).toBe(403);
    expect(forced).toBe(0);
  });

  it('refuses a cross-site POST that carries the right token too', async () => {
    const s = await start({ token: 't' });
    const r = await raw(s.address, 'POST', '/force-primary', { origin: 'http://evil.example', authorization: 'Bearer t' });
    expect(r.status).toBe(403);
    expect(forced).toBe(0);
  });

  it('refuses a Host that is not this daemon (DNS rebinding), for GET and POST', async () => {
    const s = await start();
    expect((await raw(s.address, 'GET', '/status', { host: 'evil.example:7600' })).status).toBe(403);
    expect((await raw(s.address, 'POST', '/force-primary', { host: 'evil.example' })).status).toBe(403);
    expect(forced).toBe(0);
    expect((await raw(s.address, 'GET', '/status', { host: 'localhost:7600' })).status).toBe(200);
    expect((await raw(s.address, 'GET', '/status', { host: s.address })).status).toBe(200);
  });

  it('accepts a same-origin POST', async () => {
    const s = await start();
    const r = await raw(s.address, 'POST', '/force-primary', { origin: `http://${s.address}` });
    expect(r.status).toBe(200);
  });
});

describe('malformed requests', () => {
  it('answers 400, not 500, to // and other malformed URLs', async () => {
    const s = await start();
    expect((await raw(s.address, 'GET', '//')).status).toBe(400);
    expect((await raw(s.address, 'GET', '//evil.example/status')).status).toBe(400);
    expect((await raw(s.address, 'GET', '/status')).status).toBe(200);
    expect(requestPath('//')).toBeUndefined();
    expect(requestPath('/a?b')).toBe('/a');
  });
});

describe('connection limits', () => {
  it('closes a connection that does not send its headers in time', async () => {
    const s = await start({ headersTimeoutMs: 300 });
    const [host, port] = [s.address.slice(0, s.address.lastIndexOf(':')), Number(s.address.slice(s.address.lastIndexOf(':') + 1))];
    const sock = connect(port, host);
    sock.on('error', () => {});
    sock.resume(); // read the 408, so the server's close is seen
    sock.write('GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n'); // never finishes the headers
    const started = Date.now();
    await new Promise<void>((resolve) => sock.on('close', () => resolve()));
    expect(Date.now() - started).toBeLessThan(5_000);
  }, 10_000);

  it('caps open connections', async () => {
    const s = await start({ maxConnections: 2 });
    const [host, port] = [s.address.slice(0, s.address.lastIndexOf(':')), Number(s.address.slice(s.address.lastIndexOf(':') + 1))];
    const socks = [0, 1, 2].map(() => connect(port, host));
    for (const x of socks) x.on('error', () => {});
    const closed = await new Promise<number>((resolve) => {
      socks[2]!.on('close', () => resolve(2));
      setTimeout(() => resolve(-1), 2_000);
    });
    expect(closed).toBe(2);
    for (const x of socks) x.destroy();
  });
});
