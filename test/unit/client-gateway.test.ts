import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';

import { ClientGateway, type ClientRequest } from '../../daemon/client-gateway.js';
import {
  PROTOCOL_MAX,
  PROTOCOL_MIN,
  decodeDaemonFrame,
  encodeClientFrame,
  type DecodedDaemonFrame,
  type chorus,
} from '../../src/wire/index.js';
import { useGateways } from './helpers/gateway.js';
import { until } from './helpers/wait.js';

const { startGateway, openSocket } = useGateways();

interface Harness {
  gateway: ClientGateway;
  url: string;
  lines: Record<string, unknown>[];
  events: string[];
  requests: [string, ClientRequest][];
}

async function start(opts: { token?: string; maxMessageBytes?: number } = {}): Promise<Harness> {
  const { gateway, url, lines } = await startGateway({
    maxMessageBytes: opts.maxMessageBytes ?? 1024,
    ...(opts.token !== undefined ? { token: opts.token } : {}),
  });
  const events: string[] = [];
  const requests: [string, ClientRequest][] = [];
  gateway.on('connect', (id, name) => events.push(`connect ${id} ${name}`));
  gateway.on('disconnect', (id) => events.push(`disconnect ${id}`));
  gateway.on('request', (id, req) => requests.push([id, req]));
  return { gateway, url, lines, events, requests };
}

/** A raw WebSocket client that records decoded frames and its close code. */
interface RawClient {
  ws: WebSocket;
  frames: DecodedDaemonFrame[];
  closed: Promise<number>;
}

async function rawClient(url: string): Promise<RawClient> {
  const frames: DecodedDaemonFrame[] = [];
  const { ws, closed } = await openSocket(url, (data) => frames.push(decodeDaemonFrame(data)));
  return { ws, frames, closed };
}

function hello(name: string, token?: string, req = 1): chorus.IClientRequest {
  return { req, hello: { protocolMin: PROTOCOL_MIN, protocolMax: PROTOCOL_MAX, name, ...(token ? { token } : {}) } };
}

function send(ws: WebSocket, ...requests: chorus.IClientRequest[]): void {
  ws.send(encodeClientFrame({ requests }));
}

describe('ClientGateway', () => {
  it('answers a hello with helloOk, then emits connect and the requests in order', async () => {
    const h = await start({ token: 'tok' });
    const c = await rawClient(h.url);
    send(c.ws, hello('billing', 'tok'), { req: 2, join: { group: 'g' } });
    send(c.ws, { req: 3, multicast: { group: 'g', data: new Uint8Array([1]) } }, { req: 4, leave: { group: 'g' } });
    await until(() => h.requests.length === 3 && c.frames.length === 1);
    const ok = c.frames[0]!.events![0]!;
    expect(ok.body).toBe('helloOk');
    expect(ok.helloOk).toMatchObject({ clientId: 'billing@d1.1', daemon: 'd1', protocol: PROTOCOL_MAX, maxMessageBytes: 1024 });
    expect(h.events).toEqual(['connect billing@d1.1 billing']);
    expect(h.requests.map(([id, r]) => `${id} ${r.req} ${r.body}`)).toEqual([
      'billing@d1.1 2 join',
      'billing@d1.1 3 multicast',
      'billing@d1.1 4 leave',
    ]);
    expect(h.gateway.clientCount).toBe(1);
    c.ws.close();
    await until(() => h.events.length === 2);
    expect(h.events[1]).toBe('disconnect billing@d1.1');
  });

  it('batches the events of one tick into one DaemonFrame', async () => {
    const h = await start();
    const c = await rawClient(h.url);
    send(c.ws, hello('x'));
    await until(() => c.frames.length === 1);
    const id = c.frames[0]!.events![0]!.helloOk!.clientId!;
    for (let i = 1; i <= 100; i++) h.gateway.send(id, { reply: { req: i, ok: true } });
    expect(h.gateway.bufferedBytes(id)).toBeGreaterThan(0);
    await until(() => c.frames.length === 2);
    expect(c.frames[1]!.events!.map((e) => e.reply!.req)).toEqual([...Array(100).keys()].map((i) => i + 1));
    expect(h.gateway.bufferedBytes(id)).toBe(0);
  });

  it('refuses a bad or missing token with ERR_AUTH and closes with 1008', async () => {
    const h = await start({ token: 'right' });
    for (const token of ['wrong', undefined]) {
      const c = await rawClient(h.url);
      send(c.ws, hello('x', token, 7));
      expect(await c.closed).toBe(1008);
      expect(c.frames).toHaveLength(1);
      expect(c.frames[0]!.events![0]!.reply).toMatchObject({ req: 7, ok: false, errorCode: 'ERR_AUTH' });
    }
    expect(h.events).toEqual([]);
    expect(h.lines.filter((l) => l.msg === 'refused client hello').map((l) => l.code)).toEqual(['ERR_AUTH', 'ERR_AUTH']);
  });

  it('refuses an unsupported protocol version and a first request that is not hello', async () => {
    const h = await start();
    const v = await rawClient(h.url);
    send(v.ws, { req: 1, hello: { protocolMin: PROTOCOL_MAX + 1, protocolMax: PROTOCOL_MAX + 5, name: 'v' } });
    expect(await v.closed).toBe(1008);
    expect(v.frames[0]!.events![0]!.reply).toMatchObject({ ok: false, errorCode: 'ERR_PROTOCOL_VERSION' });
    const j = await rawClient(h.url);
    send(j.ws, { req: 5, join: { group: 'g' } });
    expect(await j.closed).toBe(1008);
    expect(j.frames[0]!.events![0]!.reply).toMatchObject({ req: 5, ok: false, errorCode: 'ERR_HANDSHAKE' });
    expect(h.events).toEqual([]);
    expect(h.requests).toEqual([]);
  });

  it('closes only the client that sends a malformed frame', async () => {
    const h = await start();
    const good = await rawClient(h.url);
    const bad = await rawClient(h.url);
    send(good.ws, hello('good'));
    send(bad.ws, hello('bad'));
    await until(() => h.events.length === 2);
    bad.ws.send(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]));
    expect(await bad.closed).toBe(1002);
    await until(() => h.events.length === 3);
    expect(h.events[2]).toMatch(/^disconnect bad@/);
    const warn = h.lines.find((l) => l.msg === 'bad frame from client; closing it')!;
    expect(warn).toMatchObject({ level: 40, code: 'ERR_MALFORMED_FRAME' });
    expect(String(warn.client)).toMatch(/^bad@/);

    send(good.ws, { req: 2, join: { group: 'g' } });
    await until(() => h.requests.length === 1);
    expect(h.requests[0]![0]).toMatch(/^good@/);
    expect(good.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('closes a client that sends text (1003) or an oversized message (1009)', async () => {
    const h = await start({ maxMessageBytes: 1024 });
    const text = await rawClient(h.url);
    text.ws.send('hello');
    expect(await text.closed).toBe(1003);
    const big = await rawClient(h.url);
    send(big.ws, hello('big'));
    await until(() => h.events.length === 1);
    send(big.ws, { req: 2, multicast: { group: 'g', data: new Uint8Array(1024 + 64 * 1024 + 1) } });
    expect(await big.closed).toBe(1009);
    await until(() => h.events.length === 2);
    expect(h.lines.some((l) => l.code === 'ERR_FRAME_TOO_LARGE')).toBe(true);
    expect(h.requests).toEqual([]);
  });

  it('closeClient flushes queued events, then closes with the given code', async () => {
    const h = await start();
    const c = await rawClient(h.url);
    send(c.ws, hello('x'));
    await until(() => c.frames.length === 1);
    const id = c.frames[0]!.events![0]!.helloOk!.clientId!;
    h.gateway.send(id, { signal: { group: 'g', kind: 2, reason: 'slow-consumer' } });
    h.gateway.closeClient(id, 4000, 'slow-consumer');
    expect(await c.closed).toBe(4000);
    expect(c.frames[1]!.events![0]!.signal).toMatchObject({ group: 'g', reason: 'slow-consumer' });
    await until(() => h.events.includes(`disconnect ${id}`));
  });

  it('close() closes every client with 1001', async () => {
    const h = await start();
    const c = await rawClient(h.url);
    send(c.ws, hello('x'));
    await until(() => h.events.length === 1);
    await h.gateway.close();
    expect(await c.closed).toBe(1001);
    expect(h.events).toEqual(['connect x@d1.1 x', 'disconnect x@d1.1']);
  });
});
