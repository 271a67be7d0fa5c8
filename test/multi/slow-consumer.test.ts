// The slow-consumer policy end to end (issue 4, item 3): two real chorusd processes with a
// 1 MiB --client-buffer-bytes, one group with a fast member on each daemon and a third
// member (on daemon a) whose socket stops reading while the member on b keeps
// multicasting. The slow member must be expelled with reason 'slow-consumer' and see its
// connection close with ERR_SLOW_CONSUMER; the others must see it leave with cause
// 'expelled' and keep delivering every message, in order, exactly once. No timing
// assertions: the loops end on events, with generous caps.
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import { connect, type Client, type Group, type Message, type View, type WebSocketConstructor } from '../../client-sdk/index.js';
import { startCluster, waitFor, type DaemonProcess } from './harness.js';

const BOUND_BYTES = 1024 * 1024;
const PAYLOAD_BYTES = 16 * 1024;
/** Multicasts in flight. With wait: 'delivered' this bounds what reaches a fast member in one burst, far below the bound. */
const WINDOW = 8;
/** Messages sent once the others have seen the expulsion: the group carries on. */
const AFTER_EXPULSION = 200;
/** A cap so a policy that never fires fails the test instead of hanging it. */
const MAX_MESSAGES = 5_000;

/** The slow member's socket: the SDK builds it through this class, so the test can stop reading it. */
let slowSocket: WebSocket | undefined;
class TappedWebSocket extends WebSocket {
  constructor(url: string) {
    super(url);
    slowSocket = this;
  }
}

function payload(k: number): Uint8Array {
  const data = new Uint8Array(PAYLOAD_BYTES);
  new DataView(data.buffer).setUint32(0, k);
  return data;
}
const indexOf = (m: Message): number => new DataView(m.data.buffer, m.data.byteOffset, m.data.byteLength).getUint32(0);

const isExpelledView = (v: View, who: string): boolean => v.left.includes(who) && v.causes[who] === 'expelled';

describe('slow consumer', () => {
  let daemons: DaemonProcess[] = [];
  const clients: Client[] = [];

  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await Promise.allSettled(daemons.map((d) => d.stop('SIGKILL')));
  });

  it('is expelled with reason slow-consumer while the fast members on both daemons keep receiving everything in order', async () => {
    daemons = await startCluster(['a', 'b'], {
      args: ['--client-buffer-bytes', String(BOUND_BYTES), '--max-message-bytes', String(64 * 1024)],
    });
    const [a, b] = daemons as [DaemonProcess, DaemonProcess];

    const sender = await connect({ url: b.url, name: 'sender' }); // the fast member on b
    const fast = await connect({ url: a.url, name: 'fast' }); // the fast member on a
    const slow = await connect({ url: a.url, name: 'slow', WebSocket: TappedWebSocket as unknown as WebSocketConstructor });
    clients.push(sender, fast, slow);

    const groups: Record<'sender' | 'fast', Group> = {
      sender: await sender.join('orders'),
      fast: await fast.join('orders'),
    };
    const views: Record<'sender' | 'fast', View[]> = { sender: [groups.sender.view], fast: [groups.fast.view] };
    const delivered: Record<'sender' | 'fast', Message[]> = { sender: [], fast: [] };
    for (const who of ['sender', 'fast'] as const) {
      groups[who].on('view', (v) => views[who].push(v));
      groups[who].on('message', (m) => delivered[who].push(m));
    }
    const slowGroup = await slow.join('orders');
    const slowSeen: string[] = [];
    const slowDelivered: number[] = [];
    let slowCloseErr: Error | undefined;
    slowGroup.on('message', (m) => slowDelivered.push(indexOf(m)));
    slowGroup.on('expelled', (reason) => slowSeen.push(`expelled ${reason}`));
    slow.on('close', (err) => {
      slowCloseErr = err;
      slowSeen.push('close');
    });
    await waitFor('every member to see all three', () => [groups.sender, groups.fast, slowGroup].every((g) => g.view.members.length === 3));

    // The slow member stops reading. Once the others have seen it expelled it reads again,
    // so it can read its expulsion (the daemon keeps its socket open for a while for that).
    slowSocket!.pause();
    const othersSawExpulsion = (): boolean =>
      views.sender.some((v) => isExpelledView(v, slow.id)) && views.fast.some((v) => isExpelledView(v, slow.id));
    groups.fast.on('view', (v) => {
      if (isExpelledView(v, slow.id)) slowSocket!.resume();
    });

    // The sender keeps multicasting, WINDOW at a time, until AFTER_EXPULSION messages
    // after the others saw the expulsion. Requests leave in k order, so k is the order.
    const accepted: string[] = [];
    let next = 0;
    let stopAt = MAX_MESSAGES;
    const worker = async (): Promise<void> => {
      while (next < stopAt) {
        const k = next++;
        accepted[k] = (await groups.sender.multicast(payload(k), { wait: 'delivered' })).id;
        if (stopAt === MAX_MESSAGES && othersSawExpulsion()) stopAt = next + AFTER_EXPULSION;
      }
    };
    await Promise.all(Array.from({ length: WINDOW }, worker));
    const total = next;
    expect(othersSawExpulsion()).toBe(true);
    expect(total).toBeLessThan(MAX_MESSAGES);

    // The slow member: expelled from its group with the reason, then the connection closed
    // with a typed error; what it delivered before is a prefix of the stream.
    await waitFor('the slow client to see its connection close', () => slowCloseErr !== undefined);
    expect(slowSeen).toEqual(['expelled slow-consumer', 'close']);
    expect(slowCloseErr).toMatchObject({ name: 'ConnectionError', code: 'ERR_SLOW_CONSUMER' });
    expect(slowDelivered).toEqual(Array.from({ length: slowDelivered.length }, (_, k) => k));
    expect(slowDelivered.length).toBeLessThan(total);

    // The fast members: every message, exactly once, in send order, at both.
    await waitFor(`${total} deliveries at both fast members`, () => delivered.sender.length >= total && delivered.fast.length >= total);
    const expected = Array.from({ length: total }, (_, k) => k);
    for (const who of ['sender', 'fast'] as const) {
      expect(delivered[who].map(indexOf)).toEqual(expected);
      expect(delivered[who].map((m) => m.id)).toEqual(accepted);
    }
    expect(delivered.fast.map((m) => m.seq)).toEqual(delivered.sender.map((m) => m.seq));

    // Both saw the same views: the slow member left with cause 'expelled', nobody else left.
    const expelledView = views.fast.find((v) => isExpelledView(v, slow.id))!;
    expect(views.sender.find((v) => v.id === expelledView.id)).toEqual(expelledView);
    expect(expelledView.members).toEqual([sender.id, fast.id]);
    expect(expelledView.left).toEqual([slow.id]);
    expect(views.fast.at(-1)).toEqual(views.sender.at(-1));
    expect(views.fast.at(-1)!.members).toEqual([sender.id, fast.id]);
    for (const v of [...views.sender, ...views.fast]) expect(v.left.every((id) => id === slow.id)).toBe(true);
    expect(sender.closed || fast.closed).toBe(false);

    // The daemon hosting it logged the expulsion and counted it.
    const line = a.output.map((l) => (l.startsWith('{') ? (JSON.parse(l) as Record<string, unknown>) : {})).find((l) => l.msg === 'slow consumer expelled');
    expect(line).toMatchObject({ level: 40, daemon: 'a', client: slow.id, name: 'slow', boundBytes: BOUND_BYTES });
    expect(line!.backlogBytes as number).toBeGreaterThan(BOUND_BYTES);
    const metrics = await (await fetch(`http://${a.admin}/metrics`)).text();
    expect(metrics).toContain('chorus_clients_expelled_total{reason="slow-consumer"} 1');
  });
});
