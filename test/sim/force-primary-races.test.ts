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

describe('force-primary reaches daemons that never shared a view with the forcing one', () => {
  // Seed 300373's shape: a is cut off and steps down; d crashes and restarts, knowing
  // only b (or b and a); d', b, c form a view; b and c crash; d' steps down looking only
  // for b and c. The operator forces a primary on a. Two ways get d' in, each enough
  // alone: the forcing daemon tells every daemon that answered its query where the
  // primary is (a joinStatus), and a daemon probes its seeds too after a step-down.
  it.each([
    ["d' restarted with b as its seed", 'b'],
    ["d' restarted with b and a as its seeds", 'a'],
  ] as const)('a daemon whose last view crashed joins the forced primary (%s)', (_what, alsoSeed) => {
    const names = ['a', 'b', 'c', 'd'];
    const sim = clusterOneByOne(4, names);
    sim.partition(['a'], ['b', 'c', 'd']);
    sim.run(sim.nowMs + 10 * SUSPECT_MS); // a steps down; b, c, d go on
    sim.crash('d');
    sim.run(sim.nowMs + 5 * SUSPECT_MS);
    sim.heal('a', 'd'); // d' and a are never cut: no link comes back later to introduce them
    sim.restart('d', 'b');
    if (alsoSeed === 'a') sim.introduce('d', 'a'); // a seed that is not in the primary
    sim.runUntil(() => sim.nodes.get('d')!.currentView?.members.length === 3, 10 * SUSPECT_MS);
    sim.crash('b');
    sim.crash('c');
    sim.run(sim.nowMs + 10 * SUSPECT_MS); // d' steps down: its last view's others are gone
    sim.healAll();
    sim.input('a', { kind: 'force-primary' }); // before a's next join attempt could reach d'
    sim.run(sim.nowMs + 20 * SUSPECT_MS);
    expectOnePrimary(sim, ['a', 'd']);
    expectGuarantees(sim);
  });
});

describe('force-primary asks the daemons that are looking for the primary too', () => {
  // Seed 910004's shape: b is cut off and steps down; c joins a (introduced to b as
  // well, so it can find b later); a crashes: c steps down too. b never shared a view
  // with c, whose ids are higher. Forced on b, the primary must continue above c's ids
  // (c asked b to let it join: b asks c), and c must join it.
  it('a forced view continues above the ids of a stepped-down daemon it never shared a view with', () => {
    const sim = clusterOneByOne(6, ['a', 'b']);
    sim.partition(['a'], ['b']);
    sim.run(sim.nowMs + 10 * SUSPECT_MS); // a keeps the primary (oldest of two), b steps down
    sim.addDaemon('c', 'a');
    sim.introduce('c', 'b');
    sim.runUntil(() => sim.nodes.get('c')!.currentView?.members.length === 2, 10 * SUSPECT_MS);
    const cView = sim.nodes.get('c')!.currentView!.id;
    sim.crash('a');
    sim.run(sim.nowMs + 10 * SUSPECT_MS); // c steps down: 1 of 2, not the oldest
    sim.healAll();
    sim.run(sim.nowMs + 4 * SUSPECT_MS); // c's join attempts reach b
    sim.input('b', { kind: 'force-primary' });
    sim.run(sim.nowMs + 20 * SUSPECT_MS);
    expect(sim.nodes.get('b')!.currentView!.id).toBeGreaterThan(cView);
    expectOnePrimary(sim, ['b', 'c']);
    expectGuarantees(sim);
  });
});
