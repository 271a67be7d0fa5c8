// Adversarial scenarios: force-primary after the last primary's proposer installed a view that the forcing daemon had only accepted; two operators forcing at once.
import { describe, expect, it } from 'vitest';
import { chorus } from '../../src/wire/gen/chorus.js';
import { SUSPECT_MS, clusterOneByOne, joinAll, expectGuarantees, expectOnePrimary, peek } from './scenario-helpers.js';

describe('force-primary after an accepted, installed-elsewhere view', () => {
  it.each([1, 2, 3])('the forcing daemon accepted view V (installed by the crashed proposer): group view ids of V are not reused (seed %i)', (seed) => {
    const names = ['a', 'b', 'c'];
    const sim = clusterOneByOne(seed, names);
    const clients = names.map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    sim.run(sim.nowMs + 50);
    const v = sim.nodes.get('a')!.currentView!.id;
    sim.crash('b');
    sim.runUntil(() => peek(sim, 'c').flushMember.accepted !== undefined, 5_000);
    sim.cut('a', 'c', true); // a's Install to c is lost
    sim.runUntil(() => sim.nodes.get('a')!.currentView!.id > v, 5_000);
    // a is in V = {a, c}: its member saw the group view without b's member, and a message in it.
    clients[0]!.multicast('g', 'in-V', chorus.Order.ORDER_TOTAL);
    sim.run(sim.nowMs + 20);
    sim.crash('a'); // the majority of {a, b, c} is gone for good
    sim.run(sim.nowMs + 10 * SUSPECT_MS); // c cannot form a view alone: it steps down
    sim.healAll();
    sim.input('c', { kind: 'force-primary' });
    sim.runUntil(() => sim.nodes.get('c')!.state === 'normal', 10 * SUSPECT_MS);
    const y = sim.addClient('c');
    joinAll(sim, [y], 'g');
    y.multicast('g', 'after-force', chorus.Order.ORDER_TOTAL);
    sim.run(sim.nowMs + 5 * SUSPECT_MS);
    expectGuarantees(sim);
  });

  it.each([1, 2])('two operators force-primary on two survivors at once (seed %i)', (seed) => {
    const names = ['a', 'b', 'c', 'd', 'e'];
    const sim = clusterOneByOne(seed, names);
    const clients = names.map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    sim.crash('a');
    sim.crash('b');
    sim.crash('c');
    sim.run(sim.nowMs + 10 * SUSPECT_MS); // d, e: 2 of 5, both step down
    sim.input('d', { kind: 'force-primary' });
    sim.input('e', { kind: 'force-primary' });
    sim.run(sim.nowMs + 30 * SUSPECT_MS);
    expectGuarantees(sim);
    expectOnePrimary(sim, ['d', 'e']);
  });
});
