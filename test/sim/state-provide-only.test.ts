// A member with provide() and no install() vouches for its own state (restored from its
// own copy) and may provide from its first view; Chorus cannot check that state. The
// checker still can, in part: a transferred state must hold everything a member without
// state (a watcher) delivered before that view. Here the provide-only member holds
// nothing while the watcher delivered m2: the joiner installs a state that misses m2,
// and the checker reports it (G6 transfer-state).
import { describe, expect, it } from 'vitest';
import { chorus } from '../../src/wire/gen/chorus.js';
import { checkHistory } from '../checker/index.js';
import { SimCluster } from './sim-cluster.js';

describe('a provide-only member without the state', () => {
  it('the joiner installs a state that misses m2, and the checker reports it', () => {
    const sim = new SimCluster({ seed: 21, heartbeatMs: 50, suspectMs: 300 });
    sim.addDaemon('a');
    sim.addDaemon('b', 'a');
    sim.runUntil(() => sim.nodes.get('b')!.currentView?.members.length === 2, 10_000);
    const first = sim.addClient('a');
    first.join('g', { install: true, provide: true });
    sim.runUntil(() => first.ready('g'));
    first.multicast('g', 'm1');
    sim.runUntil(() => first.contents.get('g')?.length === 1);
    const watcher = sim.addClient('b');
    watcher.join('g', { install: false, provide: false });
    sim.runUntil(() => watcher.ready('g'));
    first.multicast('g', 'm2');
    sim.runUntil(() => watcher.contents.get('g')?.length === 1);
    first.leave('g');
    sim.run(sim.nowMs + 200);
    const joiner = sim.addClient('b');
    joiner.join('g', { install: true, provide: false, waitMs: 60_000 });
    sim.run(sim.nowMs + 200);
    // A provide-only member with nothing of the group's history joins.
    const empty = sim.addClient('a');
    empty.join('g', { install: false, provide: true });
    sim.runUntil(() => joiner.ready('g'), 5_000);
    // The state the joiner installed misses m2, which the watcher delivered in the group before it.
    expect(joiner.contents.get('g')).toEqual([]);
    expect(watcher.contents.get('g')!.length).toBe(1);
    const rules = checkHistory(sim.history).violations.map((v) => `G${v.guarantee} ${v.rule}`);
    expect(rules).toContain('G6 transfer-state');
  });
});
