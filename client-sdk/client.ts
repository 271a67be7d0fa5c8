// The application's connection to its local daemon: `connect()` and `Client`.
//
// A Client runs one Session at a time. Without `reconnect`, its first session is its
// only one: when it ends, the client is closed. With `reconnect: true`, a broken session
// is replaced: the client redials with backoff (backoff.ts), opens a new session (a new
// client id: the daemon counts the old member as crashed) and rejoins over it every
// group whose handle is still a member, through the handles' GroupBindings
// (group-binding.ts), so the application keeps its Group objects and listeners.

import { EventEmitter } from 'eventemitter3';
import { ChorusError, ConnectionError, HandshakeError, RequestError } from '../src/errors.js';
import { Backoff } from './backoff.js';
import { Group } from './group.js';
import { GroupBinding, type GroupBindingHost } from './group-binding.js';
import { Session } from './session.js';
import type { ClientEvents, ConnectOptions, JoinOptions, StateTransfer } from './types.js';

/**
 * Connects to a daemon's client gateway and completes the hello handshake. Rejects with
 * HandshakeError('ERR_BAD_CLIENT_NAME') for an empty name (before any IO),
 * ConnectionError('ERR_CONNECT') when the daemon cannot be reached (or does not answer
 * within `connectTimeoutMs`), HandshakeError when it refuses the client (e.g. ERR_AUTH,
 * ERR_PROTOCOL_VERSION). With `reconnect: true` too: only later connections are retried.
 */
export async function connect(options: ConnectOptions): Promise<Client> {
  const name: unknown = options.name;
  if (typeof name !== 'string' || name.trim() === '') {
    // The daemon shows the name in its status and logs and builds the client id from
    // it: an empty one would make every such client anonymous.
    throw new HandshakeError('ERR_BAD_CLIENT_NAME', `a client name is a non-empty string, got ${JSON.stringify(name)}`);
  }
  return new Client(await Session.open(options), options);
}

// connected → reconnecting (reconnect: true, the session broke) → connected ...;
// any → closed (close(), a break without reconnect, or a redial refused for good).
type Connection = 'connected' | 'reconnecting' | 'closed';

export class Client extends EventEmitter<ClientEvents> {
  readonly #options: ConnectOptions;
  #session!: Session;
  #connection: Connection = 'connected';
  /** reconnect: true — the handles that are members, to rejoin after a reconnect (in join order). */
  readonly #bindings = new Set<GroupBinding>();
  readonly #bindingHost: GroupBindingHost = {
    forget: (binding) => this.#bindings.delete(binding),
    unavailable: () => this.#unavailable(),
  };
  /** While redialling: close() aborts the wait and the attempt under way. */
  #redial: AbortController | undefined;

  /** @internal Use `connect()`. */
  constructor(session: Session, options: ConnectOptions) {
    super();
    this.#options = options;
    this.#adopt(session);
  }

  /**
   * This client's id, unique in the cluster: the name other members see in views. With
   * `reconnect: true`, each reconnect gives a new id (the id of the current connection).
   */
  get id(): string {
    return this.#session.info.clientId;
  }

  /** Name of the daemon this client is connected to. */
  get daemon(): string {
    return this.#session.info.daemon;
  }

  /** Largest message the daemon accepts, in bytes (0: it announced no limit). */
  get maxMessageBytes(): number {
    return this.#session.info.maxMessageBytes;
  }

  /** Whether the client is over for good (closed by `close()` or lost without reconnect). */
  get closed(): boolean {
    return this.#connection === 'closed';
  }

  /** Whether calls can reach the daemon now (false while reconnecting, and once closed). */
  get connected(): boolean {
    return this.#connection === 'connected';
  }

  /**
   * Joins the group `name` and resolves, once the daemon has installed this member's
   * first view, with the group's handle (`group.view` is that view). No event of the
   * group fires before. Rejects with RequestError('ERR_ALREADY_MEMBER') when this client
   * already joined (or is joining) `name`, with ConnectionError('ERR_DISCONNECTED') while
   * reconnecting.
   *
   * With `state.install`, the joiner receives the group's state first (guarantee 6):
   * join() resolves once install() has finished, and `group.view` is the view the state
   * was taken at. It rejects with StateTransferError: ERR_NO_STATE_PROVIDER (no member
   * offers state), ERR_INSTALL_FAILED (install() threw; the member has left the group),
   * ERR_STATE_ABORTED (expelled meanwhile). With `state.provide`, this member provides
   * the state to later joiners (see the `checkpoint` event). With `reconnect: true`,
   * the same options serve every rejoin after a reconnect (install() runs again).
   */
  join(name: string, options: JoinOptions = {}): Promise<Group> {
    if (typeof name !== 'string' || name === '') {
      return Promise.reject(new RequestError('ERR_BAD_GROUP_NAME', 'a group name is a non-empty string'));
    }
    const state = options.state ?? {};
    if (typeof state !== 'object' || state === null) {
      return Promise.reject(new RequestError('ERR_BAD_REQUEST', 'state must be an object with install and/or provide'));
    }
    for (const key of ['install', 'provide'] as const) {
      if (state[key] !== undefined && typeof state[key] !== 'function') {
        return Promise.reject(new RequestError('ERR_BAD_REQUEST', `state.${key} must be a function`));
      }
    }
    if (state.waitMs !== undefined && (!Number.isInteger(state.waitMs) || state.waitMs < 1 || state.waitMs > 600_000)) {
      return Promise.reject(new RequestError('ERR_BAD_REQUEST', 'state.waitMs must be an integer number of ms, 1..600000'));
    }
    // Without reconnect, the session's end is the client's: the same error as its requests.
    const ended = this.#session.ended;
    if (ended && !this.#options.reconnect) return Promise.reject(ended);
    if (this.#connection !== 'connected') return Promise.reject(this.#unavailable());
    if (this.#session.has(name)) {
      return Promise.reject(new RequestError('ERR_ALREADY_MEMBER', `already a member of ${JSON.stringify(name)}`));
    }
    if (!this.#options.reconnect) return this.#session.join(name, (view, link) => new Group(name, view, link), state);
    const binding = new GroupBinding(name, copyState(state), this.#bindingHost);
    return this.#session.join(
      name,
      (view, link) => {
        binding.bind(link);
        this.#bindings.add(binding);
        return new Group(name, view, binding);
      },
      state,
    );
  }

  /**
   * Closes the connection: requests already issued are still sent, replies not yet
   * received fail with ConnectionError('ERR_CLOSED'), no group event fires any more,
   * and `close` is emitted without an error. While reconnecting, it stops redialling.
   * Resolves once the socket has closed (at most about a second later). Idempotent.
   */
  close(): Promise<void> {
    this.#redial?.abort();
    this.#redial = undefined;
    // Ends the session if it is alive (its onEnd emits `close`); a dead one resolves at once.
    const closing = this.#session.close();
    this.#finish();
    return closing;
  }

  // ------------------------------------------------------------ sessions

  #adopt(session: Session): void {
    this.#session = session;
    session.onEnd = (err) => {
      if (session === this.#session) this.#sessionEnded(err);
    };
  }

  #sessionEnded(err: ConnectionError | undefined): void {
    if (err === undefined || !this.#options.reconnect) {
      this.#finish(err);
      return;
    }
    for (const binding of this.#bindings) binding.unbind();
    // Broke again before every group was rejoined: the redial loop under way carries on,
    // and the application, not told `reconnect` yet, is not told `disconnect` again.
    if (this.#connection === 'reconnecting') return;
    this.#connection = 'reconnecting';
    this.#emitSafe('disconnect', err);
    this.#redialLoop().catch((bug: unknown) => {
      queueMicrotask(() => {
        throw bug;
      });
    });
  }

  /** Redials until a session is up and every group was rejoined over it, or until close(). */
  async #redialLoop(): Promise<void> {
    const redial = new AbortController();
    this.#redial = redial;
    const { signal } = redial;
    const backoff = new Backoff();
    while (!signal.aborted) {
      await sleep(backoff.next(), signal);
      if (signal.aborted) return;
      let session: Session;
      try {
        session = await Session.open(this.#options, signal);
      } catch (err) {
        if (signal.aborted) return;
        // The daemon answered and refused this client (ERR_AUTH, ERR_PROTOCOL_VERSION,
        // ...): the same hello would be refused again, so give up. Anything else (not
        // reachable, no answer in time) may pass: dial again.
        if (err instanceof HandshakeError) {
          this.#redial = undefined;
          this.#finish(err);
          return;
        }
        continue;
      }
      if (signal.aborted) {
        void session.close();
        return;
      }
      this.#adopt(session);
      await Promise.all([...this.#bindings].map((binding) => this.#rejoin(session, binding)));
      if (signal.aborted) return;
      if (session.ended) continue; // broke during the rejoins: the bindings left wait for the next one
      this.#redial = undefined;
      this.#connection = 'connected';
      this.#emitSafe('reconnect');
      return;
    }
  }

  /** Joins `binding`'s group over `session` with its first options; the same handle emits the view. */
  async #rejoin(session: Session, binding: GroupBinding): Promise<void> {
    try {
      await session.join(
        binding.name,
        (view, link) => {
          binding.bind(link);
          binding.rejoined(view);
          return binding;
        },
        binding.state,
      );
    } catch (err) {
      // The connection broke (or close() ran): the binding stays for the next session.
      if (session.ended) return;
      // Refused, or the state transfer failed: retrying would most likely fail the same
      // way, and the application must know its handle is dead.
      const why = err instanceof ChorusError ? err : new ConnectionError('ERR_DISCONNECTED', String(err), { cause: err });
      binding.expel('rejoin-failed', why);
    }
  }

  /** What a call fails with when it cannot reach the daemon. */
  #unavailable(): ConnectionError {
    return this.#connection === 'closed'
      ? new ConnectionError('ERR_CLOSED', 'the client was closed')
      : new ConnectionError('ERR_DISCONNECTED', 'the connection to the daemon is down; reconnecting');
  }

  /** The client is over: `close` fires once, with `err` unless the application closed it. */
  #finish(err?: ChorusError): void {
    if (this.#connection === 'closed') return;
    this.#connection = 'closed';
    this.#bindings.clear();
    if (err) this.#emitSafe('close', err);
    else this.#emitSafe('close');
  }

  // A throwing listener must not break the session's teardown or the redial loop: report
  // it as uncaught (see Group).
  #emitSafe<K extends keyof ClientEvents>(event: K, ...args: ClientEvents[K]): void {
    try {
      (this.emit as (event: K, ...args: ClientEvents[K]) => boolean)(event, ...args);
    } catch (listenerErr) {
      queueMicrotask(() => {
        throw listenerErr;
      });
    }
  }
}

/** The callbacks as given to join(): a later change to the caller's object does not reach rejoins. */
function copyState(state: StateTransfer): StateTransfer {
  return {
    ...(state.install !== undefined ? { install: state.install } : {}),
    ...(state.provide !== undefined ? { provide: state.provide } : {}),
    ...(state.waitMs !== undefined ? { waitMs: state.waitMs } : {}),
  };
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
