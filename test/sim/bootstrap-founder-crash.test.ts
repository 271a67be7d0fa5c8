// Adversarial scenarios: bootstrap (forming the first primary) when a founder crashes after collecting some votes.
import { describe, expect, it } from 'vitest';
import { SimCluster } from './sim-cluster.js';
import { SUSPECT_MS, HEARTBEAT_MS, expectGuarantees, expectOnePrimary, peek } from './scenario-helpers.js';

describe('bootstrap founder crash', () => {
  it.each([1, 3, 4, 5])('a founder that crashes after one vote blocks the first primary forever (4 started, expect 3; seed %i)', (seed) => {
    const sim = new SimCluster({ seed, heartbeatMs: HEARTBEAT_MS, suspectMs: SUSPECT_MS });
    const all = ['a', 'b', 'c', 'd'];
    sim.slow('c', 200);
    sim.slow('d', 200);
    for (const n of all) sim.addDaemon(n, all.filter((x) => x !== n), 3);
    sim.runUntil(() => peek(sim, 'a').bootstrap.founding !== undefined && peek(sim, 'b').bootstrap.vote?.founder === sim.nodes.get('a')!.selfKey, 20_000);
    sim.crash('a'); // before every vote is in: view 1 was never installed anywhere
    sim.slow('c', 0);
    sim.slow('d', 0);
    sim.run(sim.nowMs + 100_000);
    const votes = ['b', 'c', 'd'].map((n) => `${n}:${peek(sim, n).state}:vote=${peek(sim, n).bootstrap.vote?.founder ?? '-'}`).join(' ');
    expect(sim.history.some((h) => h.type === 'daemon-view'), `no view at all after 100 s: ${votes}`).toBe(true);
    expectGuarantees(sim);
    expectOnePrimary(sim, ['b', 'c', 'd']);
  });
});
