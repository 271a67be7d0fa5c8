// Adversarial scenarios: concurrent proposers, partitions and one-way cuts during a flush, repeated short cuts, frozen proposer or member.
import { describe, expect, it } from 'vitest';
import { chorus } from '../../src/wire/gen/chorus.js';
import { SimCluster, type SimClient } from './sim-cluster.js';
import { SUSPECT_MS, clusterOneByOne, joinAll, expectGuarantees, expectOnePrimary, peek } from './scenario-helpers.js';

const NAMES = ['a', 'b', 'c', 'd', 'e'];

function setup(seed: number): { sim: SimCluster; clients: SimClient[] } {
  const sim = clusterOneByOne(seed, NAMES);
  const clients = NAMES.map((d) => sim.addClient(d));
  joinAll(sim, clients, 'g');
  for (const [i, c] of clients.entries()) c.multicast('g', `m${i}`, i % 2 ? chorus.Order.ORDER_SAFE : chorus.Order.ORDER_TOTAL);
  sim.run(sim.nowMs + 5);
  return { sim, clients };
}

function settle(sim: SimCluster, live: readonly string[]): void {
  sim.healAll();
  sim.run(sim.nowMs + 60 * SUSPECT_MS);
  expectGuarantees(sim);
  expectOnePrimary(sim, live);
}

describe('concurrent proposers and partitions', () => {
  it.each([1, 2, 3])('coordinator crashes and b, c cannot reach each other: both act as coordinator (seed %i)', (seed) => {
    const { sim } = setup(seed);
    sim.cut('b', 'c');
    sim.crash('a');
    sim.run(sim.nowMs + 20 * SUSPECT_MS);
    expectGuarantees(sim);
    settle(sim, ['b', 'c', 'd', 'e']);
  });

  it.each([1, 2, 3])('one-way cut from the coordinator to the second oldest (seed %i)', (seed) => {
    const { sim } = setup(seed);
    sim.cut('a', 'b', true);
    sim.run(sim.nowMs + 20 * SUSPECT_MS);
    expectGuarantees(sim);
    settle(sim, NAMES);
  });

  it.each([1, 2, 3])('partition {a,b,c}|{d} in the middle of the flush after e crashed, then heal (seed %i)', (seed) => {
    const { sim } = setup(seed);
    sim.crash('e');
    sim.runUntil(() => peek(sim, 'a').proposer.proposal?.decision !== undefined, 5_000);
    sim.partition(['a', 'b', 'c'], ['d']);
    sim.run(sim.nowMs + 20 * SUSPECT_MS);
    expectGuarantees(sim);
    settle(sim, ['a', 'b', 'c', 'd']);
  });

  it.each([1, 2, 3])('partition {a,b}|{c,d,e} right after the decision: the proposer is in the minority (seed %i)', (seed) => {
    const { sim } = setup(seed);
    sim.input('a', { kind: 'leave' });
    sim.runUntil(() => peek(sim, 'a').proposer.proposal?.decision !== undefined, 5_000);
    sim.partition(['a', 'b'], ['c', 'd', 'e']);
    sim.run(sim.nowMs + 20 * SUSPECT_MS);
    expectGuarantees(sim);
    sim.healAll();
    sim.run(sim.nowMs + 60 * SUSPECT_MS);
    expectGuarantees(sim);
    expectOnePrimary(sim, sim.live());
  });

  it.each([1, 2, 3, 4])('repeated short cuts (below the suspect timeout) between the proposer and members during the flush (seed %i)', (seed) => {
    const { sim } = setup(seed);
    sim.crash('e');
    sim.runUntil(() => peek(sim, 'a').proposer.proposal !== undefined, 5_000);
    const pairs: Array<[string, string]> = [['a', 'b'], ['a', 'c'], ['a', 'd'], ['b', 'c'], ['c', 'd']];
    for (let r = 0; r < 12; r++) {
      const [x, y] = pairs[(r * 7 + seed) % pairs.length]!;
      sim.cut(x, y, r % 2 === 0);
      sim.run(sim.nowMs + 120);
      sim.heal(x, y);
      sim.run(sim.nowMs + 30);
    }
    expectGuarantees(sim);
    settle(sim, ['a', 'b', 'c', 'd']);
  });

  it.each([1, 2, 3])('the proposer is frozen after some Readys and wakes after b took over (seed %i)', (seed) => {
    const { sim } = setup(seed);
    sim.slow('d', 20);
    sim.crash('e');
    sim.runUntil(() => {
      const p = peek(sim, 'a').proposer.proposal;
      return p?.decision !== undefined && p.ready.size >= 2;
    }, 5_000);
    sim.freeze('a', 8 * SUSPECT_MS);
    sim.slow('d', 0);
    sim.run(sim.nowMs + 20 * SUSPECT_MS);
    expectGuarantees(sim);
    settle(sim, ['a', 'b', 'c', 'd']);
  });

  it.each([1, 2, 3])('the proposer is frozen just under the suspect timeout, again and again, during the flush (seed %i)', (seed) => {
    const { sim } = setup(seed);
    sim.crash('e');
    sim.runUntil(() => peek(sim, 'a').proposer.proposal !== undefined, 5_000);
    for (let r = 0; r < 6; r++) {
      sim.freeze('a', SUSPECT_MS - 20);
      sim.run(sim.nowMs + SUSPECT_MS + 10);
    }
    expectGuarantees(sim);
    settle(sim, ['a', 'b', 'c', 'd']);
  });

  it.each([1, 2, 3])('a member is frozen between its ack and its Ready, longer than the flush timeout (seed %i)', (seed) => {
    const { sim } = setup(seed);
    sim.crash('e');
    sim.runUntil(() => peek(sim, 'c').flushMember.flush !== undefined, 5_000);
    sim.freeze('c', 5 * SUSPECT_MS);
    sim.run(sim.nowMs + 20 * SUSPECT_MS);
    expectGuarantees(sim);
    settle(sim, ['a', 'b', 'c', 'd']);
  });
});
