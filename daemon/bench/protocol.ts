// What the bench's processes say to each other: the IPC messages between the
// orchestrator (run.ts) and its children (client-worker.ts, tcp-peer.ts), and the
// header every benchmark message carries.
import type { HistogramJson } from './histogram.js';
import type { Order } from '../../client-sdk/index.js';
import { wallClockMs } from '../wall-clock.js';

/** Wall-clock milliseconds with sub-µs resolution, comparable across processes of one host. */
export function now(): number {
  return wallClockMs();
}

// ---------------------------------------------------------------- message header
//
// Bytes 0–3 phase (u32 LE), 4–7 per-sender sequence (u32 LE), 8 sender index, 9–15
// padding, 16–23 send time (f64 LE, `now()`); the rest is filler up to the message size.

export const HEADER_BYTES = 24;

const scratch = new Float64Array(1);
const scratchBytes = new Uint8Array(scratch.buffer);

export function writeHeader(buf: Uint8Array, offset: number, phase: number, seq: number, sender: number, sentAt: number): void {
  buf[offset] = phase & 0xff;
  buf[offset + 1] = (phase >>> 8) & 0xff;
  buf[offset + 2] = (phase >>> 16) & 0xff;
  buf[offset + 3] = (phase >>> 24) & 0xff;
  buf[offset + 4] = seq & 0xff;
  buf[offset + 5] = (seq >>> 8) & 0xff;
  buf[offset + 6] = (seq >>> 16) & 0xff;
  buf[offset + 7] = (seq >>> 24) & 0xff;
  buf[offset + 8] = sender;
  scratch[0] = sentAt;
  buf.set(scratchBytes, offset + 16);
}

export function readPhase(buf: Uint8Array): number {
  return (buf[0]! | (buf[1]! << 8) | (buf[2]! << 16) | (buf[3]! << 24)) >>> 0;
}

export function readSeq(buf: Uint8Array): number {
  return (buf[4]! | (buf[5]! << 8) | (buf[6]! << 16) | (buf[7]! << 24)) >>> 0;
}

export function readSender(buf: Uint8Array): number {
  return buf[8]!;
}

export function readSentAt(buf: Uint8Array): number {
  for (let i = 0; i < 8; i++) scratchBytes[i] = buf[16 + i]!;
  return scratch[0]!;
}

// ---------------------------------------------------------------- orchestrator → client worker

export interface InitCmd {
  t: 'init';
  url: string;
  /** PEM of the daemons' CA when they run with --tls-* (the url is then wss://). */
  ca?: string;
  name: string;
  group: string;
  index: number;
  /** The daemon this client uses: the worker SIGTERMs it if the orchestrator vanishes. */
  daemonPid: number;
}

export interface ProbeCmd {
  t: 'probe';
  order: Order;
  size: number;
}

export interface PhaseCmd {
  t: 'phase';
  phase: number;
  order: Order;
  size: number;
  /** `max`: as fast as multicast() promises allow; `paced`: `ratePerSender` msgs/s. */
  mode: 'max' | 'paced';
  ratePerSender: number;
  /** Absolute `now()` at which all senders start, and how long they send. */
  startAt: number;
  durationMs: number;
  /** At most this many multicasts (and bytes) awaiting the daemon's accept at once. */
  windowMsgs: number;
  windowBytes: number;
  /** Give up waiting for outstanding accepts this long after the end of sending. */
  settleTimeoutMs: number;
}

export interface DrainCmd {
  t: 'drain';
  phase: number;
  /** Messages each sender had accepted: wait until this many arrived from each. */
  expected: number[];
  timeoutMs: number;
}

export interface StopCmd {
  t: 'stop';
}

export type WorkerCmd = (InitCmd | ProbeCmd | PhaseCmd | DrainCmd | StopCmd) & { rid: number };

// ---------------------------------------------------------------- client worker → orchestrator

export interface JoinedReply {
  t: 'joined';
  clientId: string;
  members: number;
}

export interface ProbeReply {
  t: 'probed';
  ok: boolean;
  code?: string;
  message?: string;
}

export interface SentReply {
  t: 'sent';
  /** Multicasts issued, accepted by the daemon, refused (with the first error). */
  issued: number;
  accepted: number;
  refused: number;
  firstError?: string;
  firstSendAt: number;
  lastSendAt: number;
  /** Paced mode: how far behind schedule the sender fell at worst (ms). */
  maxLagMs: number;
}

export interface DrainReply {
  t: 'drained';
  /** Per sender index: delivered count and the delivered sequence numbers (bitmap, base64). */
  perSender: Array<{ count: number; bitmap: string; duplicates: number }>;
  complete: boolean;
  firstDeliveryAt: number;
  lastDeliveryAt: number;
  latency: { buckets: HistogramJson; maxUs: number };
}

export interface EventMsg {
  t: 'view' | 'fatal';
  members?: number;
  message?: string;
}

export type WorkerReply = ((JoinedReply | ProbeReply | SentReply | DrainReply | { t: 'stopped' } | { t: 'error'; message: string }) & { rid: number }) | EventMsg;

// ---------------------------------------------------------------- orchestrator ↔ TCP mesh peer

export type PeerCmd = (
  | { t: 'listen' }
  | { t: 'connect'; index: number; ports: number[] }
  | { t: 'run'; phase: number; size: number; startAt: number; durationMs: number }
  | { t: 'drain'; phase: number; expected: number; timeoutMs: number }
  | { t: 'stop' }
) & { rid: number };

export type PeerReply =
  | ((
      | { t: 'listening'; port: number }
      | { t: 'connected' }
      | { t: 'sent'; sent: number; lastSendAt: number }
      | { t: 'drained'; received: number; lastReceiveAt: number }
      | { t: 'stopped' }
      | { t: 'error'; message: string }
    ) & { rid: number })
  | EventMsg;

// ---------------------------------------------------------------- orchestrator ↔ state-transfer worker
//
// The state-transfer phase (state-worker.ts): a provider member, a sender member that
// keeps multicasting during the transfer, and a joiner that installs the state.

export type StateCmd = (
  | { t: 'connect'; url: string; name: string; index: number; daemonPid: number }
  /** Join `group` as a member: with `provide` (the provider) or without (the sender). */
  | { t: 'member'; group: string; provide: boolean }
  /** Provider: what the next provide() returns (a generated snapshot of `size` bytes). */
  | { t: 'arm'; size: number; seed: number }
  /** Sender: start multicasting `size`-byte messages of `phase` at `rate` msgs/s, in the background. */
  | { t: 'send'; phase: number; size: number; rate: number; windowMsgs: number }
  /** Sender: stop, and count what was issued within [from, to]. */
  | { t: 'send-stop'; from: number; to: number; settleTimeoutMs: number }
  /** Member: deliveries of `phase` within [from, to]. */
  | { t: 'count'; phase: number; from: number; to: number }
  /** Joiner: compute the hash to expect (before the timed join). */
  | { t: 'expect'; size: number; seed: number }
  /** Joiner: join `group` with install(), timed; reply once join() resolved. */
  | { t: 'install'; group: string }
  | { t: 'leave'; group: string }
  | { t: 'stop' }
) & { rid: number };

export interface StateSendStopped {
  t: 'send-stopped';
  issued: number;
  accepted: number;
  refused: number;
  firstError?: string;
  /** Multicasts issued within [from, to]. */
  issuedInWindow: number;
  /** How far behind its schedule the sender fell at worst (ms): sends were held. */
  maxLagMs: number;
}

export interface StateCounted {
  t: 'counted';
  /** Deliveries of the phase, in all and within [from, to]. */
  delivered: number;
  inWindow: number;
  /** Longest time without a delivery within [from, to], the window's edges included (ms). */
  maxGapMs: number;
  /** Multicast-to-delivery latency of the deliveries within the window (ms). */
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  /** provide() calls so far (provider). */
  provides: number;
}

export interface StateInstalled {
  t: 'installed';
  joinCalledAt: number;
  /** When install() was first called (the view change and the checkpoint are before it). */
  installStartedAt: number;
  joinResolvedAt: number;
  bytes: number;
  chunks: number;
  maxChunk: number;
  installCalls: number;
  sha256: string;
  expectedSha256: string;
  members: number;
  /** Peaks of process.memoryUsage() during the join (MiB): V8 heap, and buffers outside it. */
  heapUsedMiB: number;
  externalMiB: number;
  arrayBuffersMiB: number;
}

export type StateReply =
  | ((
      | { t: 'connected'; clientId: string }
      | { t: 'joined'; members: number }
      | { t: 'armed' }
      | { t: 'sending' }
      | StateSendStopped
      | StateCounted
      | { t: 'expected'; sha256: string; ms: number }
      | StateInstalled
      | { t: 'left' }
      | { t: 'stopped' }
      | { t: 'error'; message: string }
    ) & { rid: number })
  | EventMsg;
