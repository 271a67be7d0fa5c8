// chorusd's answer to a peer's invalid frames: rate-limited warnings, and a disconnect
// for a peer that keeps sending them (issue 10, must-have 1).
import { describe, expect, it } from 'vitest';
import { PeerRejections } from '../../daemon/peer-rejections.js';

describe('PeerRejections', () => {
  it('logs the first rejection of a peer, then at most one line per period with the count not logged', () => {
    const r = new PeerRejections({ limit: 1_000, logMs: 5_000 });
    expect(r.note('p', 0)).toMatchObject({ log: true, notLogged: 0 });
    for (let t = 1; t <= 9; t++) expect(r.note('p', t * 100).log).toBe(false);
    expect(r.note('p', 5_000)).toMatchObject({ log: true, notLogged: 9 });
    // Another peer has its own budget.
    expect(r.note('q', 5_001).log).toBe(true);
  });

  it('disconnects a peer that reaches the limit within the window, not one that sends a few now and then', () => {
    const r = new PeerRejections({ limit: 5, windowMs: 1_000 });
    for (let i = 0; i < 4; i++) expect(r.note('p', i).disconnect).toBe(false);
    expect(r.note('p', 4).disconnect).toBe(true);
    // After a disconnect it starts over.
    expect(r.note('p', 5).count).toBe(1);
    const slow = new PeerRejections({ limit: 5, windowMs: 1_000 });
    for (let i = 0; i < 20; i++) expect(slow.note('s', i * 300).disconnect).toBe(false);
  });

  it('tracks a bounded number of peers', () => {
    const r = new PeerRejections({ maxPeers: 3 });
    for (let i = 0; i < 100; i++) r.note(`p${i}`, i);
    expect((r as unknown as { peers: Map<string, unknown> }).peers.size).toBeLessThanOrEqual(3);
  });
});
