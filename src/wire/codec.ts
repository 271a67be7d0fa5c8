// Protobuf encode/decode of the three top-level frames (PeerFrame between daemons,
// ClientFrame SDK → daemon, DaemonFrame daemon → SDK), with validation.
//
// Every frame comes from another process, possibly buggy or hostile. A decode must never
// crash the daemon and must never hand the core a frame it cannot act on: any protobufjs
// failure becomes a MalformedFrameError (the connection is closed, nothing else), and
// after decoding we check what the schema cannot express — a oneof that must be set,
// enum values we know, sub-messages the protocol cannot do without, seq counters that
// are exact integers. Group names and other strings are validated where they are used.
//
// Decoding stays on the fast path of the generated static code: no reflection, no
// toObject, one walk over the decoded arrays. Browser-safe (the SDK uses it): no Node
// import.

import $protobuf from 'protobufjs/minimal.js';

import { FrameTooLargeError, MalformedFrameError } from '../errors.js';
import { chorus } from './gen/chorus.js';

// ---------------------------------------------------------------- versions and limits

/**
 * The client protocol version (SDK <-> daemon) this build speaks best. 2: StateTransfer
 * WAIT (a joiner waits for a member that provides); a daemon never sends it to a client
 * of protocol 1, whose join fails at once instead, as before.
 */
export const PROTOCOL_VERSION = 2;
/** Oldest and newest client protocol versions this build can speak (both ends of hellos). */
export const PROTOCOL_MIN = 1;
export const PROTOCOL_MAX = 2;
/**
 * The peer protocol (daemon <-> daemon). 2: per-sender seqs, receive vectors and cut
 * seqs became doubles under new field numbers (see the .proto's header); a daemon of
 * protocol 1 would read them as absent, so the two do not talk.
 */
export const PEER_PROTOCOL_VERSION = 2;
export const PEER_PROTOCOL_MIN = 2;
export const PEER_PROTOCOL_MAX = 2;

/**
 * Largest frame accepted by default: a maximum-size message (16 MiB) plus 64 KiB for
 * the frame's own fields (group, ids, headers of a batch).
 */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024 + 64 * 1024;

const CLIENT_RANGE = { min: PROTOCOL_MIN, max: PROTOCOL_MAX };
/** The peer protocol range, for negotiateVersion. */
export const PEER_RANGE = { min: PEER_PROTOCOL_MIN, max: PEER_PROTOCOL_MAX };

/**
 * The version to use with a peer that speaks [min, max] (`ours`: the client range unless
 * given): the highest version both
 * sides support, or undefined when the ranges do not overlap (or the peer's range is
 * nonsense, e.g. min > max or absent fields decoded as 0).
 */
export function negotiateVersion(min: number, max: number, ours: { min: number; max: number } = CLIENT_RANGE): number | undefined {
  if (!Number.isInteger(min) || !Number.isInteger(max) || min > max) return undefined;
  const low = Math.max(min, ours.min);
  const high = Math.min(max, ours.max);
  return low <= high ? high : undefined;
}

// ---------------------------------------------------------------- types

/** What `decode*Frame` returns: the generated class narrowed by its oneof. */
export type DecodedPeerFrame = chorus.PeerFrame & chorus.PeerFrame.$Shape;
export type DecodedClientFrame = chorus.ClientFrame & chorus.ClientFrame.$Shape;
export type DecodedDaemonFrame = chorus.DaemonFrame & chorus.DaemonFrame.$Shape;
export type DecodedClientRequest = NonNullable<DecodedClientFrame['requests']>[number];

// ---------------------------------------------------------------- encode
//
// Encoding trusts its input: frames are built by our own code, and a wrong one is a bug
// that the receiving side's validation reports. The result is a Buffer under Node.

export function encodePeerFrame(frame: chorus.PeerFrame.$Properties): Uint8Array {
  return chorus.PeerFrame.encode(frame).finish();
}

export function encodeClientFrame(frame: chorus.ClientFrame.$Properties): Uint8Array {
  return chorus.ClientFrame.encode(frame).finish();
}

export function encodeDaemonFrame(frame: chorus.DaemonFrame.$Properties): Uint8Array {
  return chorus.DaemonFrame.encode(frame).finish();
}

// ---------------------------------------------------------------- decode
//
// `bytes` fields of the result are subarrays of `bytes` (protobufjs slices with
// subarray): zero-copy, but they keep the whole input buffer alive while referenced.

export function decodePeerFrame(bytes: Uint8Array): DecodedPeerFrame {
  let frame: DecodedPeerFrame;
  try {
    frame = chorus.PeerFrame.decode(bytes);
  } catch (err) {
    throw undecodable('PeerFrame', err);
  }
  validatePeerFrame(frame);
  return frame;
}

export function decodeClientFrame(bytes: Uint8Array): DecodedClientFrame {
  let frame: DecodedClientFrame;
  try {
    frame = chorus.ClientFrame.decode(bytes);
  } catch (err) {
    throw undecodable('ClientFrame', err);
  }
  validateClientFrame(frame);
  return frame;
}

/**
 * Where each request of a ClientFrame lies, without decoding any: pairs of [start, end)
 * offsets. A frame of up to 16 MiB can hold millions of tiny requests, and decoding them
 * at once would block the daemon for seconds; the gateway decodes them in slices
 * (decodeClientRequest) and yields between slices. Fields other than `requests` are
 * skipped, as the full decoder would. Throws FrameTooLargeError past `maxRequests`
 * requests and MalformedFrameError for bytes that are not a ClientFrame.
 */
export function splitClientFrame(bytes: Uint8Array, maxRequests: number): Uint32Array {
  const ranges: number[] = [];
  const reader = $protobuf.Reader.create(bytes);
  try {
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      if (tag >>> 3 === 1 && (tag & 7) === 2) {
        const length = reader.uint32();
        const start = reader.pos;
        reader.skip(length);
        if (ranges.length >= maxRequests * 2) throw new FrameTooLargeError(bytes.length, bytes.length, `a client frame holds more than ${maxRequests} requests`);
        ranges.push(start, start + length);
      } else {
        reader.skipType(tag & 7);
      }
    }
  } catch (err) {
    if (err instanceof FrameTooLargeError) throw err;
    throw undecodable('ClientFrame', err);
  }
  return Uint32Array.from(ranges);
}

/** One request of a ClientFrame (a range from splitClientFrame), decoded and validated. */
export function decodeClientRequest(bytes: Uint8Array): DecodedClientRequest {
  let request: DecodedClientRequest;
  try {
    request = chorus.ClientRequest.decode(bytes) as DecodedClientRequest;
  } catch (err) {
    throw undecodable('ClientRequest', err);
  }
  validateClientRequest(request);
  return request;
}

export function decodeDaemonFrame(bytes: Uint8Array): DecodedDaemonFrame {
  let frame: DecodedDaemonFrame;
  try {
    frame = chorus.DaemonFrame.decode(bytes);
  } catch (err) {
    throw undecodable('DaemonFrame', err);
  }
  validateDaemonFrame(frame);
  return frame;
}

function undecodable(type: string, err: unknown): MalformedFrameError {
  const reason = err instanceof Error ? err.message : String(err);
  return new MalformedFrameError(`cannot decode ${type}: ${reason}`, { cause: err });
}

// ---------------------------------------------------------------- validation
//
// Enum ranges are the highest value defined in proto/chorus.proto. Enums are append-only,
// so when a value is appended there, raise the matching bound here in the same change
// (and bump the protocol version: an old peer would refuse the new value).

const ORDER_MAX = chorus.Order.ORDER_SAFE; // 3
const ENTRY_KIND_MAX = chorus.Entry.Kind.STATE_INSTALLED; // 6
const CAUSE_MAX = chorus.Cause.CAUSE_EXPELLED; // 5
const STATE_KIND_MAX = chorus.StateTransfer.Kind.WAIT; // 4 (client protocol 2)
const SIGNAL_KIND_MAX = chorus.GroupSignal.Kind.EXPELLED; // 2

type Message = object | null | undefined;

function malformed(message: string): MalformedFrameError {
  return new MalformedFrameError(message);
}

// protobufjs decodes enums with int32(): any int32 (negative ones too) can arrive.
function checkEnum(value: number, max: number, what: string): void {
  if (!(value >= 0 && value <= max)) throw malformed(`${what}: unknown value ${value}`);
}

function checkEnums(values: readonly number[], max: number, what: string): void {
  for (let i = 0; i < values.length; i++) checkEnum(values[i]!, max, what);
}

function checkPresent(message: Message, what: string): void {
  if (message === null || message === undefined) throw malformed(`${what} is missing`);
}

// 64-bit counters travel as doubles (see the .proto): they must be exact, non-negative
// integers, or seq arithmetic (ranges, gaps, "highest delivered") silently goes wrong.
function checkSeq(value: number, what: string): void {
  if (!(Number.isSafeInteger(value) && value >= 0)) throw malformed(`${what}: not a sequence number: ${value}`);
}

function checkSeqs(values: readonly number[] | null | undefined, what: string): void {
  if (values) for (let i = 0; i < values.length; i++) checkSeq(values[i]!, what);
}

function checkRanges(ranges: readonly chorus.OrderRange.$Properties[] | null | undefined): void {
  if (!ranges) return;
  for (let i = 0; i < ranges.length; i++) {
    const r = ranges[i]!;
    checkSeq(r.firstGlobal ?? 0, 'OrderRange.firstGlobal');
    checkSeq(r.firstSeq ?? 0, 'OrderRange.firstSeq');
    checkSeq(r.count ?? 0, 'OrderRange.count');
  }
}

function checkDepMarks(marks: readonly chorus.DepMark.$Properties[] | null | undefined): void {
  if (!marks) return;
  for (let i = 0; i < marks.length; i++) {
    checkSeq(marks[i]!.dep ?? 0, 'DepMark.dep');
    checkSeq(marks[i]!.seq ?? 0, 'DepMark.seq');
    checkSeqs(marks[i]!.causal?.passed, 'DepMark.causal.passed');
  }
}

// `message: never` makes tsc fail here when a body is added to the .proto without a case
// in the validator; at run time (a stale build) the frame is refused rather than passed
// on unchecked.
function unhandledBody(type: string, message: never): MalformedFrameError {
  return malformed(`${type} has an unhandled body ${String((message as { body: unknown }).body)}`);
}

function checkDaemonId(id: chorus.DaemonId.$Properties | null | undefined, what: string): void {
  checkPresent(id, what);
}

function checkBallot(ballot: chorus.Ballot.$Properties | null | undefined, what: string): void {
  checkPresent(ballot, what);
  checkDaemonId(ballot!.proposer, `${what}.proposer`);
}

function checkMembers(members: readonly chorus.Member.$Properties[] | null | undefined, what: string): void {
  if (!members) return;
  for (let i = 0; i < members.length; i++) checkDaemonId(members[i]!.id, `${what}[${i}].id`);
}

function checkCut(cut: chorus.Cut.$Properties, what: string): void {
  checkBallot(cut.ballot, `${what}.ballot`);
  checkMembers(cut.members, `${what}.members`);
  if (cut.leftCauses) checkEnums(cut.leftCauses, CAUSE_MAX, `${what}.leftCauses`);
  checkRanges(cut.orders);
  checkSeqs(cut.cutSeqs, `${what}.cutSeqs`);
}

function checkInstall(install: chorus.Install.$Properties, what: string): void {
  checkBallot(install.ballot, `${what}.ballot`);
  checkMembers(install.members, `${what}.members`);
  checkSeq(install.lastGlobal ?? 0, `${what}.lastGlobal`);
  checkSeq(install.firstGlobal ?? 0, `${what}.firstGlobal`);
  if (install.leftCauses) checkEnums(install.leftCauses, CAUSE_MAX, `${what}.leftCauses`);
  checkRanges(install.orders);
  checkSeqs(install.cutSeqs, `${what}.cutSeqs`);
  const groups = install.groups?.groups;
  if (groups) {
    for (let i = 0; i < groups.length; i++) checkSeq(groups[i]!.totalSeq ?? 0, 'GroupState.totalSeq');
  }
  checkSeq(install.groups?.prunedTotalSeq ?? 0, 'GroupTable.prunedTotalSeq');
}

function validatePeerFrame(frame: DecodedPeerFrame): void {
  // The generated oneof setter clears the other members, so `body` names the only one
  // set. (Two members on the wire decode as the last one, per protobuf semantics.)
  switch (frame.body) {
    case 'hello':
      checkDaemonId(frame.hello.from, 'PeerHello.from');
      return;
    case 'helloReply':
      // `from` may be absent on a refusal: the refusing side's identity is not needed.
      return;
    case 'data': {
      checkSeq(frame.data.delivered ?? 0, 'DataBatch.delivered');
      checkSeq(frame.data.ordered ?? 0, 'DataBatch.ordered');
      checkSeq(frame.data.firstSeq ?? 0, 'DataBatch.firstSeq');
      checkSeqs(frame.data.received, 'DataBatch.received');
      const entries = frame.data.entries;
      if (!entries) return;
      for (let i = 0; i < entries.length; i++) {
        const entry = entries[i]!;
        checkEnum(entry.kind ?? 0, ENTRY_KIND_MAX, 'Entry.kind');
        checkEnum(entry.order ?? 0, ORDER_MAX, 'Entry.order');
        checkEnum(entry.cause ?? 0, CAUSE_MAX, 'Entry.cause');
        checkSeq(entry.dep ?? 0, 'Entry.dep');
        checkSeqs(entry.causal?.passed, 'Entry.causal.passed');
      }
      return;
    }
    case 'order':
      checkRanges(frame.order.ranges);
      return;
    case 'heartbeat':
      checkSeq(frame.heartbeat.ordered ?? 0, 'Heartbeat.ordered');
      checkSeq(frame.heartbeat.delivered ?? 0, 'Heartbeat.delivered');
      checkSeqs(frame.heartbeat.received, 'Heartbeat.received');
      return;
    case 'joinRequest':
      checkDaemonId(frame.joinRequest.who, 'JoinRequest.who');
      return;
    case 'propose':
      checkBallot(frame.propose.ballot, 'Propose.ballot');
      checkMembers(frame.propose.members, 'Propose.members');
      return;
    case 'proposeAck': {
      const ack = frame.proposeAck;
      checkBallot(ack.ballot, 'ProposeAck.ballot');
      checkSeq(ack.delivered ?? 0, 'ProposeAck.delivered');
      checkSeq(ack.sent ?? 0, 'ProposeAck.sent');
      checkSeqs(ack.received, 'ProposeAck.received');
      checkSeqs(ack.deliveredSeqs, 'ProposeAck.deliveredSeqs');
      checkSeqs(ack.earlyPassed, 'ProposeAck.earlyPassed');
      checkRanges(ack.orders);
      checkDepMarks(ack.depMarks);
      if (ack.installed) checkInstall(ack.installed, 'ProposeAck.installed');
      if (ack.refused) checkBallot(ack.highest, 'ProposeAck.highest');
      if (ack.accepted) checkCut(ack.accepted, 'ProposeAck.accepted');
      return;
    }
    case 'install':
      checkInstall(frame.install, 'Install');
      return;
    case 'leaveRequest':
      checkDaemonId(frame.leaveRequest.who, 'LeaveRequest.who');
      return;
    case 'fetch':
      checkSeq(frame.fetch.ordersFrom ?? 0, 'Fetch.ordersFrom');
      checkSeq(frame.fetch.fromSeq ?? 0, 'Fetch.fromSeq');
      checkSeq(frame.fetch.toSeq ?? 0, 'Fetch.toSeq');
      return;
    case 'cut':
      checkCut(frame.cut, 'Cut');
      return;
    case 'forceQuery':
      checkDaemonId(frame.forceQuery.who, 'ForceQuery.who');
      return;
    case 'foundingRelease':
      checkDaemonId(frame.foundingRelease.founder, 'FoundingRelease.founder');
      return;
    case 'forceInfo': {
      const groups = frame.forceInfo.groups?.groups;
      if (groups) for (let i = 0; i < groups.length; i++) checkSeq(groups[i]!.totalSeq ?? 0, 'GroupState.totalSeq');
      checkSeq(frame.forceInfo.groups?.prunedTotalSeq ?? 0, 'GroupTable.prunedTotalSeq');
      return;
    }
    case 'ready':
      checkBallot(frame.ready.ballot, 'Ready.ballot');
      return;
    case 'joinStatus':
      checkMembers(frame.joinStatus.members, 'JoinStatus.members');
      return;
    case 'fragment':
      // An empty piece makes no progress: refusing it bounds the work per reassembled
      // frame. Sizes and sequence are checked by the link's FragmentAssembler.
      if (!frame.fragment.data || frame.fragment.data.length === 0) throw malformed('FrameFragment without data');
      return;
    case 'stateChunk':
    case 'stateAck':
      return;
    case undefined:
      throw malformed('PeerFrame has no body');
    default:
      throw unhandledBody('PeerFrame', frame);
  }
}

function validateClientFrame(frame: DecodedClientFrame): void {
  const requests = frame.requests;
  if (!requests) return;
  for (let i = 0; i < requests.length; i++) validateClientRequest(requests[i]!);
}

function validateClientRequest(request: DecodedClientRequest): void {
  {
    switch (request.body) {
      case 'hello':
      case 'join':
      case 'leave':
        break;
      case 'multicast':
        checkEnum(request.multicast.order ?? 0, ORDER_MAX, 'Multicast.order');
        break;
      case 'stateChunk':
      case 'stateAck':
        break;
      case undefined:
        throw malformed(`ClientRequest ${request.req ?? 0} has no body`);
      default:
        throw unhandledBody('ClientRequest', request);
    }
  }
}

function validateDaemonFrame(frame: DecodedDaemonFrame): void {
  const events = frame.events;
  if (!events) return;
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    switch (event.body) {
      case 'helloOk':
      case 'reply':
        break;
      case 'view':
        if (event.view.leftCauses) checkEnums(event.view.leftCauses, CAUSE_MAX, 'ViewEvent.leftCauses');
        break;
      case 'delivery':
        checkEnum(event.delivery.order ?? 0, ORDER_MAX, 'Delivery.order');
        checkSeq(event.delivery.seq ?? 0, 'Delivery.seq');
        break;
      case 'signal':
        checkEnum(event.signal.kind ?? 0, SIGNAL_KIND_MAX, 'GroupSignal.kind');
        break;
      case 'state':
        checkEnum(event.state.kind ?? 0, STATE_KIND_MAX, 'StateTransfer.kind');
        break;
      case 'checkpoint':
      case 'stateAck':
        break;
      case undefined:
        throw malformed('DaemonEvent has no body');
      default:
        throw unhandledBody('DaemonEvent', event);
    }
  }
}
