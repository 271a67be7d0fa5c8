// A group view change is delivered uniformly: the sequencer must not install it alone.
// Were it to deliver the end-of-view marker that completes a change as soon as it placed
// it, and crash before its order frames left, its clients would have seen a group view id
// that the survivors then install with other members (guarantee 1; found by nemesis seed
// 5269: crash-at-install of the sequencer during a join).
import { describe, expect, it } from 'vitest';
import { SUSPECT_MS, clusterOneByOne, expectGuarantees, expectOnePrimary, joinAll, peek, states } from './scenario-helpers.js';

describe('group view changes are uniform', () => {
  it.each([1, 2, 3, 4, 5])('a sequencer cut off right after placing the last end-of-view marker does not install the view alone (seed %i)', (seed) => {
    const sim = clusterOneByOne(seed, ['z', 'a', 'c']); // z founded: it is the sequencer
    const cz = sim.addClient('z');
    const ca = sim.addClient('a');
    joinAll(sim, [cz, ca], 'g');
    sim.runUntil(() => cz.views('g').at(-1)?.members.length === 2 && ca.views('g').at(-1)?.members.length === 2, 5_000);
    const before = cz.views('g').length;
    const cc = sim.addClient('c');
    cc.join('g');
    // a has delivered cc's join (its end-of-view marker is on its way to z): from here on
    // nothing z sends arrives anywhere.
    sim.runUntil(() => peek(sim, 'a').table.groups.get('g')?.change !== undefined, 5_000);
    sim.cut('z', 'a', true);
    sim.cut('z', 'c', true);
    sim.run(sim.nowMs + SUSPECT_MS / 2); // z hears a's marker, places it, and holds it
    expect(cz.views('g').length, 'z installed the change that nobody else can learn').toBe(before);
    sim.crash('z');
    sim.runUntil(() => cc.ready('g') && ca.views('g').at(-1)?.members.length === 2, 20 * SUSPECT_MS);
    expectOnePrimary(sim, ['a', 'c']);
    expect(ca.views('g').at(-1)!.members, states(sim)).toEqual(cc.views('g').at(-1)!.members);
    expectGuarantees(sim);
  });
});
