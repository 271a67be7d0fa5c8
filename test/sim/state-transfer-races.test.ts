// State transfer races found by a review attacking the chunk resend (decisions #13):
// - early chunks (the provider's daemon installed the transfer's view first) resent on
//   every peer-up were kept once per copy: the joiner's daemon held a window per link flap;
// - chunks of a re-planned transfer that overtake its view at the joiner's daemon, while
//   the older transfer still runs there, were answered ABORTED: the new provider stopped
//   and the join stalled 30 s, then failed with a healthy provider;
// - a chunk sent during a daemon flush was refused: the SDK stopped, nothing re-planned it;
// - the chunks kept for a resend of a transfer that ended by STATE_INSTALLED, its last
//   acknowledgement lost, stayed until the group's next view.
// Each failed on the code before the fixes.
import { describe, expect, it } from 'vitest';
import { chorus } from '../../src/wire/gen/chorus.js';
import { clusterOneByOne, expectGuarantees, peek, twoDaemons } from './scenario-helpers.js';
import type { SimCluster } from './sim-cluster.js';

describe('early chunks duplicated by resends', () => {
  it('a copy resent on each peer-up is kept once while the joiner lags', () => {
    const sim = clusterOneByOne(1, ['c', 'a', 'b']); // c: coordinator (sequencer)
    const p = sim.addClient('a');
    p.join('g', { install: true, provide: true });
    sim.runUntil(() => p.ready('g'));
    p.multicast('g', 'm1');
    sim.runUntil(() => p.contents.get('g')?.length === 1);
    const viewBefore = peek(sim, 'a').table.get('g').viewId as number;
    const j = sim.addClient('b');
    j.join('g', { install: true, provide: false });
    lagAtMarker(sim, 'b', 'c', 'g', viewBefore, 250);
    const b = peek(sim, 'b');
    const early = () => [...(b.transfer.earlyChunks as Map<string, { chunks: unknown[] }>).values()][0]?.chunks.length ?? 0;
    sim.runUntil(() => early() > 0, 200);
    const before = early();
    flap(sim, 'a', 'b', 40);
    const after = early();
    sim.runUntil(() => j.ready('g'), 5_000);
    expect(j.contents.get('g')).toEqual(p.contents.get('g'));
    sim.run(sim.nowMs + 500);
    expectGuarantees(sim);
    // The provider's window holds 1 chunk here (SimClient): earlyChunks should too.
    expect(after).toBeLessThanOrEqual(before);
  });
});

describe('early chunks resent, a window of 8 chunks of 256 KiB (the SDK provider)', () => {
  it('are kept once each, and reach the joiner once each, in order', () => {
    const sim = clusterOneByOne(2, ['c', 'a', 'b']);
    const p = sim.addClient('a');
    p.join('g', { install: true, provide: true, provideDelayMs: () => 1e9 }); // chunks sent by hand
    sim.runUntil(() => p.ready('g'));
    p.multicast('g', 'm1');
    sim.runUntil(() => p.contents.get('g')?.length === 1);
    const viewBefore = peek(sim, 'a').table.get('g').viewId as number;
    const j = sim.addClient('b');
    j.join('g', { install: true, provide: false });
    lagAtMarker(sim, 'b', 'c', 'g', viewBefore, 280);
    sim.runUntil(() => p.events.some((e) => e.event.checkpoint?.joiner === j.id), 200);
    const cp = p.events.find((e) => e.event.checkpoint?.joiner === j.id)!.event.checkpoint!;
    const piece = new Uint8Array(256 * 1024);
    for (let i = 0; i < 8; i++) {
      const last = i === 7;
      const data = last ? new TextEncoder().encode(JSON.stringify(p.contents.get('g'))) : piece;
      sim.input('a', { kind: 'client-request', client: p.id, request: { req: 10_000 + i, stateChunk: { group: 'g', joiner: j.id, transfer: cp.transfer, chunk: i, data, last } } });
    }
    const b = peek(sim, 'b');
    const early = () => {
      const e = [...(b.transfer.earlyChunks as Map<string, { chunks: Array<{ data?: Uint8Array }> }>).values()][0];
      return { chunks: e?.chunks.length ?? 0, bytes: (e?.chunks ?? []).reduce((s, c) => s + (c.data?.length ?? 0), 0) };
    };
    sim.runUntil(() => early().chunks === 8, 100);
    const before = early();
    flap(sim, 'a', 'b', 40);
    const after = early();
    sim.runUntil(() => j.ready('g'), 5_000);
    expect(j.contents.get('g')).toEqual(p.contents.get('g'));
    // What the joiner's SDK got: every chunk once, in order (the interleaved copies were dropped).
    const got = j.events.filter((e) => e.event.state?.chunk !== undefined && e.event.state.data).map((e) => e.event.state!.chunk);
    expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(after.bytes).toBeLessThanOrEqual(before.bytes);
  });
});

describe('chunks of a re-planned transfer that overtake its view at the joiner', () => {
  it('are kept until the joiner daemon installs the view (the join completes well before the 30 s stall)', () => {
    const sim = clusterOneByOne(1, ['c', 'a', 'b']); // c: coordinator (sequencer)
    let p1Checkpoints = 0;
    const p1 = sim.addClient('c'); // oldest member: asked first; fails J's transfer
    p1.join('g', { install: true, provide: true, provideFails: () => ++p1Checkpoints === 2 });
    sim.runUntil(() => p1.ready('g'));
    const p2 = sim.addClient('a');
    p2.join('g', { install: true, provide: true });
    sim.runUntil(() => p2.ready('g'));
    p1.multicast('g', 'm1');
    sim.runUntil(() => p1.contents.get('g')?.length === 1 && p2.contents.get('g')?.length === 1);
    const j = sim.addClient('b');
    j.join('g', { install: true, provide: false, waitMs: 2_000 });
    // J's first transfer (from p1) begins at b; p1's provide() fails: a refresh view follows.
    sim.runUntil(() => peek(sim, 'b').transfer.installing.size > 0, 2_000);
    const t1 = [...peek(sim, 'b').transfer.installing.values()][0].transfer as number;
    // b lags at the refresh view (its last marker's order is there, c's acknowledgement is not).
    lagAtMarker(sim, 'b', 'c', 'g', t1, 250, 3);
    sim.run(sim.nowMs + 40_000);
    const stalled = sim.traces.filter((t) => t.trace.type === 'state-stalled');
    const p2rec = peek(sim, 'a').table.get('g')?.members.find((m: { client: string }) => m.client === p2.id);
    expectGuarantees(sim);
    expect(stalled).toEqual([]);
    expect(j.ready('g')).toBe(true);
  });
});

describe('a chunk sent during a daemon flush', () => {
  it('does not end the transfer', () => {
    const sim = twoDaemons(3);
    const p = sim.addClient('a');
    p.join('g', { install: true, provide: true, provideDelayMs: () => 1e9 }); // chunks sent by hand below
    sim.runUntil(() => p.ready('g'));
    p.multicast('g', 'm1');
    sim.runUntil(() => p.contents.get('g')?.length === 1);
    const j = sim.addClient('b');
    j.join('g', { install: true, provide: false, waitMs: 2_000 });
    sim.runUntil(() => p.events.some((e) => e.event.checkpoint?.joiner === j.id));
    const cp = p.events.find((e) => e.event.checkpoint?.joiner === j.id)!.event.checkpoint!;
    const snapshot = new TextEncoder().encode(JSON.stringify(p.contents.get('g')));
    // A third daemon joins the cluster: a daemon flush starts.
    sim.addDaemon('c', 'a');
    sim.runUntil(() => sim.nodes.get('a')!.state === 'flushing', 5_000);
    const req = 9_001;
    sim.input('a', { kind: 'client-request', client: p.id, request: { req, stateChunk: { group: 'g', joiner: j.id, transfer: cp.transfer, chunk: 0, data: snapshot, last: true } } });
    const reply = p.replies.get(req) ?? p.events.find((e) => e.event.reply?.req === req)?.event.reply;
    // The SDK's StateSender stops on that refusal: nothing more is sent.
    sim.run(sim.nowMs + 40_000);
    expectGuarantees(sim);
    expect(reply?.ok).toBe(true);
  });
});

describe('forwarded chunks of a completed transfer', () => {
  it('are dropped once the table records STATE_INSTALLED', () => {
    const sim = twoDaemons(5);
    const p = sim.addClient('a');
    p.join('g', { install: true, provide: true });
    sim.runUntil(() => p.ready('g'));
    p.multicast('g', 'm1');
    sim.runUntil(() => p.contents.get('g')?.length === 1);
    const j = sim.addClient('b');
    j.join('g', { install: true, provide: false });
    sim.runUntil(() => j.ready('g'), 5_000); // j took the chunk; its installed ack leaves in the next event
    sim.shortCut('b', 'a', 100, true); // that ack is lost (b>a only; < suspect timeout)
    sim.run(sim.nowMs + 60_000);
    const a = peek(sim, 'a');
    const rec = a.table.get('g').members.find((m: { client: string }) => m.client === j.id);
    const fwd = [...(a.transfer.forwarded as Map<string, { chunks: unknown[]; bytes: number }>).values()];
    expectGuarantees(sim);
    expect(rec.awaitingState).toBe(false);
    expect(fwd).toEqual([]);
  });
});

/**
 * Make daemon `lagger` install group view fromView+1 of `group` later than the others:
 * run until the sequencer `seq` has ordered `markers` END_OF_VIEW markers of view
 * `fromView` and `lagger` knows that order, then cut `seq` -> `lagger` one way for
 * `cutMs` (below the suspect timeout): the sequencer's report that it holds them never
 * reaches `lagger`, so it cannot deliver the last marker (uniform delivery) while the
 * other daemons do.
 */
function lagAtMarker(sim: SimCluster, lagger: string, seq: string, group: string, fromView: number, cutMs: number, markers = 1): void {
  const b = peek(sim, lagger);
  const c = peek(sim, seq);
  let target: number | undefined;
  const findTarget = (): number | undefined => {
    let n = 0;
    for (let gl = 1; gl <= (c.vs.sequencer.order.known as number); gl++) {
      const slot = c.vs.sequencer.order.slot(gl);
      if (slot === undefined) continue;
      const e = c.vs.rlog.entry(slot.sender, slot.seq) as chorus.IEntry | undefined;
      if (e !== undefined && e.kind === chorus.Entry.Kind.END_OF_VIEW && e.group === group && (e.groupView ?? 0) === fromView && ++n === markers) return gl;
    }
    return undefined;
  };
  sim.runUntil(() => (target ??= findTarget()) !== undefined && (b.vs.sequencer.order.known as number) >= target, 2_000);
  if (b.table.get(group)?.viewId !== fromView) throw new Error(`${lagger} installed view ${b.table.get(group)?.viewId} already`);
  sim.shortCut(seq, lagger, cutMs, true);
}

/** The link `from`>`to` flaps `times` times: each time cut, healed at once, `from` sees peer-up (and resends). */
function flap(sim: SimCluster, from: string, to: string, times: number): void {
  for (let i = 0; i < times; i++) {
    sim.shortCut(from, to, 0.5, true);
    sim.run(sim.nowMs + 3);
  }
}
