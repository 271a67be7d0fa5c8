// Adversarial scenarios: a ballot left over from a finished flush makes the next view change wait for a rival that is not proposing.
import { describe, expect, it } from 'vitest';
import { SimCluster } from './sim-cluster.js';
import { SUSPECT_MS, HEARTBEAT_MS, clusterOneByOne, expectGuarantees, expectOnePrimary, peek } from './scenario-helpers.js';

/** Time from crashing `victim` until every name in `rest` is in one normal view without it. */
function viewChangeTime(sim: SimCluster, victim: string, rest: readonly string[]): number {
  const t0 = sim.nowMs;
  const v = sim.nodes.get(rest[0]!)!.currentView!.id;
  sim.crash(victim);
  sim.runUntil(() => {
    const ids = rest.map((n) => sim.nodes.get(n)!);
    return ids.every((n) => n.state === 'normal' && n.currentView!.id > v && n.currentView!.members.length === rest.length) && new Set(ids.map((n) => n.currentView!.id)).size === 1;
  }, 60 * SUSPECT_MS);
  return sim.nowMs - t0;
}

describe('stale ballot from a completed takeover', () => {
  it.each([1, 2, 3])('control: a crash is handled within the suspect timeout plus a few heartbeats (seed %i)', (seed) => {
    const sim = clusterOneByOne(seed, ['z', 'a', 'c', 'd', 'e']);
    sim.crash('e');
    sim.run(sim.nowMs + 10 * SUSPECT_MS);
    const took = viewChangeTime(sim, 'd', ['z', 'a', 'c']);
    expect(took).toBeLessThan(SUSPECT_MS + 6 * HEARTBEAT_MS);
    expectGuarantees(sim);
  });

  it.each([1, 4, 6, 8])('a member that took over a flush and learned its Install from an ack refuses the coordinator next time: the view change waits 2 flush timeouts (seed %i)', (seed) => {
    // z founds, a is second oldest but has the smaller name: at equal counters a's ballot wins.
    const sim = clusterOneByOne(seed, ['z', 'a', 'c', 'd', 'e']);
    const v0 = sim.nodes.get('z')!.currentView!.id;
    sim.crash('e');
    sim.runUntil(() => peek(sim, 'a').flushMember.accepted !== undefined, 5_000); // a is Ready for z's decision
    sim.cut('z', 'a', true); // z's Install to a is lost, and a soon suspects z
    sim.cut('a', 'c', true); // a's heartbeats in the old view reach nobody that would push the Install
    sim.cut('a', 'd', true);
    sim.runUntil(() => peek(sim, 'a').proposer.proposal !== undefined, 5_000); // a takes over with a higher ballot
    sim.heal('a', 'c');
    sim.heal('a', 'd');
    sim.runUntil(() => sim.nodes.get('a')!.state === 'normal' && sim.nodes.get('a')!.currentView!.id > v0, 5_000);
    sim.heal('z', 'a');
    // From here on no link is broken: every view change should take a few round trips.
    const t0 = sim.nowMs;
    sim.run(sim.nowMs + 10 * SUSPECT_MS);
    sim.crash('d');
    sim.run(sim.nowMs + 20 * SUSPECT_MS);
    const starts = sim.traces.filter((t) => t.at >= t0 && t.trace.type === 'view-change-start');
    expect(starts.length).toBeGreaterThan(0);
    const slowest = Math.max(
      ...starts.map((s) => (sim.traces.find((t) => t.at >= s.at && t.trace.type === 'daemon-view')?.at ?? Number.POSITIVE_INFINITY) - s.at),
    );
    const log = sim.traces
      .filter((t) => t.at >= t0 && ['view-change-start', 'flush-restart', 'daemon-view', 'step-down'].includes(t.trace.type))
      .map((t) => `${t.at.toFixed(0)} ${t.daemon} ${t.trace.type} ${'ballot' in t.trace ? t.trace.ballot : 'viewId' in t.trace ? t.trace.viewId : ''}`)
      .join('\n');
    expect(slowest, `a view change took ${slowest.toFixed(0)} ms with every link working:\n${log}`).toBeLessThan(SUSPECT_MS);
    expectOnePrimary(sim, ['z', 'a', 'c']);
    expectGuarantees(sim);
  });
});
