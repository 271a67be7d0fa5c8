// ClientGateway: the WebSocket server SDK clients connect to (API.md "Client SDK").
//
// Protocol: binary WebSocket messages only; each client message is one ClientFrame
// (a batch of requests), each daemon message one DaemonFrame (a batch of events).
//   - The first frame must start with a `hello` request (ClientHello): a version range
//     and, when the daemon requires one (--client-token), the token. The gateway answers
//     DaemonFrame{events:[{helloOk:{clientId, daemon, protocol, maxMessageBytes}}]}, or a
//     failed Reply {req, ok:false, errorCode, errorMessage} and closes with 1008.
//   - After the hello every request is emitted as `request`, in arrival order (requests of
//     one frame in frame order); the driver answers through send().
//   - Events for a client are queued and written once per turn of the event loop as one
//     DaemonFrame (batched); bufferedBytes() exposes the backlog.
//   - Slow-consumer policy (issue 4): a client whose backlog (queued events plus ws's
//     buffer) passes `clientBufferBytes` is expelled: its queued events are dropped, it
//     is sent an EXPELLED signal ('slow-consumer') for each of its groups, closed with
//     4008 'slow consumer', and `disconnect` is emitted with reason 'slow-consumer' at
//     once (not when the socket finally closes), so its groups move on without it.
// A malformed frame (1002), a text message (1003), an oversized message (1009, enforced by
// ws's maxPayload = maxMessageBytes + 64 KiB) or a missing hello (1008) closes that one
// client, with a warn log naming the error code and the client; nothing else is affected.
// Payloads are never logged. A client that stops answering pings is terminated.
//
// Plain HTTP requests on the same port (no upgrade) go to StaticFiles: GET /chorus.js is
// the SDK's browser bundle, and with `serveDir` (--serve-dir) other paths are files of
// that directory, so a page and the daemon it talks to share one origin.
//
// Errors thrown by event listeners are not caught here: a broken invariant in the core
// stops the daemon (STYLE.md).

import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

import { EventEmitter } from 'eventemitter3';
import { WebSocketServer } from 'ws';
import type { RawData, WebSocket } from 'ws';

import { WireError, invariant } from '../src/errors.js';
import { chorus, decodeClientRequest, encodeDaemonFrame, negotiateVersion, splitClientFrame } from '../src/wire/index.js';
import { formatHostPort, parseHostPort } from './config.js';
import type { Logger } from './logger.js';
import { LogLimiter } from './peer-auth.js';
import { StaticFiles, defaultBrowserBundleFile } from './static-files.js';
import { gatewayServerOptions, type TlsMaterial } from './tls.js';

export type ClientRequest = chorus.ClientRequest.$Shape;

export interface ClientGatewayOptions {
  /** `host:port`; port 0 picks a free port. */
  readonly listen: string;
  /** Largest multicast payload; ws refuses messages above this plus 64 KiB of framing. */
  readonly maxMessageBytes: number;
  /** Token clients must present (undefined: none required). */
  readonly token?: string;
  /** Serve `wss://` with this certificate (undefined: `ws://`); plaintext is then refused. */
  readonly tls?: TlsMaterial;
  readonly daemonName: string;
  /** A cluster-unique id for a new client named `name`. */
  readonly makeClientId: (name: string) => string;
  readonly logger: Logger;
  /**
   * Slow-consumer bound: a client whose backlog (queued events plus ws's buffer) exceeds
   * it is expelled. Default 64 MiB (--client-buffer-bytes).
   */
  readonly clientBufferBytes?: number;
  /**
   * The groups `clientId` is a member of, each told EXPELLED when it is expelled. The
   * driver answers from the core's group table (default: none).
   */
  readonly groupsOf?: (clientId: string) => readonly string[];
  /** Connections at once, after their hello (default 10,000). */
  readonly maxClients?: number;
  /** Directory served over plain HTTP on this port (--serve-dir; default: none). */
  readonly serveDir?: string;
  /** The SDK bundle served at /chorus.js (default: dist/browser/chorus-client.js if built). */
  readonly browserBundleFile?: string;
}

/** Why the gateway itself expelled a client (the reason its groups' EXPELLED signal carries). */
export type ExpelReason = 'slow-consumer';

export interface ClientGatewayEvents {
  /** A client completed its hello. */
  /** `protocol`: the client protocol version agreed in the hello. */
  connect: (clientId: string, name: string, protocol: number) => void;
  /** A request after the hello, in arrival order. */
  request: (clientId: string, request: ClientRequest) => void;
  /**
   * A client that had connected is gone (whoever closed it); `expelled` is set when the
   * gateway expelled it (its socket may still be draining the close).
   */
  disconnect: (clientId: string, expelled?: ExpelReason) => void;
}

/** WebSocket close codes (RFC 6455 §7.4.1; 4000-4999 are private use). */
export const CLOSE_CODES = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  unsupportedData: 1003,
  policyViolation: 1008,
  messageTooBig: 1009,
  /** A connection cap is reached (RFC 6455 1013): the client may retry later. */
  tryAgainLater: 1013,
  /** Expelled by the slow-consumer policy; the SDK maps it to ERR_SLOW_CONSUMER. */
  slowConsumer: 4008,
} as const;

/** Limits (TigerStyle: a limit on everything). */
export const HELLO_TIMEOUT_MS = 5_000;
export const PING_INTERVAL_MS = 15_000;
const FRAMING_ALLOWANCE_BYTES = 64 * 1024;
/** Largest estimated DaemonFrame written at once (a single larger event goes alone). */
const MAX_BATCH_BYTES = 1024 * 1024;
const MAX_CLIENT_NAME_CHARS = 128;
const CLOSE_GRACE_MS = 1_000;
/** A connection's first frame (its hello) may be at most this big. */
export const PRE_HELLO_MAX_BYTES = 8 * 1024;
/** Connections that have not completed their hello, in all and from one address. */
export const MAX_HANDSHAKING_CLIENTS = 256;
export const MAX_HANDSHAKING_PER_SOURCE = 32;
export const DEFAULT_MAX_CLIENTS = 10_000;
/** An HTTP upgrade request must arrive whole within this. */
const HEADER_TIMEOUT_MS = 5_000;
/** WebSocket framing and masking around the hello frame. */
const FRAME_HEADER_ALLOWANCE_BYTES = 1024;
/**
 * Requests in one client frame (the SDK packs at most MAX_REQUESTS_PER_FRAME too): past
 * it the frame is refused before any is decoded.
 */
export const MAX_REQUESTS_PER_FRAME = 65_536;
/** Requests applied before the gateway yields to the event loop. */
const REQUESTS_PER_SLICE = 512;
export const DEFAULT_CLIENT_BUFFER_BYTES = 64 * 1024 * 1024;
/**
 * An expelled slow consumer's close frame sits behind its backlog: a client that was only
 * paused (a long GC, a blocked event loop) gets this long to read its expulsion and the
 * close reason. Meanwhile the memory held is what ws already buffered, within the bound.
 */
const SLOW_CONSUMER_CLOSE_GRACE_MS = 10_000;

interface ClientConn {
  readonly ws: WebSocket;
  readonly remote: string;
  /** The remote address without the port (for the per-source cap). */
  readonly source: string;
  id: string | undefined;
  /** The name given in the hello (for logs). */
  name: string;
  queue: chorus.IDaemonEvent[];
  queuedBytes: number;
  flushScheduled: boolean;
  closing: boolean;
  alive: boolean;
  helloTimer: NodeJS.Timeout | undefined;
  closeTimer: NodeJS.Timeout | undefined;
  /** Frames read and not yet fully applied (the first one in progress); see drainInbox. */
  inbox: InboxFrame[];
  /** A frame is being applied in slices (drainInbox). */
  slicing: boolean;
  /** The core asked to stop reading this client (its credit is used up). */
  flowPaused: boolean;
  /** The socket is paused (slicing or flowPaused). */
  paused: boolean;
}

interface InboxFrame {
  readonly bytes: Uint8Array;
  /** [start, end) of each request, once split. */
  ranges: Uint32Array | undefined;
  /** The next request to apply. */
  next: number;
}

export class ClientGateway extends EventEmitter<ClientGatewayEvents> {
  private readonly options: ClientGatewayOptions;
  private readonly log: Logger;
  private readonly tokenDigest: Buffer | undefined;
  private server: WebSocketServer | undefined;
  /** With TLS: the https server under the WebSocket server (ws does not close it). */
  private httpServer: HttpServer | undefined;
  private readonly maxClients: number;
  /** Connections refused by a cap; one warn line about them per 10 s at most. */
  private refused = 0;
  private readonly refusedLogLimit = new LogLimiter(1);
  private pingTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly conns = new Set<ClientConn>();
  private readonly clients = new Map<string, ClientConn>();
  private readonly clientBufferBytes: number;

  constructor(options: ClientGatewayOptions) {
    super();
    this.options = options;
    this.clientBufferBytes = options.clientBufferBytes ?? DEFAULT_CLIENT_BUFFER_BYTES;
    this.maxClients = options.maxClients ?? DEFAULT_MAX_CLIENTS;
    // The config checks this with a friendlier message; here it guards other callers.
    invariant(
      this.clientBufferBytes > options.maxMessageBytes,
      `clientBufferBytes (${this.clientBufferBytes}) must exceed maxMessageBytes (${options.maxMessageBytes})`,
    );
    this.log = options.logger.child({ component: 'client-gateway' });
    this.tokenDigest = options.token !== undefined ? digest(options.token) : undefined;
  }

  /** Starts the WebSocket server; returns the actual `host:port`. */
  async listen(): Promise<string> {
    if (this.server) throw new Error('ClientGateway.listen called twice');
    const { host, port } = parseHostPort(this.options.listen, 'client gateway address');
    const common = {
      maxPayload: this.options.maxMessageBytes + FRAMING_ALLOWANCE_BYTES,
      perMessageDeflate: false,
      clientTracking: false,
    };
    // Our own HTTP(S) server under ws, so its timeouts and connection cap are ours: a
    // connection that never completes its upgrade is dropped after HEADER_TIMEOUT_MS.
    // TLS: wss:// through an https server; a plaintext client fails its TLS handshake.
    const checking = { connectionsCheckingInterval: 1_000 };
    const https = this.options.tls === undefined ? undefined : createHttpsServer({ ...gatewayServerOptions(this.options.tls), ...checking });
    if (https !== undefined) {
      https.on('tlsClientError', (err: NodeJS.ErrnoException, socket) => {
        this.log.debug({ code: err.code, reason: err.message }, 'client TLS handshake failed');
        socket.destroy();
      });
    }
    const http: HttpServer = https ?? createHttpServer(checking);
    http.headersTimeout = HEADER_TIMEOUT_MS;
    http.requestTimeout = HEADER_TIMEOUT_MS;
    http.maxConnections = this.maxClients + MAX_HANDSHAKING_CLIENTS;
    this.httpServer = http;
    const bundleFile = this.options.browserBundleFile ?? defaultBrowserBundleFile();
    const staticFiles = new StaticFiles({
      logger: this.log,
      ...(bundleFile !== undefined ? { bundleFile } : {}),
      ...(this.options.serveDir !== undefined ? { root: this.options.serveDir } : {}),
    });
    http.on('request', (req, res) => staticFiles.handle(req, res));
    const server = new WebSocketServer({ server: http, ...common });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      server.once('listening', () => {
        server.off('error', onError);
        resolve();
      });
      http.listen(port, host);
    });
    server.on('error', (err) => this.log.error({ err }, 'client gateway error'));
    server.on('wsClientError', (err, socket) => {
      this.log.debug({ code: (err as NodeJS.ErrnoException).code }, 'bad WebSocket upgrade');
      socket.destroy();
    });
    server.on('connection', (ws, req) => {
      const remote = formatHostPort(req.socket.remoteAddress ?? '?', req.socket.remotePort ?? 0);
      this.onConnection(ws, remote, req.socket, req.socket.remoteAddress ?? '?');
    });
    this.pingTimer = setInterval(() => this.pingAll(), PING_INTERVAL_MS);
    this.pingTimer.unref();
    const bound = server.address() as AddressInfo;
    const actual = formatHostPort(bound.address, bound.port);
    this.log.info({ client: actual, tls: https !== undefined, serveDir: this.options.serveDir }, 'client gateway listening');
    return actual;
  }

  /** Connected clients (hello done). */
  get clientCount(): number {
    return this.clients.size;
  }

  /**
   * Queues `event` for the client; written with the other events of this turn. Returns
   * false when the client is gone, or when this event took it past the slow-consumer
   * bound and it was expelled (`disconnect` was emitted, synchronously).
   */
  send(clientId: string, event: chorus.IDaemonEvent): boolean {
    const conn = this.clients.get(clientId);
    if (!conn || conn.closing) return false;
    conn.queue.push(event);
    conn.queuedBytes += estimateEventBytes(event);
    // The policy is checked where the backlog grows, not by a timer scan: a client that
    // stops reading never drains, so an event sent to it finds it over the bound. Two
    // field reads per event.
    const backlogBytes = conn.queuedBytes + conn.ws.bufferedAmount;
    if (backlogBytes > this.clientBufferBytes) {
      this.expelSlowConsumer(conn, clientId, backlogBytes);
      return false;
    }
    if (!conn.flushScheduled) {
      conn.flushScheduled = true;
      setImmediate(() => {
        conn.flushScheduled = false;
        this.flush(conn);
      });
    }
    return true;
  }

  /** Bytes waiting to reach the client: queued events (estimated) plus ws's buffer. */
  bufferedBytes(clientId: string): number {
    const conn = this.clients.get(clientId);
    if (!conn) return 0;
    return conn.queuedBytes + conn.ws.bufferedAmount;
  }

  /** Writes what is queued for the client, then closes it with `code` and `reason`. */
  closeClient(clientId: string, code: number, reason: string): void {
    const conn = this.clients.get(clientId);
    if (!conn) return;
    this.flush(conn);
    this.closeConn(conn, code, reason);
  }

  /** Closes every client (1001) and the server. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.pingTimer) clearInterval(this.pingTimer);
    const closes: Promise<void>[] = [];
    for (const conn of this.conns) {
      // An expelled slow consumer may still be in its long close grace: shutdown waits
      // for no client longer than the usual grace.
      if (conn.closing && conn.closeTimer) {
        clearTimeout(conn.closeTimer);
        conn.closeTimer = setTimeout(() => conn.ws.terminate(), CLOSE_GRACE_MS);
        conn.closeTimer.unref();
      }
      this.flush(conn);
      closes.push(
        new Promise<void>((resolve) => {
          if (conn.ws.readyState === conn.ws.CLOSED) resolve();
          else conn.ws.once('close', () => resolve());
        }),
      );
      this.closeConn(conn, CLOSE_CODES.goingAway, 'daemon shutting down');
    }
    await Promise.all(closes);
    const server = this.server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    const http = this.httpServer;
    if (http) await new Promise<void>((resolve) => http.close(() => resolve()));
    this.log.debug('client gateway closed');
  }

  // ------------------------------------------------------------ connections

  private onConnection(ws: WebSocket, remote: string, socket: Duplex, source: string): void {
    if (this.closed) {
      ws.terminate();
      return;
    }
    const why = this.overCap(source);
    if (why !== undefined) {
      this.refuseConnection(remote, why);
      ws.close(CLOSE_CODES.tryAgainLater, truncateReason(why));
      setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
      return;
    }
    const conn: ClientConn = {
      ws,
      remote,
      source,
      id: undefined,
      name: '',
      queue: [],
      queuedBytes: 0,
      flushScheduled: false,
      closing: false,
      alive: true,
      helloTimer: undefined,
      closeTimer: undefined,
      inbox: [],
      slicing: false,
      flowPaused: false,
      paused: false,
    };
    this.conns.add(conn);
    // Before its hello a connection may send a few KiB only: counted on the socket, so
    // a client cannot make ws buffer a large first message it has no right to send.
    let preHelloBytes = 0;
    const countPreHello = (chunk: Buffer): void => {
      if (conn.id !== undefined) {
        socket.off('data', countPreHello);
        return;
      }
      preHelloBytes += chunk.length;
      if (preHelloBytes > PRE_HELLO_MAX_BYTES + FRAME_HEADER_ALLOWANCE_BYTES) {
        socket.off('data', countPreHello);
        this.log.warn({ remote, code: 'ERR_HANDSHAKE', bytes: preHelloBytes }, 'client sent too much before its hello; dropping it');
        conn.closing = true;
        ws.terminate();
      }
    };
    socket.on('data', countPreHello);
    conn.helloTimer = setTimeout(() => {
      conn.helloTimer = undefined;
      this.log.warn({ remote, code: 'ERR_HANDSHAKE' }, 'no client hello within 5 s; closing');
      this.closeConn(conn, CLOSE_CODES.policyViolation, 'no hello');
    }, HELLO_TIMEOUT_MS);
    ws.on('message', (data, isBinary) => this.onMessage(conn, data, isBinary));
    ws.on('pong', () => {
      conn.alive = true;
    });
    ws.on('error', (err: Error & { code?: string }) => {
      // ws closes the connection itself after these (1009 for an oversized message).
      const code = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'ERR_FRAME_TOO_LARGE' : (err.code ?? 'ERR_WS');
      this.log.warn({ client: conn.id, remote, code, reason: err.message }, 'client connection error; closing it');
    });
    ws.on('close', () => {
      if (conn.helloTimer) clearTimeout(conn.helloTimer);
      if (conn.closeTimer) clearTimeout(conn.closeTimer);
      conn.closing = true;
      conn.queue = [];
      conn.queuedBytes = 0;
      this.conns.delete(conn);
      const id = conn.id;
      if (id === undefined || this.clients.get(id) !== conn) return;
      this.clients.delete(id);
      this.log.debug({ client: id }, 'client disconnected');
      this.emit('disconnect', id);
    });
  }

  private onMessage(conn: ClientConn, data: RawData, isBinary: boolean): void {
    if (conn.closing) return;
    if (!isBinary) {
      this.protocolError(conn, 'ERR_MALFORMED_FRAME', 'text message (frames are binary)', CLOSE_CODES.unsupportedData);
      return;
    }
    const bytes = toBytes(data);
    if (conn.id === undefined && bytes.length > PRE_HELLO_MAX_BYTES) {
      this.protocolError(conn, 'ERR_HANDSHAKE', `first frame of ${bytes.length} bytes (at most ${PRE_HELLO_MAX_BYTES} before the hello)`, CLOSE_CODES.policyViolation);
      return;
    }
    conn.inbox.push({ bytes, ranges: undefined, next: 0 });
    // While an earlier frame is still being applied (the socket is paused, but ws may
    // still emit what it had read), this one waits its turn, so requests keep their order.
    if (conn.inbox.length === 1) this.drainInbox(conn);
  }

  /**
   * Applies the connection's queued frames in slices of REQUESTS_PER_SLICE requests,
   * yielding to the event loop between slices with the socket paused: a frame of millions
   * of tiny requests neither blocks the daemon nor makes it read more from that client.
   */
  private drainInbox(conn: ClientConn): void {
    while (conn.inbox.length > 0) {
      if (conn.closing) {
        conn.inbox = [];
        return;
      }
      const frame = conn.inbox[0]!;
      if (frame.ranges === undefined) {
        try {
          frame.ranges = splitClientFrame(frame.bytes, MAX_REQUESTS_PER_FRAME);
        } catch (err) {
          const code = err instanceof WireError ? err.code : 'ERR_MALFORMED_FRAME';
          const closeCode = code === 'ERR_FRAME_TOO_LARGE' ? CLOSE_CODES.messageTooBig : CLOSE_CODES.protocolError;
          this.protocolError(conn, code, err instanceof Error ? err.message : String(err), closeCode);
          return;
        }
      }
      const ranges = frame.ranges;
      const count = ranges.length / 2;
      const end = Math.min(count, frame.next + REQUESTS_PER_SLICE);
      for (let i = frame.next; i < end; i++) {
        // A listener may have closed this client, or the slow-consumer policy expelled it.
        if (conn.closing) return;
        let request: ClientRequest;
        try {
          request = decodeClientRequest(frame.bytes.subarray(ranges[2 * i]!, ranges[2 * i + 1]!));
        } catch (err) {
          const code = err instanceof WireError ? err.code : 'ERR_MALFORMED_FRAME';
          this.protocolError(conn, code, err instanceof Error ? err.message : String(err), CLOSE_CODES.protocolError);
          return;
        }
        if (conn.id === undefined) {
          if (!this.onHello(conn, request)) return;
          continue;
        }
        if (request.body === 'hello') {
          this.send(conn.id, failedReply(request.req ?? 0, 'ERR_BAD_REQUEST', 'hello was already done'));
          continue;
        }
        this.emit('request', conn.id, request);
      }
      if (conn.id === undefined) {
        // An empty first frame: no hello.
        this.refuse(conn, 0, 'ERR_HANDSHAKE', 'the first request must be hello');
        return;
      }
      frame.next = end;
      if (end < count) {
        conn.slicing = true;
        this.updatePause(conn);
        setImmediate(() => this.drainInbox(conn));
        return;
      }
      conn.inbox.shift();
    }
    conn.slicing = false;
    this.updatePause(conn);
  }

  /**
   * Flow control from the core: while `paused`, the client's socket is not read (TCP
   * pushes back on the application), because its accepted requests not yet sent passed
   * its credit.
   */
  setFlowPaused(clientId: string, paused: boolean): void {
    const conn = this.clients.get(clientId);
    if (!conn) return;
    conn.flowPaused = paused;
    this.updatePause(conn);
  }

  /** The socket is read unless a frame is being applied in slices or flow control holds it. */
  private updatePause(conn: ClientConn): void {
    if (conn.closing) return;
    const want = conn.slicing || conn.flowPaused;
    if (want === conn.paused) return;
    conn.paused = want;
    if (want) conn.ws.pause();
    else conn.ws.resume();
  }

  /** Checks the hello; on success registers the client and answers helloOk. */
  private onHello(conn: ClientConn, first: ClientRequest): boolean {
    const req = first?.req ?? 0;
    if (first?.body !== 'hello') {
      this.refuse(conn, req, 'ERR_HANDSHAKE', 'the first request must be hello');
      return false;
    }
    const hello = first.hello;
    const protocol = negotiateVersion(hello.protocolMin ?? 0, hello.protocolMax ?? 0);
    if (protocol === undefined) {
      this.refuse(conn, req, 'ERR_PROTOCOL_VERSION', `no common protocol version with ${hello.protocolMin}-${hello.protocolMax}`);
      return false;
    }
    if (this.tokenDigest !== undefined && !timingSafeEqual(digest(hello.token ?? ''), this.tokenDigest)) {
      this.refuse(conn, req, 'ERR_AUTH', 'bad or missing client token');
      return false;
    }
    const name = hello.name ?? '';
    // eslint-disable-next-line no-control-regex
    if (name.length > MAX_CLIENT_NAME_CHARS || /[\u0000-\u001f\u007f]/.test(name)) {
      this.refuse(conn, req, 'ERR_BAD_REQUEST', `client name must be at most ${MAX_CLIENT_NAME_CHARS} printable characters`);
      return false;
    }
    if (conn.helloTimer) clearTimeout(conn.helloTimer);
    conn.helloTimer = undefined;
    const clientId = this.options.makeClientId(name);
    conn.id = clientId;
    conn.name = name;
    this.clients.set(clientId, conn);
    const helloOk: chorus.IDaemonEvent = {
      helloOk: { clientId, daemon: this.options.daemonName, protocol, maxMessageBytes: this.options.maxMessageBytes },
    };
    // Sent before `connect` is emitted, so it precedes any event the driver sends.
    conn.ws.send(encodeDaemonFrame({ events: [helloOk] }));
    this.log.debug({ client: clientId, remote: conn.remote, protocol }, 'client connected');
    this.emit('connect', clientId, name, protocol);
    return !conn.closing;
  }

  private refuse(conn: ClientConn, req: number, code: string, reason: string): void {
    this.log.warn({ remote: conn.remote, code, reason }, 'refused client hello');
    conn.ws.send(encodeDaemonFrame({ events: [failedReply(req, code, reason)] }));
    this.closeConn(conn, CLOSE_CODES.policyViolation, code);
  }

  private protocolError(conn: ClientConn, code: string, reason: string, closeCode: number): void {
    this.log.warn({ client: conn.id, remote: conn.remote, code, reason }, 'bad frame from client; closing it');
    this.closeConn(conn, closeCode, code);
  }

  /**
   * The slow-consumer policy: `conn` is over the bound. Its groups move on without it
   * (the driver feeds the core `client-disconnect` with `expelled`, so the other members
   * see cause 'expelled') and its queued events are freed at once.
   *
   * The EXPELLED signals name the groups the core lists the client in (`groupsOf`), in
   * the shape the core uses for 'partitioned'. Groups the SDK is still joining get none:
   * their join reply was in the dropped backlog, and the SDK fails that join with the
   * close instead. The signals go after what ws already buffered, so the client reads a
   * prefix of its event stream (never a gap followed by later events), then its
   * expulsion, then the close. That its last view then lacks messages the survivors
   * deliver is allowed: guarantee 2 binds the members that stay.
   */
  private expelSlowConsumer(conn: ClientConn, clientId: string, backlogBytes: number): void {
    const droppedEvents = conn.queue.length;
    conn.queue = [];
    conn.queuedBytes = 0;
    // No longer routable: later events and closes for it are no-ops, and its socket's
    // eventual close emits no second `disconnect`.
    this.clients.delete(clientId);
    const groups = this.options.groupsOf?.(clientId) ?? [];
    this.log.warn(
      {
        client: clientId,
        name: conn.name,
        remote: conn.remote,
        backlogBytes,
        boundBytes: this.clientBufferBytes,
        droppedEvents,
        groups: groups.length,
        code: 'ERR_SLOW_CONSUMER',
      },
      'slow consumer expelled',
    );
    if (groups.length > 0) {
      const events: chorus.IDaemonEvent[] = groups.map((group) => ({
        signal: { group, kind: chorus.GroupSignal.Kind.EXPELLED, reason: 'slow-consumer' },
      }));
      conn.ws.send(encodeDaemonFrame({ events }));
    }
    this.closeConn(conn, CLOSE_CODES.slowConsumer, 'slow consumer', SLOW_CONSUMER_CLOSE_GRACE_MS);
    this.emit('disconnect', clientId, 'slow-consumer');
  }

  private closeConn(conn: ClientConn, code: number, reason: string, graceMs = CLOSE_GRACE_MS): void {
    if (conn.closing) return;
    conn.closing = true;
    conn.queue = [];
    conn.queuedBytes = 0;
    if (conn.helloTimer) clearTimeout(conn.helloTimer);
    conn.helloTimer = undefined;
    conn.ws.close(code, truncateReason(reason));
    // A client that does not answer the close handshake is cut off.
    conn.closeTimer = setTimeout(() => conn.ws.terminate(), graceMs);
    conn.closeTimer.unref();
  }

  private flush(conn: ClientConn): void {
    if (conn.closing || conn.queue.length === 0) return;
    const queue = conn.queue;
    conn.queue = [];
    conn.queuedBytes = 0;
    let start = 0;
    let bytes = 0;
    for (let i = 0; i < queue.length; i++) {
      const size = estimateEventBytes(queue[i]!);
      if (i > start && bytes + size > MAX_BATCH_BYTES) {
        conn.ws.send(encodeDaemonFrame({ events: queue.slice(start, i) }));
        start = i;
        bytes = 0;
      }
      bytes += size;
    }
    conn.ws.send(encodeDaemonFrame({ events: start === 0 ? queue : queue.slice(start) }));
  }

  /** Why a new connection from `source` is over a cap, or undefined. */
  private overCap(source: string): string | undefined {
    let handshaking = 0;
    let fromSource = 0;
    for (const c of this.conns) {
      if (c.id !== undefined || c.closing) continue;
      handshaking += 1;
      if (c.source === source) fromSource += 1;
    }
    if (this.conns.size - handshaking >= this.maxClients) return `too many clients (${this.maxClients})`;
    if (handshaking >= MAX_HANDSHAKING_CLIENTS) return `too many connections without a hello (${MAX_HANDSHAKING_CLIENTS})`;
    if (fromSource >= MAX_HANDSHAKING_PER_SOURCE) return `too many connections without a hello from ${source} (${MAX_HANDSHAKING_PER_SOURCE})`;
    return undefined;
  }

  /** Counted always, logged at most once per 10 s (the lines left out are counted in the next). */
  private refuseConnection(remote: string, why: string): void {
    this.refused += 1;
    const left = this.refusedLogLimit.take();
    if (left === undefined) return;
    this.log.warn({ remote, code: 'ERR_CONNECTION_LIMIT', reason: why, refused: this.refused, suppressed: left }, 'refused client connection');
  }

  /** Connections refused by a cap since start. */
  get refusedConnections(): number {
    return this.refused;
  }

  private pingAll(): void {
    for (const conn of this.conns) {
      if (conn.closing) continue;
      // A paused socket is not read, so its pongs are not either: not a dead client.
      if (conn.paused) {
        conn.alive = true;
        continue;
      }
      if (!conn.alive) {
        this.log.warn({ client: conn.id, remote: conn.remote }, 'client did not answer ping; terminating it');
        conn.ws.terminate();
        continue;
      }
      conn.alive = false;
      conn.ws.ping();
    }
  }
}

function failedReply(req: number, errorCode: string, errorMessage: string): chorus.IDaemonEvent {
  return { reply: { req, ok: false, errorCode, errorMessage } };
}

function digest(token: string): Buffer {
  // Hash first so the comparison is constant-time whatever the lengths.
  return createHash('sha256').update(token, 'utf8').digest();
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data;
}

/** Close reasons are limited to 123 bytes by RFC 6455. */
function truncateReason(reason: string): string {
  let out = reason;
  while (Buffer.byteLength(out) > 123) out = out.slice(0, -1);
  return out;
}

/** Rough encoded size of an event, for batching and the slow-consumer backlog. */
function estimateEventBytes(event: chorus.IDaemonEvent): number {
  const delivery = event.delivery;
  if (delivery) {
    return 64 + (delivery.data?.length ?? 0) + (delivery.group?.length ?? 0) + (delivery.id?.length ?? 0) +
      (delivery.sender?.length ?? 0);
  }
  const view = event.view;
  if (view) {
    let bytes = 64 + (view.group?.length ?? 0);
    for (const list of [view.members, view.joined, view.left]) {
      for (const member of list ?? []) bytes += 4 + member.length;
    }
    return bytes;
  }
  return 128;
}
