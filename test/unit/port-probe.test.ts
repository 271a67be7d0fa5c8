// probePort tells a daemon's ports apart, which is what lets `chorus` say "that is the
// client port, not the admin port" instead of showing a hung request or "Unexpected
// server response: 200" (issue 15). Each kind of server is a stand-in built here.
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type Server } from 'node:net';

import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';

import { probePort, probeTarget } from '../../daemon/port-probe.js';
import { makeCa } from '../multi/certs.js';

const servers: Server[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

async function listen(server: Server): Promise<{ host: string; port: number }> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { host: '127.0.0.1', port: (server.address() as { port: number }).port };
}

/** A WebSocket server like the client gateway: its own HTTP server, with or without plain-HTTP answers. */
function clientPort(http: HttpServer): HttpServer {
  new WebSocketServer({ server: http });
  return http;
}

describe('probePort', () => {
  it('names a WebSocket server that never answers plain HTTP the client port', async () => {
    const target = await listen(clientPort(createHttpServer()));
    expect(await probePort(target)).toEqual({ kind: 'client', tls: false });
  });

  it('names a server answering 426 Upgrade Required the client port', async () => {
    const target = await listen(createHttpServer((_req, res) => res.writeHead(426).end()));
    expect(await probePort(target)).toEqual({ kind: 'client', tls: false });
  });

  it('names a wss:// server the client port over TLS', async () => {
    const ca = makeCa('probe-ca');
    const cert = ca.issue('probe');
    const target = await listen(clientPort(createHttpsServer({ cert: cert.certPem, key: cert.keyPem })));
    expect(await probePort(target)).toEqual({ kind: 'client', tls: true });
  });

  it("names a server whose /status describes a daemon the admin port, with the daemon's client address", async () => {
    const status = { daemon: { name: 'a', addresses: { client: '127.0.0.1:7400', admin: 'x', listen: 'y' } }, daemonView: {} };
    const target = await listen(createHttpServer((req, res) => res.end(req.url === '/status' ? JSON.stringify(status) : '<html>')));
    expect(await probePort(target)).toEqual({ kind: 'admin', client: '127.0.0.1:7400' });
  });

  it('names a port that closes the connection without answering (a peer port) closed', async () => {
    const target = await listen(createTcpServer((socket) => socket.destroy()));
    expect(await probePort(target)).toEqual({ kind: 'closed' });
  });

  it('names an unrelated HTTP server by its status, and a port nobody listens on refused', async () => {
    const target = await listen(createHttpServer((_req, res) => res.writeHead(404).end('no')));
    expect(await probePort(target)).toEqual({ kind: 'http', status: 404 });
    const dead = await listen(createTcpServer());
    await new Promise<void>((resolve) => servers.pop()!.close(() => resolve()));
    expect(await probePort(dead)).toEqual({ kind: 'refused' });
  });
});

describe('probeTarget', () => {
  it('reads host:port, [v6]:port and URLs', () => {
    expect(probeTarget('127.0.0.1:7600')).toEqual({ host: '127.0.0.1', port: 7600 });
    expect(probeTarget('[::1]:7600')).toEqual({ host: '::1', port: 7600 });
    expect(probeTarget('ws://localhost:7400/x')).toEqual({ host: 'localhost', port: 7400 });
    expect(probeTarget('wss://example.org')).toEqual({ host: 'example.org', port: 443 });
  });
});
