// Adversarial fuzz: faults timed to the phases of a flush (after Propose, after the Cut, after some Readys), several per flush: crash the proposer or a member, freeze, short one-way cuts, restarts under the same name, joins (no voluntary leaves: see flush-joins-leaves for the leaver quorum). Guarantees always; liveness after healing whenever a primary survives.
import { describe, expect, it } from 'vitest';
import { chorus } from '../../src/wire/gen/chorus.js';
import { Random } from './random.js';
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

function fuzz(seed: number): void {
  const rnd = new Random(seed * 7919 + 13);
  const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].slice(0, rnd.int(4, 7));
  const sim = clusterOneByOne(seed, names);
  const clients = names.map((d) => sim.addClient(d));
  joinAll(sim, clients, 'g');
  const orders = [chorus.Order.ORDER_FIFO, chorus.Order.ORDER_CAUSAL, chorus.Order.ORDER_TOTAL, chorus.Order.ORDER_SAFE];
  let msg = 0;
  let extra = 0;
  const send = () => {
    for (const c of clients) if (!sim.crashed.has(c.daemon) && rnd.chance(0.5)) c.multicast('g', `x${msg++}`, rnd.pick(orders));
  };
  const live = () => sim.live().filter((n) => sim.nodes.get(n)!.state !== 'left');
  const proposer = () => live().find((n) => peek(sim, n).proposer.proposal !== undefined);
  for (let round = 0; round < 6; round++) {
    send();
    // Start a flush if none is under way.
    if (proposer() === undefined) {
      const victims = live();
      if (victims.length <= 2) break;
      const r = rnd.next();
      if (r < 0.5) sim.crash(rnd.pick(victims));
      else if (r < 0.7) {
        const nm = `j${extra++}`;
        sim.addDaemon(nm, rnd.pick(victims));
        for (const x of victims) sim.introduce(nm, x);
      } else sim.freeze(rnd.pick(victims), SUSPECT_MS + rnd.int(10, 500));
    }
    try {
      sim.runUntil(() => proposer() !== undefined, 3_000);
    } catch {
      continue;
    }
    // Pick a phase of this flush.
    const p = proposer()!;
    const phase = rnd.int(0, 3);
    try {
      if (phase === 1) sim.runUntil(() => peek(sim, p).proposer.proposal?.decision !== undefined || peek(sim, p).proposer.proposal === undefined, 2_000);
      else if (phase === 2) sim.runUntil(() => (peek(sim, p).proposer.proposal?.ready.size ?? 99) >= 2, 2_000);
      else if (phase === 3) sim.run(sim.nowMs + rnd.int(0, 8));
    } catch {
      /* phase not reached */
    }
    send();
    const faults = rnd.int(1, 3);
    for (let k = 0; k < faults; k++) {
      const ls = live();
      if (ls.length === 0) break;
      const r = rnd.next();
      const target = rnd.chance(0.5) && ls.includes(p) ? p : rnd.pick(ls);
      if (r < 0.3) sim.crash(target);
      else if (r < 0.5) sim.freeze(target, rnd.int(50, 900));
      else if (r < 0.8) {
        const other = rnd.pick(ls.filter((x) => x !== target).concat(target));
        if (other !== target) {
          sim.cut(target, other, rnd.chance(0.6));
          const ms = rnd.int(30, 700);
          sim.schedule(ms, () => sim.heal(target, other));
        }
      } else if (r < 0.9) {
        const dead = [...sim.crashed].filter((x) => sim.nodes.has(x));
        if (dead.length > 0) {
          const nm = rnd.pick(dead);
          sim.restart(nm, rnd.pick(ls));
          for (const x of ls) sim.introduce(nm, x);
        }
      } else sim.slow(target, rnd.int(0, 200));
      sim.run(sim.nowMs + rnd.int(0, 20));
    }
    sim.run(sim.nowMs + rnd.int(50, 1500));
  }
  // Heal everything, restart the crashed, and let it settle.
  sim.healAll();
  for (const n of names) sim.slow(n, 0);
  sim.run(sim.nowMs + 10 * SUSPECT_MS);
  expectGuarantees(sim);
  const ls = live();
  const normal = ls.filter((n) => sim.nodes.get(n)!.state === 'normal');
  if (normal.length === 0) return; // the primary was lost: only force-primary brings it back
  const seeds = normal[0]!;
  for (const nm of [...sim.crashed]) {
    if (!sim.nodes.has(nm)) continue;
    sim.restart(nm, seeds);
    for (const x of ls) sim.introduce(nm, x);
  }
  sim.run(sim.nowMs + 80 * SUSPECT_MS);
  expectGuarantees(sim);
  const all = live();
  expectOnePrimary(sim, all);
}

describe('flush-phase fuzz', () => {
  const from = Number(process.env.CHORUS_FLUSH_FUZZ_FROM ?? 1);
  const count = Number(process.env.CHORUS_FLUSH_FUZZ_COUNT ?? 12);
  it.each(Array.from({ length: count }, (_, i) => from + i))('flush-phase fuzz (seed %i)', (seed) => fuzz(seed));
});
