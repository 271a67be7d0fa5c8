// PeerLinks: the TCP links between daemons (DESIGN.md "Links", "Cluster and handshake").
//
// Design decision — one TCP stream per direction:
//   A daemon SENDS only on connections it dialed (one outbound connection per peer) and
//   RECEIVES only on connections it accepted. So for each ordered pair (a → b) there is
//   exactly one TCP stream at a time carrying a's frames to b, and frames arrive in the
//   order they were sent (FIFO per direction). There is no connection race to resolve
//   ("who keeps which socket when both dial at once"): both dial, both keep their own.
//   The price is two sockets per pair instead of one; the gain is simple, obviously FIFO
//   links. When a stream breaks, frames in flight on it may be lost: `peer-down` tells
//   the core, which resends from its unstable buffer after the next `peer-up` (receive
//   vectors). A stream never silently skips frames: whenever this module drops frames
//   (queue overflow) it also breaks the stream, so the loss is always signalled.
//
// Handshake (every connection, before anything else):
//   dialer   → PeerFrame{hello: {protocolMin, protocolMax, cluster, from, advertise, nonce, hasSecret}}
//   acceptor → PeerFrame{helloReply: {ok, protocol, errorCode, errorMessage, from}}
//   With a cluster secret (--secret), a challenge–response comes in between (see
//   daemon/peer-auth.ts): the acceptor's first reply is a challenge with its nonce and
//   proofs, the dialer checks them and answers with a second hello carrying its proof,
//   and only then does the acceptor send its final reply. Each end proves it knows the
//   secret over both fresh nonces (no replay), for its role (no reflection); the
//   dialer's frames after the handshake are records with a MAC under a per-session key
//   and a per-connection counter (no injection, replay or reordering), unless the link
//   is TLS (--tls-*: mutual TLS does that, and more). The acceptor refuses an unsupported
//   version (ERR_PROTOCOL_VERSION), another cluster (ERR_CLUSTER_MISMATCH), a missing or
//   wrong proof, a secret on one side only, a record with a bad MAC (ERR_AUTH: counted in
//   `authFailures`, logged at most 5 lines per 10 s since strangers can provoke it) and a
//   connection from itself (ERR_HANDSHAKE), logs a warn line with the peer's address and
//   the reason, and closes. The dialer logs the refusal once per distinct error code and
//   retries with backoff (250 ms doubling to 2 s): it never spins. The dialer sends
//   nothing after each handshake frame until the answer has arrived, and the acceptor
//   sends nothing after its final reply; data that breaks this rule is a protocol
//   violation and closes the connection. Hellos and replies are limited to 64 KiB, so an
//   unauthenticated peer cannot make us buffer a maximum-size frame.
//
// Writes are batched: frames sent during one turn of the event loop are written with one
// socket.write in a setImmediate flush (after the poll phase, so frames produced while
// handling several incoming chunks share a write). Backpressure: when write returns
// false, the link waits for 'drain' and keeps collecting. A link's queue is bounded
// (`maxQueueBytes`): beyond that the queue is dropped, the stream broken and an error
// logged.
//
// Large frames and two lanes (issue 4, item 4): a link's queue has a data lane (`data`
// and `stateChunk` frames: the bulk) and a control lane (every other frame). A frame of
// the data lane larger than FRAGMENT_CHUNK_BYTES (128 KiB, src/wire/frame-fragments.ts)
// is cut into pieces written one per write, and control frames queued meanwhile are
// written between the pieces, ahead of that frame and of the data frames behind it:
// heartbeats, the sequencer's orders and flush rounds never wait behind a 16 MiB
// message (they wait for at most one piece, plus what the kernel already holds).
// Data frames keep their order among themselves (the core repairs a gap in a sender's
// stream with a fetch). While no frame is being cut, both lanes are written in the order
// the frames were sent, so for small frames the link is exactly FIFO, as before. The
// receiver reassembles the pieces (FragmentAssembler: at most one frame, at most
// maxFrameBytes, per connection); a broken sequence resets that connection like any
// malformed frame. A partly written frame whose connection breaks is written again,
// whole, on the next connection.
//   What overtaking means for the core: a control frame may now arrive before data
//   frames sent earlier on the same link — only while a large data frame is under way.
//   A heartbeat whose receive vector names data still on its way makes the receiver
//   fetch it (src/core onHeartbeat assumes a FIFO link); the answer would be a second
//   copy of up to 16 MiB per heartbeat, so the link leaves out of fetch answers the
//   entries it is still carrying to that peer (trimFetchAnswer).
// A data frame the core made larger than maxFrameBytes (several large entries batched
// together, e.g. released at once by flow control or gathered by a fetch) is split into
// consecutive DataBatches that each fit, rather than dropped: the receiver cannot tell
// the difference (per-sender seqs are consecutive; the piggybacked vectors are repeated).
//
// Any malformed or oversized frame closes that one connection (warn log with the typed
// error's code); the daemon carries on. Errors thrown by event listeners are not caught
// here: a broken invariant in the core stops the daemon (STYLE.md).

import { createHmac } from 'node:crypto';
import { createServer, connect as netConnect } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { createServer as createTlsServer, connect as tlsConnect } from 'node:tls';

import { EventEmitter } from 'eventemitter3';

import { FragmentError, WireError } from '../src/errors.js';
import {
  FRAGMENT_CHUNK_BYTES,
  FragmentAssembler,
  FrameDecoder,
  LENGTH_PREFIX_BYTES,
  PEER_PROTOCOL_MAX,
  PEER_PROTOCOL_MIN,
  PEER_RANGE,
  decodePeerFrame,
  encodeLengthPrefixed,
  encodePeerFrame,
  fragmentHeaderBytes,
  negotiateVersion,
  writeFragmentHeader,
} from '../src/wire/index.js';
import type { DecodedPeerFrame, chorus } from '../src/wire/index.js';
import { formatHostPort, parseHostPort } from './config.js';
import type { Logger } from './logger.js';
import { listenOn } from './listen.js';
import {
  LogLimiter,
  NONCE_BYTES,
  RecordOpener,
  RecordSealer,
  matchProof,
  newNonce,
  proveHandshake,
  sessionKey,
  type HandshakeTranscript,
} from './peer-auth.js';
import { isTlsFailure, peerClientOptions, peerServerOptions, type TlsMaterial } from './tls.js';

/** `${name}#${incarnation}`: one run of one daemon. */
export type PeerKey = string;

export function peerKeyOf(id: chorus.IDaemonId): PeerKey {
  return `${id.name ?? ''}#${id.incarnation ?? ''}`;
}

export interface PeerLinksOptions {
  readonly cluster: string;
  readonly self: chorus.IDaemonId;
  /** `host:port` to listen on; port 0 picks a free port. */
  readonly listen: string;
  /** `host:port` other daemons dial (default: the actual listen address). */
  readonly advertise?: string;
  /** Largest frame accepted or sent after the handshake (whole, or reassembled from pieces). */
  readonly maxFrameBytes: number;
  /**
   * Bound of one link's send queue (default: 64 MiB + 2 × maxFrameBytes). It must hold
   * what the core may have unstable (--max-buffer-bytes, plus the one entry that crossed
   * it) or a slow link breaks instead of slowing the senders.
   */
  readonly maxQueueBytes?: number;
  /**
   * Shared cluster secrets: this daemon proves with the first one the peer also has and
   * accepts any (rotation: current, previous). Empty or absent (and no `secret`): no
   * challenge–response, none accepted.
   */
  readonly secrets?: readonly string[];
  /** One secret: the same as `secrets: [secret]` (ignored when `secrets` is given). */
  readonly secret?: string;
  /** Mutual TLS on the peer port, both directions (undefined: plain TCP). */
  readonly tls?: TlsMaterial;
  readonly logger: Logger;
}

export interface PeerLinksEvents {
  /** A frame received on an accepted connection, after its handshake, in stream order. */
  frame: (peer: PeerKey, frame: DecodedPeerFrame) => void;
  /** An outbound connection completed its handshake: frames sent to `peer` now flow. */
  'peer-up': (peer: PeerKey, id: chorus.IDaemonId, advertise: string) => void;
  /** An outbound connection that was up dropped (frames in flight may be lost). */
  'peer-down': (peer: PeerKey) => void;
  /** An accepted connection from `peer` (after its handshake) closed. */
  'inbound-down': (peer: PeerKey) => void;
}

export interface PeerLinksStats {
  framesSent: number;
  batchesWritten: number;
  bytesWritten: number;
  framesReceived: number;
  bytesReceived: number;
  /** Frames dropped by send(): too large, or the link's queue overflowed. */
  framesDropped: number;
  /** Outbound links given up after MAX_FAILED_DIALS failed dials in a row. */
  peersGivenUp: number;
  /** Inbound connections refused at the handshake. */
  handshakesRefused: number;
  /** Inbound connections dropped at once by a cap on handshaking connections. */
  connectionsRefused: number;
  /** Inbound connections closed for failed authentication (ERR_AUTH: bad proof or record MAC). */
  authFailures: number;
  /** Inbound TLS handshakes that failed (no or bad certificate, plaintext, protocol). */
  tlsFailures: number;
  /** Connections closed for a malformed, oversized or out-of-protocol frame. */
  protocolErrors: number;
  /** Data frames cut into pieces, and the pieces written. */
  framesFragmented: number;
  fragmentsSent: number;
  /** Control frames written between the pieces of a data frame (they overtook it). */
  controlFramesOvertaking: number;
  /** Data frames larger than maxFrameBytes split into several DataBatches. */
  dataFramesSplit: number;
  /** Entries left out of fetch answers because the link still held them (trimFetchAnswer). */
  fetchedEntriesTrimmed: number;
  /** Pieces received, and frames reassembled from them. */
  fragmentsReceived: number;
  framesReassembled: number;
}

/** Limits (TigerStyle: a limit on everything). */
export const HANDSHAKE_TIMEOUT_MS = 5_000;
export const HANDSHAKE_MAX_FRAME_BYTES = 64 * 1024;
/** Base of a link's queue bound (see PeerLinksOptions.maxQueueBytes). */
export const MAX_QUEUE_BYTES = 64 * 1024 * 1024;
export const RETRY_MIN_MS = 250;
/** Failed dials in a row (about 8 s with the backoff) before a link's queue is dropped. */
export const MAX_FAILED_DIALS = 6;
/** Peer addresses remembered (least recently set without a link forgotten first). */
export const MAX_ADDRESSES = 4096;
export const RETRY_MAX_MS = 2_000;
/** Largest batch of whole frames in one socket.write: bounds the copy made by encodeLengthPrefixed. */
const MAX_WRITE_BATCH_BYTES = 1024 * 1024;
/** Sent frames kept at a lane's head before the lane is compacted. */
const LANE_COMPACT_AFTER = 1024;
/**
 * How long a large data frame counts as still on its way to the peer after its last
 * piece was written (see trimFetchAnswer): a heartbeat period (250 ms by default), time
 * for the peer's fetch, provoked by a heartbeat that overtook the frame, to come back.
 */
const FETCH_ECHO_WINDOW_MS = 250;
/** Accepted connections at once (handshaking or not): bounds what strangers can hold. */
export const MAX_INBOUND_CONNECTIONS = 1024;
/**
 * Accepted connections still in their handshake, in all and from one address: a stranger
 * holding connections open without a hello (each for up to HANDSHAKE_TIMEOUT_MS) cannot
 * fill the port, and a real daemon from another address still gets in.
 */
export const MAX_HANDSHAKING_PEERS = 64;
export const MAX_HANDSHAKING_PEERS_PER_SOURCE = 8;
/** TCP keepalive: notices a vanished host on an otherwise silent connection. */
const KEEPALIVE_DELAY_MS = 5_000;
/** Grace period for the peer to read a refusal before the socket is destroyed. */
const REFUSAL_LINGER_MS = 1_000;

const ERR_HANDSHAKE = 'ERR_HANDSHAKE';

interface DialFailure {
  readonly code: string;
  readonly message: string;
  /** The peer answered and refused (vs. a network error or timeout). */
  readonly refused: boolean;
  /** The peer is this daemon (a seed list that names ourselves). */
  readonly self?: boolean;
}

/** What one dial of a DNS seed's address came to (PeerLinks.probeSeed). */
export type SeedProbe =
  /** A daemon answered: the connection is its outbound link now (or it already had one). */
  | { readonly outcome: 'linked' }
  /** The address is this daemon. */
  | { readonly outcome: 'self' }
  /** Unreachable, timed out or refused (`refused`: the daemon answered and said no). */
  | { readonly outcome: 'failed'; readonly code: string; readonly reason: string; readonly refused: boolean };

interface DialHandlers {
  onOpen(id: chorus.IDaemonId): void;
  onFail(failure: DialFailure): void;
  onClose(): void;
}

const NO_HANDLERS: DialHandlers = { onOpen() {}, onFail() {}, onClose() {} };

/** What a Dial needs to say and check in its handshake. */
interface DialAuth {
  readonly cluster: string;
  readonly self: { readonly name: string; readonly incarnation: string };
  readonly advertise: string;
  /** Cluster secrets (empty: none). */
  readonly secrets: readonly string[];
  readonly tls: TlsMaterial | undefined;
}

/**
 * One outbound connection: connect (TCP, or TLS), hello, [challenge, proof], reply,
 * then send only.
 */
class Dial {
  readonly socket: Socket;
  state: 'connecting' | 'handshaking' | 'proving' | 'open' | 'failed' = 'connecting';
  /** socket.write returned false: wait for 'drain' before the next write. */
  draining = false;
  handlers: DialHandlers;
  private readonly decoder = new FrameDecoder(HANDSHAKE_MAX_FRAME_BYTES);
  private failure: DialFailure | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly nonce = newNonce();
  /** Set by the challenge: what the final reply must match, and the session's MAC key. */
  private challengedBy: chorus.IDaemonId | undefined;
  private pendingKey: Buffer | undefined;
  /** After the handshake with a secret and without TLS: every write is a MAC'd record. */
  private sealer: RecordSealer | undefined;

  constructor(
    readonly address: string,
    private readonly auth: DialAuth,
    private readonly selfKey: PeerKey,
    private readonly log: Logger,
    private readonly onProtocolError: () => void,
    handlers: DialHandlers,
  ) {
    this.handlers = handlers;
    const { host, port } = parseHostPort(address, 'peer address');
    this.socket =
      auth.tls !== undefined
        ? tlsConnect({ host, port, ...peerClientOptions(auth.tls) })
        : netConnect({ host, port, noDelay: true });
    this.socket.setNoDelay(true);
    this.socket.setKeepAlive(true, KEEPALIVE_DELAY_MS);
    // Covers connect and handshake: a black-holed address must not hang a link for the
    // OS connect timeout (minutes).
    this.timer = setTimeout(() => {
      this.fail({ code: 'ETIMEDOUT', message: 'no handshake reply within 5 s', refused: false });
    }, HANDSHAKE_TIMEOUT_MS);
    this.socket.on(auth.tls !== undefined ? 'secureConnect' : 'connect', () => {
      if (this.state !== 'connecting') return;
      this.state = 'handshaking';
      const hello = encodePeerFrame({
        hello: {
          protocolMin: PEER_PROTOCOL_MIN,
          protocolMax: PEER_PROTOCOL_MAX,
          cluster: auth.cluster,
          from: auth.self,
          advertise: auth.advertise,
          nonce: this.nonce,
          hasSecret: auth.secrets.length > 0,
        },
      });
      this.socket.write(encodeLengthPrefixed([hello]));
    });
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err: NodeJS.ErrnoException) => {
      // A TLS handshake that failed on certificates is the peer refusing us (or we it).
      const tls = auth.tls !== undefined && isTlsFailure(err);
      this.failure ??= { code: err.code ?? 'ECONNERROR', message: tls ? `TLS: ${err.message}` : err.message, refused: tls };
    });
    this.socket.on('close', () => {
      clearTimeout(this.timer);
      const wasOpen = this.state === 'open';
      this.state = 'failed';
      const handlers = this.handlers;
      this.handlers = NO_HANDLERS;
      if (wasOpen) handlers.onClose();
      else handlers.onFail(this.failure ?? { code: 'ECONNRESET', message: 'connection closed during handshake', refused: false });
    });
  }

  /**
   * Ends the connection with `failure`; `onFail` runs on 'close' (also for a link that
   * was open: its owner treats both alike).
   */
  fail(failure: DialFailure): void {
    if (this.state === 'failed') return;
    this.failure ??= failure;
    this.state = 'failed';
    clearTimeout(this.timer);
    this.socket.destroy();
  }

  /** Drops the connection without telling anyone (disconnect, close, replacement). */
  abandon(): void {
    this.handlers = NO_HANDLERS;
    clearTimeout(this.timer);
    this.state = 'failed';
    this.socket.destroy();
  }

  /**
   * Writes `parts` (whole frames, or a batch and a fragment's piece) as one write:
   * corked, and as one MAC'd record on an authenticated session. Returns what the last
   * socket.write returned (false: wait for 'drain').
   */
  write(parts: readonly Uint8Array[]): boolean {
    const socket = this.socket;
    const sealer = this.sealer;
    if (sealer === undefined && parts.length === 1) return socket.write(parts[0]!);
    socket.cork();
    let ok = true;
    if (sealer === undefined) {
      for (const p of parts) ok = socket.write(p);
    } else {
      const { header, tag } = sealer.seal(parts);
      socket.write(header);
      for (const p of parts) socket.write(p);
      ok = socket.write(tag);
    }
    socket.uncork();
    return ok;
  }

  private onData(chunk: Buffer): void {
    if (this.state !== 'handshaking' && this.state !== 'proving') {
      // The acceptor sends nothing after its reply (one stream per direction).
      if (this.state === 'open') {
        this.onProtocolError();
        this.log.warn({ code: ERR_HANDSHAKE, address: this.address }, 'peer sent data on an outbound link; closing it');
        this.fail({ code: ERR_HANDSHAKE, message: 'data on an outbound link', refused: false });
      }
      return;
    }
    let frames: Uint8Array[];
    let reply: chorus.PeerHelloReply.$Properties;
    try {
      frames = this.decoder.push(chunk);
      if (frames.length === 0) return;
      if (frames.length > 1) throw new WireError(ERR_HANDSHAKE, 'data after the hello reply');
      const frame = decodePeerFrame(frames[0]!);
      if (frame.body !== 'helloReply') throw new WireError(ERR_HANDSHAKE, `expected a hello reply, got ${frame.body}`);
      reply = frame.helloReply;
    } catch (err) {
      const code = err instanceof WireError ? err.code : ERR_HANDSHAKE;
      const message = err instanceof Error ? err.message : String(err);
      this.onProtocolError();
      this.fail({ code, message: `bad handshake reply: ${message}`, refused: true });
      return;
    }
    const from = reply.from;
    if (from && peerKeyOf(from) === this.selfKey) {
      this.fail({ code: ERR_HANDSHAKE, message: 'the address is this daemon', refused: true, self: true });
      return;
    }
    if (!reply.ok) {
      this.fail({
        code: reply.errorCode || ERR_HANDSHAKE,
        message: reply.errorMessage || 'refused without a reason',
        refused: true,
      });
      return;
    }
    if (!from || !from.name || !from.incarnation) {
      this.fail({ code: ERR_HANDSHAKE, message: 'hello reply without the peer identity', refused: true });
      return;
    }
    const protocol = reply.protocol ?? 0;
    if (!(protocol >= PEER_PROTOCOL_MIN && protocol <= PEER_PROTOCOL_MAX)) {
      this.fail({ code: 'ERR_PROTOCOL_VERSION', message: `peer chose unsupported version ${protocol}`, refused: true });
      return;
    }
    if (this.state === 'handshaking' && reply.challenge) {
      this.answerChallenge(reply, { name: from.name, incarnation: from.incarnation }, protocol);
      return;
    }
    if (this.state === 'proving') {
      if (reply.challenge || peerKeyOf(from) !== peerKeyOf(this.challengedBy!)) {
        this.fail({ code: ERR_HANDSHAKE, message: 'final reply does not match the challenge', refused: true });
        return;
      }
      if (this.pendingKey !== undefined) this.sealer = new RecordSealer(this.pendingKey);
    } else if (this.auth.secrets.length > 0) {
      // Without a challenge the peer proved nothing: it may be anyone.
      this.fail({
        code: 'ERR_AUTH',
        message: 'the peer did not authenticate itself (it has no cluster secret?)',
        refused: true,
      });
      return;
    }
    clearTimeout(this.timer);
    this.state = 'open';
    this.handlers.onOpen({ name: from.name, incarnation: from.incarnation });
  }

  /** Checks the acceptor's proof, then proves with the secret it proved with. */
  private answerChallenge(
    reply: chorus.PeerHelloReply.$Properties,
    acceptor: { name: string; incarnation: string },
    protocol: number,
  ): void {
    const secrets = this.auth.secrets;
    const acceptorNonce = reply.nonce ?? new Uint8Array(0);
    if (secrets.length === 0) {
      this.fail({ code: 'ERR_AUTH', message: 'the peer demands a cluster secret; this daemon has none', refused: true });
      return;
    }
    if (acceptorNonce.length !== NONCE_BYTES) {
      this.fail({ code: 'ERR_AUTH', message: 'challenge without a valid nonce', refused: true });
      return;
    }
    const transcript: HandshakeTranscript = {
      cluster: this.auth.cluster,
      dialer: this.auth.self,
      advertise: this.auth.advertise,
      acceptor,
      protocol,
      dialerNonce: this.nonce,
      acceptorNonce,
    };
    const secret = matchProof(secrets, 'acceptor', transcript, reply.proofs ?? []);
    if (secret === undefined) {
      // Prove nothing to a peer that proved nothing: just hang up.
      this.fail({
        code: 'ERR_AUTH',
        message: 'the peer could not prove it knows our cluster secret (different --secret?)',
        refused: true,
      });
      return;
    }
    this.challengedBy = acceptor;
    if (this.auth.tls === undefined) this.pendingKey = sessionKey(secret, transcript);
    this.state = 'proving';
    const proof = encodePeerFrame({
      hello: { from: this.auth.self, proof: proveHandshake(secret, 'dialer', transcript) },
    });
    this.socket.write(encodeLengthPrefixed([proof]));
  }
}

/**
 * One lane of a link's send queue: encoded frames in FIFO order, each with the link-wide
 * number it was sent under (to merge the lanes back into send order) and, for data
 * frames, the entries it carries (to recognise a fetch answer that would repeat them).
 * Parallel arrays and a head index: queueing a frame allocates nothing.
 */
class Lane {
  private frames: Uint8Array[] = [];
  private seqs: number[] = [];
  private entries: Array<readonly chorus.IEntry[] | undefined> = [];
  private head = 0;
  bytes = 0;

  get empty(): boolean {
    return this.head === this.frames.length;
  }

  push(frame: Uint8Array, seq: number, entries: readonly chorus.IEntry[] | undefined): void {
    this.frames.push(frame);
    this.seqs.push(seq);
    this.entries.push(entries);
    this.bytes += frame.length;
  }

  peek(): Uint8Array {
    return this.frames[this.head]!;
  }

  peekSeq(): number {
    return this.seqs[this.head]!;
  }

  peekEntries(): readonly chorus.IEntry[] | undefined {
    return this.entries[this.head];
  }

  /** Calls `fn` with the entries of every queued data frame. */
  forEachEntries(fn: (entries: readonly chorus.IEntry[]) => void): void {
    for (let i = this.head; i < this.entries.length; i++) {
      const entries = this.entries[i];
      if (entries !== undefined) fn(entries);
    }
  }

  shift(): Uint8Array {
    const frame = this.frames[this.head]!;
    // Let the frame and its entries be collected once written.
    this.frames[this.head] = EMPTY_BYTES;
    this.entries[this.head] = undefined;
    this.head++;
    this.bytes -= frame.length;
    this.compact();
    return frame;
  }

  /**
   * Moves frames from the head to `batch` while they fit in `budgetBytes` (counting
   * their length prefixes; the first always fits), are at most `maxWholeBytes` long
   * and were sent before `untilSeq`. Returns the batch's new size in bytes. The loop
   * of flush() for runs of small frames: one call per run, not per frame.
   */
  takeRun(batch: Uint8Array[], batchBytes: number, budgetBytes: number, maxWholeBytes: number, untilSeq: number): number {
    const frames = this.frames;
    const seqs = this.seqs;
    const entries = this.entries;
    let i = this.head;
    let taken = 0;
    while (i < frames.length) {
      const frame = frames[i]!;
      if (frame.length > maxWholeBytes || seqs[i]! >= untilSeq) break;
      const size = LENGTH_PREFIX_BYTES + frame.length;
      if (batch.length > 0 && batchBytes + size > budgetBytes) break;
      batch.push(frame);
      batchBytes += size;
      taken += frame.length;
      frames[i] = EMPTY_BYTES;
      entries[i] = undefined;
      i++;
    }
    this.head = i;
    this.bytes -= taken;
    this.compact();
    return batchBytes;
  }

  private compact(): void {
    if (this.head === this.frames.length) {
      this.frames.length = 0;
      this.seqs.length = 0;
      this.entries.length = 0;
      this.head = 0;
    } else if (this.head >= LANE_COMPACT_AFTER && this.head * 2 >= this.frames.length) {
      // Under sustained backpressure the lane never empties: drop the written prefix.
      this.frames.splice(0, this.head);
      this.seqs.splice(0, this.head);
      this.entries.splice(0, this.head);
      this.head = 0;
    }
  }

  clear(): number {
    const count = this.frames.length - this.head;
    this.frames = [];
    this.seqs = [];
    this.entries = [];
    this.head = 0;
    this.bytes = 0;
    return count;
  }
}

const EMPTY_BYTES = new Uint8Array(0);

/** The outbound side of one peer: its queue (two lanes) and its (at most one) connection. */
interface OutboundLink {
  readonly key: PeerKey;
  /** Every frame but `data` and `stateChunk`: may overtake a data frame that is being cut. */
  readonly control: Lane;
  /** `data` and `stateChunk` frames, FIFO among themselves. */
  readonly data: Lane;
  /** Numbers the frames in send order, across both lanes. */
  nextSeq: number;
  /** The data frame being written in pieces, how much of it is written, its entries. */
  cutting: Uint8Array | undefined;
  cutOffset: number;
  cuttingEntries: readonly chorus.IEntry[] | undefined;
  /**
   * Entries of the frames cut on the current connection, with when their last piece
   * was written (trimFetchAnswer). Weak: it holds no payload alive.
   */
  recentlyCut: WeakMap<chorus.IEntry, number>;
  dial: Dial | undefined;
  retryTimer: NodeJS.Timeout | undefined;
  backoffMs: number;
  /** Last error code logged, to log each distinct error once. */
  lastErrorCode: string | undefined;
  flushScheduled: boolean;
  /** The address of this peer was unknown when frames were queued (warned once). */
  warnedNoAddress: boolean;
  /** Dials in a row that never completed a handshake (reset when one does). */
  failedDials: number;
}

/** A seed: an address whose daemon we do not know yet. */
interface SeedDial {
  readonly address: string;
  dial: Dial | undefined;
  retryTimer: NodeJS.Timeout | undefined;
  backoffMs: number;
  lastErrorCode: string | undefined;
}

/** One accepted connection: hello, reply, then receive only. */
interface InboundConn {
  readonly socket: Socket;
  readonly remote: string;
  /** The remote address without the port (for the per-source cap). */
  readonly source: string;
  decoder: FrameDecoder;
  /** Created at the handshake: pieces of a fragmented frame. */
  assembler: FragmentAssembler | undefined;
  key: PeerKey | undefined;
  timer: NodeJS.Timeout | undefined;
  /** Closing without an `inbound-down` (refused, replaced, disconnected on request). */
  silent: boolean;
  /** Challenge sent, the dialer's proof awaited (cluster secret). */
  challenge: PendingChallenge | undefined;
  /** Authenticated session without TLS: the dialer's bytes are MAC'd records. */
  opener: RecordOpener | undefined;
}

interface PendingChallenge {
  readonly transcript: HandshakeTranscript;
  readonly peer: PeerKey;
  readonly protocol: number;
  readonly advertise: string;
}

export class PeerLinks extends EventEmitter<PeerLinksEvents> {
  private readonly options: PeerLinksOptions;
  private readonly secrets: readonly string[];
  private readonly authLogLimit = new LogLimiter();
  private readonly tlsLogLimit = new LogLimiter();
  private readonly capLogLimit = new LogLimiter(1);
  private readonly giveUpLogLimit = new LogLimiter();
  private readonly maxQueueBytes: number;
  private readonly log: Logger;
  private selfKey: PeerKey;
  private self: { name: string; incarnation: string };
  private server: Server | undefined;
  private advertiseAddress: string | undefined;
  private closed = false;

  private readonly links = new Map<PeerKey, OutboundLink>();
  private readonly addresses = new Map<PeerKey, string>();
  private readonly seeds = new Map<string, SeedDial>();
  /** Dials of probeSeed under way, with how to settle each when close() abandons it. */
  private readonly probes = new Map<Dial, (probe: SeedProbe) => void>();
  private readonly inbound = new Set<InboundConn>();
  // Usually one accepted connection per peer; briefly more when the peer redials before
  // we noticed its old stream break, or dials a seed it is already linked to (it then
  // closes the redundant one). `inbound-down` fires when the last one closes.
  private readonly inboundByKey = new Map<PeerKey, Set<InboundConn>>();

  private readonly counters: PeerLinksStats = {
    framesSent: 0,
    batchesWritten: 0,
    bytesWritten: 0,
    framesReceived: 0,
    bytesReceived: 0,
    framesDropped: 0,
    peersGivenUp: 0,
    handshakesRefused: 0,
    connectionsRefused: 0,
    authFailures: 0,
    tlsFailures: 0,
    protocolErrors: 0,
    framesFragmented: 0,
    fragmentsSent: 0,
    controlFramesOvertaking: 0,
    dataFramesSplit: 0,
    fetchedEntriesTrimmed: 0,
    fragmentsReceived: 0,
    framesReassembled: 0,
  };

  // The last large data frame encoded, and its bytes: the core sends one frame object to
  // every member in a row, and encoding 16 MiB once instead of once per peer halves the
  // CPU and lets the links share one buffer. Only valid for consecutive send() calls of
  // the same object within one turn (cleared by a microtask), when it cannot have changed.
  private encodedFrame: chorus.IPeerFrame | undefined;
  private encodedBytes: Uint8Array = EMPTY_BYTES;
  // Reused by flush(): the whole frames of one write.
  private readonly batch: Uint8Array[] = [];

  constructor(options: PeerLinksOptions) {
    super();
    if (!options.self.name || !options.self.incarnation) {
      throw new TypeError('PeerLinks: self needs a name and an incarnation');
    }
    this.options = options;
    this.secrets = options.secrets ?? (options.secret !== undefined ? [options.secret] : []);
    this.maxQueueBytes = options.maxQueueBytes ?? MAX_QUEUE_BYTES + 2 * options.maxFrameBytes;
    this.self = { name: options.self.name, incarnation: options.self.incarnation };
    this.selfKey = peerKeyOf(this.self);
    this.log = options.logger.child({ component: 'peer-links' });
    if (options.advertise !== undefined) this.advertiseAddress = normalizeAddress(options.advertise);
  }

  /** Binds the listener; returns the actual `host:port`. */
  async listen(): Promise<string> {
    if (this.server) throw new Error('PeerLinks.listen called twice');
    const { host, port } = parseHostPort(this.options.listen, 'peer listen address');
    const tls = this.options.tls;
    let server: Server;
    if (tls === undefined) {
      server = createServer({ noDelay: true }, (socket) => this.onAccept(socket));
    } else {
      // Mutual TLS: onAccept sees only connections whose certificate the CA signed.
      const tlsServer = createTlsServer(peerServerOptions(tls), (socket) => this.onAccept(socket));
      // The remote address, kept from the TCP connection: a refused TLS socket no longer has it.
      const remotes = new WeakMap<object, string>();
      tlsServer.on('connection', (raw: Socket) => remotes.set(raw, formatHostPort(raw.remoteAddress ?? '?', raw.remotePort ?? 0)));
      tlsServer.on('tlsClientError', (err: NodeJS.ErrnoException, socket) => {
        this.counters.tlsFailures++;
        const left = this.tlsLogLimit.take();
        if (left !== undefined) {
          // A certificate the CA did not sign shows as authorizationError (the error
          // itself is then only the hang-up that followed).
          const certificate = (socket as { authorizationError?: Error | string }).authorizationError;
          const parent = (socket as { _parent?: object })._parent;
          this.log.warn(
            {
              remote: (parent !== undefined ? remotes.get(parent) : undefined) ?? formatHostPort(socket.remoteAddress ?? '?', socket.remotePort ?? 0),
              code: 'ERR_TLS',
              reason: certificate !== undefined ? `peer certificate refused: ${String(certificate)}` : `${err.code ?? ''} ${err.message}`.trim(),
              ...(left > 0 ? { suppressed: left } : {}),
            },
            'refused peer connection: TLS handshake failed',
          );
        }
        socket.destroy();
      });
      server = tlsServer;
    }
    server.maxConnections = MAX_INBOUND_CONNECTIONS;
    this.server = server;
    await listenOn(server, host, port);
    server.on('error', (err) => this.log.error({ err }, 'peer listener error'));
    const bound = server.address() as AddressInfo;
    const actual = formatHostPort(bound.address, bound.port);
    if (this.advertiseAddress === undefined) {
      this.advertiseAddress = actual;
      if (bound.address === '0.0.0.0' || bound.address === '::') {
        this.log.warn({ listen: actual }, 'listening on a wildcard address without --advertise: other daemons cannot dial it');
      }
    }
    this.log.info(
      { listen: actual, advertise: this.advertiseAddress, tls: tls !== undefined, secrets: this.secrets.length },
      'peer links listening',
    );
    return actual;
  }

  /** The address other daemons dial to reach this one. */
  get advertise(): string {
    if (this.advertiseAddress === undefined) throw new Error('PeerLinks.advertise read before listen()');
    return this.advertiseAddress;
  }

  get stats(): Readonly<PeerLinksStats> {
    return { ...this.counters };
  }

  /** Where to dial `peer` (from a member list or a join request). */
  setAddress(peer: PeerKey, address: string): void {
    const normalized = this.checkAddress(address, peer);
    if (normalized === undefined) return;
    this.addresses.delete(peer); // re-inserted: the map stays in order of last use
    this.addresses.set(peer, normalized);
    if (this.addresses.size > MAX_ADDRESSES) {
      // Addresses named by join requests of strangers must not grow without bound: forget
      // the least recently set one that has no link (a later setAddress teaches it again).
      for (const k of this.addresses.keys()) {
        if (!this.links.has(k)) {
          this.addresses.delete(k);
          break;
        }
      }
    }
    const link = this.links.get(peer);
    if (link && hasQueued(link) && !link.dial && !link.retryTimer) this.connectLink(link);
  }

  /** True when frames sent to `peer` are flowing (outbound handshake done). */
  isUp(peer: PeerKey): boolean {
    return this.links.get(peer)?.dial?.state === 'open';
  }

  /** Bytes waiting to go to `peer`: our queue plus the socket's buffer. */
  bufferedBytes(peer: PeerKey): number {
    const link = this.links.get(peer);
    if (!link) return 0;
    return queuedBytes(link) + (link.dial?.socket.writableLength ?? 0);
  }

  /**
   * Dials an address whose daemon is unknown (a seed). Once the handshake succeeds, emits
   * `peer-up` and keeps the connection as the outbound link to that daemon; the seed is
   * then done (call again to probe it again). On failure retries with backoff until
   * `forgetSeed(address)` or `close()`. A seed that turns out to be this daemon is dropped.
   */
  dialSeed(address: string): void {
    if (this.closed) return;
    const normalized = this.checkAddress(address, undefined);
    if (normalized === undefined || this.seeds.has(normalized)) return;
    const seed: SeedDial = {
      address: normalized,
      dial: undefined,
      retryTimer: undefined,
      backoffMs: RETRY_MIN_MS,
      lastErrorCode: undefined,
    };
    this.seeds.set(normalized, seed);
    this.connectSeed(seed);
  }

  /**
   * Dials `address` once, as dialSeed does, but never retries it: for an address a DNS
   * seed resolved (daemon/dns-seeds.ts), which may be gone for good by the next dial, so
   * the DNS seed retries by resolving its name again. An address already linked to a
   * daemon is not dialled again. Failures are the caller's to log.
   */
  probeSeed(address: string): Promise<SeedProbe> {
    const failed = (code: string, reason: string): SeedProbe => ({ outcome: 'failed', code, reason, refused: false });
    if (this.closed) return Promise.resolve(failed('ERR_CLOSED', 'peer links closed'));
    const normalized = this.checkAddress(address, undefined);
    if (normalized === undefined) return Promise.resolve(failed(ERR_HANDSHAKE, `invalid address ${address}`));
    for (const [peer, known] of this.addresses) {
      if (known === normalized && this.isUp(peer)) return Promise.resolve({ outcome: 'linked' });
    }
    return new Promise<SeedProbe>((resolve) => {
      this.log.debug({ seed: normalized }, 'dialling an address of a DNS seed');
      const dial = this.newDial(normalized, {
        onOpen: (id) => {
          this.probes.delete(dial);
          this.adoptSeedDial(dial, id, normalized);
          resolve({ outcome: 'linked' });
        },
        onFail: (failure) => {
          this.probes.delete(dial);
          resolve(
            failure.self === true
              ? { outcome: 'self' }
              : { outcome: 'failed', code: failure.code, reason: failure.message, refused: failure.refused },
          );
        },
        onClose: () => {},
      });
      this.probes.set(dial, resolve);
    });
  }

  forgetSeed(address: string): void {
    let normalized: string;
    try {
      normalized = normalizeAddress(address);
    } catch {
      return;
    }
    const seed = this.seeds.get(normalized);
    if (!seed) return;
    this.seeds.delete(normalized);
    if (seed.retryTimer) clearTimeout(seed.retryTimer);
    seed.dial?.abandon();
  }

  /**
   * Queues `frame` for `peer`; it is written with the other frames of this turn of the
   * event loop. Dials the peer (address from setAddress) if it has no connection. Returns
   * false when the frame was dropped (too large, or the queue overflowed).
   */
  send(peer: PeerKey, frame: chorus.IPeerFrame): boolean {
    if (this.closed) return false;
    const isData = frame.data !== undefined && frame.data !== null;
    if (isData && frame.data!.relayed) {
      const link = this.links.get(peer);
      if (link !== undefined) {
        const parts = this.trimFetchAnswer(link, frame);
        if (parts.length !== 1 || parts[0] !== frame) {
          let ok = true;
          for (const part of parts) ok = this.send(peer, part) && ok;
          return ok;
        }
      }
    }
    let bytes: Uint8Array;
    if (frame === this.encodedFrame) {
      bytes = this.encodedBytes;
    } else {
      bytes = encodePeerFrame(frame);
      if (isData && bytes.length > FRAGMENT_CHUNK_BYTES) this.rememberEncoded(frame, bytes);
    }
    if (bytes.length > this.options.maxFrameBytes) {
      const entries = frame.data?.entries;
      if (entries && entries.length > 1) return this.sendSplit(peer, frame.data!, entries);
      this.counters.framesDropped++;
      this.log.error(
        { peer, bytes: bytes.length, maxFrameBytes: this.options.maxFrameBytes, body: frame.body },
        'frame larger than the peer frame limit; dropped',
      );
      return false;
    }
    let link = this.links.get(peer);
    if (!link) {
      link = newLink(peer);
      this.links.set(peer, link);
    }
    const queued = queuedBytes(link);
    if (queued + bytes.length > this.maxQueueBytes) {
      // Keeps the FIFO promise: drop the queue AND break the stream, so the core sees
      // peer-down and resends after reconnecting, instead of a silent gap.
      const dropped = dropQueue(link) + 1;
      this.counters.framesDropped += dropped;
      this.log.error(
        { peer, queuedBytes: queued, frames: dropped, maxQueueBytes: this.maxQueueBytes },
        'peer link queue overflow: dropping its queue and breaking the link',
      );
      link.dial?.fail({ code: 'ERR_QUEUE_OVERFLOW', message: 'send queue overflow', refused: false });
      return false;
    }
    // State chunks ride with the data: they are bulk (256 KiB each, a window of several
    // in flight) and must not hold heartbeats; and a joiner's daemon accepts a chunk only
    // once it has delivered the join, which may wait for data sent before the chunk.
    if (isData) link.data.push(bytes, link.nextSeq++, frame.data!.entries ?? undefined);
    else if (frame.stateChunk) link.data.push(bytes, link.nextSeq++, undefined);
    else link.control.push(bytes, link.nextSeq++, undefined);
    if (link.dial?.state === 'open') this.scheduleFlush(link);
    else if (!link.dial && !link.retryTimer) this.connectLink(link);
    return true;
  }

  /**
   * A DataBatch larger than the frame limit, as two consecutive batches (recursively, so
   * each fits): entries keep their seqs, and the piggybacked stability data rides on
   * both. Only several large entries batched together get here; the core refuses a
   * message larger than --max-message-bytes, which leaves room for a batch's fields.
   */
  private sendSplit(peer: PeerKey, batch: chorus.IDataBatch, entries: readonly chorus.IEntry[]): boolean {
    this.counters.dataFramesSplit++;
    const half = entries.length >>> 1;
    const firstSeq = batch.firstSeq ?? 0;
    this.log.debug({ peer, entries: entries.length, firstSeq }, 'data frame over the frame limit: split in two');
    return (
      this.send(peer, { data: { ...batch, entries: entries.slice(0, half) } }) &&
      this.send(peer, { data: { ...batch, firstSeq: firstSeq + half, entries: entries.slice(half) } })
    );
  }

  /**
   * A fetch answer (relayed DataBatch) without the entries this link is still carrying
   * to the peer — queued, being cut, or in a large frame whose last piece left less than
   * FETCH_ECHO_WINDOW_MS ago on this connection — as the relayed batches of the runs of
   * entries that are left (none: the answer only repeated what is on its way).
   *
   * Why: a heartbeat that overtook a large data frame makes the peer fetch what that
   * frame and the data frames behind it carry (src/core onHeartbeat assumes a FIFO
   * link). Without this, each heartbeat during a 16 MiB transfer queues another copy.
   *
   * Safe: every entry left out is ahead of the answer on the stream (the data lane keeps
   * what is queued across a reconnect; what was written went on this connection), so the
   * peer gets it before it would have got the answer. Only a peer that had to refuse
   * such an entry (a gap left by a broken earlier connection) needs it again: its next
   * fetch, once the entry is written and the window is over, is answered in full. That
   * delays such a repair by at most the window.
   * Entries are recognised by identity: the core answers a fetch with the entry objects
   * it sent. Should that change, nothing is left out (still correct, only wasteful).
   */
  private trimFetchAnswer(link: OutboundLink, frame: chorus.IPeerFrame): chorus.IPeerFrame[] {
    const batch = frame.data!;
    const entries = batch.entries ?? [];
    const held = new Set<chorus.IEntry>();
    if (link.cuttingEntries !== undefined) for (const e of link.cuttingEntries) held.add(e);
    link.data.forEachEntries((es) => {
      for (const e of es) held.add(e);
    });
    const since = performance.now() - FETCH_ECHO_WINDOW_MS;
    const recent = link.recentlyCut;
    const isHeld = (e: chorus.IEntry): boolean => held.has(e) || (recent.get(e) ?? -Infinity) >= since;

    const parts: chorus.IPeerFrame[] = [];
    const firstSeq = batch.firstSeq ?? 0;
    let trimmed = 0;
    let start = 0;
    for (let i = 0; i <= entries.length; i++) {
      if (i < entries.length && !isHeld(entries[i]!)) continue;
      if (i > start) parts.push({ data: { ...batch, firstSeq: firstSeq + start, entries: entries.slice(start, i) } });
      if (i < entries.length) trimmed++;
      start = i + 1;
    }
    if (trimmed === 0) return [frame];
    this.counters.fetchedEntriesTrimmed += trimmed;
    this.log.debug({ peer: link.key, firstSeq, entries: entries.length, trimmed }, 'fetch answer: entries on their way left out');
    return parts;
  }

  private rememberEncoded(frame: chorus.IPeerFrame, bytes: Uint8Array): void {
    if (this.encodedFrame === undefined) {
      queueMicrotask(() => {
        this.encodedFrame = undefined;
        this.encodedBytes = EMPTY_BYTES;
      });
    }
    this.encodedFrame = frame;
    this.encodedBytes = bytes;
  }

  /**
   * This daemon took a new incarnation (it rejoins after losing the primary): every
   * link is closed so peers see the new identity in the next hello.
   */
  setIdentity(self: chorus.IDaemonId): void {
    if (!self.name || !self.incarnation) throw new TypeError('PeerLinks: self needs a name and an incarnation');
    this.self = { name: self.name, incarnation: self.incarnation };
    this.selfKey = peerKeyOf(this.self);
    for (const peer of [...new Set([...this.links.keys(), ...this.inboundByKey.keys()])]) this.disconnect(peer);
    // Seed dials under way sent (or will send) the old identity in their hello: one that
    // completes later (its hello held by a slow network, or a proxy, until the peer comes
    // back) would open a link under the old key, and that peer would hear from a daemon
    // that no longer exists — a joiner then never reports hearing this one, and waits for
    // admission for good (soak seed 20261215). Start them again with the new identity.
    for (const seed of this.seeds.values()) {
      const dial = seed.dial;
      if (dial === undefined) continue;
      seed.dial = undefined;
      dial.abandon();
      this.connectSeed(seed);
    }
    for (const [dial, resolve] of [...this.probes]) {
      this.probes.delete(dial);
      dial.abandon();
      resolve({ outcome: 'failed', code: ERR_HANDSHAKE, reason: 'this daemon took a new incarnation during the dial', refused: false });
    }
    this.log.info({ incarnation: self.incarnation }, 'new incarnation: links reset');
  }

  /**
   * Closes both directions for `peer` and drops its queue. Emits nothing (the caller
   * asked). The address stays known: a later send() dials again.
   */
  /** Peers this daemon has (or had) an outbound link to. */
  get linkedPeers(): PeerKey[] {
    return [...this.links.keys()];
  }

  disconnect(peer: PeerKey): void {
    const link = this.links.get(peer);
    if (link) {
      this.links.delete(peer);
      if (link.retryTimer) clearTimeout(link.retryTimer);
      link.dial?.abandon();
      dropQueue(link);
    }
    const conns = this.inboundByKey.get(peer);
    if (conns) {
      this.inboundByKey.delete(peer);
      for (const conn of conns) {
        conn.silent = true;
        conn.socket.destroy();
      }
    }
  }

  /**
   * Writes what is queued on every open link now, then waits (at most `timeoutMs`) until
   * the sockets took it. Leaving (SIGTERM) calls it before close(): the frames that tell
   * the others this daemon left (its Install, as coordinator) are the last ones queued,
   * and close() would drop them.
   */
  async drain(timeoutMs = 1000): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const link of this.links.values()) {
      const dial = link.dial;
      if (!dial || dial.state !== 'open') continue;
      this.flush(link);
      const socket = dial.socket;
      if (socket.writableLength === 0 && link.cutting === undefined) continue;
      waits.push(
        new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            resolve();
          };
          const timer = setTimeout(done, timeoutMs);
          socket.end(done); // half-close after the queued bytes: they still arrive
        }),
      );
    }
    await Promise.all(waits);
  }

  /** Stops listening and closes every connection. Emits nothing afterwards. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const peer of [...this.links.keys()]) this.disconnect(peer);
    for (const address of [...this.seeds.keys()]) this.forgetSeed(address);
    for (const [dial, settle] of this.probes) {
      dial.abandon();
      settle({ outcome: 'failed', code: 'ERR_CLOSED', reason: 'peer links closed', refused: false });
    }
    this.probes.clear();
    for (const conn of this.inbound) {
      conn.silent = true;
      if (conn.timer) clearTimeout(conn.timer);
      conn.socket.destroy();
    }
    const server = this.server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    this.log.debug('peer links closed');
  }

  /** `address` as a dialable `host:port`, or undefined (logged) when it is not one. */
  private checkAddress(address: string, peer: PeerKey | undefined): string | undefined {
    try {
      const { host, port } = parseHostPort(address, 'peer address');
      if (port === 0) throw new Error('port 0 cannot be dialled');
      return formatHostPort(host, port);
    } catch (err) {
      this.log.warn(
        { peer, address, reason: err instanceof Error ? err.message : String(err) },
        'ignoring an invalid peer address',
      );
      return undefined;
    }
  }

  // ------------------------------------------------------------ outbound

  private newDial(address: string, handlers: DialHandlers): Dial {
    const auth: DialAuth = {
      cluster: this.options.cluster,
      self: this.self,
      advertise: this.advertise,
      secrets: this.secrets,
      tls: this.options.tls,
    };
    return new Dial(address, auth, this.selfKey, this.log, () => this.counters.protocolErrors++, handlers);
  }

  private connectLink(link: OutboundLink): void {
    if (this.closed || link.dial) return;
    const address = this.addresses.get(link.key);
    if (address === undefined) {
      if (!link.warnedNoAddress) {
        link.warnedNoAddress = true;
        this.log.warn({ peer: link.key }, 'frames queued for a peer whose address is unknown');
      }
      return;
    }
    this.log.debug({ peer: link.key, address }, 'dialling peer');
    const dial = this.newDial(address, {
      onOpen: (id) => {
        const key = peerKeyOf(id);
        if (key !== link.key) {
          // The address now hosts another daemon (e.g. a restart: a new incarnation).
          dial.fail({ code: ERR_HANDSHAKE, message: `${address} is now daemon ${key}`, refused: true });
          return;
        }
        this.openLink(link, dial, id, address);
      },
      onFail: (failure) => {
        if (link.dial !== dial) return;
        link.dial = undefined;
        this.logDialFailure(link, { peer: link.key, address }, failure, 'debug');
        link.failedDials += 1;
        if (link.failedDials >= MAX_FAILED_DIALS) {
          this.giveUp(link, address, failure.code);
          return;
        }
        this.scheduleRetry(link);
      },
      onClose: () => {},
    });
    link.dial = dial;
  }

  /**
   * A peer that no dial reached MAX_FAILED_DIALS times in a row: its queue is dropped and
   * the link forgotten, so an address named by a stranger (a join request's advertise)
   * is not redialled for ever with frames held for it. The core resends what matters
   * (heartbeats, join status) and a later send dials again.
   */
  private giveUp(link: OutboundLink, address: string, code: string): void {
    const dropped = dropQueue(link);
    this.counters.framesDropped += dropped;
    this.counters.peersGivenUp++;
    if (this.links.get(link.key) === link) this.links.delete(link.key);
    const left = this.giveUpLogLimit.take();
    if (left !== undefined) {
      this.log.warn(
        { peer: link.key, address, code, dials: link.failedDials, frames: dropped, ...(left > 0 ? { suppressed: left } : {}) },
        'giving up on a peer no dial reaches: its queued frames are dropped',
      );
    }
  }

  private openLink(link: OutboundLink, dial: Dial, id: chorus.IDaemonId, address: string): void {
    link.dial = dial;
    link.failedDials = 0;
    link.backoffMs = RETRY_MIN_MS;
    link.lastErrorCode = undefined;
    link.warnedNoAddress = false;
    dial.handlers = {
      onOpen: () => {},
      onFail: () => this.onLinkClosed(link, dial),
      onClose: () => this.onLinkClosed(link, dial),
    };
    dial.socket.on('drain', () => {
      dial.draining = false;
      this.flush(link);
    });
    this.log.info({ peer: link.key, address }, 'peer link up');
    // A frame cut on the previous connection starts over: the peer's assembler for
    // that connection is gone with it. What that connection carried may be lost.
    link.cutOffset = 0;
    link.recentlyCut = new WeakMap();
    if (hasQueued(link)) this.scheduleFlush(link);
    this.emit('peer-up', link.key, id, address);
  }

  private onLinkClosed(link: OutboundLink, dial: Dial): void {
    if (link.dial !== dial) return;
    link.dial = undefined;
    link.recentlyCut = new WeakMap();
    if (this.closed) return;
    this.log.info({ peer: link.key }, 'peer link down');
    this.scheduleRetry(link);
    this.emit('peer-down', link.key);
  }

  private scheduleRetry(link: OutboundLink): void {
    if (this.closed || link.retryTimer || link.dial || !hasQueued(link)) return;
    if (this.links.get(link.key) !== link) return;
    const delay = withJitter(link.backoffMs);
    link.backoffMs = Math.min(link.backoffMs * 2, RETRY_MAX_MS);
    link.retryTimer = setTimeout(() => {
      link.retryTimer = undefined;
      // Keeps retrying only while there is something to send.
      if (hasQueued(link) && this.links.get(link.key) === link) this.connectLink(link);
    }, delay);
  }

  private scheduleFlush(link: OutboundLink): void {
    if (link.flushScheduled) return;
    link.flushScheduled = true;
    setImmediate(() => {
      link.flushScheduled = false;
      this.flush(link);
    });
  }

  /**
   * Writes what the link holds until the socket asks to wait (write returns false) or
   * nothing is left. Each write is one buffer of whole frames (at most 1 MiB, unless one
   * frame is larger) and, while a data frame is being cut, its next piece — corked
   * together into one writev, the piece passed as a view of the encoded frame (no copy).
   */
  private flush(link: OutboundLink): void {
    const dial = link.dial;
    if (!dial || dial.state !== 'open' || dial.draining || this.closed) return;
    const batch = this.batch;
    for (;;) {
      let batchBytes = 0;
      for (;;) {
        const lane = this.nextLane(link);
        if (lane === undefined) break;
        if (lane === link.data && lane.peek().length > FRAGMENT_CHUNK_BYTES) {
          // Cut it: from now on control frames go ahead of it (nextLane).
          link.cuttingEntries = lane.peekEntries();
          link.cutting = lane.shift();
          link.cutOffset = 0;
          this.counters.framesFragmented++;
          continue;
        }
        // A run of this lane's frames: up to the other lane's head in send order (no
        // limit while a frame is being cut: control frames overtake it).
        // limit while a frame is being cut: control frames overtake it). Control frames
        // are never cut, whatever their size.
        const other = lane === link.data ? link.control : link.data;
        const untilSeq = link.cutting !== undefined || other.empty ? Number.POSITIVE_INFINITY : other.peekSeq();
        const maxWholeBytes = lane === link.data ? FRAGMENT_CHUNK_BYTES : Number.POSITIVE_INFINITY;
        const count = batch.length;
        batchBytes = lane.takeRun(batch, batchBytes, MAX_WRITE_BATCH_BYTES, maxWholeBytes, untilSeq);
        if (link.cutting !== undefined) this.counters.controlFramesOvertaking += batch.length - count;
        // Stopped by the budget (not by the other lane, a frame to cut or the end).
        if (!lane.empty && lane.peekSeq() < untilSeq && lane.peek().length <= maxWholeBytes) break;
      }
      const cutting = link.cutting;
      if (batch.length === 0 && cutting === undefined) return;

      let ok: boolean;
      let written: number;
      if (cutting === undefined) {
        const data = encodeLengthPrefixed(batch);
        written = data.length;
        ok = dial.write([data]);
      } else {
        const offset = link.cutOffset;
        const pieceBytes = Math.min(FRAGMENT_CHUNK_BYTES, cutting.length - offset);
        const totalBytes = offset === 0 ? cutting.length : 0;
        const headerBytes = fragmentHeaderBytes(totalBytes, pieceBytes);
        const data = encodeLengthPrefixed(batch, headerBytes);
        writeFragmentHeader(data, data.length - headerBytes, totalBytes, pieceBytes);
        link.cutOffset = offset + pieceBytes;
        if (link.cutOffset === cutting.length) {
          if (link.cuttingEntries !== undefined) {
            const now = performance.now();
            for (const e of link.cuttingEntries) link.recentlyCut.set(e, now);
          }
          link.cutting = undefined;
          link.cutOffset = 0;
          link.cuttingEntries = undefined;
          this.counters.framesSent++;
        }
        this.counters.fragmentsSent++;
        written = data.length + pieceBytes;
        ok = dial.write([data, cutting.subarray(offset, offset + pieceBytes)]);
      }
      this.counters.framesSent += batch.length;
      this.counters.batchesWritten++;
      this.counters.bytesWritten += written;
      batch.length = 0;
      if (!ok) {
        dial.draining = true;
        return;
      }
    }
  }

  /**
   * The lane whose head is written next: while a data frame is being cut, control frames
   * only (they overtake it); otherwise the older head of the two, so that small frames
   * leave in the order they were sent.
   */
  private nextLane(link: OutboundLink): Lane | undefined {
    const { control, data } = link;
    if (link.cutting !== undefined) return control.empty ? undefined : control;
    if (control.empty) return data.empty ? undefined : data;
    if (data.empty) return control;
    return control.peekSeq() < data.peekSeq() ? control : data;
  }

  // ------------------------------------------------------------ seeds

  private connectSeed(seed: SeedDial): void {
    if (this.closed || this.seeds.get(seed.address) !== seed) return;
    this.log.debug({ seed: seed.address }, 'dialling seed');
    const dial = this.newDial(seed.address, {
      onOpen: (id) => {
        this.seeds.delete(seed.address);
        seed.dial = undefined;
        this.adoptSeedDial(dial, id, seed.address);
      },
      onFail: (failure) => {
        if (seed.dial !== dial) return;
        seed.dial = undefined;
        if (failure.self) {
          this.seeds.delete(seed.address);
          this.log.info({ seed: seed.address }, 'seed is this daemon; not dialling it');
          return;
        }
        this.logDialFailure(seed, { seed: seed.address }, failure, 'info');
        if (this.closed || this.seeds.get(seed.address) !== seed) return;
        const delay = withJitter(seed.backoffMs);
        seed.backoffMs = Math.min(seed.backoffMs * 2, RETRY_MAX_MS);
        seed.retryTimer = setTimeout(() => {
          seed.retryTimer = undefined;
          this.connectSeed(seed);
        }, delay);
      },
      onClose: () => {},
    });
    seed.dial = dial;
  }

  /** A seed answered: its connection becomes the outbound link to that daemon. */
  private adoptSeedDial(dial: Dial, id: chorus.IDaemonId, address: string): void {
    const key = peerKeyOf(id);
    if (!this.addresses.has(key)) this.addresses.set(key, address);
    let link = this.links.get(key);
    if (!link) {
      link = newLink(key);
      this.links.set(key, link);
    }
    if (link.dial?.state === 'open') {
      // Already linked (one stream per direction): keep the existing stream.
      this.log.debug({ peer: key, seed: address }, 'seed is a peer already linked');
      dial.abandon();
      return;
    }
    link.dial?.abandon();
    link.dial = undefined;
    if (link.retryTimer) {
      clearTimeout(link.retryTimer);
      link.retryTimer = undefined;
    }
    this.openLink(link, dial, id, address);
  }

  private logDialFailure(
    target: { lastErrorCode: string | undefined },
    fields: Record<string, string>,
    failure: DialFailure,
    networkLevel: 'debug' | 'info',
  ): void {
    const first = target.lastErrorCode !== failure.code;
    target.lastErrorCode = failure.code;
    const line = { ...fields, code: failure.code, reason: failure.message };
    if (failure.refused) {
      if (first) this.log.error(line, 'peer refused our connection (retrying with backoff)');
      else this.log.debug(line, 'peer refused our connection again');
    } else if (first && networkLevel === 'info') {
      this.log.info(line, 'cannot reach peer (retrying with backoff)');
    } else {
      this.log.debug(line, 'cannot reach peer');
    }
  }

  // ------------------------------------------------------------ inbound

  private onAccept(socket: Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    const source = socket.remoteAddress ?? '?';
    const remote = formatHostPort(source, socket.remotePort ?? 0);
    let handshaking = 0;
    let fromSource = 0;
    for (const c of this.inbound) {
      if (c.key !== undefined || c.silent) continue;
      handshaking += 1;
      if (c.source === source) fromSource += 1;
    }
    if (handshaking >= MAX_HANDSHAKING_PEERS || fromSource >= MAX_HANDSHAKING_PEERS_PER_SOURCE) {
      this.counters.connectionsRefused++;
      const left = this.capLogLimit.take();
      if (left !== undefined) {
        this.log.warn(
          { remote, code: 'ERR_CONNECTION_LIMIT', handshaking, fromSource, ...(left > 0 ? { suppressed: left } : {}) },
          'refused peer connection: too many connections in their handshake',
        );
      }
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_DELAY_MS);
    const conn: InboundConn = {
      socket,
      remote,
      source,
      decoder: new FrameDecoder(HANDSHAKE_MAX_FRAME_BYTES),
      assembler: undefined,
      key: undefined,
      timer: undefined,
      silent: false,
      challenge: undefined,
      opener: undefined,
    };
    this.inbound.add(conn);
    conn.timer = setTimeout(() => {
      conn.timer = undefined;
      this.log.warn({ remote: conn.remote, code: ERR_HANDSHAKE }, 'no peer hello within 5 s; closing');
      conn.silent = true;
      conn.challenge = undefined;
      socket.destroy();
    }, HANDSHAKE_TIMEOUT_MS);
    socket.on('data', (chunk: Buffer) => this.onInboundData(conn, chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.log.debug({ remote: conn.remote, peer: conn.key, code: err.code }, 'inbound peer connection error');
    });
    socket.on('close', () => {
      if (conn.timer) clearTimeout(conn.timer);
      this.inbound.delete(conn);
      const challenge = conn.challenge;
      if (challenge !== undefined && !conn.silent && !this.closed) {
        // The dialer hung up instead of proving: it could not check our proof, which
        // means it holds none of our secrets (it does not prove to a peer that did not).
        conn.challenge = undefined;
        this.authFailed(conn, challenge.peer, 'the peer hung up at the challenge: it has none of our cluster secrets', true);
      }
      const key = conn.key;
      const conns = key === undefined ? undefined : this.inboundByKey.get(key);
      if (key === undefined || !conns?.delete(conn)) return;
      if (conns.size > 0) return; // another stream from this peer is still open
      this.inboundByKey.delete(key);
      if (conn.silent || this.closed) return;
      this.log.info({ peer: key, remote: conn.remote }, 'inbound peer connection closed');
      this.emit('inbound-down', key);
    });
  }

  private onInboundData(conn: InboundConn, chunk: Buffer): void {
    if (conn.socket.destroyed || (conn.silent && conn.key === undefined)) return;
    this.counters.bytesReceived += chunk.length;
    const opener = conn.opener;
    if (opener === undefined) {
      this.onInboundBytes(conn, chunk);
      return;
    }
    // Nothing of a record is decoded before its MAC checked.
    let payloads: Uint8Array[];
    try {
      payloads = opener.push(chunk);
    } catch (err) {
      this.protocolError(conn, err);
      return;
    }
    for (const payload of payloads) {
      this.onInboundBytes(conn, payload);
      if (conn.socket.destroyed) return;
    }
  }

  private onInboundBytes(conn: InboundConn, chunk: Uint8Array): void {
    let frames: Uint8Array[];
    try {
      frames = conn.decoder.push(chunk);
    } catch (err) {
      this.protocolError(conn, err);
      return;
    }
    for (let i = 0; i < frames.length; i++) {
      let frame: DecodedPeerFrame;
      try {
        frame = decodePeerFrame(frames[i]!);
      } catch (err) {
        this.protocolError(conn, err);
        return;
      }
      if (conn.key === undefined) {
        if (i !== frames.length - 1 || conn.decoder.bufferedBytes > 0) {
          // The dialer must wait for our reply before sending frames.
          this.protocolError(conn, new WireError(ERR_HANDSHAKE, 'frames sent before the hello reply'));
          return;
        }
        if (conn.challenge !== undefined) this.onProof(conn, conn.challenge, frame);
        else this.onHello(conn, frame);
        return;
      }
      // `body` is a getter that scans the message's keys: read it once per frame.
      let body = frame.body;
      if (body === 'fragment') {
        this.counters.fragmentsReceived++;
        let whole: Uint8Array | undefined;
        try {
          whole = conn.assembler!.push(frame.fragment!);
          if (whole === undefined) continue;
          frame = decodePeerFrame(whole);
        } catch (err) {
          this.protocolError(conn, err);
          return;
        }
        body = frame.body;
        if (body === 'fragment') {
          this.protocolError(conn, new FragmentError('a reassembled frame that is itself a fragment'));
          return;
        }
        this.counters.framesReassembled++;
      }
      if (body === 'hello' || body === 'helloReply') {
        this.protocolError(conn, new WireError(ERR_HANDSHAKE, `unexpected ${body} after the handshake`));
        return;
      }
      this.counters.framesReceived++;
      this.emit('frame', conn.key, frame);
      // A listener may have disconnected this peer.
      if (conn.socket.destroyed) return;
    }
  }

  private protocolError(conn: InboundConn, err: unknown): void {
    const code = err instanceof WireError ? err.code : 'ERR_MALFORMED_FRAME';
    const reason = err instanceof Error ? err.message : String(err);
    if (code === 'ERR_AUTH') {
      // A record with a bad MAC: an attacker on the path, or a corrupted stream.
      this.counters.authFailures++;
      this.logAuth({ remote: conn.remote, peer: conn.key, code, reason }, 'bad frame from peer; closing that connection');
      conn.socket.destroy();
      return;
    }
    this.counters.protocolErrors++;
    this.log.warn({ remote: conn.remote, peer: conn.key, code, reason }, 'bad frame from peer; closing that connection');
    conn.socket.destroy();
  }

  private onHello(conn: InboundConn, frame: DecodedPeerFrame): void {
    if (frame.body !== 'hello') {
      this.refuse(conn, ERR_HANDSHAKE, `expected a hello, got ${frame.body ?? 'nothing'}`, undefined);
      return;
    }
    const hello = frame.hello;
    const from = hello.from;
    const peer = from ? peerKeyOf(from) : undefined;
    const protocol = negotiateVersion(hello.protocolMin ?? 0, hello.protocolMax ?? 0, PEER_RANGE);
    if (protocol === undefined) {
      this.refuse(
        conn,
        'ERR_PROTOCOL_VERSION',
        `no common protocol version: peer speaks ${hello.protocolMin}-${hello.protocolMax}, ` +
          `we speak ${PEER_PROTOCOL_MIN}-${PEER_PROTOCOL_MAX}`,
        peer,
      );
      return;
    }
    if (hello.cluster !== this.options.cluster) {
      this.refuse(
        conn,
        'ERR_CLUSTER_MISMATCH',
        `peer belongs to cluster "${hello.cluster}", this daemon to "${this.options.cluster}"`,
        peer,
      );
      return;
    }
    const secrets = this.secrets;
    if (secrets.length > 0 && !hello.hasSecret) {
      this.refuse(conn, 'ERR_AUTH', 'the peer has no cluster secret (--secret); this daemon requires one', peer);
      return;
    }
    if (secrets.length === 0 && hello.hasSecret) {
      this.refuse(conn, 'ERR_AUTH', 'the peer uses a cluster secret; this daemon has none (--secret)', peer);
      return;
    }
    if (!from || !from.name || !from.incarnation || peer === undefined) {
      this.refuse(conn, ERR_HANDSHAKE, 'hello without a daemon name and incarnation', peer);
      return;
    }
    if (peer === this.selfKey) {
      this.refuse(conn, ERR_HANDSHAKE, 'connection to self', peer);
      return;
    }
    const advertise = hello.advertise ?? '';
    if (advertise) {
      try {
        parseHostPort(advertise);
      } catch {
        this.refuse(conn, ERR_HANDSHAKE, `invalid advertise address "${advertise}"`, peer);
        return;
      }
    }
    if (secrets.length === 0) {
      this.acceptConn(conn, peer, protocol, advertise, undefined);
      return;
    }

    // Challenge: our nonce and our proofs; the dialer's proof must come back over both.
    const dialerNonce = hello.nonce ?? new Uint8Array(0);
    if (dialerNonce.length !== NONCE_BYTES) {
      this.refuse(conn, 'ERR_AUTH', 'hello without a valid nonce', peer);
      return;
    }
    const transcript: HandshakeTranscript = {
      cluster: this.options.cluster,
      dialer: { name: from.name, incarnation: from.incarnation },
      advertise,
      acceptor: this.self,
      protocol,
      dialerNonce,
      acceptorNonce: newNonce(),
    };
    conn.challenge = { transcript, peer, protocol, advertise };
    const proofs = secrets.map((s) => proveHandshake(s, 'acceptor', transcript));
    conn.socket.write(
      encodeLengthPrefixed([
        encodePeerFrame({
          helloReply: {
            ok: true,
            challenge: true,
            protocol,
            from: this.self,
            nonce: transcript.acceptorNonce,
            proofs,
          },
        }),
      ]),
    );
  }

  /** The dialer's answer to our challenge: a hello with its proof. */
  private onProof(conn: InboundConn, challenge: PendingChallenge, frame: DecodedPeerFrame): void {
    conn.challenge = undefined;
    const { peer, transcript } = challenge;
    if (frame.body !== 'hello' || peerKeyOf(frame.hello.from!) !== peer) {
      this.refuse(conn, ERR_HANDSHAKE, 'expected the proof of the daemon that said hello', peer);
      return;
    }
    const proof = frame.hello.proof ?? new Uint8Array(0);
    const secret = matchProof(this.secrets, 'dialer', transcript, [proof]);
    if (secret === undefined) {
      this.refuse(conn, 'ERR_AUTH', 'bad proof: wrong cluster secret, or a replayed or forged hello', peer);
      return;
    }
    const key = this.options.tls === undefined ? sessionKey(secret, transcript) : undefined;
    this.acceptConn(conn, peer, challenge.protocol, challenge.advertise, key);
  }

  /** The handshake succeeded: the final reply, then the dialer's frames (as records under `key`). */
  private acceptConn(conn: InboundConn, peer: PeerKey, protocol: number, advertise: string, key: Buffer | undefined): void {
    if (conn.timer) clearTimeout(conn.timer);
    conn.timer = undefined;
    conn.key = peer;
    // After the handshake the peer is authenticated: accept frames up to the full size.
    conn.decoder = new FrameDecoder(this.options.maxFrameBytes);
    conn.assembler = new FragmentAssembler(this.options.maxFrameBytes);
    if (key !== undefined) conn.opener = new RecordOpener(key, this.maxRecordBytes());
    // A second stream from the same peer is not closed here: if it is a redundant seed
    // dial, closing the older one would break the peer's working link; the peer closes
    // whichever it does not use. Frames of a stream that broke and its successor may
    // overlap around the break; the core's per-sender seqs discard duplicates.
    let conns = this.inboundByKey.get(peer);
    if (!conns) {
      conns = new Set();
      this.inboundByKey.set(peer, conns);
    }
    conns.add(conn);
    conn.socket.write(
      encodeLengthPrefixed([encodePeerFrame({ helloReply: { ok: true, protocol, from: this.self } })]),
    );
    this.log.info(
      { peer, remote: conn.remote, advertise, authenticated: this.secrets.length > 0, tls: this.options.tls !== undefined },
      'accepted peer connection',
    );
  }

  /**
   * Largest record a dialer writes: one batch of whole frames (1 MiB, or one frame
   * larger than that) and a fragment's piece.
   */
  private maxRecordBytes(): number {
    return this.options.maxFrameBytes + LENGTH_PREFIX_BYTES + MAX_WRITE_BATCH_BYTES + FRAGMENT_CHUNK_BYTES + 1024;
  }

  private refuse(conn: InboundConn, code: string, reason: string, peer: PeerKey | undefined): void {
    if (conn.timer) clearTimeout(conn.timer);
    conn.silent = true;
    conn.challenge = undefined;
    if (code === 'ERR_AUTH') this.authFailed(conn, peer, reason, false);
    else {
      this.counters.handshakesRefused++;
      this.log.warn({ remote: conn.remote, peer, code, reason }, 'refused peer connection');
    }
    const reply = encodePeerFrame({
      helloReply: { ok: false, errorCode: code, errorMessage: reason, from: this.self },
    });
    conn.socket.end(encodeLengthPrefixed([reply]));
    // If the peer does not close its end, do not keep the socket around.
    conn.timer = setTimeout(() => conn.socket.destroy(), REFUSAL_LINGER_MS);
    conn.timer.unref();
  }

  /** Counts and logs (rate-limited: strangers can provoke it) a failed authentication. */
  private authFailed(conn: InboundConn, peer: PeerKey | undefined, reason: string, hungUp: boolean): void {
    this.counters.handshakesRefused++;
    this.counters.authFailures++;
    this.logAuth({ remote: conn.remote, peer, code: 'ERR_AUTH', reason, ...(hungUp ? { hungUp } : {}) }, 'refused peer connection');
  }

  private logAuth(fields: Record<string, unknown>, msg: string): void {
    const left = this.authLogLimit.take();
    if (left === undefined) return;
    this.log.warn({ ...fields, ...(left > 0 ? { suppressed: left } : {}) }, msg);
  }
}

function newLink(key: PeerKey): OutboundLink {
  return {
    key,
    control: new Lane(),
    data: new Lane(),
    nextSeq: 0,
    cutting: undefined,
    cutOffset: 0,
    cuttingEntries: undefined,
    recentlyCut: new WeakMap(),
    dial: undefined,
    retryTimer: undefined,
    backoffMs: RETRY_MIN_MS,
    lastErrorCode: undefined,
    flushScheduled: false,
    warnedNoAddress: false,
    failedDials: 0,
  };
}

function hasQueued(link: OutboundLink): boolean {
  return !link.control.empty || !link.data.empty || link.cutting !== undefined;
}

/** Bytes queued and not yet written (the unwritten rest of a frame being cut included). */
function queuedBytes(link: OutboundLink): number {
  return link.control.bytes + link.data.bytes + (link.cutting === undefined ? 0 : link.cutting.length - link.cutOffset);
}

/** Empties both lanes and forgets a frame being cut; returns how many frames it dropped. */
function dropQueue(link: OutboundLink): number {
  const dropped = link.control.clear() + link.data.clear() + (link.cutting === undefined ? 0 : 1);
  link.cutting = undefined;
  link.cutOffset = 0;
  link.cuttingEntries = undefined;
  link.recentlyCut = new WeakMap();
  return dropped;
}

/**
 * Retired: the fixed HMAC the hello's `auth` field used to carry (it could be replayed;
 * daemon/peer-auth.ts replaced it). The field is ignored now; kept for tools and tests
 * that build a hello by hand.
 */
export function helloAuth(
  secret: string | undefined,
  cluster: string,
  from: chorus.IDaemonId,
  advertise: string,
): Uint8Array {
  if (secret === undefined) return new Uint8Array(0);
  return createHmac('sha256', secret)
    .update(`${cluster}|${from.name ?? ''}|${from.incarnation ?? ''}|${advertise}`)
    .digest();
}

function normalizeAddress(address: string): string {
  const { host, port } = parseHostPort(address, 'peer address');
  return formatHostPort(host, port);
}

/** ±20 % so that daemons restarted together do not redial in lockstep. */
export function withJitter(ms: number): number {
  return Math.round(ms * (0.8 + Math.random() * 0.4));
}
