// Adversarial scenarios: an Install lost to a joiner, the proposer restarting under its name mid-flush, a slow (not dead) member, the coordinator leaving during a flush.
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

describe('joiners, restarts, slow members', () => {
  it.each([1, 2, 3])('the proposer installs a view with a joiner and crashes; its Install to the joiner was lost (seed %i)', (seed) => {
    const names = ['a', 'b', 'c', 'd'];
    const sim = clusterOneByOne(seed, names);
    const clients = names.map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    const v = sim.nodes.get('a')!.currentView!.id;
    sim.addDaemon('f', 'a');
    for (const x of ['b', 'c', 'd']) sim.introduce('f', x);
    sim.runUntil(() => {
      const p = peek(sim, 'a').proposer.proposal;
      return p?.decision !== undefined && p.newView.members.some((m: { id: { name: string } }) => m.id.name === 'f');
    }, 20_000);
    sim.cut('a', 'f', true);
    sim.runUntil(() => sim.nodes.get('a')!.currentView!.id > v, 5_000);
    sim.crash('a');
    sim.run(sim.nowMs + 60 * SUSPECT_MS);
    expectGuarantees(sim);
    expectOnePrimary(sim, ['b', 'c', 'd', 'f']);
  });

  it.each([1, 2, 3])('the proposer crashes mid-flush and restarts at once under the same name (seed %i)', (seed) => {
    const names = ['a', 'b', 'c', 'd', 'e'];
    const sim = clusterOneByOne(seed, names);
    const clients = names.map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    for (const [i, c] of clients.entries()) c.multicast('g', `m${i}`, chorus.Order.ORDER_TOTAL);
    sim.run(sim.nowMs + 3);
    sim.crash('e');
    sim.runUntil(() => peek(sim, 'a').proposer.proposal?.decision !== undefined, 5_000);
    sim.crash('a');
    sim.restart('a', 'b');
    for (const x of ['c', 'd']) sim.introduce('a', x);
    sim.run(sim.nowMs + 60 * SUSPECT_MS);
    expectGuarantees(sim);
    expectOnePrimary(sim, ['a', 'b', 'c', 'd']);
  });

  it.each([1, 2, 3])('a member whose incoming frames take 250 ms (under the suspect timeout) during a crash flush (seed %i)', (seed) => {
    const names = ['a', 'b', 'c', 'd', 'e'];
    const sim = clusterOneByOne(seed, names);
    const clients = names.map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    sim.slow('d', 250);
    sim.run(sim.nowMs + 5 * SUSPECT_MS);
    clients[3]!.multicast('g', 'from-d', chorus.Order.ORDER_SAFE);
    sim.crash('e');
    sim.run(sim.nowMs + 60 * SUSPECT_MS);
    expectGuarantees(sim);
    expectOnePrimary(sim, ['a', 'b', 'c', 'd']);
    const restarts = flushRestarts(sim);
    expect(restarts, 'flush restarts').toBeLessThan(10);
  });

  it.each([1, 2, 3])('the coordinator leaves while a crash flush is under way, and the next oldest is frozen briefly (seed %i)', (seed) => {
    const names = ['a', 'b', 'c', 'd', 'e'];
    const sim = clusterOneByOne(seed, names);
    const clients = names.map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    sim.crash('e');
    sim.runUntil(() => peek(sim, 'a').proposer.proposal !== undefined, 5_000);
    sim.input('a', { kind: 'leave' });
    sim.freeze('b', SUSPECT_MS + 50);
    sim.run(sim.nowMs + 60 * SUSPECT_MS);
    expectGuarantees(sim);
    expectOnePrimary(sim, ['b', 'c', 'd']);
  });

  it.each([1, 2, 3])('the two oldest of four daemons leave gracefully at once (seed %i)', (seed) => {
    const names = ['a', 'b', 'c', 'd'];
    const sim = clusterOneByOne(seed, names);
    const clients = names.map((d) => sim.addClient(d));
    joinAll(sim, clients, 'g');
    sim.input('a', { kind: 'leave' });
    sim.input('b', { kind: 'leave' });
    sim.run(sim.nowMs + 20 * SUSPECT_MS);
    expectGuarantees(sim);
    expectOnePrimary(sim, ['c', 'd']);
  });
});
