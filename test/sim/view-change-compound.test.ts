// View changes under compound faults: a proposer that crashes between its Install
// deliveries, a ballot tie won by a younger daemon with a smaller name, an Install lost on
// a short cut, a `safe` entry whose earlier slots only some members hold, force-primary
// after the majority is lost, and one daemon with broken links. Each test plays the fault
// on a scripted simulator cluster and asserts the guarantees (DESIGN.md 1–7) with the
// checker and the states the survivors must reach once the fault heals.
import { describe, expect, it } from 'vitest';
import { chorus } from '../../src/wire/gen/chorus.js';
import { SimCluster } from './sim-cluster.js';
import { SUSPECT_MS, HEARTBEAT_MS, clusterOneByOne, joinAll, states, expectGuarantees, expectOnePrimary, expectSameDeliveries } from './scenario-helpers.js';

describe('view change under compound faults', () => {
  it.each([1, 2, 3])(
    'a proposer that crashes right after installing, past a one-way cut, is completed: no daemon view id is used twice (tie won by a younger, smaller name; seed %i)',
    (seed) => {
      // z founds; a..e join one by one: z is the oldest but a has the smallest name.
      const names = ['z', 'a', 'b', 'c', 'd', 'e'];
      const sim = clusterOneByOne(seed, names);
      const clients = names.map((d) => sim.addClient(d));
      joinAll(sim, clients, 'g');
      clients[2]!.multicast('g', 'before', chorus.Order.ORDER_TOTAL);
      sim.run(sim.nowMs + 50);
      const v = sim.nodes.get('z')!.currentView!.id;
      sim.cut('a', 'z', true); // z no longer hears a: it proposes without a
      sim.runUntil(() => sim.nodes.get('z')!.currentView!.id > v, 5_000);
      sim.crash('z'); // its Install frames die with it
      sim.run(sim.nowMs + 20 * SUSPECT_MS);
      sim.healAll();
      sim.run(sim.nowMs + 20 * SUSPECT_MS);
      expectGuarantees(sim);
      expectOnePrimary(sim, ['a', 'b', 'c', 'd', 'e']);
    },
  );

  it.each([1, 2, 3])('survivors install the view a crashed proposer installed, with its members and cut (seed %i)', (seed) => {
    const names = ['a', 'b', 'c', 'd', 'e'];
    const sim = clusterOneByOne(seed, names);
    const clients = names.map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    for (const [i, c] of clients.entries()) c.multicast('g', `m${i}`, chorus.Order.ORDER_TOTAL);
    sim.run(sim.nowMs + 50);
    const v = sim.nodes.get('a')!.currentView!.id;
    sim.crash('e');
    sim.runUntil(() => sim.nodes.get('a')!.currentView!.id > v, 5_000);
    const installed = sim.nodes.get('a')!.currentView!;
    sim.crash('a');
    sim.run(sim.nowMs + 20 * SUSPECT_MS);
    expectGuarantees(sim);
    expectOnePrimary(sim, ['b', 'c', 'd']);
    // The view a installed is the one b, c and d went through (same id, same members).
    const seen = sim.history.filter((h) => h.type === 'daemon-view' && h.viewId === installed.id);
    expect(seen.length).toBeGreaterThanOrEqual(4);
    expectSameDeliveries(clients.slice(1, 4), 'g');
  });

  it.each([1, 2, 3])('an Install that reached one member before its proposer crashed is completed: the live majority keeps the primary (seed %i)', (seed) => {
    const names = ['a', 'b', 'c', 'd', 'e'];
    const sim = clusterOneByOne(seed, names);
    const clients = names.map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    sim.run(sim.nowMs + 50);
    const v = sim.nodes.get('a')!.currentView!.id;
    sim.slow('c', 5); // frames to c and d take 5 ms longer: b gets the Install first
    sim.slow('d', 5);
    sim.crash('e');
    sim.runUntil(() => sim.nodes.get('b')!.currentView!.id > v, 5_000);
    sim.crash('a'); // b, c, d are 3 of the 5 of view v, alive and connected
    sim.slow('c', 0);
    sim.slow('d', 0);
    sim.run(sim.nowMs + 20 * SUSPECT_MS);
    expectGuarantees(sim);
    expectOnePrimary(sim, ['b', 'c', 'd']);
    for (const n of ['b', 'c', 'd']) expect(sim.traces.some((t) => t.daemon === n && t.trace.type === 'step-down'), n).toBe(false);
  });

  it.each([1, 2, 3])('an Install lost on a cut shorter than the suspect timeout is pushed again: no member stays in the flush, and safe delivery goes on (seed %i)', (seed) => {
    const names = ['a', 'b', 'c', 'd'];
    const sim = clusterOneByOne(seed, names);
    const clients = names.map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    sim.run(sim.nowMs + 50);
    sim.crash('d');
    sim.runUntil(() => sim.nodes.get('c')!.state === 'flushing', 5_000); // c has just sent its ack
    sim.cut('a', 'c', true); // a → c only, for 100 ms (< suspect timeout): the Install to c is lost
    sim.run(sim.nowMs + 100);
    sim.heal('a', 'c');
    sim.run(sim.nowMs + 10 * SUSPECT_MS);
    expectOnePrimary(sim, ['a', 'b', 'c']);
    const req = clients[0]!.multicast('g', 'safe-after', chorus.Order.ORDER_SAFE);
    sim.run(sim.nowMs + 10 * SUSPECT_MS);
    expect(clients[0]!.replies.get(req)?.ok).toBe(true);
    for (const c of clients.slice(0, 3)) expect(c.deliveries('g').some((d) => d.endsWith('safe-after')), c.id).toBe(true);
    expectGuarantees(sim);
    expectSameDeliveries(clients.slice(0, 3), 'g');
  });

  it.each([1, 2, 3])('safe is delivered only once every member holds every earlier entry: it keeps its seq after the deliverer crashes (seed %i)', (seed) => {
    const names = ['a', 'b', 'c', 'd', 'e'];
    const sim = clusterOneByOne(seed, names);
    const clients = names.map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    sim.run(sim.nowMs + 50);
    // b's data frames to c, d, e are held back (one-way cuts).
    for (const x of ['c', 'd', 'e']) sim.cut('b', x, true);
    clients[1]!.multicast('g', 'X-total', chorus.Order.ORDER_TOTAL);
    sim.run(sim.nowMs + 10);
    clients[2]!.multicast('g', 'Y-safe', chorus.Order.ORDER_SAFE);
    sim.run(sim.nowMs + 100);
    sim.crash('a');
    sim.crash('b');
    sim.run(sim.nowMs + 20 * SUSPECT_MS);
    expectGuarantees(sim);
    expectOnePrimary(sim, ['c', 'd', 'e']);
    expectSameDeliveries(clients.slice(2), 'g');
    expect(clients[2]!.deliveries('g').some((d) => d.endsWith('Y-safe'))).toBe(true);
  });

  it.each([1, 2])('force-primary after the majority is lost continues above every id the reachable daemons saw (seed %i)', (seed) => {
    const names = ['a', 'b', 'c'];
    const sim = clusterOneByOne(seed, names);
    const clients = names.map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    sim.partition(['c'], ['a', 'b']);
    sim.run(sim.nowMs + 10 * SUSPECT_MS); // c steps down; a, b go on without it
    // The group moves on at a and b: b's member leaves and a new one joins.
    const lr = clients[1]!.leave('g');
    sim.runUntil(() => clients[1]!.replies.get(lr)?.ok === true);
    const x = sim.addClient('b');
    joinAll(sim, [x], 'g');
    sim.crash('a'); // the majority is gone for good: b alone is not a quorum of {a, b}
    sim.run(sim.nowMs + 10 * SUSPECT_MS);
    sim.healAll();
    sim.run(sim.nowMs + 5 * SUSPECT_MS);
    const highestBefore = Math.max(...sim.history.flatMap((h) => (h.type === 'daemon-view' ? [h.viewId] : [])));
    sim.input('c', { kind: 'force-primary' }); // the operator picks the survivor c, which left early
    sim.runUntil(() => sim.nodes.get('c')!.state === 'normal', 10 * SUSPECT_MS);
    const forcedView = sim.nodes.get('c')!.currentView!.id;
    expect(forcedView).toBeGreaterThan(highestBefore);
    expect(sim.traces.some((t) => t.daemon === 'c' && t.trace.type === 'force-primary' && t.trace.ok)).toBe(true);
    sim.run(sim.nowMs + 20 * SUSPECT_MS);
    const y = sim.addClient('c');
    joinAll(sim, [y], 'g');
    sim.run(sim.nowMs + 5 * SUSPECT_MS);
    expect(sim.history.some((h) => h.type === 'daemon-view' && h.viewId === forcedView && h.forced === true)).toBe(true);
    expectGuarantees(sim);
    expectOnePrimary(sim, ['b', 'c']);
  });

  it('force-primary is refused while a reachable daemon is in a primary view', () => {
    const names = ['a', 'b', 'c'];
    const sim = clusterOneByOne(7, names);
    sim.partition(['c'], ['a', 'b']);
    sim.run(sim.nowMs + 10 * SUSPECT_MS); // c steps down; a, b keep the primary
    sim.healAll();
    sim.crash('a'); // (b alone would lose it; c asks before b notices)
    sim.input('c', { kind: 'force-primary' });
    sim.run(sim.nowMs + 2 * SUSPECT_MS);
    const answer = sim.traces.find((t) => t.daemon === 'c' && t.trace.type === 'force-primary');
    expect(answer?.trace.type === 'force-primary' && answer.trace.ok).toBe(false);
    expect(answer?.trace.type === 'force-primary' && answer.trace.message).toMatch(/is in primary view/);
    expect(sim.nodes.get('c')!.state).not.toBe('normal');
  });

  it.each([1, 2])('one daemon that loses its links to three others is the one excluded: the clique keeps the most daemons (seed %i)', (seed) => {
    const names = ['a', 'b', 'c', 'd', 'e'];
    const sim = clusterOneByOne(seed, names);
    const clients = names.map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    const aKey = sim.nodes.get('a')!.selfKey;
    for (const x of ['c', 'd', 'e']) sim.cut('b', x, true);
    sim.run(sim.nowMs + 20 * SUSPECT_MS);
    expect(sim.traces.some((t) => t.daemon === 'a' && t.trace.type === 'step-down'), states(sim)).toBe(false);
    expect(sim.nodes.get('a')!.selfKey).toBe(aKey);
    expectOnePrimary(sim, ['a', 'c', 'd', 'e']);
    expect(sim.nodes.get('a')!.currentView!.members.map((m) => m.key)).not.toContain(sim.nodes.get('b')!.selfKey);
    expectGuarantees(sim);
  });

  it.each([1, 2, 3])('a founder whose Install is lost keeps its voters: no second founder forms another view 1 with them (seed %i)', (seed) => {
    const sim = new SimCluster({ seed, heartbeatMs: HEARTBEAT_MS, suspectMs: SUSPECT_MS });
    for (const n of ['a', 'b', 'c']) sim.addDaemon(n, ['a', 'b', 'c'].filter((x) => x !== n), 3);
    sim.runUntil(() => sim.nodes.get('a')!.currentView !== undefined, 10_000);
    sim.cut('a', 'c'); // a's Install to c dies on the link; c voted for a
    // Two more fresh daemons that know only c: with c they would be three, enough to found.
    sim.addDaemon('d', ['c', 'e'], 3);
    sim.addDaemon('e', ['c', 'd'], 3);
    sim.run(sim.nowMs + 30 * SUSPECT_MS);
    const ones = new Set(sim.history.flatMap((h) => (h.type === 'daemon-view' && h.viewId === 1 ? [h.members.join(',')] : [])));
    expect([...ones].length, [...ones].join(' | ')).toBe(1);
    sim.healAll();
    sim.run(sim.nowMs + 30 * SUSPECT_MS);
    expectGuarantees(sim);
  });
});
