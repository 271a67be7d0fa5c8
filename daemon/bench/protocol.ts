// What the bench's processes say to each other: the IPC messages between the
// orchestrator (run.ts) and its children (client-worker.ts, tcp-peer.ts), and the
// header every benchmark message carries.
import type { HistogramJson } from './histogram.js';
import type { Order } from '../../client-sdk/index.js';

/** Wall-clock milliseconds with sub-µs resolution, comparable across processes of one host. */
export function now(): number {
  return performance.timeOrigin + performance.now();
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
