// STATE_INSTALLED must reach the table whatever happened to the group meanwhile: it was
// stamped (LocalClients.pump) with the group's view at the time it was sent, not with its
// transfer, so a group view change between the BEGIN and the end of install() (here: a
// watcher joins) made the table ignore it, and a provider that left just as the install
// ended made the re-plan start a new transfer (or a wait) the table then kept. Either way
// the joiner stayed awaitingState for ever: it never provided, and with waits its daemon
// gave up for it after waitMs, taking out of the group a member whose join had completed.
import { describe, expect, it } from 'vitest';
import { chorus } from '../../src/wire/gen/chorus.js';
import type { SimClient } from './sim-cluster.js';
import { expectGuarantees, twoDaemons } from './scenario-helpers.js';

/**
 * p (on a) holds m1 and provides slowly; j (on b) joins with state; while p's provide()
 * runs, a watcher w joins: the group moves on a view, the transfer goes on.
 */
function watcherJoinsDuringProvide(seed: number) {
  const sim = twoDaemons(seed);
  const p = sim.addClient('a');
  p.join('g', { install: true, provide: true, provideDelayMs: () => 100 });
  sim.runUntil(() => p.ready('g'));
  p.multicast('g', 'm1');
  sim.runUntil(() => p.contents.get('g')?.length === 1);
  const j: SimClient = sim.addClient('b');
  j.join('g', { install: true, provide: true, waitMs: 1_000 });
  sim.runUntil(() => p.events.some((e) => e.event.checkpoint?.joiner === j.id));
  const w = sim.addClient('a');
  w.join('g', { install: false, provide: false });
  sim.runUntil(() => j.ready('g') && w.ready('g'), 5_000);
  sim.run(sim.nowMs + 500);
  return { sim, p, j, w };
}

describe('STATE_INSTALLED after an unrelated group view change', () => {
  it('a joiner whose install() ended after another member joined is recorded as installed', () => {
    const { sim, j } = watcherJoinsDuringProvide(11);
    const rec = sim.nodes.get('a')!.groups.get('g')!.members.find((m) => m.client === j.id)!;
    // j's join completed: the table must know it holds the state (it may provide now).
    expect({ awaiting: rec.awaitingState, transfer: rec.transfer }).toEqual({ awaiting: false, transfer: rec.transfer });
  });

  it('... and is not taken out of the group when its provider leaves', () => {
    const { sim, p, j, w } = watcherJoinsDuringProvide(12);
    p.leave('g');
    sim.run(sim.nowMs + 5_000);
    // j never asked to leave: it must still be in the group.
    const last = w.views('g').at(-1)!;
    expect(last.members).toContain(j.id);
    expect(j.events.some((e) => (e.event.state?.kind ?? 0) === chorus.StateTransfer.Kind.FAILED)).toBe(false);
    expectGuarantees(sim);
  });
});

describe('the provider leaves right after the joiner installed, before STATE_INSTALLED is ordered', () => {
  it('the joiner (join completed, state installed) stays in the group', () => {
    const sim = twoDaemons(13);
    const p = sim.addClient('a');
    p.join('g', { install: true, provide: true, provideDelayMs: () => 100 });
    sim.runUntil(() => p.ready('g'));
    p.multicast('g', 'm1');
    sim.runUntil(() => p.contents.get('g')?.length === 1);
    const w = sim.addClient('a');
    w.join('g', { install: false, provide: false });
    sim.runUntil(() => w.ready('g'));
    const j: SimClient = sim.addClient('b');
    j.join('g', { install: true, provide: false, waitMs: 1_000 });
    sim.runUntil(() => p.events.some((e) => e.event.checkpoint?.joiner === j.id));
    // The state leaves p in 100 ms: p leaves the group at that moment.
    sim.run(sim.nowMs + 99.9);
    p.leave('g');
    sim.runUntil(() => j.ready('g'), 5_000);
    sim.run(sim.nowMs + 5_000);
    expect(w.views('g').at(-1)!.members).toContain(j.id);
    expectGuarantees(sim);
  });
});
