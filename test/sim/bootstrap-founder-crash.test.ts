// Adversarial scenarios: bootstrap (forming the first primary) when a founder crashes after collecting some votes.
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
