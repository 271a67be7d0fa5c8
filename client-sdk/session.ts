// One connection to the local daemon: handshake, request/reply matching, and routing of
// the daemon's events to the groups joined over it (proto/chorus.proto, "SDK <-> daemon"),
// state transfer included (StateJoin for a joiner, StateSender for a provider).
//
// Internal: `Client` and `Group` are the public faces of a session. A session lives for
// one WebSocket; when the socket ends, every pending request fails with the same typed
// error and no group hears anything more. A new connection is a new session with a new
// client id: with `reconnect: true` the Client opens one and rejoins its groups over it
// (see client.ts, group-binding.ts).

import { ChorusError, ConnectionError, HandshakeError, RequestError } from '../src/errors.js';
import { PROTOCOL_MAX, PROTOCOL_MIN, decodeDaemonFrame, encodeClientFrame } from '../src/wire/codec.js';
import { chorus } from '../src/wire/gen/chorus.js';
import { errorCodeFromWire, errorMessageFromWire, expelReasonFromWire, messageFromWire, orderToWire, viewFromWire } from './convert.js';
import { Outbox } from './outbox.js';
import { StateJoin } from './state-join.js';
import { StateSender } from './state-sender.js';
import { openTransport, type Transport } from './transport.js';
import type { ConnectOptions, ExpelReason, Message, Order, StateTransfer, View } from './types.js';

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** Flushes wait while the socket buffers more than this (see Outbox). */
const HIGH_WATER_BYTES = 8 * 1024 * 1024;
/** Frame budget when the daemon announces no message limit. */
const DEFAULT_FRAME_BUDGET_BYTES = 1024 * 1024;
/** `close()` resolves at the latest this long after it was called, even if the socket lingers. */
const CLOSE_WAIT_MS = 1_000;
/** Request ids are uint32 on the wire; 0 means "no request". */
const MAX_REQ = 0xffff_ffff;

// WebSocket close codes. Browsers let a client send only 1000 or 3000-4999, so a
// protocol violation uses a private-use code rather than RFC 6455's 1002.
const CLOSE_NORMAL = 1000;
const CLOSE_PROTOCOL_VIOLATION = 4002;
/** The daemon expelled this client for not reading its events (daemon CLOSE_CODES.slowConsumer). */
const CLOSE_SLOW_CONSUMER = 4008;

/** What the daemon told us in HelloOk. */
export interface HelloInfo {
  clientId: string;
  daemon: string;
  protocol: number;
  /** 0: the daemon announced no limit. */
  maxMessageBytes: number;
}

/** The receiving side of one joined group (implemented by Group). */
export interface GroupSink {
  view(view: View): void;
  message(msg: Message): void;
  block(): void;
  unblock(): void;
  /** `err`: why, when the SDK itself gave up on the group (a failed rejoin). */
  expelled(reason: ExpelReason, err?: ChorusError): void;
  checkpoint(req: { joiner: string }): void;
}

/** What a Group may ask of its session. */
export interface GroupLink {
  readonly maxMessageBytes: number;
  /** Routes the group's events to `sink`; called once, by the Group's constructor. */
  attach(sink: GroupSink): void;
  /** Resolves with the message id. */
  multicast(data: Uint8Array, order: Order, waitDelivered: boolean): Promise<string>;
  leave(): Promise<void>;
}

type DaemonEvent = chorus.DaemonEvent.$Properties;

// A group name's entry: joining until the daemon's reply; with state transfer, then
// receiving the state until install() has run; then a member until the leave reply or
// an expulsion removes it.
interface JoiningSlot {
  phase: 'joining';
  firstView: View | undefined;
  /** State events that came before the join reply (kept for the StateJoin). */
  early: DaemonEvent[];
}
interface TransferSlot {
  phase: 'transfer';
  join: StateJoin;
}
interface MemberSlot {
  phase: 'member';
  sink: GroupSink | undefined;
  /** This member's provide(), when it offers state. */
  provide: StateTransfer['provide'];
  /** While provide() runs: the group's events, held back in order (see #checkpoint). */
  held: DaemonEvent[] | undefined;
}
type Slot = JoiningSlot | TransferSlot | MemberSlot;

interface Pending {
  resolve(reply: chorus.Reply.$Properties): void;
  reject(err: Error): void;
}

type RequestBody =
  | { join: chorus.JoinGroup.$Properties }
  | { leave: chorus.LeaveGroup.$Properties }
  | { multicast: chorus.Multicast.$Properties }
  | { stateChunk: chorus.StateChunk.$Properties }
  | { stateAck: chorus.StateAck.$Properties };

// The inbound stream: daemon events, then possibly the connection's end, in the order
// they happened.
type Inbound = DaemonEvent | { end: ConnectionError };

export class Session {
  #transport: Transport | undefined;
  #outbox: Outbox | undefined;
  #info: HelloInfo | undefined;
  #nextReq = 1;
  readonly #pending = new Map<number, Pending>();
  readonly #groups = new Map<string, Slot>();
  /** Transfers this client provides, by transferKey(). */
  readonly #senders = new Map<string, StateSender>();

  #handshake: { resolve(): void; reject(err: Error): void } | undefined;
  /** Set once the session is over: what every later call fails with. */
  #ended: ConnectionError | undefined;
  #socketClosed = false;
  #onSocketClosed: (() => void) | undefined;

  #inbox: Inbound[] = [];
  #inboxHead = 0;
  #held = false;
  #draining = false;

  /** Called once when the session ends: `err` unless the application closed it. */
  onEnd: (err?: ConnectionError) => void = () => {};

  private constructor() {}

  /**
   * Opens the socket and runs the hello handshake. `signal` aborts the attempt (it then
   * rejects with ConnectionError('ERR_CONNECT')), as the connect timeout does.
   */
  static async open(options: ConnectOptions, signal?: AbortSignal): Promise<Session> {
    const session = new Session();
    await session.#connect(options, signal);
    return session;
  }

  get info(): HelloInfo {
    if (!this.#info) throw new ConnectionError('ERR_CONNECT', 'not connected');
    return this.#info;
  }

  /** The error calls fail with once the session is over, else undefined. */
  get ended(): ConnectionError | undefined {
    return this.#ended;
  }

  /** Whether `name` is joined or being joined over this connection. */
  has(name: string): boolean {
    return this.#groups.has(name);
  }

  // ------------------------------------------------------------ handshake

  async #connect(options: ConnectOptions, signal: AbortSignal | undefined): Promise<void> {
    const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    const onCancel = (): void => abort.abort(new Error('connection attempt cancelled'));
    if (signal?.aborted) onCancel();
    else signal?.addEventListener('abort', onCancel, { once: true });
    try {
      this.#transport = await openTransport(
        options.url,
        { frame: (bytes) => this.#receive(bytes), closed: (info) => this.#closed(info) },
        { WebSocket: options.WebSocket, signal: abort.signal, ...(options.ca !== undefined ? { ca: options.ca } : {}) },
      );
      const answered = new Promise<void>((resolve, reject) => {
        this.#handshake = { resolve, reject };
      });
      const onAbort = () => {
        const reason: unknown = abort.signal.reason;
        const message = reason instanceof Error ? reason.message : String(reason);
        this.#failHandshake(new ConnectionError('ERR_CONNECT', `handshake with ${options.url} failed: ${message}`, { cause: reason }));
      };
      if (abort.signal.aborted) onAbort();
      else abort.signal.addEventListener('abort', onAbort, { once: true });
      // The hello goes alone and at once: nothing else may precede it.
      const hello: chorus.ClientHello.$Properties = {
        protocolMin: PROTOCOL_MIN,
        protocolMax: PROTOCOL_MAX,
        name: options.name,
        token: options.token ?? '',
      };
      this.#transport.send(encodeClientFrame({ requests: [{ req: this.#takeReq(), hello }] }));
      await answered;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onCancel);
    }
  }

  #onHelloOk(ok: chorus.HelloOk.$Properties): void {
    const protocol = ok.protocol ?? 0;
    if (protocol < PROTOCOL_MIN || protocol > PROTOCOL_MAX) {
      this.#failHandshake(
        new HandshakeError('ERR_PROTOCOL_VERSION', `daemon chose protocol ${protocol}, this SDK speaks ${PROTOCOL_MIN}..${PROTOCOL_MAX}`),
      );
      return;
    }
    const maxMessageBytes = ok.maxMessageBytes ?? 0;
    this.#info = { clientId: ok.clientId ?? '', daemon: ok.daemon ?? '', protocol, maxMessageBytes };
    this.#outbox = new Outbox(this.#transport!, {
      frameBudgetBytes: maxMessageBytes > 0 ? maxMessageBytes : DEFAULT_FRAME_BUDGET_BYTES,
      highWaterBytes: HIGH_WATER_BYTES,
    });
    const handshake = this.#handshake!;
    this.#handshake = undefined;
    handshake.resolve();
  }

  /** Ends a session whose handshake has not completed; connect() rejects with `err`. */
  #failHandshake(err: ChorusError): void {
    const handshake = this.#handshake;
    if (!handshake) return;
    this.#handshake = undefined;
    this.#ended = new ConnectionError('ERR_CLOSED', 'the connection was never established', { cause: err });
    this.#transport?.close(CLOSE_NORMAL, err.code);
    handshake.reject(err);
  }

  // ------------------------------------------------------------ requests

  #takeReq(): number {
    const req = this.#nextReq;
    this.#nextReq = req >= MAX_REQ ? 1 : req + 1;
    return req;
  }

  /** Queues one request; `pending` hears its reply or the connection's end. */
  #request(body: RequestBody, pending: Pending): void {
    if (this.#ended) {
      pending.reject(this.#ended);
      return;
    }
    const req = this.#takeReq();
    let frame: Uint8Array;
    try {
      frame = encodeClientFrame({ requests: [{ req, ...body }] });
    } catch (err) {
      // Only reachable from untyped callers (e.g. a group name that is not a string).
      pending.reject(new RequestError('ERR_BAD_REQUEST', `cannot encode the request: ${String(err)}`, { cause: err }));
      return;
    }
    this.#pending.set(req, pending);
    this.#outbox!.push(frame);
  }

  /** Queues one request that gets no reply (req 0: "no request"). */
  #post(body: RequestBody): void {
    if (this.#ended) return;
    this.#outbox!.push(encodeClientFrame({ requests: [{ req: 0, ...body }] }));
  }

  /**
   * Joins `name`. `create` runs when the join completes (the daemon confirmed it and, with
   * `state.install`, the state is installed), synchronously, so the handle exists before
   * any later event of the group is routed.
   */
  join<T>(name: string, create: (view: View, link: GroupLink) => T, state: StateTransfer = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#ended) {
        reject(this.#ended);
        return;
      }
      const { install, provide } = state;
      const joining: JoiningSlot = { phase: 'joining', firstView: undefined, early: [] };
      this.#groups.set(name, joining);
      const forget = (slot: Slot): void => {
        if (this.#groups.get(name) === slot) this.#groups.delete(name);
      };
      const become = (view: View, replay: DaemonEvent[]): void => {
        const member: MemberSlot = { phase: 'member', sink: undefined, provide, held: undefined };
        this.#groups.set(name, member);
        const handle = create(view, this.#link(name, member));
        this.#replay(replay);
        // The application attaches its listeners when its `await join()` resumes,
        // a few microtasks from now. Events that follow (often in the same frame as the
        // reply) wait until then, or they would fire into the void.
        this.#hold();
        resolve(handle);
      };
      this.#request(
        {
          join: {
            group: name,
            wantState: install !== undefined,
            offerState: provide !== undefined,
            ...(install !== undefined && state.waitMs !== undefined ? { stateWaitMs: state.waitMs } : {}),
          },
        },
        {
          resolve: (reply) => {
            forget(joining);
            if (!reply.ok) {
              reject(refused(reply));
              return;
            }
            const firstView = joining.firstView;
            if (!firstView) {
              // This request has left the pending map: reject it by hand.
              reject(this.#protocolViolation(`the daemon confirmed the join of ${JSON.stringify(name)} without a view`));
              return;
            }
            if (!install) {
              become(firstView, []);
              return;
            }
            const transfer: TransferSlot = {
              phase: 'transfer',
              join: new StateJoin(name, this.info.clientId, firstView, install, {
                ack: (ack) => this.#post({ stateAck: ack }),
                complete: (view, replay) => {
                  if (this.#groups.get(name) === transfer) become(view, replay);
                },
                fail: (err, member) => {
                  if (!member || this.#ended) {
                    forget(transfer);
                    reject(err);
                    return;
                  }
                  // Still in the group: leave first, so that a rejected join() means "not
                  // a member" and the application may join again at once.
                  const done = (): void => {
                    forget(transfer);
                    reject(err);
                  };
                  this.#request({ leave: { group: name } }, { resolve: done, reject: done });
                },
              }),
            };
            this.#groups.set(name, transfer);
            for (const event of joining.early) transfer.join.event(event);
          },
          reject: (err) => {
            forget(joining);
            reject(err);
          },
        },
      );
    });
  }

  #link(name: string, slot: MemberSlot): GroupLink {
    return {
      maxMessageBytes: this.info.maxMessageBytes,
      attach: (sink) => {
        slot.sink = sink;
      },
      multicast: (data, order, waitDelivered) =>
        new Promise<string>((resolve, reject) => {
          this.#request(
            { multicast: { group: name, order: orderToWire(order), data, waitDelivered } },
            {
              resolve: (reply) => (reply.ok ? resolve(reply.messageId ?? '') : reject(refused(reply))),
              reject,
            },
          );
        }),
      leave: () =>
        new Promise<void>((resolve, reject) => {
          this.#request(
            { leave: { group: name } },
            {
              resolve: (reply) => {
                if (!reply.ok) {
                  reject(refused(reply));
                  return;
                }
                // Removed before any later event is routed: nothing of the group fires
                // after leave() resolved.
                if (this.#groups.get(name) === slot) this.#groups.delete(name);
                resolve();
              },
              reject,
            },
          );
        }),
    };
  }

  // ------------------------------------------------------------ inbound

  #receive(bytes: Uint8Array): void {
    if (this.#ended) return;
    let frame: chorus.DaemonFrame.$Properties;
    try {
      frame = decodeDaemonFrame(bytes);
    } catch (err) {
      if (this.#handshake) {
        this.#failHandshake(new ConnectionError('ERR_CONNECT', `daemon sent a malformed frame during the handshake`, { cause: err }));
      } else {
        this.#protocolViolation(`daemon sent a malformed frame: ${err instanceof Error ? err.message : String(err)}`, err);
      }
      return;
    }
    const events = frame.events ?? [];
    for (const event of events) this.#inbox.push(event);
    this.#drain();
  }

  #closed(info: { code: number; reason: string; err?: Error }): void {
    this.#socketClosed = true;
    this.#onSocketClosed?.();
    if (this.#handshake) {
      const why = info.err ? info.err.message : `code ${info.code}${info.reason ? `, ${info.reason}` : ''}`;
      this.#failHandshake(new ConnectionError('ERR_CONNECT', `daemon closed the connection during the handshake (${why})`, { cause: info.err }));
      return;
    }
    if (this.#ended) return;
    const why = info.err ? info.err.message : `code ${info.code}${info.reason ? `: ${info.reason}` : ''}`;
    // The daemon's slow-consumer policy: it sent `expelled('slow-consumer')` for each
    // group just before, and the application may want to tell this apart from a crash
    // (read faster, or reconnect and join again).
    const err =
      info.code === CLOSE_SLOW_CONSUMER
        ? new ConnectionError('ERR_SLOW_CONSUMER', `the daemon expelled this client: it did not read its events fast enough (${why})`)
        : new ConnectionError('ERR_DISCONNECTED', `connection to the daemon lost (${why})`, { cause: info.err });
    // Behind any held events: they arrived before the socket closed.
    this.#inbox.push({ end: err });
    this.#drain();
  }

  /** Pauses routing until the next macrotask (see `join`). */
  #hold(): void {
    if (this.#held) return;
    this.#held = true;
    setTimeout(() => {
      this.#held = false;
      this.#drain();
    }, 0);
  }

  #drain(): void {
    if (this.#draining) return; // re-entered from a listener: the outer loop continues
    this.#draining = true;
    try {
      while (!this.#held && !this.#ended && this.#inboxHead < this.#inbox.length) {
        const item = this.#inbox[this.#inboxHead++]!;
        if ('end' in item) this.#end(item.end);
        else this.#dispatch(item);
      }
    } finally {
      this.#draining = false;
      if (this.#inboxHead === this.#inbox.length || this.#ended) {
        this.#inbox = [];
        this.#inboxHead = 0;
      }
    }
  }

  #dispatch(event: chorus.DaemonEvent.$Properties): void {
    if (this.#handshake) {
      if (event.helloOk) this.#onHelloOk(event.helloOk);
      else if (event.reply && !event.reply.ok) this.#failHandshake(new HandshakeError(errorCodeFromWire(event.reply.errorCode, 'ERR_HANDSHAKE'), errorMessageFromWire(event.reply, 'ERR_HANDSHAKE')));
      else this.#failHandshake(new ConnectionError('ERR_CONNECT', 'daemon answered the hello with something other than HelloOk'));
      return;
    }
    if (event.reply) {
      const req = event.reply.req ?? 0;
      const pending = this.#pending.get(req);
      // An unknown req is ignored: its caller can no longer be told anything.
      if (!pending) return;
      this.#pending.delete(req);
      pending.resolve(event.reply);
    } else if (event.stateAck) {
      // Credit for a transfer this client provides: never held back (a checkpoint of the
      // same group must not stall another joiner's transfer).
      const ack = event.stateAck;
      this.#senders.get(transferKey(ack.group ?? '', ack.joiner ?? '', ack.transfer ?? 0))?.credit(ack.chunk ?? 0);
    } else {
      const name = groupOf(event);
      if (name === undefined) return;
      const slot = this.#groups.get(name);
      switch (slot?.phase) {
        case undefined:
          if (event.checkpoint) this.#decline(event.checkpoint, 'the member is not in the group');
          return;
        case 'joining':
          if (event.view) slot.firstView = viewFromWire(event.view); // the view join() resolves with
          else if (event.state) slot.early.push(event);
          else if (event.checkpoint) this.#decline(event.checkpoint, 'the member is still joining');
          // The daemon delivers nothing else to a member before confirming its join.
          return;
        case 'transfer':
          if (event.checkpoint) this.#decline(event.checkpoint, 'the member is still installing its own state');
          else slot.join.event(event);
          return;
        case 'member':
          if (slot.held) slot.held.push(event);
          else this.#route(name, slot, event);
          return;
      }
    }
    // A HelloOk after the handshake, or an event kind a newer daemon added: ignored.
  }

  /** One event of a joined group, to its handle. */
  #route(name: string, slot: MemberSlot, event: DaemonEvent): void {
    if (event.view) {
      slot.sink?.view(viewFromWire(event.view));
    } else if (event.delivery) {
      slot.sink?.message(messageFromWire(event.delivery));
    } else if (event.signal) {
      switch (event.signal.kind ?? 0) {
        case chorus.GroupSignal.Kind.BLOCK:
          slot.sink?.block();
          break;
        case chorus.GroupSignal.Kind.UNBLOCK:
          slot.sink?.unblock();
          break;
        case chorus.GroupSignal.Kind.EXPELLED:
          this.#groups.delete(name);
          slot.sink?.expelled(expelReasonFromWire(event.signal.reason));
          break;
      }
    } else if (event.checkpoint) {
      this.#checkpoint(name, slot, event.checkpoint);
    }
    // A state event for a member (e.g. a late duplicate): nothing to do.
  }

  /** Puts `events` back at the head of the inbound stream, ahead of what came later. */
  #replay(events: DaemonEvent[]): void {
    if (events.length === 0) return;
    const rest = this.#inbox.slice(this.#inboxHead);
    this.#inbox = (events as Inbound[]).concat(rest);
    this.#inboxHead = 0;
  }

  // ------------------------------------------------------------ state transfer: provider

  /**
   * A checkpoint request: this member provides the state for `joiner`. The checkpoint
   * event fires, then provide() runs; until it has returned, the group's later events
   * are held back, so the state it returns is the state at exactly this point of the
   * group's sequence (guarantee 6). Its chunks then flow while events flow again.
   */
  #checkpoint(name: string, slot: MemberSlot, checkpoint: chorus.Checkpoint.$Properties): void {
    const joiner = checkpoint.joiner ?? '';
    const transfer = checkpoint.transfer ?? 0;
    const provide = slot.provide;
    if (!provide) {
      this.#decline(checkpoint, 'the member joined without provide()');
      return;
    }
    slot.sink?.checkpoint({ joiner });
    const key = transferKey(name, joiner, transfer);
    this.#senders.get(key)?.stop();
    const sender = new StateSender(
      {
        send: (chunk, refusedChunk) =>
          this.#request({ stateChunk: chunk }, { resolve: (reply) => (reply.ok ? undefined : refusedChunk()), reject: () => refusedChunk() }),
      },
      { group: name, joiner, provider: this.info.clientId, transfer },
    );
    this.#senders.set(key, sender);
    const finished = (): void => {
      if (this.#senders.get(key) === sender) this.#senders.delete(key);
    };
    let result: unknown;
    try {
      result = provide();
    } catch (err) {
      sender.fail(err);
      finished();
      return;
    }
    if (!isPromiseLike(result)) {
      void sender.send(result).finally(finished);
      return;
    }
    slot.held = [];
    Promise.resolve(result).then(
      (state) => {
        this.#release(name, slot);
        void sender.send(state).finally(finished);
      },
      (err: unknown) => {
        this.#release(name, slot);
        sender.fail(err);
        finished();
      },
    );
  }

  /** provide() has returned: the events held back since the checkpoint flow again, in order. */
  #release(name: string, slot: MemberSlot): void {
    const held = slot.held ?? [];
    slot.held = undefined;
    // Left meanwhile: nothing of the group fires after leave() resolved.
    if (this.#ended || this.#groups.get(name) !== slot) return;
    this.#replay(held);
    this.#drain();
  }

  /** This client cannot provide the state asked for: the daemon asks another member. */
  #decline(checkpoint: chorus.Checkpoint.$Properties, why: string): void {
    const chunk: chorus.StateChunk.$Properties = {
      group: checkpoint.group ?? '',
      joiner: checkpoint.joiner ?? '',
      provider: this.info.clientId,
      transfer: checkpoint.transfer ?? 0,
      errorCode: 'ERR_PROVIDE_FAILED',
      errorMessage: why,
    };
    this.#request({ stateChunk: chunk }, { resolve: () => {}, reject: () => {} });
  }

  // ------------------------------------------------------------ the end

  /** The daemon broke the protocol: close the connection, fail everything. */
  #protocolViolation(message: string, cause?: unknown): ConnectionError {
    const err = new ConnectionError('ERR_DISCONNECTED', `closing the connection: ${message}`, { cause });
    this.#end(err);
    this.#transport?.close(CLOSE_PROTOCOL_VIOLATION, 'protocol violation');
    return err;
  }

  /** Ends the session: every pending request fails with `err`, groups hear nothing more. */
  #end(err: ConnectionError, byApplication = false): void {
    if (this.#ended) return;
    this.#ended = err;
    this.#outbox?.stop();
    this.#inbox = [];
    this.#inboxHead = 0;
    // Groups first: a rejection handler that looks at a group finds it silent already.
    const joins: StateJoin[] = [];
    for (const slot of this.#groups.values()) if (slot.phase === 'transfer') joins.push(slot.join);
    this.#groups.clear();
    for (const sender of this.#senders.values()) sender.stop();
    this.#senders.clear();
    // Their join() rejects with `err` once install() has settled.
    for (const join of joins) join.abort(err);
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(err);
    this.onEnd(byApplication ? undefined : err);
  }

  /** Closes the connection on the application's request. */
  close(): Promise<void> {
    if (!this.#ended) {
      // Requests issued before close() (not awaited) still leave, before the close frame.
      this.#outbox?.flushAll();
      this.#end(new ConnectionError('ERR_CLOSED', 'the client was closed'), true);
      this.#transport?.close(CLOSE_NORMAL, 'client closed');
    }
    if (this.#socketClosed || !this.#transport) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, CLOSE_WAIT_MS);
      const previous = this.#onSocketClosed;
      this.#onSocketClosed = () => {
        previous?.();
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

function refused(reply: chorus.Reply.$Properties): RequestError {
  return new RequestError(errorCodeFromWire(reply.errorCode, 'ERR_BAD_REQUEST'), errorMessageFromWire(reply, 'ERR_BAD_REQUEST'));
}

/** Names a transfer: a joiner may be sent the state of a group more than once (restarts). */
function transferKey(group: string, joiner: string, transfer: number): string {
  return `${group}\u0000${joiner}\u0000${transfer}`;
}

/** The group a group event is about (undefined for an event kind this SDK does not know). */
function groupOf(event: DaemonEvent): string | undefined {
  const body = event.view ?? event.delivery ?? event.signal ?? event.checkpoint ?? event.state;
  return body ? (body.group ?? '') : undefined;
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
