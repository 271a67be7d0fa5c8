// State transfer asks only members that provide. While none of the members present
// provides, a joiner that asks for state waits for one (for as long as its join allows,
// `waitMs`) instead of failing at once; past the wait its join fails with
// ERR_NO_STATE_PROVIDER and it is taken out of the group. Issue 15: a `chorus tail`
// (a member without state) made every stateful joiner fail at once.
import { describe, expect, it } from 'vitest';
import { chorus } from '../../src/wire/gen/chorus.js';
import type { SimClient } from './sim-cluster.js';
import { SUSPECT_MS, expectGuarantees, twoDaemons } from './scenario-helpers.js';

const REPLICA = { install: true, provide: true } as const;
const WATCHER = { install: false, provide: false } as const;

/** A replica (on a) founds g and a watcher (on b) joins; the tests then let the replica go. */
function replicaAndWatcher(seed: number) {
  const sim = twoDaemons(seed);
  const first = sim.addClient('a');
  first.join('g', REPLICA);
  sim.runUntil(() => first.ready('g'));
  const watcher = sim.addClient('b');
  watcher.join('g', WATCHER);
  sim.runUntil(() => watcher.ready('g'));
  return { sim, first, watcher };
}

const stateEvents = (c: SimClient, kind: chorus.StateTransfer.Kind) =>
  c.events.filter((e) => e.event.state !== undefined && e.event.state !== null && (e.event.state.kind ?? 0) === kind).length;

describe('a joiner waits for a member that provides', () => {
  it('with only a watcher present it waits, and gets the state from a provider that joins later (one with its own copy)', () => {
    const { sim, first, watcher } = replicaAndWatcher(1);
    first.multicast('g', 'm1', chorus.Order.ORDER_TOTAL);
    sim.runUntil(() => watcher.contents.get('g')?.length === 1 && first.contents.get('g')?.length === 1);
    const copy = [...first.contents.get('g')!];
    first.leave('g'); // the only replica goes: the watcher stays, without state
    sim.run(sim.nowMs + 100);

    const joiner = sim.addClient('b');
    joiner.join('g', { install: true, provide: false, waitMs: 60_000 });
    sim.runUntil(() => stateEvents(joiner, chorus.StateTransfer.Kind.WAIT) === 1);
    sim.run(sim.nowMs + 10 * SUSPECT_MS);
    // Waiting, not failed: still in the group at the watcher, its join not completed.
    expect(joiner.ready('g')).toBe(false);
    expect(joiner.stateFailed.has('g')).toBe(false);
    expect(stateEvents(joiner, chorus.StateTransfer.Kind.FAILED)).toBe(0);

    // A replica restored from its own copy joins: provide() without install().
    const restored = sim.addClient('a');
    restored.contents.set('g', copy);
    restored.join('g', { install: false, provide: true });
    sim.runUntil(() => joiner.ready('g'), 10 * SUSPECT_MS);
    expect(joiner.contents.get('g')).toEqual(copy);
    // It is a member like any other now: a message reaches all three.
    restored.multicast('g', 'm2', chorus.Order.ORDER_TOTAL);
    sim.runUntil(() => joiner.contents.get('g')?.length === 2 && watcher.contents.get('g')?.length === 2);
    expect(joiner.contents.get('g')).toEqual(watcher.contents.get('g'));
    expectGuarantees(sim);
  });

  it("fails with ERR_NO_STATE_PROVIDER once its wait is over, and leaves the group; the watcher's messages flow meanwhile", () => {
    const { sim, first, watcher } = replicaAndWatcher(2);
    first.leave('g');
    sim.run(sim.nowMs + 100);

    const joiner = sim.addClient('a');
    const started = sim.nowMs;
    joiner.join('g', { install: true, provide: true, waitMs: 1_000 });
    sim.runUntil(() => stateEvents(joiner, chorus.StateTransfer.Kind.WAIT) === 1);
    for (let i = 0; i < 5; i++) {
      watcher.multicast('g', `w${i}`, chorus.Order.ORDER_TOTAL);
      sim.run(sim.nowMs + 100);
    }
    sim.runUntil(() => joiner.stateFailed.has('g'), 10 * SUSPECT_MS);
    const failed = joiner.events.find((e) => (e.event.state?.kind ?? 0) === chorus.StateTransfer.Kind.FAILED)!;
    expect(failed.event.state!.errorCode).toBe('ERR_NO_STATE_PROVIDER');
    expect(failed.at - started).toBeGreaterThanOrEqual(1_000);
    // The others see it leave; the watcher alone again.
    sim.runUntil(() => watcher.views('g').at(-1)!.members.length === 1, 10 * SUSPECT_MS);
    expect(watcher.views('g').at(-1)!.members).toEqual([watcher.id]);
    // A new join of the same client works again (and waits again).
    joiner.join('g', { install: true, provide: true, waitMs: 60_000 });
    sim.runUntil(() => stateEvents(joiner, chorus.StateTransfer.Kind.WAIT) === 2, 10 * SUSPECT_MS);
    expectGuarantees(sim);
  });

  it('a client of protocol 1 (it does not know WAIT) fails at once, as before', () => {
    const { sim, first } = replicaAndWatcher(4);
    first.leave('g');
    sim.run(sim.nowMs + 100);
    const old = sim.addClient('a', 1);
    old.join('g', { install: true, provide: true, waitMs: 60_000 });
    sim.runUntil(() => old.stateFailed.has('g'), 3 * SUSPECT_MS);
    expect(stateEvents(old, chorus.StateTransfer.Kind.WAIT)).toBe(0);
    expectGuarantees(sim);
  });

  it('a provider that goes mid-transfer with no other provider left: the joiner waits instead of failing', () => {
    const sim = twoDaemons(3);
    const first = sim.addClient('a');
    first.join('g', { ...REPLICA, provideDelayMs: () => 200 });
    sim.runUntil(() => first.ready('g'));
    const watcher = sim.addClient('a');
    watcher.join('g', WATCHER);
    sim.runUntil(() => watcher.ready('g'));
    const joiner = sim.addClient('b');
    joiner.join('g', { install: true, provide: false, waitMs: 60_000 });
    // The checkpoint went out; the provider leaves before its state does.
    sim.runUntil(() => first.events.some((e) => e.event.checkpoint?.joiner === joiner.id));
    first.leave('g');
    sim.runUntil(() => stateEvents(joiner, chorus.StateTransfer.Kind.WAIT) === 1, 10 * SUSPECT_MS);
    sim.run(sim.nowMs + 10 * SUSPECT_MS);
    expect(joiner.ready('g')).toBe(false);
    expect(joiner.stateFailed.has('g')).toBe(false);
    expectGuarantees(sim);
  });
});
