// The replicated group table is bounded (issue 10, "bounded by bytes"): empty groups are
// removed, keeping a watermark so that ids never repeat for a group name, and a client's
// daemon refuses joins past the bounds with ERR_LIMIT. A client that joined 30,000 groups
// used to make the Install frame 17.9 MiB and take the cluster down.
import { describe, expect, it } from 'vitest';
import { MAX_GROUPS_PER_CLIENT } from '../../src/core/group-table.js';
import { clusterOneByOne, expectGuarantees, expectOnePrimary, peek } from './scenario-helpers.js';

describe('group table bounds', () => {
  it('removes an empty group; a group created again under the name continues above its ids', () => {
    const sim = clusterOneByOne(1, ['a', 'b', 'c']);
    const x = sim.addClient('a');
    const y = sim.addClient('b');
    const j1 = x.join('g');
    sim.runUntil(() => x.replies.get(j1)?.ok === true);
    x.multicast('g', 'one');
    x.multicast('g', 'two');
    sim.runUntil(() => x.deliveries('g').length === 2);
    const l = x.leave('g');
    sim.runUntil(() => x.replies.get(l)?.ok === true);
    sim.run(sim.nowMs + 200);
    for (const n of ['a', 'b', 'c']) expect(peek(sim, n).table.get('g'), n).toBeUndefined();
    const before = x.views('g').at(-1)!.id;
    // A daemon that joins now gets the watermark in its Install.
    sim.addDaemon('d', 'a');
    sim.runUntil(() => ['a', 'b', 'c', 'd'].every((n) => sim.nodes.get(n)!.currentView?.members.length === 4), 30_000);
    const z = sim.addClient('d');
    const j2 = z.join('g');
    sim.runUntil(() => z.replies.get(j2)?.ok === true);
    const j3 = y.join('g');
    sim.runUntil(() => y.replies.get(j3)?.ok === true);
    expect(z.views('g')[0]!.id).toBeGreaterThan(before);
    y.multicast('g', 'three');
    sim.runUntil(() => z.deliveries('g').length === 1 && y.deliveries('g').length === 1);
    expectOnePrimary(sim, ['a', 'b', 'c', 'd']);
    expectGuarantees(sim);
  });

  it('a client joining and leaving 2,000 group names leaves the table as it was', () => {
    const sim = clusterOneByOne(2, ['a', 'b']);
    const x = sim.addClient('a');
    for (let i = 0; i < 2_000; i++) {
      const j = x.join(`g${i}`);
      sim.runUntil(() => x.replies.get(j)?.ok === true);
      const l = x.leave(`g${i}`);
      sim.runUntil(() => x.replies.get(l)?.ok === true);
    }
    sim.run(sim.nowMs + 200);
    expect(peek(sim, 'a').table.size).toBe(0);
    expect(peek(sim, 'b').table.size).toBe(0);
    // The counts the join limits read are kept as members come and go: back to zero.
    for (const n of ['a', 'b']) {
      expect(peek(sim, n).table.membershipCount(), n).toBe(0);
      expect(peek(sim, n).table.groupsOf(x.id), n).toBe(0);
    }
    expectGuarantees(sim);
  }, 60_000);

  it('keeps the membership counts equal to the groups, at every daemon, through joins, leaves, crashes and a new member', () => {
    const sim = clusterOneByOne(5, ['a', 'b', 'c']);
    const clients = ['a', 'b', 'c'].flatMap((d) => [sim.addClient(d), sim.addClient(d)]);
    for (const [i, c] of clients.entries()) for (let g = 0; g <= i; g++) c.join(`g${g}`);
    sim.run(sim.nowMs + 1_000);
    clients[0]!.leave('g0');
    sim.crash('c'); // its two clients leave every group they were in
    sim.run(sim.nowMs + 3_000);
    sim.addDaemon('d', 'a'); // gets the table in its Install
    sim.run(sim.nowMs + 3_000);
    for (const n of ['a', 'b', 'd']) {
      const table = peek(sim, n).table;
      const groups = [...table.sorted()] as Array<{ members: Array<{ client: string }> }>;
      expect(table.membershipCount(), n).toBe(groups.reduce((k, g) => k + g.members.length, 0));
      for (const c of clients) expect(table.groupsOf(c.id), `${n} ${c.id}`).toBe(groups.filter((g) => g.members.some((m) => m.client === c.id)).length);
    }
    expect(peek(sim, 'a').table.membershipCount()).toBeGreaterThan(0);
    expectGuarantees(sim);
  });

  it(`refuses the join past ${MAX_GROUPS_PER_CLIENT} groups of one client with ERR_LIMIT`, () => {
    const sim = clusterOneByOne(3, ['a', 'b']);
    const x = sim.addClient('a');
    const reqs: number[] = [];
    for (let i = 0; i < MAX_GROUPS_PER_CLIENT; i++) reqs.push(x.join(`g${i}`));
    sim.runUntil(() => reqs.every((r) => x.replies.get(r)?.ok === true), 60_000);
    const over = x.join('one-more');
    sim.runUntil(() => x.replies.get(over) !== undefined);
    expect(x.replies.get(over)).toMatchObject({ ok: false, errorCode: 'ERR_LIMIT' });
    // Leaving one makes room again.
    const l = x.leave('g0');
    sim.runUntil(() => x.replies.get(l)?.ok === true);
    const again = x.join('one-more');
    sim.runUntil(() => x.replies.get(again)?.ok === true);
  }, 60_000);
});
