// Adversarial scenarios: proposer crashes at chosen points of the accept round, a member crash right after it accepted, a restart under the same name mid-flush, joins during a flush.
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

describe('proposer crash in the accept round', () => {
  it.each([1, 2, 3, 4])('proposer crashes after some Readys, one member not yet holding the Cut (seed %i)', (seed) => {
    const names = ['a', 'b', 'c', 'd', 'e'];
    const sim = clusterOneByOne(seed, names);
    const clients = names.map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    for (const [i, c] of clients.entries()) c.multicast('g', `m${i}`, chorus.Order.ORDER_TOTAL);
    sim.run(sim.nowMs + 5);
    sim.slow('d', 30);
    sim.crash('e');
    sim.runUntil(() => {
      const p = peek(sim, 'a').proposer.proposal;
      return p?.decision !== undefined && p.ready.size >= 2;
    }, 5_000);
    sim.cut('a', 'd', true); // d never gets a's Cut
    sim.crash('a');
    sim.slow('d', 0);
    sim.run(sim.nowMs + 30 * SUSPECT_MS);
    sim.healAll();
    sim.run(sim.nowMs + 30 * SUSPECT_MS);
    expectGuarantees(sim);
    expectOnePrimary(sim, ['b', 'c', 'd']);
  });

  it.each([1, 2, 3, 4])('a member crashes right after accepting, then the proposer crashes before the others accepted (7 daemons, seed %i)', (seed) => {
    const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    const sim = clusterOneByOne(seed, names);
    const clients = names.map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    for (const [i, c] of clients.entries()) c.multicast('g', `m${i}`, i % 2 ? chorus.Order.ORDER_SAFE : chorus.Order.ORDER_TOTAL);
    sim.run(sim.nowMs + 3);
    for (const x of ['d', 'e', 'f']) sim.slow(x, 25);
    sim.crash('g');
    sim.runUntil(() => peek(sim, 'c').flushMember.accepted !== undefined, 5_000);
    sim.crash('c');
    sim.run(sim.nowMs + 2);
    sim.crash('a');
    for (const x of ['d', 'e', 'f']) sim.slow(x, 0);
    sim.run(sim.nowMs + 40 * SUSPECT_MS);
    expectGuarantees(sim);
    expectOnePrimary(sim, ['b', 'd', 'e', 'f']);
  });

  it.each([1, 2, 3])('a member restarts under the same name while the flush waits for its Ready (seed %i)', (seed) => {
    const names = ['a', 'b', 'c', 'd', 'e'];
    const sim = clusterOneByOne(seed, names);
    const clients = names.map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    for (const [i, c] of clients.entries()) c.multicast('g', `m${i}`, chorus.Order.ORDER_TOTAL);
    sim.run(sim.nowMs + 5);
    sim.crash('e');
    sim.runUntil(() => peek(sim, 'c').flushMember.flush !== undefined, 5_000);
    sim.crash('c');
    sim.restart('c', 'b');
    sim.introduce('c', 'a');
    sim.introduce('c', 'd');
    sim.run(sim.nowMs + 40 * SUSPECT_MS);
    expectGuarantees(sim);
    expectOnePrimary(sim, ['a', 'b', 'c', 'd']);
  });

  it.each([1, 2, 3])('a joiner named in a decision whose proposer crashes after some Readys (seed %i)', (seed) => {
    const names = ['a', 'b', 'c', 'd'];
    const sim = clusterOneByOne(seed, names);
    const clients = names.map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    sim.slow('d', 30);
    sim.addDaemon('f', 'a');
    for (const x of ['b', 'c', 'd']) sim.introduce('f', x);
    sim.runUntil(() => {
      const p = peek(sim, 'a').proposer.proposal;
      return p?.decision !== undefined && p.ready.size >= 2;
    }, 20_000);
    sim.crash('a');
    sim.slow('d', 0);
    sim.run(sim.nowMs + 40 * SUSPECT_MS);
    expectGuarantees(sim);
    expectOnePrimary(sim, ['b', 'c', 'd', 'f']);
  });
});
