// Adversarial scenarios: force-primary after the last primary's proposer installed a view that the forcing daemon had only accepted; two operators forcing at once.
import { describe, expect, it } from 'vitest';
import { chorus } from '../../src/wire/gen/chorus.js';
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
