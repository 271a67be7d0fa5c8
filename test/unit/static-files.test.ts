// The client port's plain HTTP side (daemon/static-files.ts through ClientGateway): the
// SDK bundle at /chorus.js, --serve-dir files with their content types, GET/HEAD only,
// and no way out of the served directory — by dots, encoded separators or symlinks —
// while WebSocket upgrades on the same port keep working.
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';

import { ClientGateway } from '../../daemon/client-gateway.js';
import { createLogger } from '../../daemon/logger.js';
import { pathSegments } from '../../daemon/static-files.js';
import { resolveConfig } from '../../daemon/config.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request with `path` sent verbatim (fetch would normalise the dots away). */
function raw(address: string, method: string, path: string): Promise<Answer> {
  const [host, port] = address.split(':') as [string, string];
  return new Promise((resolve, reject) => {
    const req = request({ host, port: Number(port), method, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

const SECRET = 'top secret outside the served directory';

describe('client port static files', () => {
  let base: string;
  let served: string;
  let gateway: ClientGateway;
  let bare: ClientGateway;
  let address: string;
  let bareAddress: string;

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), 'chorus-static-'));
    served = join(base, 'site');
    mkdirSync(join(served, 'sub'), { recursive: true });
    writeFileSync(join(served, 'index.html'), '<!doctype html><title>board</title>');
    writeFileSync(join(served, 'app.js'), 'export const x = 1;');
    writeFileSync(join(served, 'style.css'), 'body{}');
    writeFileSync(join(served, 'sub', 'index.html'), 'sub index');
    writeFileSync(join(served, 'a b.txt'), 'spaced');
    writeFileSync(join(served, '.env'), SECRET);
    writeFileSync(join(base, 'secret.txt'), SECRET);
    symlinkSync(join(base, 'secret.txt'), join(served, 'link.txt'));
    symlinkSync(base, join(served, 'up'));
    const bundle = join(base, 'bundle.js');
    writeFileSync(bundle, 'export function connect() {}');
    const logger = createLogger({ name: 'd1', level: 'silent', pretty: false });
    const common = { listen: '127.0.0.1:0', maxMessageBytes: 1024, daemonName: 'd1', makeClientId: (n: string) => `${n}@d1`, logger };
    gateway = new ClientGateway({ ...common, serveDir: served, browserBundleFile: bundle });
    bare = new ClientGateway({ ...common, browserBundleFile: bundle });
    address = await gateway.listen();
    bareAddress = await bare.listen();
  });

  afterAll(async () => {
    await Promise.all([gateway.close(), bare.close()]);
  });

  it('serves /chorus.js (the SDK bundle) as JavaScript, with or without --serve-dir', async () => {
    for (const at of [address, bareAddress]) {
      const res = await raw(at, 'GET', '/chorus.js');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('text/javascript; charset=utf-8');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.body).toBe('export function connect() {}');
    }
  });

  it('serves the directory with content types, index.html for / and sub/, and a query string ignored', async () => {
    const cases: Array<[string, string, string]> = [
      ['/', 'text/html; charset=utf-8', '<!doctype html><title>board</title>'],
      ['/index.html?x=1#y', 'text/html; charset=utf-8', '<!doctype html><title>board</title>'],
      ['/app.js', 'text/javascript; charset=utf-8', 'export const x = 1;'],
      ['/style.css', 'text/css; charset=utf-8', 'body{}'],
      ['/sub/', 'text/html; charset=utf-8', 'sub index'],
      ['/sub', 'text/html; charset=utf-8', 'sub index'],
      ['/a%20b.txt', 'text/plain; charset=utf-8', 'spaced'],
    ];
    for (const [path, type, body] of cases) {
      const res = await raw(address, 'GET', path);
      expect({ path, status: res.status, type: res.headers['content-type'], body: res.body }).toEqual({ path, status: 200, type, body });
    }
  });

  it('answers HEAD with the headers only', async () => {
    const res = await raw(address, 'HEAD', '/app.js');
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBe(String('export const x = 1;'.length));
    expect(res.body).toBe('');
  });

  it('refuses every method but GET and HEAD with 405', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']) {
      const res = await raw(address, method, '/index.html');
      expect({ method, status: res.status, allow: res.headers.allow }).toEqual({ method, status: 405, allow: 'GET, HEAD' });
    }
  });

  it('never serves a file outside the directory: dots, encoded dots and slashes, backslashes, dotfiles, symlinks', async () => {
    const attempts = [
      '/../secret.txt',
      '/sub/../../secret.txt',
      '/%2e%2e/secret.txt',
      '/%2E%2E%2Fsecret.txt',
      '/..%2fsecret.txt',
      '/..%5csecret.txt',
      '/sub/%2e%2e/%2e%2e/secret.txt',
      '/.env',
      '/%2eenv',
      '/index.html%00.txt',
      '//etc/passwd',
      '/link.txt',
      '/up/secret.txt',
      `/${'a/'.repeat(40)}x`,
      '/%zz',
      'secret.txt',
    ];
    for (const path of attempts) {
      const res = await raw(address, 'GET', path);
      expect({ path, refused: res.status === 400 || res.status === 404 }).toEqual({ path, refused: true });
      expect(res.body).not.toContain(SECRET);
    }
  });

  it('answers 404 for a missing file, and for any page when no directory is served', async () => {
    expect((await raw(address, 'GET', '/missing.html')).status).toBe(404);
    const res = await raw(bareAddress, 'GET', '/');
    expect(res.status).toBe(404);
    expect(res.body).toContain('--serve-dir');
  });

  it('refuses a URL longer than the limit with 414', async () => {
    expect((await raw(address, 'GET', `/${'x'.repeat(3000)}`)).status).toBe(414);
  });

  it('still upgrades WebSockets on the same port', async () => {
    const ws = new WebSocket(`ws://${address}`);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.terminate();
  });

  it('splits paths into decoded segments and refuses unsafe ones', () => {
    expect(pathSegments('/')).toEqual([]);
    expect(pathSegments('/a/b%20c/')).toEqual(['a', 'b c']);
    expect(pathSegments('/a/../b')).toBeUndefined();
    expect(pathSegments('/a%2fb')).toBeUndefined();
    expect(pathSegments('relative')).toBeUndefined();
  });

  it('--serve-dir must name an existing directory', () => {
    expect(resolveConfig(['--serve-dir', served], {}).serveDir).toBe(served);
    expect(resolveConfig([], { CHORUS_SERVE_DIR: served }).serveDir).toBe(served);
    expect(resolveConfig([], {}).serveDir).toBeUndefined();
    expect(() => resolveConfig(['--serve-dir', join(base, 'nope')], {})).toThrow(/cannot read directory/);
    expect(() => resolveConfig(['--serve-dir', join(served, 'app.js')], {})).toThrow(/is not a directory/);
  });
});
