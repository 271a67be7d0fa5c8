// How the SDK reports a slow-consumer expulsion, against a scripted daemon that does what
// the gateway does: an EXPELLED signal ('slow-consumer') per group, then close 4008.
import type { AddressInfo } from 'node:net';

import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';

import { connect, ConnectionError, type Client } from '../../client-sdk/index.js';
import { chorus } from '../../src/wire/gen/chorus.js';
import { until } from './helpers/wait.js';

const servers: WebSocketServer[] = [];
const clients: Client[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  for (const s of servers.splice(0)) {
    for (const ws of s.clients) ws.terminate();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
});

function send(ws: WebSocket, ...events: chorus.DaemonEvent.$Properties[]): void {
  ws.send(chorus.DaemonFrame.encode({ events }).finish());
}

/** Answers the hello and joins; remembers the socket so the test can expel the client. */
async function fakeDaemon(): Promise<{ url: string; socket: () => WebSocket; multicasts: number[] }> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  servers.push(server);
  await new Promise<void>((resolve) => server.once('listening', resolve));
  let socket: WebSocket | undefined;
  const multicasts: number[] = [];
  server.on('connection', (ws) => {
    socket = ws;
    ws.on('message', (data: Buffer) => {
      for (const req of chorus.ClientFrame.decode(data).requests as chorus.ClientRequest[]) {
        if (req.body === 'hello') send(ws, { helloOk: { clientId: 'c1', daemon: 'd1', protocol: 1, maxMessageBytes: 1024 } });
        else if (req.body === 'join') {
          send(ws, { view: { group: req.join!.group, viewId: 1, members: ['c1'], joined: ['c1'] } }, { reply: { req: req.req, ok: true } });
        } else if (req.body === 'multicast') multicasts.push(req.req); // never answered
      }
    });
  });
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, socket: () => socket!, multicasts };
}

describe('slow-consumer expulsion in the SDK', () => {
  it('emits expelled("slow-consumer") on each group, then close with ERR_SLOW_CONSUMER; pending requests fail with it', async () => {
    const daemon = await fakeDaemon();
    const client = await connect({ url: daemon.url, name: 'slow' });
    clients.push(client);
    const a = await client.join('a');
    const b = await client.join('b');
    const seen: string[] = [];
    a.on('expelled', (reason) => seen.push(`a expelled ${reason}`));
    b.on('expelled', (reason) => seen.push(`b expelled ${reason}`));
    let closeErr: Error | undefined;
    client.on('close', (err) => {
      closeErr = err;
      seen.push('close');
    });
    const pending = a.multicast('x');
    pending.catch(() => {});
    await until(() => daemon.multicasts.length === 1);

    const kind = chorus.GroupSignal.Kind.EXPELLED;
    send(daemon.socket(), { signal: { group: 'a', kind, reason: 'slow-consumer' } }, { signal: { group: 'b', kind, reason: 'slow-consumer' } });
    daemon.socket().close(4008, 'slow consumer');
    await until(() => seen.includes('close'));

    expect(seen).toEqual(['a expelled slow-consumer', 'b expelled slow-consumer', 'close']);
    expect(closeErr).toBeInstanceOf(ConnectionError);
    expect(closeErr).toMatchObject({ name: 'ConnectionError', code: 'ERR_SLOW_CONSUMER' });
    expect(closeErr!.message).toContain('slow consumer');
    await expect(pending).rejects.toMatchObject({ code: 'ERR_SLOW_CONSUMER' });
    expect(client.closed).toBe(true);
    await expect(client.join('c')).rejects.toMatchObject({ code: 'ERR_SLOW_CONSUMER' });
  });

  it('still reports any other close as ERR_DISCONNECTED', async () => {
    const daemon = await fakeDaemon();
    const client = await connect({ url: daemon.url, name: 'x' });
    clients.push(client);
    let closeErr: Error | undefined;
    client.on('close', (err) => (closeErr = err));
    daemon.socket().close(1001, 'daemon shutting down');
    await until(() => closeErr !== undefined);
    expect(closeErr).toMatchObject({ code: 'ERR_DISCONNECTED' });
  });
});
