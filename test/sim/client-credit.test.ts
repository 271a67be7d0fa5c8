// Per-client flow control (issue 10, "bounded by bytes"): while a member is frozen the
// daemon's buffer fills and multicasts wait, accepted, in the daemon; a client whose
// waiting multicasts pass its credit (one largest message plus 1 MiB) is paused — chorusd
// stops reading its socket — and resumed once they are sent. Before, 600 x 1 MiB accepted
// multicasts grew a daemon from 73 to 688 MiB.
import { describe, expect, it } from 'vitest';
import { SimCluster } from './sim-cluster.js';
import { expectGuarantees, joinAll, peek } from './scenario-helpers.js';

describe('per-client credit', () => {
  it('pauses a client whose queued multicasts pass its credit while a member is frozen, and resumes it after', () => {
    const sim = new SimCluster({ seed: 3, heartbeatMs: 50, suspectMs: 300, maxBufferBytes: 512 * 1024 });
    sim.addDaemon('a');
    sim.addDaemon('b', 'a');
    sim.runUntil(() => ['a', 'b'].every((n) => sim.nodes.get(n)!.currentView?.members.length === 2));
    const x = sim.addClient('a');
    const y = sim.addClient('b');
    joinAll(sim, [x, y], 'g');
    sim.freeze('b', 250); // shorter than the suspect timeout: b stays a member
    const big = 'x'.repeat(256 * 1024);
    // The simulator's daemons take messages of up to 1 MiB: the credit is 2 MiB. 12 x 256 KiB = 3 MiB.
    for (let i = 0; i < 12; i++) x.multicast('g', big);
    sim.run(sim.nowMs + 20);
    expect(x.flow).toEqual(['pause']);
    expect(peek(sim, 'a').local.pausedClients.has(x.id)).toBe(true);
    sim.runUntil(() => y.deliveries('g').length === 12, 60_000);
    expect(x.flow).toEqual(['pause', 'resume']);
    expectGuarantees(sim);
  });
});
