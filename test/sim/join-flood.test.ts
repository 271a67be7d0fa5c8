// A stranger that sends join requests under many identities (each frame from the
// identity it names, as the frame guard requires) costs the coordinator a bounded table of
// join evidence, and a request's list of members it heard keeps only the view's members.
// (Issue 10: 5,000 fake join requests cost 95 MiB.)
import { describe, expect, it } from 'vitest';
import type { PeerKey } from '../../src/core/types.js';
import { clusterOneByOne, expectGuarantees, expectOnePrimary, peek } from './scenario-helpers.js';

describe('a flood of join requests', () => {
  it('keeps at most 256 joiners of evidence, each no larger than the view', () => {
    const sim = clusterOneByOne(1, ['a', 'b', 'c']);
    const heard = Array.from({ length: 1000 }, (_, i) => ({ name: `h${i}`, incarnation: '1' }));
    for (let i = 0; i < 2_000; i++) {
      const from: PeerKey = `x${i}#evil`;
      sim.input('a', { kind: 'peer-frame', from, frame: { joinRequest: { who: { name: `x${i}`, incarnation: 'evil' }, advertise: `10.9.9.9:${1000 + (i % 50000)}`, heard } } });
    }
    const evidence = peek(sim, 'a').admission.joinEvidence as Map<string, { heard: Set<string> }>;
    expect(evidence.size).toBeLessThanOrEqual(256);
    for (const ev of evidence.values()) expect(ev.heard.size).toBe(0);
    sim.run(sim.nowMs + 2_000);
    expectOnePrimary(sim, ['a', 'b', 'c']);
    expectGuarantees(sim);
  });
});
