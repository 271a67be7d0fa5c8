// Adversarial scenarios: a ballot left over from a finished flush makes the next view change wait for a rival that is not proposing.
import { describe, expect, it } from 'vitest';
import { checkHistory, formatViolations } from '../checker/index.js';
import { SimCluster, type SimClient } from './sim-cluster.js';

const SUSPECT_MS = 300;
const HEARTBEAT_MS = 50;

function clusterOneByOne(seed: number, names: readonly string[]): SimCluster {
  const sim = new SimCluster({ seed, heartbeatMs: HEARTBEAT_MS, suspectMs: SUSPECT_MS });
  sim.addDaemon(names[0]!);
  for (let i = 1; i < names.length; i++) {
    sim.addDaemon(names[i]!, names[0]!);
    for (let j = 1; j < i; j++) sim.introduce(names[i]!, names[j]!);
    const n = i + 1;
    sim.runUntil(() => names.slice(0, n).every((x) => sim.nodes.get(x)!.currentView?.members.length === n), 30_000);
  }
  sim.run(sim.nowMs + 20);
  return sim;
}

function joinAll(sim: SimCluster, clients: SimClient[], group: string): void {
  const reqs = clients.map((c) => c.join(group));
  sim.runUntil(() => clients.every((c, i) => c.replies.get(reqs[i]!)?.ok === true));
}

function states(sim: SimCluster): string {
  return sim
    .live()
    .map((nm) => {
      const n = sim.nodes.get(nm)!;
      return `${nm}:${n.state}:v${n.currentView?.id ?? '-'}[${(n.currentView?.members ?? []).map((m) => m.id.name).join('')}]`;
    })
    .join(' ');
}

function expectGuarantees(sim: SimCluster): void {
  const r = checkHistory(sim.history);
  expect(r.violations, `${states(sim)}\n${formatViolations(r.violations)}`).toEqual([]);
}

/** Liveness: the named daemons end in one normal view that holds all of them. */
function expectOnePrimary(sim: SimCluster, names: readonly string[]): void {
  const views = names.map((n) => sim.nodes.get(n)!.currentView?.id);
  expect(names.every((n) => sim.nodes.get(n)!.state === 'normal'), states(sim)).toBe(true);
  expect(new Set(views).size, states(sim)).toBe(1);
  const members = sim.nodes.get(names[0]!)!.currentView!.members.map((m) => m.id.name);
  for (const n of names) expect(members, states(sim)).toContain(n);
}

/** Peek at a daemon's private protocol state (runtime fields of DaemonNode). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function peek(sim: SimCluster, name: string): any {
  return sim.nodes.get(name) as unknown;
}

function flushRestarts(sim: SimCluster): number {
  return sim.traces.filter((t) => t.trace.type === 'flush-restart').length;
}

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
