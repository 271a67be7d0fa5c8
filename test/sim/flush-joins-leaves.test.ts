// Adversarial scenarios: an Install lost to a joiner, the proposer restarting under its name mid-flush, a slow (not dead) member, the coordinator leaving during a flush.
import { describe, expect, it } from 'vitest';
import { chorus } from '../../src/wire/gen/chorus.js';
import { SUSPECT_MS, clusterOneByOne, joinAll, expectGuarantees, expectOnePrimary, peek, flushRestarts } from './scenario-helpers.js';

describe('joiners, restarts, slow members', () => {
  it.each([1, 2, 3])('the proposer installs a view with a joiner and crashes; its Install to the joiner was lost (seed %i)', (seed) => {
    const names = ['a', 'b', 'c', 'd'];
    const sim = clusterOneByOne(seed, names);
    const clients = names.map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    const v = sim.nodes.get('a')!.currentView!.id;
    sim.addDaemon('f', 'a');
    for (const x of ['b', 'c', 'd']) sim.introduce('f', x);
    sim.runUntil(() => {
      const p = peek(sim, 'a').proposer.proposal;
      return p?.decision !== undefined && p.newView.members.some((m: { id: { name: string } }) => m.id.name === 'f');
    }, 20_000);
    sim.cut('a', 'f', true);
    sim.runUntil(() => sim.nodes.get('a')!.currentView!.id > v, 5_000);
    sim.crash('a');
    sim.run(sim.nowMs + 60 * SUSPECT_MS);
    expectGuarantees(sim);
    expectOnePrimary(sim, ['b', 'c', 'd', 'f']);
  });

  it.each([1, 2, 3])('the proposer crashes mid-flush and restarts at once under the same name (seed %i)', (seed) => {
    const names = ['a', 'b', 'c', 'd', 'e'];
    const sim = clusterOneByOne(seed, names);
    const clients = names.map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    for (const [i, c] of clients.entries()) c.multicast('g', `m${i}`, chorus.Order.ORDER_TOTAL);
    sim.run(sim.nowMs + 3);
    sim.crash('e');
    sim.runUntil(() => peek(sim, 'a').proposer.proposal?.decision !== undefined, 5_000);
    sim.crash('a');
    sim.restart('a', 'b');
    for (const x of ['c', 'd']) sim.introduce('a', x);
    sim.run(sim.nowMs + 60 * SUSPECT_MS);
    expectGuarantees(sim);
    expectOnePrimary(sim, ['a', 'b', 'c', 'd']);
  });

  it.each([1, 2, 3])('a member whose incoming frames take 250 ms (under the suspect timeout) during a crash flush (seed %i)', (seed) => {
    const names = ['a', 'b', 'c', 'd', 'e'];
    const sim = clusterOneByOne(seed, names);
    const clients = names.map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    sim.slow('d', 250);
    sim.run(sim.nowMs + 5 * SUSPECT_MS);
    clients[3]!.multicast('g', 'from-d', chorus.Order.ORDER_SAFE);
    sim.crash('e');
    sim.run(sim.nowMs + 60 * SUSPECT_MS);
    expectGuarantees(sim);
    expectOnePrimary(sim, ['a', 'b', 'c', 'd']);
    const restarts = flushRestarts(sim);
    expect(restarts, 'flush restarts').toBeLessThan(10);
  });

  it.each([1, 2, 3])('the coordinator leaves while a crash flush is under way, and the next oldest is frozen briefly (seed %i)', (seed) => {
    const names = ['a', 'b', 'c', 'd', 'e'];
    const sim = clusterOneByOne(seed, names);
    const clients = names.map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    sim.crash('e');
    sim.runUntil(() => peek(sim, 'a').proposer.proposal !== undefined, 5_000);
    sim.input('a', { kind: 'leave' });
    sim.freeze('b', SUSPECT_MS + 50);
    sim.run(sim.nowMs + 60 * SUSPECT_MS);
    expectGuarantees(sim);
    expectOnePrimary(sim, ['b', 'c', 'd']);
  });

  it.each([1, 2, 3])('the two oldest of four daemons leave gracefully at once (seed %i)', (seed) => {
    const names = ['a', 'b', 'c', 'd'];
    const sim = clusterOneByOne(seed, names);
    const clients = names.map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    sim.input('a', { kind: 'leave' });
    sim.input('b', { kind: 'leave' });
    sim.run(sim.nowMs + 20 * SUSPECT_MS);
    expectGuarantees(sim);
    expectOnePrimary(sim, ['c', 'd']);
  });
});
