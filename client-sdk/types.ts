// Public types of the client SDK (the README shows them in use). Shapes listed in the project's API contract
// are part of the contract: add fields only, never rename or remove one.

import type { ChorusError } from '../src/errors.js';

/** Delivery order of one multicast (guarantee 4, README: "The guarantees, in plain words"). Default: `total`. */
export type Order = 'fifo' | 'causal' | 'total' | 'safe';

/** The cause of every member in a view's `joined` list. */
export type JoinCause = 'join';

/**
 * Why a member appears in a view's `left` list: it left on purpose, crashed (or lost
 * its connection), was cut off by a partition, or was expelled (e.g. a slow consumer).
 */
export type LeaveCause = 'leave' | 'crash' | 'partition' | 'expelled';

/** A `View.causes` entry: `join` for a joined member, a LeaveCause for a departed one. */
export type ViewCause = JoinCause | LeaveCause;

/**
 * Why a group handle was expelled (its `expelled` event):
 * - `partitioned`: its daemon is outside the primary component;
 * - `slow-consumer`: the daemon expelled this client for not reading its events;
 * - `rejoin-failed`: `reconnect: true` could not rejoin the group after a reconnect
 *   (the event's second argument says why, e.g. StateTransferError ERR_INSTALL_FAILED);
 * - `expelled`: the daemon gave no reason this SDK knows (a newer daemon).
 */
export type ExpelReason = 'partitioned' | 'slow-consumer' | 'rejoin-failed' | 'expelled';

/** One group view, the same at every member (guarantee 1). */
export interface View {
  /** Grows by one per view of the group. */
  id: number;
  /** Client ids in join order, oldest first: the same array at every member. */
  members: string[];
  joined: string[];
  left: string[];
  causes: Record<string, ViewCause>;
}

/** One delivered multicast. */
export interface Message {
  /** Unique in the cluster, the same at every member. */
  id: string;
  /** Client id of the sender. */
  sender: string;
  /**
   * The payload: a view into the received frame, not a copy (copy it to keep it long:
   * it holds the whole frame's buffer alive).
   */
  data: Uint8Array;
  order: Order;
  /** The view the message was sent and delivered in (guarantee 2). */
  viewId: number;
  /** Position in the group's total order (meaningful for `total` and `safe`). */
  seq: number;
}

/**
 * The subset of the WHATWG WebSocket the SDK uses. Both the browser's `WebSocket` and
 * the `ws` package's class satisfy it; handler parameters are declared loosely (and
 * bivariantly, see `Handler`) so that either constructor can be passed as-is.
 */
export interface WebSocketLike {
  binaryType: string;
  readonly bufferedAmount: number;
  readonly readyState: number;
  onopen: Handler<unknown> | null;
  onmessage: Handler<{ data: unknown }> | null;
  onerror: Handler<unknown> | null;
  onclose: Handler<{ code: number; reason: string }> | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

// Method syntax makes the parameter bivariant, so a DOM handler typed with
// `MessageEvent` is assignable to a handler typed with `{ data: unknown }`.
type Handler<E> = { bivariant(event: E): void }['bivariant'];

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface ConnectOptions {
  /** The daemon's client gateway, e.g. `ws://127.0.0.1:7400`. */
  url: string;
  /** This application's name, shown in the daemon's status and logs. */
  name: string;
  /** Presented when the daemon requires client tokens. */
  token?: string;
  /**
   * Node only: CA certificate(s), PEM, that the daemon's certificate must chain to, for
   * a `wss://` url to a daemon started with --tls-cert/--tls-key/--tls-ca (its own CA,
   * not one the system trusts). Connects through the `ws` package (or through
   * `WebSocket`, which must then take `ws`'s options as its second argument). Browsers
   * trust the system's CAs and have no such option.
   */
  ca?: string | Uint8Array | ReadonlyArray<string | Uint8Array>;
  /**
   * WebSocket implementation to use instead of `globalThis.WebSocket` (or, where there
   * is none, the `ws` package).
   */
  WebSocket?: WebSocketConstructor;
  /** Give up on connecting (socket open + handshake) after this long. Default 10 s. */
  connectTimeoutMs?: number;
  /**
   * When the connection to the daemon breaks, redial it (exponential backoff with
   * jitter, 100 ms doubling to 5 s, each attempt bounded by `connectTimeoutMs`) and
   * rejoin every group this client was a member of, with the same options and the same
   * `Group` handles. Emits `disconnect`, then `reconnect` once every group is rejoined.
   * Calls made meanwhile reject with ConnectionError('ERR_DISCONNECTED'). Only the
   * first connect() is not retried: it rejects as without this option. Default false:
   * a broken connection ends the client (`close`).
   */
  reconnect?: boolean;
}

/** A state snapshot being received by a joiner: chunks, or all of it at once. */
export interface StateReader extends AsyncIterable<Uint8Array> {
  bytes(): Promise<Uint8Array>;
}

/**
 * State transfer for `join()` (guarantee 6, README: "The guarantees, in plain words"). Give `install` to receive the
 * group's state when joining, `provide` to hand it to later joiners, or both.
 */
export interface StateTransfer {
  /**
   * Runs at an existing member on a checkpoint request, right after its `checkpoint`
   * event: the group's further events wait until it returns (or its promise settles),
   * so what it returns is the state at exactly that point. Return the state's bytes
   * (not modified afterwards), or an AsyncIterable<Uint8Array> that is a snapshot taken
   * when provide() returned (it is read later, while events flow again).
   */
  provide?: () => Uint8Array | AsyncIterable<Uint8Array> | Promise<Uint8Array | AsyncIterable<Uint8Array>>;
  /**
   * Runs at the joiner before any event of its first view; `join()` resolves after it.
   * It must replace the local state with `state` (never merge into it): if the provider
   * fails mid-way, the stream throws StateTransferError('ERR_STATE_RESTARTED') and
   * install() is called again with the state from another member.
   */
  install?: (state: StateReader) => void | Promise<void>;
  /**
   * With `install`: how long the join waits for a member that provides (ms, default
   * 10,000; at most 600,000) while the group's members do not provide (or none is left
   * after its provider went). Members that do not provide are never asked. Past the
   * wait `join()` rejects with StateTransferError('ERR_NO_STATE_PROVIDER'). A group with
   * no member at all has no state yet: the first joiner gets none and never waits.
   */
  waitMs?: number;
}

export interface JoinOptions {
  /** State transfer: receive the group's state (`install`), provide it (`provide`), or both. */
  state?: StateTransfer;
}

export interface MulticastOptions {
  /** Default `total`. */
  order?: Order;
  /**
   * `accepted` (default): resolve once the local daemon has accepted the message.
   * `delivered`: resolve once the sender itself has delivered it.
   */
  wait?: 'accepted' | 'delivered';
}

/** Events of a `Client`. */
export interface ClientEvents {
  /**
   * The client is closed for good: `err` is set unless `close()` ended it (the
   * connection broke without `reconnect`, or the daemon refused a redial's handshake,
   * e.g. ERR_AUTH).
   */
  close: [err?: ChorusError];
  /**
   * `reconnect: true` only: the connection broke (`err`: ConnectionError
   * ERR_DISCONNECTED or ERR_SLOW_CONSUMER) and the client is redialling. Followed by
   * `reconnect`, or by `close` when it gives up or `close()` is called: the two
   * alternate, one `disconnect` per outage.
   */
  disconnect: [err: ChorusError];
  /**
   * `reconnect: true` only: connected again (a new `client.id`) and every group handle
   * rejoined (each emitted a `view`) or, where its rejoin failed, was expelled
   * ('rejoin-failed').
   */
  reconnect: [];
}

/** Events of a `Group`. None fires before `join()` has resolved. */
export interface GroupEvents {
  /** A new view (the first view is `group.view` when `join()` resolves). */
  view: [view: View];
  message: [msg: Message];
  /** A view change started: sends wait for the next view. */
  block: [];
  unblock: [];
  /** This member is about to provide state to `joiner`. */
  checkpoint: [req: { joiner: string }];
  /**
   * The handle is dead; the client stays open. `err` is set for 'rejoin-failed': why
   * the rejoin after a reconnect failed.
   */
  expelled: [reason: ExpelReason, err?: ChorusError];
}
