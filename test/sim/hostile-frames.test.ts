// Hostile peer frames (issue 10, must-haves 1 and 2): each attack that killed a daemon or
// made it believe a lie is fed to a running cluster as a frame from a peer, and the
// cluster carries on: the frame is dropped (a `frame-rejected` trace, which chorusd
// counts, logs and answers by disconnecting a persistent sender), no daemon throws, and
// the daemon view stays what it was.
import { describe, expect, it } from 'vitest';
import type { PeerFrame, PeerKey } from '../../src/core/types.js';
import { chorus } from '../../src/wire/gen/chorus.js';
import { SimCluster } from './sim-cluster.js';

const NAMES = ['a', 'b', 'c'];
const STRANGER: PeerKey = 'x#evil';

function cluster(seed = 1): SimCluster {
  const sim = new SimCluster({ seed, heartbeatMs: 50, suspectMs: 300 });
  sim.addDaemon('a');
  sim.addDaemon('b', 'a');
  sim.addDaemon('c', 'a');
  sim.runUntil(() => NAMES.every((n) => sim.nodes.get(n)!.currentView?.members.length === 3));
  sim.run(sim.nowMs + 100);
  return sim;
}

function key(sim: SimCluster, name: string): PeerKey {
  return sim.nodes.get(name)!.selfKey;
}

function viewOf(sim: SimCluster, name: string): { id: number; members: string[] } {
  const v = sim.nodes.get(name)!.currentView!;
  return { id: v.id, members: v.members.map((m) => m.key) };
}

function member(sim: SimCluster, name: string, joinedView = 1): chorus.IMember {
  const id = sim.nodes.get(name)!.self;
  return { id: { name: id.name, incarnation: id.incarnation }, advertise: `${name}:7500`, joinedView };
}

/** Feed `frame` to `to` as if `from` sent it; the reasons of what `to` rejected meanwhile. */
function feed(sim: SimCluster, to: string, from: PeerKey, frame: PeerFrame): string[] {
  const start = sim.traces.length;
  sim.input(to, { kind: 'peer-frame', from, frame });
  return sim.traces
    .slice(start)
    .filter((t) => t.daemon === to && t.trace.type === 'frame-rejected')
    .map((t) => (t.trace.type === 'frame-rejected' ? t.trace.reason : ''));
}

/** The view every daemon had before, still installed and working, a while later. */
function expectUnharmed(sim: SimCluster, before: { id: number; members: string[] }): void {
  sim.run(sim.nowMs + 2_000);
  for (const n of NAMES) {
    expect(sim.nodes.get(n)!.state).toBe('normal');
    expect(viewOf(sim, n)).toEqual(before);
  }
  // Still delivering: a multicast reaches every member.
  const clients = NAMES.map((n) => sim.addClient(n));
  const joins = clients.map((c) => c.join('after'));
  sim.runUntil(() => clients.every((c, i) => c.replies.get(joins[i]!)?.ok === true), 10_000);
  clients[0]!.multicast('after', 'still alive');
  sim.runUntil(() => clients.every((c) => c.deliveries('after').length === 1), 10_000);
}

describe('hostile frames: malformed indices and lists are dropped, the daemon lives', () => {
  it('a Cut naming holder 99', () => {
    const sim = cluster();
    const before = viewOf(sim, 'b');
    const node = sim.nodes.get('a')!;
    const cut: chorus.ICut = {
      ballot: { counter: 50, proposer: node.self },
      oldViewId: before.id,
      cutSeqs: [5, 5, 5],
      holders: [0, 99, 0],
    };
    expect(feed(sim, 'b', key(sim, 'a'), { cut })).toEqual(['index-out-of-range']);
    expect(feed(sim, 'b', key(sim, 'a'), { cut: { ...cut, cutSeqs: [5] } })).toEqual(['bad-length']);
    expectUnharmed(sim, before);
  });

  it('48 data frames of 1 MiB stamped 500 views ahead: the future queue stays within 32 MiB', () => {
    const sim = cluster();
    const before = viewOf(sim, 'b');
    const data = new Uint8Array(1024 * 1024);
    for (let i = 0; i < 48; i++) {
      feed(sim, 'b', key(sim, 'a'), { data: { viewId: before.id + 500, firstSeq: 1 + i, entries: [{ group: 'g', client: 'x', clientSeq: i, data }] } });
    }
    const installs = (sim.nodes.get('b') as unknown as { installs: { futureBytes: number; futureFrames: unknown[] } }).installs;
    expect(installs.futureBytes).toBeLessThanOrEqual(32 * 1024 * 1024);
    expect(installs.futureFrames.length).toBeGreaterThan(0); // kept up to the bound, not refused outright
    expect(installs.futureFrames.length).toBeLessThan(48);
    expectUnharmed(sim, before);
  });

  it('an OrderBatch with sender 99', () => {
    const sim = cluster();
    const before = viewOf(sim, 'b');
    const order: chorus.IOrderBatch = { viewId: before.id, ranges: [{ sender: 99, firstSeq: 1, count: 1, firstGlobal: 1 }] };
    expect(feed(sim, 'b', key(sim, 'a'), { order })).toEqual(['index-out-of-range']);
    expectUnharmed(sim, before);
  });

  it('an Install listing a member twice', () => {
    const sim = cluster();
    const before = viewOf(sim, 'b');
    const install: chorus.IInstall = {
      ballot: { counter: 60, proposer: sim.nodes.get('a')!.self },
      oldViewId: before.id,
      newViewId: before.id + 1,
      members: [member(sim, 'a'), member(sim, 'b'), member(sim, 'b')],
      lastGlobal: 0,
      groups: { groups: [] },
    };
    expect(feed(sim, 'b', key(sim, 'a'), { install })).toEqual(['bad-members']);
    expectUnharmed(sim, before);
  });

  it('an Install whose order has a gap, or that says more was delivered than its order holds', () => {
    const sim = cluster();
    const before = viewOf(sim, 'b');
    const base: chorus.IInstall = {
      ballot: { counter: 60, proposer: sim.nodes.get('a')!.self },
      oldViewId: before.id,
      newViewId: before.id + 1,
      members: [member(sim, 'a'), member(sim, 'b'), member(sim, 'c')],
      cutSeqs: [0, 0, 0],
      groups: { groups: [] },
    };
    expect(feed(sim, 'b', key(sim, 'a'), { install: { ...base, lastGlobal: 1_000 } })).toEqual(['implausible']);
    expect(feed(sim, 'b', key(sim, 'a'), { install: { ...base, orders: [{ sender: 0, firstSeq: 1, count: 1, firstGlobal: 500 }] } })).toEqual(['implausible']);
    expectUnharmed(sim, before);
  });

  it('NaN, Infinity and negative counters', () => {
    const sim = cluster();
    const before = viewOf(sim, 'b');
    const a = key(sim, 'a');
    expect(feed(sim, 'b', a, { heartbeat: { viewId: before.id, ordered: Number.NaN } })).toEqual(['not-finite']);
    expect(feed(sim, 'b', a, { heartbeat: { viewId: before.id, delivered: Number.POSITIVE_INFINITY } })).toEqual(['not-finite']);
    expect(feed(sim, 'b', a, { data: { viewId: before.id, firstSeq: 1, entries: [], delivered: -1 } })).toEqual(['not-finite']);
    expect(feed(sim, 'b', a, { fetch: { viewId: before.id, ordersFrom: Number.NaN } })).toEqual(['not-finite']);
    expect(feed(sim, 'b', a, { heartbeat: { viewId: before.id, suspects: [7] } })).toEqual(['index-out-of-range']);
    expect(feed(sim, 'b', a, { heartbeat: { viewId: before.id + 5_000 } })).toEqual(['view-out-of-window']);
    expectUnharmed(sim, before);
  });

  it('a DataBatch for a group that does not exist is ordered and ignored alike everywhere', () => {
    const sim = cluster();
    const before = viewOf(sim, 'b');
    // As if `c` sent an entry for a group nobody created: every daemon receives it (one
    // of them is `c` itself, whose stream it joins), the sequencer orders it, and every
    // daemon's group table refuses it at delivery instead of throwing.
    const entry: chorus.IEntry = { kind: chorus.Entry.Kind.DATA, group: 'no-such-group', client: 'x', clientSeq: 1, data: new Uint8Array([1]) };
    const start = sim.traces.length;
    // No client joined anything, so c's stream is empty in this view: the entry is seq 1.
    const next = 1;
    for (const n of NAMES) sim.input(n, { kind: 'peer-frame', from: key(sim, 'c'), frame: { data: { viewId: before.id, firstSeq: next, entries: [entry] } } });
    sim.run(sim.nowMs + 500);
    const refused = sim.traces.slice(start).filter((t) => t.trace.type === 'frame-rejected' && t.trace.reason === 'unknown-group');
    expect(new Set(refused.map((t) => t.daemon))).toEqual(new Set(NAMES));
    for (const n of NAMES) expect(viewOf(sim, n)).toEqual(before);
  });
});

describe('hostile frames: only a daemon speaks for itself', () => {
  it("a non-member's LeaveRequest naming b does not evict b", () => {
    const sim = cluster();
    const before = viewOf(sim, 'a');
    const b = sim.nodes.get('b')!.self;
    expect(feed(sim, 'a', STRANGER, { leaveRequest: { who: b } })).toEqual(['forward-from-non-member']);
    expect(feed(sim, 'c', STRANGER, { leaveRequest: { who: b } })).toEqual(['forward-from-non-member']);
    expectUnharmed(sim, before);
  });

  it("a non-member's JoinRequest for another incarnation of b does not evict b", () => {
    const sim = cluster();
    const before = viewOf(sim, 'a');
    const who = { name: 'b', incarnation: 'forged' };
    expect(feed(sim, 'a', STRANGER, { joinRequest: { who, advertise: 'evil:1', heard: [] } })).toEqual(['forward-from-non-member']);
    expectUnharmed(sim, before);
  });

  it("a non-member's Propose does not leave a member flushing", () => {
    const sim = cluster();
    const before = viewOf(sim, 'b');
    const propose: chorus.IPropose = {
      ballot: { counter: 1_000, proposer: { name: 'x', incarnation: 'evil' } },
      oldViewId: before.id,
      newViewId: before.id + 1,
      members: [member(sim, 'b')],
    };
    expect(feed(sim, 'b', STRANGER, { propose })).toEqual(['not-member']);
    expect(sim.nodes.get('b')!.state).toBe('normal');
    // Under a member's name, but sent by another daemon: refused too.
    const forged = { ...propose, ballot: { counter: 1_000, proposer: sim.nodes.get('a')!.self } };
    expect(feed(sim, 'b', STRANGER, { propose: forged })).toEqual(['impersonation']);
    expect(feed(sim, 'b', key(sim, 'c'), { propose: forged })).toEqual(['impersonation']);
    expect(sim.nodes.get('b')!.state).toBe('normal');
    expectUnharmed(sim, before);
  });

  it('an Install from a daemon outside both the old and the new view is refused', () => {
    const sim = cluster();
    const before = viewOf(sim, 'b');
    const install: chorus.IInstall = {
      ballot: { counter: 70, proposer: { name: 'x', incarnation: 'evil' } },
      oldViewId: before.id,
      newViewId: before.id + 1,
      members: [member(sim, 'b')],
      cutSeqs: [0, 0, 0],
      lastGlobal: 0,
      groups: { groups: [] },
    };
    expect(feed(sim, 'b', STRANGER, { install })).toEqual(['not-member']);
    expectUnharmed(sim, before);
  });

  it('a ForceQuery in the name of another daemon is refused', () => {
    const sim = cluster();
    const before = viewOf(sim, 'b');
    expect(feed(sim, 'b', STRANGER, { forceQuery: { who: sim.nodes.get('a')!.self } })).toEqual(['impersonation']);
    expectUnharmed(sim, before);
  });
});
