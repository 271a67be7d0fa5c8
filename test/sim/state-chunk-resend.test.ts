// A state chunk lost with a broken peer link is sent again when the link comes back.
// Chunks travel point to point, outside the ordered stream the receive vectors repair:
// before the resend, a lost chunk stalled the join until the 30 s stall limit gave up on
// the provider (and with a single provider, the join then failed).
import { describe, expect, it } from 'vitest';
import { chorus } from '../../src/wire/gen/chorus.js';
import { expectGuarantees, SUSPECT_MS, twoDaemons } from './scenario-helpers.js';

describe('a state chunk lost on a link cut shorter than the suspect timeout', () => {
  it.each([1, 2, 3])('is sent again when the link is back: the join completes at once (seed %i)', (seed) => {
    const sim = twoDaemons(seed);
    const p = sim.addClient('a');
    p.join('g', { install: true, provide: true, provideDelayMs: () => 20 });
    sim.runUntil(() => p.ready('g'));
    p.multicast('g', 'm1');
    sim.runUntil(() => p.contents.get('g')?.length === 1);
    const j = sim.addClient('b');
    j.join('g', { install: true, provide: false });
    sim.runUntil(() => p.events.some((e) => e.event.checkpoint?.joiner === j.id));
    // The chunk leaves a in 20 ms, into a cut link: it is lost, the views stay.
    sim.shortCut('a', 'b', SUSPECT_MS / 2, true);
    const cutAt = sim.nowMs;
    sim.runUntil(() => j.ready('g'), 5_000);
    expect(j.contents.get('g')).toEqual(p.contents.get('g'));
    expect(j.contents.get('g')).toHaveLength(1);
    // Well before the stall limit (30 s) would have asked another provider.
    expect(sim.nowMs - cutAt).toBeLessThan(2_000);
    expect(j.events.some((e) => (e.event.state?.kind ?? 0) === chorus.StateTransfer.Kind.FAILED)).toBe(false);
    sim.run(sim.nowMs + 500);
    expectGuarantees(sim);
  });
});
