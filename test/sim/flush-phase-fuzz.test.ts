// Adversarial fuzz: faults timed to the phases of a flush (after Propose, after the Cut, after some Readys), several per flush: crash the proposer or a member, freeze, short one-way cuts, restarts under the same name, joins (no voluntary leaves: see flush-joins-leaves for the leaver quorum). Guarantees always; liveness after healing whenever a primary survives.
import { describe, expect, it } from 'vitest';
import { chorus } from '../../src/wire/gen/chorus.js';
import { Random } from './random.js';
import { SUSPECT_MS, clusterOneByOne, joinAll, expectGuarantees, expectOnePrimary, peek } from './scenario-helpers.js';

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
