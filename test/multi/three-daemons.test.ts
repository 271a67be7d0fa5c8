// The walking skeleton end to end: three real chorusd processes, three SDK clients in
// one group, each multicasting 1,000 messages at once. Every client must deliver the
// same 3,000 messages in the same order, each exactly once, and see the same views.
import { afterAll, describe, expect, it } from 'vitest';
import { connect, type Client, type Group, type Message, type View } from '../../client-sdk/index.js';
import { startCluster, waitFor, type DaemonProcess } from './harness.js';

const PER_CLIENT = 1000;

describe('three daemons, three clients, one group', () => {
  let daemons: DaemonProcess[] = [];
  const clients: Client[] = [];

  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await Promise.allSettled(daemons.map((d) => d.stop('SIGKILL')));
  });

  it('delivers the same 3,000 messages in the same order at every member, and the same views', async () => {
    daemons = await startCluster(['a', 'b', 'c']);
    for (const d of daemons) clients.push(await connect({ url: d.url, name: `app-${d.name}` }));

    const views: View[][] = [[], [], []];
    const delivered: Message[][] = [[], [], []];
    const groups: Group[] = [];
    for (let i = 0; i < 3; i++) {
      const g = await clients[i]!.join('orders');
      views[i]!.push(g.view);
      g.on('view', (v) => views[i]!.push(v));
      g.on('message', (m) => delivered[i]!.push(m));
      groups.push(g);
    }
    await waitFor('every member to see all three', () => groups.every((g) => g.view.members.length === 3));

    const sends = groups.flatMap((g, i) =>
      Array.from({ length: PER_CLIENT }, (_, k) => g.multicast(`${i}:${k}`, { order: 'total' })),
    );
    const accepted = await Promise.all(sends);
    expect(new Set(accepted.map((a) => a.id)).size).toBe(3 * PER_CLIENT);

    await waitFor('3,000 deliveries at each member', () => delivered.every((d) => d.length >= 3 * PER_CLIENT), 60_000);
    await new Promise((r) => setTimeout(r, 200)); // nothing extra may trickle in
    const text = (m: Message) => new TextDecoder().decode(m.data);
    const orders = delivered.map((d) => d.map((m) => `${m.id}|${text(m)}`));
    for (const o of orders) {
      expect(o.length).toBe(3 * PER_CLIENT);
      expect(new Set(o).size).toBe(o.length); // exactly once
      expect(o).toEqual(orders[0]); // same order everywhere
    }
    // Every multicast that was accepted was delivered.
    expect(new Set(delivered[0]!.map((m) => m.id))).toEqual(new Set(accepted.map((a) => a.id)));
    // seq is the position in the group's total order, the same at every member.
    const seqs = delivered.map((d) => d.map((m) => m.seq));
    expect(seqs[1]).toEqual(seqs[0]);
    expect(seqs[2]).toEqual(seqs[0]);
    for (let k = 1; k < seqs[0]!.length; k++) expect(seqs[0]![k]).toBe(seqs[0]![k - 1]! + 1);
    // FIFO per sender inside the total order.
    for (let i = 0; i < 3; i++) {
      const own = delivered[0]!.filter((m) => text(m).startsWith(`${i}:`)).map(text);
      expect(own).toEqual(Array.from({ length: PER_CLIENT }, (_, k) => `${i}:${k}`));
    }
    // View agreement: any view id seen by two members lists the same members; each
    // member is in its own views; ids grow by one.
    const byId = new Map<number, string>();
    for (let i = 0; i < 3; i++) {
      for (const v of views[i]!) {
        const key = v.members.join(',');
        expect(byId.get(v.id) ?? key).toBe(key);
        byId.set(v.id, key);
        expect(v.members).toContain(clients[i]!.id);
      }
      for (let k = 1; k < views[i]!.length; k++) expect(views[i]![k]!.id).toBe(views[i]![k - 1]!.id + 1);
    }
    const last = views.map((v) => v.at(-1)!);
    expect(last[1]).toEqual(last[0]);
    expect(last[2]).toEqual(last[0]);
    // All messages were delivered in the final view, which all three share.
    for (const d of delivered) for (const m of d) expect(m.viewId).toBe(last[0]!.id);
  });

  it('SIGTERM makes a daemon leave at once: the others install a view without it', async () => {
    const c = daemons[2]!;
    const code = await c.stop('SIGTERM');
    expect(code).toBe(0);
    await waitFor('a and b to drop c', async () => {
      const st = await Promise.all(daemons.slice(0, 2).map((d) => d.status()));
      return st.every((s) => s.daemonView.members.map((m) => m.name).join(',') === 'a,b');
    }, 5_000);
  });
});
