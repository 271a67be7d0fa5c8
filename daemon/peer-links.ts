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
//   dialer   → PeerFrame{hello: {protocolMin, protocolMax, cluster, from, advertise, auth}}
//   acceptor → PeerFrame{helloReply: {ok, protocol, errorCode, errorMessage, from}}
//   `auth` = HMAC-SHA256(secret, `${cluster}|${name}|${incarnation}|${advertise}`), empty
//   without a secret. The acceptor refuses an unsupported version (ERR_PROTOCOL_VERSION),
//   another cluster (ERR_CLUSTER_MISMATCH), a bad auth when it has a secret (ERR_AUTH,
//   compared in constant time) and a connection from itself (ERR_HANDSHAKE), logs a warn
//   line with the peer's address and the reason, and closes. The dialer logs the refusal
//   once per distinct error code and retries with backoff (250 ms doubling to 2 s): it
//   never spins. The dialer sends nothing after its hello until the reply has arrived, and
//   the acceptor sends nothing after its reply; data that breaks this rule is a protocol
//   violation and closes the connection. Hellos and replies are limited to 64 KiB, so an
//   unauthenticated peer cannot make us buffer a maximum-size frame.
//   Limits of this scheme (until TLS): the acceptor is not authenticated to the dialer
//   (the reply carries no MAC), and a recorded hello can be replayed; the secret keeps
//   strangers and misconfigured daemons out, not an active attacker on the network.
//
// Writes are batched: frames sent during one turn of the event loop are written with one
// socket.write in a setImmediate flush (after the poll phase, so frames produced while
// handling several incoming chunks share a write). Backpressure: when write returns
// false, the link waits for 'drain' and keeps collecting. A link's queue is bounded
// (64 MiB): beyond that the queue is dropped, the stream broken and an error logged.
//
// Any malformed or oversized frame closes that one connection (warn log with the typed
// error's code); the daemon carries on. Errors thrown by event listeners are not caught
// here: a broken invariant in the core stops the daemon (STYLE.md).

import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, connect as netConnect } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';

import { EventEmitter } from 'eventemitter3';

import { WireError } from '../src/errors.js';
import {
  FrameDecoder,
  PROTOCOL_MAX,
  PROTOCOL_MIN,
  decodePeerFrame,
  encodeLengthPrefixed,
  encodePeerFrame,
  negotiateVersion,
} from '../src/wire/index.js';
import type { DecodedPeerFrame, chorus } from '../src/wire/index.js';
import { formatHostPort, parseHostPort } from './config.js';
import type { Logger } from './logger.js';
import { listenOn } from './listen.js';

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
  /** Largest frame accepted or sent after the handshake. */
  readonly maxFrameBytes: number;
  /** Shared cluster secret (undefined: hellos carry no auth and none is checked). */
  readonly secret?: string;
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
  /** Inbound connections refused at the handshake. */
  handshakesRefused: number;
  /** Connections closed for a malformed, oversized or out-of-protocol frame. */
  protocolErrors: number;
}

/** Limits (TigerStyle: a limit on everything). */
export const HANDSHAKE_TIMEOUT_MS = 5_000;
export const HANDSHAKE_MAX_FRAME_BYTES = 64 * 1024;
export const MAX_QUEUE_BYTES = 64 * 1024 * 1024;
export const RETRY_MIN_MS = 250;
export const RETRY_MAX_MS = 2_000;
/** Largest single socket.write: bounds the copy made by encodeLengthPrefixed. */
const MAX_WRITE_BATCH_BYTES = 1024 * 1024;
/** Accepted connections at once (handshaking or not): bounds what strangers can hold. */
export const MAX_INBOUND_CONNECTIONS = 1024;
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

interface DialHandlers {
  onOpen(id: chorus.IDaemonId): void;
  onFail(failure: DialFailure): void;
  onClose(): void;
}

const NO_HANDLERS: DialHandlers = { onOpen() {}, onFail() {}, onClose() {} };

/** One outbound TCP connection: connect, hello, wait for the reply, then send only. */
class Dial {
  readonly socket: Socket;
  state: 'connecting' | 'handshaking' | 'open' | 'failed' = 'connecting';
  /** socket.write returned false: wait for 'drain' before the next write. */
  draining = false;
  handlers: DialHandlers;
  private readonly decoder = new FrameDecoder(HANDSHAKE_MAX_FRAME_BYTES);
  private failure: DialFailure | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly address: string,
    hello: Uint8Array,
    private readonly selfKey: PeerKey,
    private readonly log: Logger,
    private readonly onProtocolError: () => void,
    handlers: DialHandlers,
  ) {
    this.handlers = handlers;
    const { host, port } = parseHostPort(address, 'peer address');
    this.socket = netConnect({ host, port, noDelay: true });
    this.socket.setNoDelay(true);
    this.socket.setKeepAlive(true, KEEPALIVE_DELAY_MS);
    // Covers connect and handshake: a black-holed address must not hang a link for the
    // OS connect timeout (minutes).
    this.timer = setTimeout(() => {
      this.fail({ code: 'ETIMEDOUT', message: 'no handshake reply within 5 s', refused: false });
    }, HANDSHAKE_TIMEOUT_MS);
    this.socket.on('connect', () => {
      if (this.state !== 'connecting') return;
      this.state = 'handshaking';
      this.socket.write(encodeLengthPrefixed([hello]));
    });
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err: NodeJS.ErrnoException) => {
      this.failure ??= { code: err.code ?? 'ECONNERROR', message: err.message, refused: false };
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

  private onData(chunk: Buffer): void {
    if (this.state !== 'handshaking') {
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
    if (!(protocol >= PROTOCOL_MIN && protocol <= PROTOCOL_MAX)) {
      this.fail({ code: 'ERR_PROTOCOL_VERSION', message: `peer chose unsupported version ${protocol}`, refused: true });
      return;
    }
    clearTimeout(this.timer);
    this.state = 'open';
    this.handlers.onOpen({ name: from.name, incarnation: from.incarnation });
  }
}

/** The outbound side of one peer: its queue and its (at most one) connection. */
interface OutboundLink {
  readonly key: PeerKey;
  queue: Uint8Array[];
  queuedBytes: number;
  dial: Dial | undefined;
  retryTimer: NodeJS.Timeout | undefined;
  backoffMs: number;
  /** Last error code logged, to log each distinct error once. */
  lastErrorCode: string | undefined;
  flushScheduled: boolean;
  /** The address of this peer was unknown when frames were queued (warned once). */
  warnedNoAddress: boolean;
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
  decoder: FrameDecoder;
  key: PeerKey | undefined;
  timer: NodeJS.Timeout | undefined;
  /** Closing without an `inbound-down` (refused, replaced, disconnected on request). */
  silent: boolean;
}

export class PeerLinks extends EventEmitter<PeerLinksEvents> {
  private readonly options: PeerLinksOptions;
  private readonly log: Logger;
  private selfKey: PeerKey;
  private self: { name: string; incarnation: string };
  private server: Server | undefined;
  private advertiseAddress: string | undefined;
  private closed = false;

  private readonly links = new Map<PeerKey, OutboundLink>();
  private readonly addresses = new Map<PeerKey, string>();
  private readonly seeds = new Map<string, SeedDial>();
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
    handshakesRefused: 0,
    protocolErrors: 0,
  };

  constructor(options: PeerLinksOptions) {
    super();
    if (!options.self.name || !options.self.incarnation) {
      throw new TypeError('PeerLinks: self needs a name and an incarnation');
    }
    this.options = options;
    this.self = { name: options.self.name, incarnation: options.self.incarnation };
    this.selfKey = peerKeyOf(this.self);
    this.log = options.logger.child({ component: 'peer-links' });
    if (options.advertise !== undefined) this.advertiseAddress = normalizeAddress(options.advertise);
  }

  /** Binds the listener; returns the actual `host:port`. */
  async listen(): Promise<string> {
    if (this.server) throw new Error('PeerLinks.listen called twice');
    const { host, port } = parseHostPort(this.options.listen, 'peer listen address');
    const server = createServer({ noDelay: true }, (socket) => this.onAccept(socket));
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
    this.log.info({ listen: actual, advertise: this.advertiseAddress }, 'peer links listening');
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
    this.addresses.set(peer, normalized);
    const link = this.links.get(peer);
    if (link && link.queue.length > 0 && !link.dial && !link.retryTimer) this.connectLink(link);
  }

  /** True when frames sent to `peer` are flowing (outbound handshake done). */
  isUp(peer: PeerKey): boolean {
    return this.links.get(peer)?.dial?.state === 'open';
  }

  /** Bytes waiting to go to `peer`: our queue plus the socket's buffer. */
  bufferedBytes(peer: PeerKey): number {
    const link = this.links.get(peer);
    if (!link) return 0;
    return link.queuedBytes + (link.dial?.socket.writableLength ?? 0);
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
    const bytes = encodePeerFrame(frame);
    if (bytes.length > this.options.maxFrameBytes) {
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
    if (link.queuedBytes + bytes.length > MAX_QUEUE_BYTES) {
      // Keeps the FIFO promise: drop the queue AND break the stream, so the core sees
      // peer-down and resends after reconnecting, instead of a silent gap.
      const dropped = link.queue.length + 1;
      this.counters.framesDropped += dropped;
      this.log.error(
        { peer, queuedBytes: link.queuedBytes, frames: dropped, maxQueueBytes: MAX_QUEUE_BYTES },
        'peer link queue overflow: dropping its queue and breaking the link',
      );
      link.queue = [];
      link.queuedBytes = 0;
      link.dial?.fail({ code: 'ERR_QUEUE_OVERFLOW', message: 'send queue overflow', refused: false });
      return false;
    }
    link.queue.push(bytes);
    link.queuedBytes += bytes.length;
    if (link.dial?.state === 'open') this.scheduleFlush(link);
    else if (!link.dial && !link.retryTimer) this.connectLink(link);
    return true;
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
    this.log.info({ incarnation: self.incarnation }, 'new incarnation: links reset');
  }

  /**
   * Closes both directions for `peer` and drops its queue. Emits nothing (the caller
   * asked). The address stays known: a later send() dials again.
   */
  disconnect(peer: PeerKey): void {
    const link = this.links.get(peer);
    if (link) {
      this.links.delete(peer);
      if (link.retryTimer) clearTimeout(link.retryTimer);
      link.dial?.abandon();
      link.queue = [];
      link.queuedBytes = 0;
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

  /** Stops listening and closes every connection. Emits nothing afterwards. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const peer of [...this.links.keys()]) this.disconnect(peer);
    for (const address of [...this.seeds.keys()]) this.forgetSeed(address);
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

  private helloBytes(): Uint8Array {
    const cluster = this.options.cluster;
    const advertise = this.advertise;
    return encodePeerFrame({
      hello: {
        protocolMin: PROTOCOL_MIN,
        protocolMax: PROTOCOL_MAX,
        cluster,
        from: this.self,
        advertise,
        auth: helloAuth(this.options.secret, cluster, this.self, advertise),
      },
    });
  }

  private newDial(address: string, handlers: DialHandlers): Dial {
    return new Dial(address, this.helloBytes(), this.selfKey, this.log, () => this.counters.protocolErrors++, handlers);
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
        this.scheduleRetry(link);
      },
      onClose: () => {},
    });
    link.dial = dial;
  }

  private openLink(link: OutboundLink, dial: Dial, id: chorus.IDaemonId, address: string): void {
    link.dial = dial;
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
    if (link.queue.length > 0) this.scheduleFlush(link);
    this.emit('peer-up', link.key, id, address);
  }

  private onLinkClosed(link: OutboundLink, dial: Dial): void {
    if (link.dial !== dial) return;
    link.dial = undefined;
    if (this.closed) return;
    this.log.info({ peer: link.key }, 'peer link down');
    this.scheduleRetry(link);
    this.emit('peer-down', link.key);
  }

  private scheduleRetry(link: OutboundLink): void {
    if (this.closed || link.retryTimer || link.dial || link.queue.length === 0) return;
    if (this.links.get(link.key) !== link) return;
    const delay = withJitter(link.backoffMs);
    link.backoffMs = Math.min(link.backoffMs * 2, RETRY_MAX_MS);
    link.retryTimer = setTimeout(() => {
      link.retryTimer = undefined;
      // Keeps retrying only while there is something to send.
      if (link.queue.length > 0 && this.links.get(link.key) === link) this.connectLink(link);
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

  private flush(link: OutboundLink): void {
    const dial = link.dial;
    if (!dial || dial.state !== 'open' || dial.draining || this.closed) return;
    while (link.queue.length > 0) {
      let count = 0;
      let bytes = 0;
      for (const frame of link.queue) {
        if (count > 0 && bytes + frame.length > MAX_WRITE_BATCH_BYTES) break;
        count++;
        bytes += frame.length;
      }
      const batch = count === link.queue.length ? link.queue : link.queue.slice(0, count);
      link.queue = count === link.queue.length ? [] : link.queue.slice(count);
      link.queuedBytes -= bytes;
      const data = encodeLengthPrefixed(batch);
      this.counters.framesSent += count;
      this.counters.batchesWritten++;
      this.counters.bytesWritten += data.length;
      if (!dial.socket.write(data)) {
        dial.draining = true;
        return;
      }
    }
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
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_DELAY_MS);
    const conn: InboundConn = {
      socket,
      remote: formatHostPort(socket.remoteAddress ?? '?', socket.remotePort ?? 0),
      decoder: new FrameDecoder(HANDSHAKE_MAX_FRAME_BYTES),
      key: undefined,
      timer: undefined,
      silent: false,
    };
    this.inbound.add(conn);
    conn.timer = setTimeout(() => {
      conn.timer = undefined;
      this.log.warn({ remote: conn.remote, code: ERR_HANDSHAKE }, 'no peer hello within 5 s; closing');
      conn.silent = true;
      socket.destroy();
    }, HANDSHAKE_TIMEOUT_MS);
    socket.on('data', (chunk: Buffer) => this.onInboundData(conn, chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.log.debug({ remote: conn.remote, peer: conn.key, code: err.code }, 'inbound peer connection error');
    });
    socket.on('close', () => {
      if (conn.timer) clearTimeout(conn.timer);
      this.inbound.delete(conn);
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
        this.onHello(conn, frame);
        return;
      }
      if (frame.body === 'hello' || frame.body === 'helloReply') {
        this.protocolError(conn, new WireError(ERR_HANDSHAKE, `unexpected ${frame.body} after the handshake`));
        return;
      }
      this.counters.framesReceived++;
      this.emit('frame', conn.key, frame);
      // A listener may have disconnected this peer.
      if (conn.socket.destroyed) return;
    }
  }

  private protocolError(conn: InboundConn, err: unknown): void {
    this.counters.protocolErrors++;
    const code = err instanceof WireError ? err.code : 'ERR_MALFORMED_FRAME';
    this.log.warn(
      { remote: conn.remote, peer: conn.key, code, reason: err instanceof Error ? err.message : String(err) },
      'bad frame from peer; closing that connection',
    );
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
    const protocol = negotiateVersion(hello.protocolMin ?? 0, hello.protocolMax ?? 0);
    if (protocol === undefined) {
      this.refuse(
        conn,
        'ERR_PROTOCOL_VERSION',
        `no common protocol version: peer speaks ${hello.protocolMin}-${hello.protocolMax}, ` +
          `we speak ${PROTOCOL_MIN}-${PROTOCOL_MAX}`,
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
    if (this.options.secret !== undefined) {
      const expected = helloAuth(this.options.secret, hello.cluster, from ?? {}, hello.advertise ?? '');
      const given = hello.auth ?? new Uint8Array(0);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        this.refuse(conn, 'ERR_AUTH', 'bad cluster secret', peer);
        return;
      }
    }
    if (!from || !from.name || !from.incarnation || peer === undefined) {
      this.refuse(conn, ERR_HANDSHAKE, 'hello without a daemon name and incarnation', peer);
      return;
    }
    if (peer === this.selfKey) {
      this.refuse(conn, ERR_HANDSHAKE, 'connection to self', peer);
      return;
    }
    if (hello.advertise) {
      try {
        parseHostPort(hello.advertise);
      } catch {
        this.refuse(conn, ERR_HANDSHAKE, `invalid advertise address "${hello.advertise}"`, peer);
        return;
      }
    }

    if (conn.timer) clearTimeout(conn.timer);
    conn.timer = undefined;
    conn.key = peer;
    // After the handshake the peer is authenticated: accept frames up to the full size.
    conn.decoder = new FrameDecoder(this.options.maxFrameBytes);
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
    this.log.info({ peer, remote: conn.remote, advertise: hello.advertise }, 'accepted peer connection');
  }

  private refuse(conn: InboundConn, code: string, reason: string, peer: PeerKey | undefined): void {
    this.counters.handshakesRefused++;
    this.log.warn({ remote: conn.remote, peer, code, reason }, 'refused peer connection');
    if (conn.timer) clearTimeout(conn.timer);
    conn.silent = true;
    const reply = encodePeerFrame({
      helloReply: { ok: false, errorCode: code, errorMessage: reason, from: this.self },
    });
    conn.socket.end(encodeLengthPrefixed([reply]));
    // If the peer does not close its end, do not keep the socket around.
    conn.timer = setTimeout(() => conn.socket.destroy(), REFUSAL_LINGER_MS);
    conn.timer.unref();
  }
}

function newLink(key: PeerKey): OutboundLink {
  return {
    key,
    queue: [],
    queuedBytes: 0,
    dial: undefined,
    retryTimer: undefined,
    backoffMs: RETRY_MIN_MS,
    lastErrorCode: undefined,
    flushScheduled: false,
    warnedNoAddress: false,
  };
}

/** HMAC-SHA256 of the hello fields under the cluster secret; empty without a secret. */
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
function withJitter(ms: number): number {
  return Math.round(ms * (0.8 + Math.random() * 0.4));
}
