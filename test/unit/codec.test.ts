// Protobuf codec with validation: every frame kind survives a round trip, and every
// malformed input — undecodable bytes, a missing body, an unknown enum value, a missing
// identity, a broken seq — is refused with MalformedFrameError, never another error.

import { describe, it, expect } from 'vitest';
import {
  DEFAULT_MAX_FRAME_BYTES,
  PROTOCOL_MAX,
  PROTOCOL_MIN,
  PROTOCOL_VERSION,
  PEER_PROTOCOL_VERSION,
  PEER_RANGE,
  decodeClientFrame,
  decodeDaemonFrame,
  decodePeerFrame,
  encodeClientFrame,
  encodeDaemonFrame,
  encodePeerFrame,
  negotiateVersion,
} from '../../src/wire/codec.js';
import { FrameDecoder, encodeLengthPrefixed } from '../../src/wire/frame-decoder.js';
import { chorus } from '../../src/wire/gen/chorus.js';
import { ChorusError, MalformedFrameError } from '../../src/errors.js';
import { mulberry32 } from '../sim/random.js'; // seeded: a failing seed replays the same inputs
import { thrownBy } from './helpers/failures.js';


/** A decoded message as plain data: own fields only, bytes as number arrays. */
function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return Array.from(value);
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(value)) out[key] = plain(field);
    return out;
  }
  return value;
}

function expectMalformed(fn: () => unknown, messagePart?: string): MalformedFrameError {
  const err = thrownBy(fn);
  expect(err).toBeInstanceOf(MalformedFrameError);
  expect((err as ChorusError).code).toBe('ERR_MALFORMED_FRAME');
  if (messagePart !== undefined) expect((err as Error).message).toContain(messagePart);
  return err as MalformedFrameError;
}

const id = (name: string): chorus.DaemonId.$Properties => ({ name, incarnation: `${name}-inc-7` });
const ballot: chorus.Ballot.$Properties = { counter: 3, proposer: id('a') };
const members: chorus.Member.$Properties[] = [
  { id: id('a'), advertise: '127.0.0.1:7500', joinedView: 1 },
  { id: id('b'), advertise: '[::1]:7501', joinedView: 2 },
];
const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);

// One frame per PeerFrame body, every field set to a non-default value so that a field
// lost in the round trip shows up as a difference.
const PEER_FRAMES: Record<string, chorus.PeerFrame.$Properties> = {
  hello: {
    hello: { protocolMin: 1, protocolMax: 2, cluster: 'prod', from: id('a'), advertise: 'h:1', auth: bytes(1, 2, 3), nonce: bytes(4, 5), hasSecret: true, proof: bytes(6) },
  },
  helloReply: {
    helloReply: { ok: true, protocol: 1, errorCode: 'ERR_X', errorMessage: 'why', from: id('b'), challenge: true, nonce: bytes(7, 8), proofs: [bytes(9), bytes(10, 11)] },
  },
  data: {
    data: {
      viewId: 4,
      firstSeq: 10,
      origin: 2,
      relayed: true,
      received: [4, 5],
      delivered: 9,
      ordered: 12,
      entries: [
        // kind DATA (0) is the proto3 default: not on the wire, so not an own field.
        { group: 'g1', client: 'c1', order: chorus.Order.ORDER_SAFE, groupView: 2, data: bytes(0, 255, 7), clientSeq: 9, dep: 77, causal: { passed: [3, 0, 5] } },
        { kind: chorus.Entry.Kind.CLIENT_GONE, group: 'g1', client: 'c3', cause: chorus.Cause.CAUSE_EXPELLED },
        { kind: chorus.Entry.Kind.GROUP_JOIN, group: 'g1', client: 'c4', wantState: true, offerState: true },
        { kind: chorus.Entry.Kind.STATE_FAILED, group: 'g1', client: 'c1', joiner: 'c4', groupView: 5 },
        { kind: chorus.Entry.Kind.END_OF_VIEW, group: 'g2', client: 'c2', order: chorus.Order.ORDER_CAUSAL, groupView: 3 },
      ],
    },
  },
  order: { order: { viewId: 4, ranges: [{ sender: 1, firstSeq: 10, count: 5, firstGlobal: 2 ** 53 - 1 }] } },
  heartbeat: { heartbeat: { viewId: 4, received: [3, 0, 12], suspects: [2], ordered: 40, delivered: 38, holding: true } },
  joinRequest: { joinRequest: { who: id('c'), advertise: 'c:7500', heard: [id('a')] } },
  propose: { propose: { ballot, oldViewId: 4, newViewId: 5, members, leaving: [id('z')] } },
  proposeAck: {
    proposeAck: {
      ballot,
      oldViewId: 4,
      sent: 11,
      received: [1, 2],
      delivered: 1234,
      orders: [{ sender: 2, firstSeq: 3, count: 2, firstGlobal: 1235 }],
      ambiguous: [{ members: [id('a'), id('b')], viewId: 6 }],
      installed: {
        ballot,
        oldViewId: 4,
        newViewId: 5,
        members,
        lastGlobal: 1236,
        cutSeqs: [4, 2],
        firstGlobal: 1234,
        left: [id('z')],
        leftCauses: [chorus.Cause.CAUSE_CRASH],
        orders: [{ sender: 1, firstSeq: 1, count: 1, firstGlobal: 1235 }],
      },
      deliveredSeqs: [3, 1],
      depMarks: [{ sender: 1, seq: 2, dep: 1230 }, { sender: 2, seq: 4, dep: 1230, causal: { passed: [3, 1] } }],
      earlyPassed: [3, 2],
      accepted: { ballot, oldViewId: 4, cutSeqs: [4, 2], orders: [], holders: [0, 0], newViewId: 6, members, left: [], leftCauses: [] },
      maxViewId: 6,
    },
  },
  install: {
    install: {
      ballot,
      oldViewId: 4,
      newViewId: 5,
      members,
      lastGlobal: 99,
      groups: {
        groups: [
          {
            name: 'g1',
            viewId: 3,
            members: [
              { client: 'c1', daemon: 'a', offersState: true },
              { client: 'c2', daemon: 'b', awaitingState: true, provider: 'c1', transfer: 3 },
            ],
            totalSeq: 17,
          },
        ],
      },
      left: [id('x'), id('y')],
      leftCauses: [chorus.Cause.CAUSE_CRASH, chorus.Cause.CAUSE_EXPELLED],
      cutSeqs: [3, 4],
      orders: [{ sender: 1, firstSeq: 2, count: 3, firstGlobal: 97 }],
      firstGlobal: 96,
    },
  },
  leaveRequest: { leaveRequest: { who: id('a') } },
  fetch: { fetch: { viewId: 4, origin: 2, fromSeq: 7, toSeq: 9 } },
  cut: {
    cut: {
      ballot,
      oldViewId: 4,
      cutSeqs: [5, 6],
      orders: [{ sender: 1, firstSeq: 1, count: 6, firstGlobal: 3 }],
      holders: [0, 1],
      newViewId: 7,
      members,
      left: [id('z')],
      leftCauses: [chorus.Cause.CAUSE_CRASH],
    },
  },
  ready: { ready: { ballot, oldViewId: 4 } },
  joinStatus: { joinStatus: { viewId: 4, members } },
  fragment: { fragment: { totalBytes: 300_000, data: bytes(9, 0, 255) } },
  stateChunk: { stateChunk: { group: 'g1', joiner: 'c2', provider: 'c1', transfer: 3, chunk: 7, data: bytes(5, 6), last: true, errorCode: 'E', errorMessage: 'm' } },
  stateAck: { stateAck: { group: 'g1', joiner: 'c2', provider: 'c1', transfer: 3, chunk: 7, installed: true } },
  forceQuery: { forceQuery: { who: id('c') } },
  foundingRelease: { foundingRelease: { founder: id('a'), refused: true, attempt: 2 } },
  forceInfo: { forceInfo: { maxViewId: 12, primaryViewId: 3, forcing: true, groups: { groups: [{ name: 'g1', viewId: 9, totalSeq: 40, members: [] }] } } },
};

const CLIENT_REQUESTS: Record<string, chorus.ClientRequest.$Properties> = {
  hello: { req: 1, hello: { protocolMin: 1, protocolMax: 1, name: 'app', token: 't0k' } },
  join: { req: 2, join: { group: 'g1', wantState: true, offerState: true } },
  leave: { req: 3, leave: { group: 'g1' } },
  multicast: { req: 4, multicast: { group: 'g1', order: chorus.Order.ORDER_FIFO, data: bytes(9, 8), waitDelivered: true } },
  stateChunk: { req: 5, stateChunk: { group: 'g1', joiner: 'c2', provider: 'c1', transfer: 3, chunk: 7, data: bytes(5, 6), last: true, errorCode: 'E', errorMessage: 'm' } },
  stateAck: { req: 6, stateAck: { group: 'g1', joiner: 'c2', provider: 'c1', transfer: 3, chunk: 7, installed: true } },
};

const DAEMON_EVENTS: Record<string, chorus.DaemonEvent.$Properties> = {
  helloOk: { helloOk: { clientId: 'c1', daemon: 'a', protocol: 1, maxMessageBytes: 16 << 20 } },
  reply: { reply: { req: 4, ok: true, errorCode: 'E', errorMessage: 'm', messageId: 'a:5:1' } },
  view: {
    view: { group: 'g1', viewId: 3, members: ['c1', 'c2'], joined: ['c2'], left: ['c3'], leftCauses: [chorus.Cause.CAUSE_LEAVE] },
  },
  delivery: {
    delivery: { group: 'g1', id: 'a:5:1', sender: 'c1', order: chorus.Order.ORDER_SAFE, viewId: 3, seq: 42, data: bytes(1) },
  },
  signal: { signal: { group: 'g1', kind: chorus.GroupSignal.Kind.EXPELLED, reason: 'partitioned' } },
  checkpoint: { checkpoint: { group: 'g1', joiner: 'c2', transfer: 3 } },
  state: {
    state: {
      group: 'g1',
      kind: chorus.StateTransfer.Kind.FAILED,
      transfer: 3,
      provider: 'c1',
      chunk: 2,
      data: bytes(1, 2),
      last: true,
      errorCode: 'E',
      errorMessage: 'm',
    },
  },
  stateAck: { stateAck: { group: 'g1', joiner: 'c2', provider: 'c1', transfer: 3, chunk: 7, installed: true } },
};

describe('protocol versions and limits', () => {
  it('speaks client protocols 1 and 2 (2: StateTransfer WAIT), and peer protocol 2 only (per-sender seqs became doubles)', () => {
    expect([PROTOCOL_VERSION, PROTOCOL_MIN, PROTOCOL_MAX]).toEqual([2, 1, 2]);
    expect([PEER_PROTOCOL_VERSION, PEER_RANGE.min, PEER_RANGE.max]).toEqual([2, 2, 2]);
  });

  it('picks the highest version both sides support', () => {
    expect(negotiateVersion(1, 1)).toBe(1);
    expect(negotiateVersion(1, 5)).toBe(2);
    expect(negotiateVersion(0, 1)).toBe(1);
    expect(negotiateVersion(1, 2, PEER_RANGE)).toBe(2);
  });

  it('finds no version when the ranges do not overlap or make no sense', () => {
    expect(negotiateVersion(3, 4)).toBeUndefined();
    expect(negotiateVersion(1, 1, PEER_RANGE)).toBeUndefined(); // a daemon from before peer protocol 2
    expect(negotiateVersion(0, 0)).toBeUndefined(); // a hello without version fields
    expect(negotiateVersion(1, 0)).toBeUndefined(); // min > max
    expect(negotiateVersion(Number.NaN, 1)).toBeUndefined();
  });

  it('allows a 16 MiB message plus 64 KiB of headers per frame', () => {
    expect(DEFAULT_MAX_FRAME_BYTES).toBe(16 * 1024 * 1024 + 64 * 1024);
  });
});

describe('PeerFrame', () => {
  it('has a round-trip fixture for every body of the oneof', () => {
    // Fails when a body is added to chorus.proto without a fixture here.
    const bodies = Object.keys(chorus.PeerFrame.prototype).filter((key) => key !== 'body' && key !== '$unknowns');
    expect(Object.keys(PEER_FRAMES).sort()).toEqual(bodies.sort());
  });

  it('round-trips a refusal (a proposeAck naming the higher ballot)', () => {
    const frame: chorus.PeerFrame.$Properties = { proposeAck: { ballot, oldViewId: 4, refused: true, highest: { counter: 9, proposer: id('b') } } };
    const ack = decodePeerFrame(encodePeerFrame(frame)).proposeAck!;
    expect(ack.refused).toBe(true);
    expect(plain({ highest: ack.highest })).toEqual(plain({ highest: { counter: 9, proposer: id('b') } }));
  });

  for (const [body, frame] of Object.entries(PEER_FRAMES)) {
    it(`round-trips a ${body} frame`, () => {
      const encoded = encodePeerFrame(frame);
      const decoded = decodePeerFrame(encoded);
      expect(decoded.body).toBe(body);
      expect(plain(decoded)).toEqual(plain(frame));
      expect(Array.from(encodePeerFrame(decoded))).toEqual(Array.from(encoded));
    });
  }

  it('decodes absent scalar fields as their defaults', () => {
    const decoded = decodePeerFrame(encodePeerFrame({ heartbeat: {} }));
    expect(decoded.body).toBe('heartbeat');
    expect(decoded.heartbeat!.viewId).toBe(0);
    expect(decoded.heartbeat!.received).toEqual([]);
  });

  it('returns bytes fields as views of the input, without copying', () => {
    const encoded = encodePeerFrame(PEER_FRAMES['data']!);
    const data = decodePeerFrame(encoded).data!.entries![0]!.data!;
    expect(Array.from(data)).toEqual([0, 255, 7]);
    encoded[data.byteOffset - encoded.byteOffset] = 42; // a view sees writes to its source
    expect(data[0]).toBe(42);
  });

  it('ignores fields it does not know (a newer peer may append fields)', () => {
    const encoded = encodePeerFrame({ heartbeat: { viewId: 4 } });
    const withUnknown = new Uint8Array([...encoded, (99 << 3) | 0, 0x05]); // field 99, varint 5
    const decoded = decodePeerFrame(withUnknown);
    expect(decoded.body).toBe('heartbeat');
    expect(decoded.heartbeat!.viewId).toBe(4);
  });

  it('refuses a fragment that carries no bytes', () => {
    expectMalformed(() => decodePeerFrame(encodePeerFrame({ fragment: { totalBytes: 10 } })), 'FrameFragment without data');
  });

  it('refuses an empty frame: no body', () => {
    expectMalformed(() => decodePeerFrame(new Uint8Array(0)), 'no body');
  });

  it('refuses a frame whose only field is the retired body number 7', () => {
    expectMalformed(() => decodePeerFrame(bytes((7 << 3) | 2, 0)), 'no body');
  });

  it('refuses garbage bytes with the decoder error as cause', () => {
    for (const garbage of [bytes(0x0f), bytes(0x00, 0x01), bytes(0xff, 0xff, 0xff), bytes(0x1a, 0x7f, 0x01)]) {
      const err = expectMalformed(() => decodePeerFrame(garbage), 'cannot decode PeerFrame');
      expect(err.cause).toBeInstanceOf(Error);
    }
  });

  it('refuses a truncated frame at every cut', () => {
    const encoded = encodePeerFrame(PEER_FRAMES['install']!);
    let refused = 0;
    for (let cut = 1; cut < encoded.length; cut++) {
      // The outer length-delimited body is cut, so protobufjs must run out of input.
      expectMalformed(() => decodePeerFrame(encoded.subarray(0, cut)));
      refused++;
    }
    expect(refused).toBe(encoded.length - 1);
  });

  it('refuses unknown enum values in entries and install', () => {
    const cases: Array<[string, chorus.PeerFrame.$Properties]> = [
      ['Entry.kind', { data: { entries: [{ kind: 7 as chorus.Entry.Kind }] } }],
      ['Entry.kind', { data: { entries: [{ kind: -1 as chorus.Entry.Kind }] } }],
      ['Entry.order', { data: { entries: [{ kind: 0, order: 4 as chorus.Order }] } }],
      ['Entry.cause', { data: { entries: [{ kind: 3, cause: 6 as chorus.Cause }] } }],
      ['Install.leftCauses', { install: { ...PEER_FRAMES['install']!.install, leftCauses: [3, 6 as chorus.Cause] } }],
    ];
    for (const [field, frame] of cases) expectMalformed(() => decodePeerFrame(encodePeerFrame(frame)), field);
  });

  it('accepts the highest known enum values', () => {
    const frame = decodePeerFrame(
      encodePeerFrame({ data: { entries: [{ kind: chorus.Entry.Kind.END_OF_VIEW, order: chorus.Order.ORDER_SAFE }] } }),
    );
    expect(frame.data!.entries![0]!.kind).toBe(4);
  });

  it('refuses frames missing the identity or ballot the protocol needs', () => {
    const cases: Array<[string, chorus.PeerFrame.$Properties]> = [
      ['PeerHello.from', { hello: { protocolMin: 1, protocolMax: 1, cluster: 'c' } }],
      ['JoinRequest.who', { joinRequest: { advertise: 'x:1' } }],
      ['LeaveRequest.who', { leaveRequest: {} }],
      ['Propose.ballot', { propose: { newViewId: 2, members } }],
      ['Propose.ballot.proposer', { propose: { ballot: { counter: 1 }, members } }],
      ['Propose.members[1].id', { propose: { ballot, members: [members[0]!, { advertise: 'x' }] } }],
      ['ProposeAck.ballot', { proposeAck: { oldViewId: 1 } }],
      ['Install.ballot', { install: { newViewId: 2, members } }],
      ['Install.members[0].id', { install: { ballot, members: [{ advertise: 'x' }] } }],
    ];
    for (const [field, frame] of cases) expectMalformed(() => decodePeerFrame(encodePeerFrame(frame)), `${field} is missing`);
  });

  it('accepts a refusing hello reply without the sender identity', () => {
    const frame = decodePeerFrame(encodePeerFrame({ helloReply: { ok: false, errorCode: 'ERR_CLUSTER_MISMATCH' } }));
    expect(frame.helloReply!.errorCode).toBe('ERR_CLUSTER_MISMATCH');
  });

  it('carries per-sender seqs past 2^32 exactly (they wrapped as uint32: 2^32 + 5 decoded as 5)', () => {
    const big = 2 ** 32 + 5;
    const data = decodePeerFrame(encodePeerFrame({ data: { viewId: 3, firstSeq: big, received: [big, 2 ** 40], entries: [] } }));
    expect(data.body === 'data' && [data.data.firstSeq, ...(data.data.received ?? [])]).toEqual([big, big, 2 ** 40]);
    const ack = decodePeerFrame(encodePeerFrame({ proposeAck: { ballot, sent: big, received: [big], deliveredSeqs: [big], earlyPassed: [big], orders: [{ sender: 1, firstSeq: big, count: 2 ** 33, firstGlobal: big }], depMarks: [{ sender: 0, seq: big, dep: 1 }] } }));
    expect(ack.body === 'proposeAck' && [ack.proposeAck.sent, ack.proposeAck.received![0], ack.proposeAck.deliveredSeqs![0], ack.proposeAck.earlyPassed![0], ack.proposeAck.orders![0]!.firstSeq, ack.proposeAck.orders![0]!.count, ack.proposeAck.depMarks![0]!.seq]).toEqual([big, big, big, big, big, 2 ** 33, big]);
    const cut = decodePeerFrame(encodePeerFrame({ cut: { ballot, cutSeqs: [big] } }));
    expect(cut.body === 'cut' && cut.cut.cutSeqs).toEqual([big]);
    const install = decodePeerFrame(encodePeerFrame({ install: { ballot, cutSeqs: [big] } }));
    expect(install.body === 'install' && install.install.cutSeqs).toEqual([big]);
    const fetch = decodePeerFrame(encodePeerFrame({ fetch: { viewId: 1, origin: 0, fromSeq: big, toSeq: big + 1 } }));
    expect(fetch.body === 'fetch' && [fetch.fetch.fromSeq, fetch.fetch.toSeq]).toEqual([big, big + 1]);
    const hb = decodePeerFrame(encodePeerFrame({ heartbeat: { viewId: 1, received: [big] } }));
    expect(hb.body === 'heartbeat' && hb.heartbeat.received).toEqual([big]);
  });

  it('refuses per-sender seqs that are not exact non-negative integers', () => {
    const cases: Array<[string, chorus.PeerFrame.$Properties]> = [
      ['DataBatch.firstSeq', { data: { firstSeq: 1.5 } }],
      ['DataBatch.received', { data: { received: [1, -1] } }],
      ['Heartbeat.received', { heartbeat: { received: [Number.NaN] } }],
      ['OrderRange.count', { order: { ranges: [{ count: Number.POSITIVE_INFINITY }] } }],
      ['OrderRange.firstSeq', { order: { ranges: [{ firstSeq: 2 ** 53 }] } }],
      ['ProposeAck.sent', { proposeAck: { ballot, sent: -3 } }],
      ['ProposeAck.deliveredSeqs', { proposeAck: { ballot, deliveredSeqs: [0.5] } }],
      ['ProposeAck.earlyPassed', { proposeAck: { ballot, earlyPassed: [Number.NaN] } }],
      ['DepMark.seq', { proposeAck: { ballot, depMarks: [{ seq: 1.25 }] } }],
      ['Cut.cutSeqs', { cut: { ballot, cutSeqs: [-1] } }],
      ['Install.cutSeqs', { install: { ballot, cutSeqs: [2 ** 60] } }],
      ['Fetch.toSeq', { fetch: { toSeq: 0.5 } }],
      ['Entry.causal.passed', { data: { entries: [{ causal: { passed: [-2] } }] } }],
    ];
    for (const [field, frame] of cases) expectMalformed(() => decodePeerFrame(encodePeerFrame(frame)), field);
  });

  it('refuses global seqs that are not exact non-negative integers', () => {
    const cases: Array<[string, chorus.PeerFrame.$Properties]> = [
      ['OrderRange.firstGlobal', { order: { ranges: [{ firstGlobal: 1.5 }] } }],
      ['OrderRange.firstGlobal', { order: { ranges: [{ firstGlobal: -1 }] } }],
      ['OrderRange.firstGlobal', { order: { ranges: [{ firstGlobal: 2 ** 53 }] } }],
      ['ProposeAck.delivered', { proposeAck: { ballot, delivered: Number.NaN } }],
      ['Install.lastGlobal', { install: { ballot, lastGlobal: Number.POSITIVE_INFINITY } }],
      ['GroupState.totalSeq', { install: { ballot, groups: { groups: [{ name: 'g', totalSeq: 0.25 }] } } }],
    ];
    for (const [field, frame] of cases) expectMalformed(() => decodePeerFrame(encodePeerFrame(frame)), field);
  });

  it('decodes a batch of frames carried through the length-prefixed framing', () => {
    const frames = Object.values(PEER_FRAMES);
    const stream = encodeLengthPrefixed(frames.map(encodePeerFrame));
    const decoder = new FrameDecoder(DEFAULT_MAX_FRAME_BYTES);
    const decoded = [];
    for (let at = 0; at < stream.length; at += 7) {
      for (const payload of decoder.push(stream.subarray(at, at + 7))) decoded.push(decodePeerFrame(payload));
    }
    expect(decoded.map((f) => f.body)).toEqual(Object.keys(PEER_FRAMES));
    expect(plain(decoded)).toEqual(plain(frames));
  });
});

describe('ClientFrame', () => {
  it('has a round-trip fixture for every request body', () => {
    const bodies = Object.keys(chorus.ClientRequest.prototype).filter((k) => !['body', 'req', '$unknowns'].includes(k));
    expect(Object.keys(CLIENT_REQUESTS).sort()).toEqual(bodies.sort());
  });

  it('round-trips a frame with one request of every kind, in order', () => {
    const frame = { requests: Object.values(CLIENT_REQUESTS) };
    const encoded = encodeClientFrame(frame);
    const decoded = decodeClientFrame(encoded);
    expect(decoded.requests.map((r) => r.body)).toEqual(Object.keys(CLIENT_REQUESTS));
    expect(plain(decoded)).toEqual(plain(frame));
    expect(Array.from(encodeClientFrame(decoded))).toEqual(Array.from(encoded));
  });

  it('decodes an empty frame as no requests', () => {
    expect(decodeClientFrame(new Uint8Array(0)).requests).toEqual([]);
  });

  it('refuses a request without a body, naming its req id', () => {
    const encoded = encodeClientFrame({ requests: [CLIENT_REQUESTS['join']!, { req: 77 }] });
    expectMalformed(() => decodeClientFrame(encoded), 'ClientRequest 77 has no body');
  });

  it('refuses a multicast with an unknown order', () => {
    const encoded = encodeClientFrame({ requests: [{ req: 1, multicast: { group: 'g', order: 4 as chorus.Order } }] });
    expectMalformed(() => decodeClientFrame(encoded), 'Multicast.order');
  });

  it('refuses garbage and truncated bytes', () => {
    expectMalformed(() => decodeClientFrame(bytes(0x0a, 0x05, 0x08)), 'cannot decode ClientFrame');
    const encoded = encodeClientFrame({ requests: [CLIENT_REQUESTS['multicast']!] });
    expectMalformed(() => decodeClientFrame(encoded.subarray(0, encoded.length - 1)));
  });
});

describe('DaemonFrame', () => {
  it('has a round-trip fixture for every event body', () => {
    const bodies = Object.keys(chorus.DaemonEvent.prototype).filter((k) => k !== 'body' && k !== '$unknowns');
    expect(Object.keys(DAEMON_EVENTS).sort()).toEqual(bodies.sort());
  });

  it('round-trips a frame with one event of every kind, in order', () => {
    const frame = { events: Object.values(DAEMON_EVENTS) };
    const encoded = encodeDaemonFrame(frame);
    const decoded = decodeDaemonFrame(encoded);
    expect(decoded.events.map((e) => e.body)).toEqual(Object.keys(DAEMON_EVENTS));
    expect(plain(decoded)).toEqual(plain(frame));
    expect(Array.from(encodeDaemonFrame(decoded))).toEqual(Array.from(encoded));
  });

  it('refuses an event without a body', () => {
    expectMalformed(() => decodeDaemonFrame(encodeDaemonFrame({ events: [{}] })), 'DaemonEvent has no body');
  });

  it('refuses unknown enum values in views, deliveries and signals', () => {
    const cases: Array<[string, chorus.DaemonEvent.$Properties]> = [
      ['ViewEvent.leftCauses', { view: { group: 'g', left: ['c'], leftCauses: [6 as chorus.Cause] } }],
      ['Delivery.order', { delivery: { group: 'g', order: -1 as chorus.Order } }],
      ['GroupSignal.kind', { signal: { group: 'g', kind: 3 as chorus.GroupSignal.Kind } }],
    ];
    for (const [field, event] of cases) {
      expectMalformed(() => decodeDaemonFrame(encodeDaemonFrame({ events: [event] })), field);
    }
  });

  it('refuses a delivery whose seq is not an exact non-negative integer', () => {
    const encoded = encodeDaemonFrame({ events: [{ delivery: { group: 'g', seq: 3.5 } }] });
    expectMalformed(() => decodeDaemonFrame(encoded), 'Delivery.seq');
  });

  it('refuses garbage bytes', () => {
    expectMalformed(() => decodeDaemonFrame(bytes(0x0b)), 'cannot decode DaemonFrame');
  });
});

describe('decoding hostile input (seeded)', () => {
  const decoders: Array<[string, (b: Uint8Array) => unknown]> = [
    ['PeerFrame', decodePeerFrame],
    ['ClientFrame', decodeClientFrame],
    ['DaemonFrame', decodeDaemonFrame],
  ];
  const valid: Uint8Array[] = [
    ...Object.values(PEER_FRAMES).map(encodePeerFrame),
    encodeClientFrame({ requests: Object.values(CLIENT_REQUESTS) }),
    encodeDaemonFrame({ events: Object.values(DAEMON_EVENTS) }),
  ];

  it('either decodes or throws MalformedFrameError for random and mutated bytes', () => {
    let refused = 0;
    let accepted = 0;
    for (let seed = 1; seed <= 2000; seed++) {
      const random = mulberry32(seed);
      let input: Uint8Array;
      if (random() < 0.5) {
        input = new Uint8Array(Math.floor(random() * 64));
        for (let i = 0; i < input.length; i++) input[i] = Math.floor(random() * 256);
      } else {
        // A valid frame with a few bytes overwritten: near-valid input finds the
        // validation paths that random bytes rarely reach.
        const source = valid[Math.floor(random() * valid.length)]!;
        input = Uint8Array.from(source);
        const flips = 1 + Math.floor(random() * 3);
        for (let i = 0; i < flips && input.length > 0; i++) input[Math.floor(random() * input.length)] = Math.floor(random() * 256);
      }
      for (const [name, decode] of decoders) {
        try {
          decode(input);
          accepted++;
        } catch (err) {
          expect(err, `seed=${seed} decoder=${name}`).toBeInstanceOf(MalformedFrameError);
          refused++;
        }
      }
    }
    // Both outcomes occur, so the loop exercised refusals and acceptances alike.
    expect(refused).toBeGreaterThan(0);
    expect(accepted).toBeGreaterThan(0);
  });
});
