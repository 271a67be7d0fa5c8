// Adversarial scenarios: proposer crashes at chosen points of the accept round, a member crash right after it accepted, a restart under the same name mid-flush, joins during a flush.
import { describe, expect, it } from 'vitest';
import { chorus } from '../../src/wire/gen/chorus.js';
import { SUSPECT_MS, clusterOneByOne, joinAll, expectGuarantees, expectOnePrimary, peek } from './scenario-helpers.js';

describe('proposer crash in the accept round', () => {
  it.each([1, 2, 3, 4])('proposer crashes after some Readys, one member not yet holding the Cut (seed %i)', (seed) => {
    const names = ['a', 'b', 'c', 'd', 'e'];
    const sim = clusterOneByOne(seed, names);
    const clients = names.map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    for (const [i, c] of clients.entries()) c.multicast('g', `m${i}`, chorus.Order.ORDER_TOTAL);
    sim.run(sim.nowMs + 5);
    sim.slow('d', 30);
    sim.crash('e');
    sim.runUntil(() => {
      const p = peek(sim, 'a').proposer.proposal;
      return p?.decision !== undefined && p.ready.size >= 2;
    }, 5_000);
    sim.cut('a', 'd', true); // d never gets a's Cut
    sim.crash('a');
    sim.slow('d', 0);
    sim.run(sim.nowMs + 30 * SUSPECT_MS);
    sim.healAll();
    sim.run(sim.nowMs + 30 * SUSPECT_MS);
    expectGuarantees(sim);
    expectOnePrimary(sim, ['b', 'c', 'd']);
  });

  it.each([1, 2, 3, 4])('a member crashes right after accepting, then the proposer crashes before the others accepted (7 daemons, seed %i)', (seed) => {
    const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    const sim = clusterOneByOne(seed, names);
    const clients = names.map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    for (const [i, c] of clients.entries()) c.multicast('g', `m${i}`, i % 2 ? chorus.Order.ORDER_SAFE : chorus.Order.ORDER_TOTAL);
    sim.run(sim.nowMs + 3);
    for (const x of ['d', 'e', 'f']) sim.slow(x, 25);
    sim.crash('g');
    sim.runUntil(() => peek(sim, 'c').flushMember.accepted !== undefined, 5_000);
    sim.crash('c');
    sim.run(sim.nowMs + 2);
    sim.crash('a');
    for (const x of ['d', 'e', 'f']) sim.slow(x, 0);
    sim.run(sim.nowMs + 40 * SUSPECT_MS);
    expectGuarantees(sim);
    expectOnePrimary(sim, ['b', 'd', 'e', 'f']);
  });

  it.each([1, 2, 3])('a member restarts under the same name while the flush waits for its Ready (seed %i)', (seed) => {
    const names = ['a', 'b', 'c', 'd', 'e'];
    const sim = clusterOneByOne(seed, names);
    const clients = names.map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    for (const [i, c] of clients.entries()) c.multicast('g', `m${i}`, chorus.Order.ORDER_TOTAL);
    sim.run(sim.nowMs + 5);
    sim.crash('e');
    sim.runUntil(() => peek(sim, 'c').flushMember.flush !== undefined, 5_000);
    sim.crash('c');
    sim.restart('c', 'b');
    sim.introduce('c', 'a');
    sim.introduce('c', 'd');
    sim.run(sim.nowMs + 40 * SUSPECT_MS);
    expectGuarantees(sim);
    expectOnePrimary(sim, ['a', 'b', 'c', 'd']);
  });

  it.each([1, 2, 3])('a joiner named in a decision whose proposer crashes after some Readys (seed %i)', (seed) => {
    const names = ['a', 'b', 'c', 'd'];
    const sim = clusterOneByOne(seed, names);
    const clients = names.map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    sim.slow('d', 30);
    sim.addDaemon('f', 'a');
    for (const x of ['b', 'c', 'd']) sim.introduce('f', x);
    sim.runUntil(() => {
      const p = peek(sim, 'a').proposer.proposal;
      return p?.decision !== undefined && p.ready.size >= 2;
    }, 20_000);
    sim.crash('a');
    sim.slow('d', 0);
    sim.run(sim.nowMs + 40 * SUSPECT_MS);
    expectGuarantees(sim);
    expectOnePrimary(sim, ['b', 'c', 'd', 'f']);
  });
});
