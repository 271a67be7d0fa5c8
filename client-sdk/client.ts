// The application's connection to its local daemon: `connect()` and `Client`.

import { EventEmitter } from 'eventemitter3';
import { RequestError } from '../src/errors.js';
import { Group } from './group.js';
import { Session } from './session.js';
import type { ClientEvents, ConnectOptions, JoinOptions } from './types.js';

/**
 * Connects to a daemon's client gateway and completes the hello handshake. Rejects with
 * ConnectionError('ERR_CONNECT') when the daemon cannot be reached (or does not answer
 * within `connectTimeoutMs`), HandshakeError when it refuses the client (e.g. ERR_AUTH,
 * ERR_PROTOCOL_VERSION).
 */
export async function connect(options: ConnectOptions): Promise<Client> {
  return new Client(await Session.open(options));
}

export class Client extends EventEmitter<ClientEvents> {
  readonly #session: Session;

  /** @internal Use `connect()`. */
  constructor(session: Session) {
    super();
    this.#session = session;
    session.onEnd = (err) => {
      try {
        if (err) this.emit('close', err);
        else this.emit('close');
      } catch (listenerErr) {
        // Not into the session's teardown: report it as uncaught (see Group).
        queueMicrotask(() => {
          throw listenerErr;
        });
      }
    };
  }

  /** This client's id, unique in the cluster: the name other members see in views. */
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

  /** Whether the connection is over (closed by `close()` or lost). */
  get closed(): boolean {
    return this.#session.ended !== undefined;
  }

  /**
   * Joins the group `name` and resolves, once the daemon has installed this member's
   * first view, with the group's handle (`group.view` is that view). No event of the
   * group fires before. Rejects with RequestError('ERR_ALREADY_MEMBER') when this client
   * already joined (or is joining) `name`.
   *
   * With `state.install`, the joiner receives the group's state first (guarantee 6):
   * join() resolves once install() has finished, and `group.view` is the view the state
   * was taken at. It rejects with StateTransferError: ERR_NO_STATE_PROVIDER (no member
   * offers state), ERR_INSTALL_FAILED (install() threw; the member has left the group),
   * ERR_STATE_ABORTED (expelled meanwhile). With `state.provide`, this member provides
   * the state to later joiners (see the `checkpoint` event).
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
    const ended = this.#session.ended;
    if (ended) return Promise.reject(ended);
    if (this.#session.has(name)) {
      return Promise.reject(new RequestError('ERR_ALREADY_MEMBER', `already a member of ${JSON.stringify(name)}`));
    }
    return this.#session.join(name, (view, link) => new Group(name, view, link), state);
  }

  /**
   * Closes the connection: requests already issued are still sent, replies not yet
   * received fail with ConnectionError('ERR_CLOSED'), no group event fires any more,
   * and `close` is emitted without an error. Resolves once the socket has closed (at
   * most about a second later). Idempotent.
   */
  close(): Promise<void> {
    return this.#session.close();
  }
}
