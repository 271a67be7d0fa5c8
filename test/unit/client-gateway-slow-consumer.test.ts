// The gateway's slow-consumer policy against real sockets: a real ClientGateway on port 0
// and real `ws` clients, one of which stops reading (ws.pause() stops reading its TCP
// socket, so the kernel buffers fill and the daemon-side backlog grows as it would for a
// stuck application). No fakes and no timing assertions.
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';

import { CLOSE_CODES, ClientGateway, type ExpelReason } from '../../daemon/client-gateway.js';
import { PROTOCOL_MAX, PROTOCOL_MIN, chorus, decodeDaemonFrame, encodeClientFrame, type DecodedDaemonFrame } from '../../src/wire/index.js';
import { useGateways } from './helpers/gateway.js';
import { untilWithin } from './helpers/wait.js';

const MAX_MESSAGE_BYTES = 64 * 1024;
const BOUND_BYTES = 1024 * 1024;
const PAYLOAD_BYTES = 32 * 1024;
/** Far more than loopback's kernel buffers plus the bound: the loop must end by expulsion. */
const MAX_SENDS = 8_000;

const { startGateway, openSocket } = useGateways();
const until = untilWithin(10_000);

interface Harness {
  gateway: ClientGateway;
  url: string;
  lines: Record<string, unknown>[];
  disconnects: Array<[string, ExpelReason | undefined]>;
}

async function start(groupsOf: (clientId: string) => readonly string[]): Promise<Harness> {
  const { gateway, url, lines } = await startGateway({ maxMessageBytes: MAX_MESSAGE_BYTES, clientBufferBytes: BOUND_BYTES, groupsOf });
  const disconnects: Array<[string, ExpelReason | undefined]> = [];
  gateway.on('disconnect', (id, expelled) => disconnects.push([id, expelled]));
  return { gateway, url, lines, disconnects };
}

interface RawClient {
  ws: WebSocket;
  id: string;
  events: chorus.IDaemonEvent[];
  closed: Promise<{ code: number; reason: string }>;
}

/** A client that completed its hello; `events` are every event it has read, in order. */
async function connectClient(url: string, name: string): Promise<RawClient> {
  const events: chorus.IDaemonEvent[] = [];
  const { ws, closedWith } = await openSocket(url, (data) => events.push(...((decodeDaemonFrame(data) as DecodedDaemonFrame).events ?? [])));
  ws.send(encodeClientFrame({ requests: [{ req: 1, hello: { protocolMin: PROTOCOL_MIN, protocolMax: PROTOCOL_MAX, name } }] }));
  await until(() => events.length > 0);
  return { ws, id: events[0]!.helloOk!.clientId!, events, closed: closedWith };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function delivery(seq: number): chorus.IDaemonEvent {
  return {
    delivery: { group: 'a', id: `m${seq}`, sender: 'sender@d1.9', data: new Uint8Array(PAYLOAD_BYTES), order: 0, viewId: 1, seq },
  };
}

describe('ClientGateway slow-consumer policy', () => {
  it('expels a client that stops reading once its backlog passes the bound, and only that client', async () => {
    const h = await start((id) => (id.startsWith('slow@') ? ['a', 'b'] : ['a']));
    const fast = await connectClient(h.url, 'fast');
    const slow = await connectClient(h.url, 'slow');
    slow.ws.pause();

    // One delivery per turn of the event loop to both clients, as a daemon delivering a
    // steady stream would, until the gateway refuses the slow one.
    let sent = 0;
    let slowAccepted = 0;
    while (sent < MAX_SENDS) {
      sent++;
      expect(h.gateway.send(fast.id, delivery(sent))).toBe(true);
      if (!h.gateway.send(slow.id, delivery(sent))) break;
      slowAccepted++;
      await turn();
    }
    expect(sent).toBeLessThan(MAX_SENDS);

    // Expelled once, with the reason, and only after more than the bound was handed to it.
    expect(h.disconnects).toEqual([[slow.id, 'slow-consumer']]);
    expect(slowAccepted * PAYLOAD_BYTES).toBeGreaterThan(BOUND_BYTES);
    const warn = h.lines.find((l) => l.msg === 'slow consumer expelled')!;
    expect(warn).toMatchObject({ level: 40, client: slow.id, name: 'slow', boundBytes: BOUND_BYTES, groups: 2, code: 'ERR_SLOW_CONSUMER' });
    expect(warn.backlogBytes as number).toBeGreaterThan(BOUND_BYTES);
    // Its backlog is freed and it is no longer routable.
    expect(h.gateway.bufferedBytes(slow.id)).toBe(0);
    expect(h.gateway.send(slow.id, delivery(sent + 1))).toBe(false);
    expect(h.gateway.clientCount).toBe(1);

    // The fast client read everything, in order, and stays connected.
    await until(() => fast.events.length === 1 + sent);
    expect(fast.events.slice(1).map((e) => e.delivery!.seq)).toEqual(Array.from({ length: sent }, (_, i) => i + 1));
    expect(fast.ws.readyState).toBe(WebSocket.OPEN);

    // Once the slow client reads again: a prefix of its deliveries (no gap), then one
    // EXPELLED signal per group, then the close with 4008.
    slow.ws.resume();
    expect(await slow.closed).toEqual({ code: CLOSE_CODES.slowConsumer, reason: 'slow consumer' });
    const deliveries = slow.events.filter((e) => e.delivery);
    expect(deliveries.map((e) => e.delivery!.seq)).toEqual(Array.from({ length: deliveries.length }, (_, i) => i + 1));
    expect(deliveries.length).toBeLessThanOrEqual(slowAccepted);
    const tail = slow.events.slice(1 + deliveries.length);
    expect(tail.map((e) => e.signal)).toEqual([
      { group: 'a', kind: chorus.GroupSignal.Kind.EXPELLED, reason: 'slow-consumer' },
      { group: 'b', kind: chorus.GroupSignal.Kind.EXPELLED, reason: 'slow-consumer' },
    ]);
    // Its socket's close emits no second disconnect.
    expect(h.disconnects).toEqual([[slow.id, 'slow-consumer']]);
  });

  it('does not expel a client whose backlog stays under the bound', async () => {
    const h = await start(() => ['a']);
    const c = await connectClient(h.url, 'idle');
    c.ws.pause();
    // Just under the bound in one turn, with nothing read: still a member.
    const n = Math.floor(BOUND_BYTES / (PAYLOAD_BYTES + 128)) - 1;
    for (let i = 1; i <= n; i++) expect(h.gateway.send(c.id, delivery(i))).toBe(true);
    expect(h.gateway.bufferedBytes(c.id)).toBeLessThanOrEqual(BOUND_BYTES);
    c.ws.resume();
    await until(() => c.events.length === 1 + n);
    expect(h.disconnects).toEqual([]);
    expect(h.lines.some((l) => l.msg === 'slow consumer expelled')).toBe(false);
  });
});
