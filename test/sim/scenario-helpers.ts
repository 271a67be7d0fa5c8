// Helpers of the scripted simulator scenarios (view-change-compound, flush-*, stale-ballot,
// force-primary-races, bootstrap-founder-crash): one cluster shape, and the checks every
// scenario ends with (guarantees on the whole history, liveness after the fault).
import { expect } from 'vitest';
import { checkHistory, formatViolations } from '../checker/index.js';
import { SimCluster, type SimClient } from './sim-cluster.js';

export const SUSPECT_MS = 300;
export const HEARTBEAT_MS = 50;

/** Founder first, then each other daemon joins alone (one flush per join): age follows `names`. */
export function clusterOneByOne(seed: number, names: readonly string[]): SimCluster {
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

/** Daemons a (founder) and b, in one view: the state-transfer scenarios' cluster. */
export function twoDaemons(seed: number): SimCluster {
  const sim = new SimCluster({ seed, heartbeatMs: HEARTBEAT_MS, suspectMs: SUSPECT_MS });
  sim.addDaemon('a');
  sim.addDaemon('b', 'a');
  sim.runUntil(() => sim.nodes.get('b')!.currentView?.members.length === 2, 10_000);
  return sim;
}

export function joinAll(sim: SimCluster, clients: SimClient[], group: string): void {
  const reqs = clients.map((c) => c.join(group));
  sim.runUntil(() => clients.every((c, i) => c.replies.get(reqs[i]!)?.ok === true));
}

/** Every live daemon's mode and view, for failure messages. */
export function states(sim: SimCluster): string {
  return sim
    .live()
    .map((nm) => {
      const n = sim.nodes.get(nm)!;
      return `${nm}:${n.state}:v${n.currentView?.id ?? '-'}[${(n.currentView?.members ?? []).map((m) => m.id.name).join('')}]`;
    })
    .join(' ');
}

/** Guarantees 1–6 hold on the whole history (forced views are marked in it). */
export function expectGuarantees(sim: SimCluster): void {
  const r = checkHistory(sim.history);
  expect(r.violations, `${states(sim)}\n${formatViolations(r.violations)}`).toEqual([]);
}

/** Liveness: the named daemons end in one normal view that holds all of them. */
export function expectOnePrimary(sim: SimCluster, names: readonly string[]): void {
  const views = names.map((n) => sim.nodes.get(n)!.currentView?.id);
  expect(names.every((n) => sim.nodes.get(n)!.state === 'normal'), states(sim)).toBe(true);
  expect(new Set(views).size, states(sim)).toBe(1);
  const members = sim.nodes.get(names[0]!)!.currentView!.members.map((m) => m.id.name);
  for (const n of names) expect(members, states(sim)).toContain(n);
}

/** Every live client of `group` delivered the same sequence. */
export function expectSameDeliveries(clients: readonly SimClient[], group: string): void {
  const first = clients[0]!.deliveries(group);
  for (const c of clients.slice(1)) expect(c.deliveries(group)).toEqual(first);
}

/** Peek at a daemon's private protocol state (runtime fields of DaemonNode). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function peek(sim: SimCluster, name: string): any {
  return sim.nodes.get(name) as unknown;
}

export function flushRestarts(sim: SimCluster): number {
  return sim.traces.filter((t) => t.trace.type === 'flush-restart').length;
}
