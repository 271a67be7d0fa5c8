// Hostile clients (issue 10, "no stall"): the gateway applies a client frame in slices and
// yields between them, refuses a frame of too many requests before decoding any, lets a
// connection send only a few KiB before its hello, and caps connections.
import { describe, expect, it } from 'vitest';

import { connect } from 'node:net';

import { ClientGateway, MAX_HANDSHAKING_PER_SOURCE, MAX_REQUESTS_PER_FRAME, PRE_HELLO_MAX_BYTES, type ClientRequest } from '../../daemon/client-gateway.js';
import { PROTOCOL_MAX, PROTOCOL_MIN, encodeClientFrame, type chorus } from '../../src/wire/index.js';
import { useGateways } from './helpers/gateway.js';
import { untilWithin } from './helpers/wait.js';

const { startGateway, openSocket: open } = useGateways();
const until = untilWithin(10_000);

async function start(): Promise<{ gateway: ClientGateway; url: string; lines: Record<string, unknown>[]; events: string[]; requests: ClientRequest[] }> {
  const { gateway, url, lines } = await startGateway({ maxMessageBytes: 16 * 1024 * 1024 });
  const events: string[] = [];
  const requests: ClientRequest[] = [];
  gateway.on('connect', (id) => events.push(`connect ${id}`));
  gateway.on('disconnect', (id) => events.push(`disconnect ${id}`));
  gateway.on('request', (_id, r) => requests.push(r));
  return { gateway, url, lines, events, requests };
}

const hello: chorus.IClientRequest = { req: 1, hello: { protocolMin: PROTOCOL_MIN, protocolMax: PROTOCOL_MAX, name: 'x' } };

describe('client frames are applied in slices', () => {
  it('a frame of 60,000 requests lets timers run while it is applied, and a later frame waits its turn', async () => {
    const h = await start();
    const c = await open(h.url);
    c.ws.send(encodeClientFrame({ requests: [hello] }));
    await until(() => h.events.length === 1);
    const n = 60_000;
    const seen: number[] = [];
    h.gateway.once('request', () => setTimeout(() => seen.push(h.requests.length), 0));
    const requests = Array.from({ length: n }, (_, i) => ({ req: i + 2, leave: { group: 'g' } }));
    c.ws.send(encodeClientFrame({ requests }));
    c.ws.send(encodeClientFrame({ requests: [{ req: n + 2, join: { group: 'after' } }] }));
    await until(() => h.requests.length === n + 1);
    // The timer set at the first request ran long before the last one was applied.
    expect(seen).toHaveLength(1);
    expect(seen[0]!).toBeLessThan(n / 2);
    expect(h.requests.map((r) => r.req)).toEqual(Array.from({ length: n + 1 }, (_, i) => i + 2));
    expect(h.requests.at(-1)!.body).toBe('join');
  });

  it(`refuses a frame of more than ${MAX_REQUESTS_PER_FRAME} requests before applying any (1009)`, async () => {
    const h = await start();
    const c = await open(h.url);
    c.ws.send(encodeClientFrame({ requests: [hello] }));
    await until(() => h.events.length === 1);
    const requests = Array.from({ length: MAX_REQUESTS_PER_FRAME + 1 }, (_, i) => ({ req: i + 2, leave: { group: 'g' } }));
    c.ws.send(encodeClientFrame({ requests }));
    expect(await c.closed).toBe(1009);
    expect(h.requests).toEqual([]);
    expect(h.lines.some((l) => l.code === 'ERR_FRAME_TOO_LARGE')).toBe(true);
  });

  it(`a connection may send ${PRE_HELLO_MAX_BYTES} bytes before its hello: a large first message is cut off`, async () => {
    const h = await start();
    const small = await open(h.url);
    small.ws.send(encodeClientFrame({ requests: [{ ...hello, hello: { ...hello.hello, name: 'n'.repeat(100) } }] }));
    await until(() => h.events.length === 1);
    const big = await open(h.url);
    // 4 MiB of empty requests, no hello: the daemon stops reading it long before the end.
    big.ws.send(encodeClientFrame({ requests: Array.from({ length: 2 * 1024 * 1024 }, () => ({ req: 1 })) }));
    const code = await big.closed;
    expect([1006, 1008]).toContain(code);
    expect(h.events).toHaveLength(1);
    expect(h.requests).toEqual([]);
    // Dropped by the socket's byte count, before ws had buffered the whole message.
    expect(h.lines.some((l) => l.msg === 'client sent too much before its hello; dropping it')).toBe(true);
  });
});

describe('flow control reaches the socket', () => {
  it('reads nothing from a client the core paused, and everything once it resumes it', async () => {
    const h = await start();
    const c = await open(h.url);
    c.ws.send(encodeClientFrame({ requests: [hello] }));
    await until(() => h.events.length === 1);
    const id = h.events[0]!.slice('connect '.length);
    h.gateway.setFlowPaused(id, true);
    c.ws.send(encodeClientFrame({ requests: [{ req: 2, leave: { group: 'g' } }] }));
    await new Promise((r) => setTimeout(r, 300));
    expect(h.requests).toEqual([]);
    h.gateway.setFlowPaused(id, false);
    await until(() => h.requests.length === 1);
  });
});

describe('client connection caps', () => {
  it(`refuses the ${MAX_HANDSHAKING_PER_SOURCE + 1}th connection without a hello from one address (1013), and serves the rest`, async () => {
    const h = await start();
    const idle = await Promise.all(Array.from({ length: MAX_HANDSHAKING_PER_SOURCE }, () => open(h.url)));
    const extra = await open(h.url);
    expect(await extra.closed).toBe(1013);
    expect(h.gateway.refusedConnections).toBe(1);
    expect(h.lines.some((l) => l.code === 'ERR_CONNECTION_LIMIT')).toBe(true);
    // One of the idle ones says hello: it is served, and its slot is free again.
    idle[0]!.ws.send(encodeClientFrame({ requests: [hello] }));
    await until(() => h.events.length === 1);
    const next = await open(h.url);
    next.ws.send(encodeClientFrame({ requests: [hello] }));
    await until(() => h.events.length === 2);
  });

  it('drops a TCP connection that never completes its upgrade request', async () => {
    const h = await start();
    const { hostname, port } = new URL(h.url);
    const socket = connect(Number(port), hostname);
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n'); // and never the rest
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString()));
    const t0 = Date.now();
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    expect(Date.now() - t0).toBeLessThan(30_000); // Node's default would keep it 60 s or more
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
  }, 40_000);
});
