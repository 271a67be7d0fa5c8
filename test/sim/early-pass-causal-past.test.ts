// A daemon with no member in a group used to pass that group's entries without their
// causal past (EarlyDelivery.pass), and what its client sent next named them in its causal
// vector. Here:
//   daemons t (oldest: sequencer), u, s, a, c; clients: u1 in G1, t1 in G2, s1 in G3.
//   u1 sends x (total, G1): it reaches only t (u's links to s, a, c are cut), t orders
//   and delivers it. t1 then sends y (total, G2; barrier: x's slot). s has no member in
//   G2: it used to pass y at once, although it never got x. s1 sends z (fifo, G3): its
//   vector names y; s delivers z early. u and t crash. The cut skipped x's slot, cut y
//   (its barrier reaches x), kept z (delivered at s) and could not place it after y: the
//   invariant in computeCut threw in the proposer, and in every proposer after it.
import { describe, expect, it } from 'vitest';
import { chorus } from '../../src/wire/gen/chorus.js';
import { clusterOneByOne, expectGuarantees, expectOnePrimary } from './scenario-helpers.js';

describe('an entry passed without its causal past, named by an early delivery', () => {
  it('u and t crash after s delivered z early: the survivors form a view (no invariant throw)', () => {
    const sim = clusterOneByOne(5, ['t', 'u', 's', 'a', 'c']);
    const u1 = sim.addClient('u');
    const t1 = sim.addClient('t');
    const s1 = sim.addClient('s');
    const r = [u1.join('G1'), t1.join('G2'), s1.join('G3')];
    sim.runUntil(() => [u1, t1, s1].every((c, i) => c.replies.get(r[i]!)?.ok === true));
    sim.run(sim.nowMs + 100);
    for (const x of ['s', 'a', 'c']) sim.cut('u', x, true);
    for (const x of ['a', 'c']) sim.cut('t', x, true);
    u1.multicast('G1', 'x', chorus.Order.ORDER_TOTAL);
    sim.run(sim.nowMs + 5);
    t1.multicast('G2', 'y', chorus.Order.ORDER_TOTAL);
    sim.run(sim.nowMs + 5);
    s1.multicast('G3', 'z', chorus.Order.ORDER_FIFO);
    sim.runUntil(() => s1.deliveries('G3').length === 1, 40);
    expect(s1.deliveries('G3')).toEqual([`${s1.id}:z`]);
    sim.crash('u');
    sim.crash('t');
    sim.run(sim.nowMs + 5_000);
    expectOnePrimary(sim, ['s', 'a', 'c']);
    expectGuarantees(sim);
  });
});
