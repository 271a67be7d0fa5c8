// The boundary check of peer frames (src/core/frame-guard.ts) on its own: what a receiver
// in a known state refuses, and that honest frames pass. The codec's refusal of NaN and
// Infinity is here too (issue 10: "NaN and Infinity pass the decoder").
import { describe, expect, it } from 'vitest';

import { checkPeerFrame, type GuardContext } from '../../src/core/frame-guard.js';
import { peerKey, type DaemonView } from '../../src/core/types.js';
import { decodePeerFrame, encodePeerFrame } from '../../src/wire/codec.js';
import { MalformedFrameError } from '../../src/errors.js';

const ids = ['a', 'b', 'c'].map((name) => ({ name, incarnation: 'i1' }));
const view: DaemonView = { id: 7, members: ids.map((id) => ({ id, key: peerKey(id), advertise: `${id.name}:1`, joinedView: 1 })) };
const [A, B, C] = view.members.map((m) => m.key) as [string, string, string];
const ballot = { counter: 3, proposer: ids[0]! };
const ctx: GuardContext = { selfKey: B, view, delivered: 10, flush: { ballot, oldViewId: 7 }, proposal: undefined };

describe('frame guard', () => {
  it('lets honest frames through', () => {
    expect(checkPeerFrame(ctx, A, { heartbeat: { viewId: 7, received: [1, 2, 3], suspects: [2], ordered: 10, delivered: 9 } })).toBeUndefined();
    expect(checkPeerFrame(ctx, A, { order: { viewId: 7, ranges: [{ sender: 2, firstSeq: 1, count: 4, firstGlobal: 11 }] } })).toBeUndefined();
    expect(checkPeerFrame(ctx, A, { cut: { ballot, oldViewId: 7, cutSeqs: [1, 2, 3], holders: [0, 1, 0] } })).toBeUndefined();
    expect(checkPeerFrame(ctx, C, { leaveRequest: { who: ids[2] } })).toBeUndefined();
    expect(checkPeerFrame(ctx, C, { leaveRequest: { who: { name: 'z', incarnation: 'q' } } })).toBeUndefined(); // a member forwarding
    expect(checkPeerFrame(ctx, 'z#q', { joinRequest: { who: { name: 'z', incarnation: 'q' }, advertise: 'z:1' } })).toBeUndefined();
    // Frames of a later view: only what does not depend on it (checked again once installed).
    expect(checkPeerFrame(ctx, A, { data: { viewId: 8, firstSeq: 1, origin: 9, relayed: true, entries: [{}] } })).toBeUndefined();
    const install = { ballot, oldViewId: 7, newViewId: 8, members: view.members.map((m) => ({ id: m.id, advertise: m.advertise, joinedView: 1 })), cutSeqs: [1, 1, 1], orders: [{ sender: 0, firstSeq: 1, count: 2, firstGlobal: 11 }], lastGlobal: 12 };
    expect(checkPeerFrame(ctx, A, { install })).toBeUndefined();
  });

  it('takes an Install from a later incarnation of a member of the old view (a proposer left out steps down and repeats it)', () => {
    const install = { ballot, oldViewId: 7, newViewId: 8, members: [view.members[1]!, view.members[2]!].map((m) => ({ id: m.id, advertise: m.advertise, joinedView: 1 })), left: [ids[0]], cutSeqs: [0, 0, 0] };
    expect(checkPeerFrame(ctx, 'a#i1.1', { install })).toBeUndefined();
    expect(checkPeerFrame(ctx, 'x#i1', { install })).toBe('not-member');
  });

  it('refuses a Ready from a daemon that is not a participant of the proposal', () => {
    const proposing: GuardContext = { ...ctx, selfKey: A, proposal: { ballot, participants: [A, B] } };
    expect(checkPeerFrame(proposing, B, { ready: { ballot, oldViewId: 7 } })).toBeUndefined();
    expect(checkPeerFrame(proposing, C, { ready: { ballot, oldViewId: 7 } })).toBe('not-member');
    expect(checkPeerFrame(proposing, 'x#evil', { ready: { ballot, oldViewId: 7 } })).toBe('not-member');
  });

  it('refuses a ProposeAck whose vectors do not fit the view, or that delivered more than it received', () => {
    const proposing: GuardContext = { ...ctx, selfKey: A, proposal: { ballot, participants: [A, B, C] } };
    expect(checkPeerFrame(proposing, B, { proposeAck: { ballot, oldViewId: 7, received: [1, 1, 1, 1] } })).toBe('bad-length');
    expect(checkPeerFrame(proposing, B, { proposeAck: { ballot, oldViewId: 7, received: [1, 1, 1], earlyPassed: [5, 0, 0] } })).toBe('implausible');
    expect(checkPeerFrame(proposing, B, { proposeAck: { ballot, oldViewId: 7, depMarks: [{ sender: 3, seq: 1, dep: 0 }] } })).toBe('index-out-of-range');
    expect(checkPeerFrame(proposing, 'x#evil', { proposeAck: { ballot, oldViewId: 7 } })).toBe('not-member');
  });

  it('refuses ids that would wrap on the wire, and a Cut that reuses the flush ballot for another view', () => {
    expect(checkPeerFrame({ ...ctx, view: undefined }, A, { forceInfo: { maxViewId: 0xffffffff } })).toBe('view-out-of-window');
    expect(checkPeerFrame(ctx, A, { propose: { ballot: { counter: 0xfffffffe, proposer: ids[0] }, oldViewId: 7, newViewId: 8 } })).toBe('view-out-of-window');
    expect(checkPeerFrame(ctx, A, { cut: { ballot, oldViewId: 6, cutSeqs: [1] } })).toBe('implausible');
  });

  it('refuses lists with a member twice or a nameless member', () => {
    const twice = [ids[0], ids[0]].map((id) => ({ id, advertise: 'a:1', joinedView: 1 }));
    expect(checkPeerFrame(ctx, A, { propose: { ballot, oldViewId: 7, newViewId: 8, members: twice } })).toBe('bad-members');
    expect(checkPeerFrame({ ...ctx, view: undefined }, A, { joinStatus: { viewId: 3, members: [{ id: { name: '', incarnation: 'x' } }] } })).toBe('bad-members');
  });
});

describe('codec: doubles are exact non-negative integers', () => {
  for (const [name, frame] of [
    ['Heartbeat.ordered NaN', { heartbeat: { viewId: 1, ordered: Number.NaN } }],
    ['Heartbeat.delivered Infinity', { heartbeat: { viewId: 1, delivered: Number.POSITIVE_INFINITY } }],
    ['DataBatch.delivered -1', { data: { viewId: 1, delivered: -1 } }],
    ['Entry.dep 0.5', { data: { viewId: 1, firstSeq: 1, entries: [{ dep: 0.5 }] } }],
    ['Fetch.ordersFrom NaN', { fetch: { viewId: 1, ordersFrom: Number.NaN } }],
    ['Install.firstGlobal Infinity', { install: { ballot: { counter: 1, proposer: { name: 'a', incarnation: 'i' } }, firstGlobal: Number.POSITIVE_INFINITY } }],
  ] as const) {
    it(`refuses ${name}`, () => {
      const bytes = encodePeerFrame(frame as never);
      expect(() => decodePeerFrame(bytes)).toThrow(MalformedFrameError);
    });
  }
});
