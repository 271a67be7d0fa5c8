// What a Group handle holds under `reconnect: true`: a GroupLink that outlives the
// connection. It forwards to the member link of the current session; between a broken
// connection and the group's rejoin it has none, and every call rejects at once with
// ConnectionError('ERR_DISCONNECTED') — nothing is queued for a later connection (the README's reconnect contract:
// "nothing is queued silently"), because the application could not tell which of its
// messages the group ever saw.
//
// The Client keeps the bindings of the handles that are members, to rejoin them over
// the next session with the options of the first join; a binding leaves that set when
// its handle is out of the group for good (left, expelled, rejoin failed).

import { ConnectionError, type ChorusError } from '../src/errors.js';
import type { GroupLink, GroupSink } from './session.js';
import type { ExpelReason, Order, StateTransfer, View } from './types.js';

export interface GroupBindingHost {
  /** The handle is out of the group for good: do not rejoin it. */
  forget(binding: GroupBinding): void;
  /** What calls fail with while no session carries the group (disconnected, or closed). */
  unavailable(): ConnectionError;
}

export class GroupBinding implements GroupLink {
  readonly name: string;
  /** The join's state transfer callbacks, given again to every rejoin. */
  readonly state: StateTransfer;
  readonly #host: GroupBindingHost;
  /** The member link over the current session; undefined while disconnected. */
  #link: GroupLink | undefined;
  /** The handle's receiving side (Group attaches it once). */
  #sink: GroupSink | undefined;
  /** The last daemon's limit, kept while disconnected (Group checks sizes before sending). */
  #maxMessageBytes = 0;

  constructor(name: string, state: StateTransfer, host: GroupBindingHost) {
    this.name = name;
    this.state = state;
    this.#host = host;
  }

  get maxMessageBytes(): number {
    return this.#link?.maxMessageBytes ?? this.#maxMessageBytes;
  }

  /** The group is joined over a new session (the first join, or a rejoin). */
  bind(link: GroupLink): void {
    this.#link = link;
    this.#maxMessageBytes = link.maxMessageBytes;
    if (this.#sink) link.attach(this.#wrap(this.#sink));
  }

  /** The session carrying the group ended: calls reject until the next bind(). */
  unbind(): void {
    this.#link = undefined;
  }

  /** A rejoin completed with `view`: the handle emits it as a `view` event. */
  rejoined(view: View): void {
    this.#sink?.view(view);
  }

  /** The rejoin failed for a reason other than the connection: the handle is dead. */
  expel(reason: ExpelReason, err: ChorusError): void {
    this.#host.forget(this);
    this.#sink?.expelled(reason, err);
  }

  // ------------------------------------------------------------ GroupLink (for Group)

  attach(sink: GroupSink): void {
    this.#sink = sink;
    this.#link?.attach(this.#wrap(sink));
  }

  multicast(data: Uint8Array, order: Order, waitDelivered: boolean): Promise<string> {
    const link = this.#link;
    if (!link) return Promise.reject(this.#host.unavailable());
    return link.multicast(data, order, waitDelivered);
  }

  leave(): Promise<void> {
    const link = this.#link;
    if (!link) return Promise.reject(this.#host.unavailable());
    return link.leave().then(
      () => this.#host.forget(this),
      (err: unknown) => {
        // The connection broke under the leave. Losing a connection ends its
        // memberships (the other members see this one go with cause `crash`), so the
        // member is out of the group, as asked: leave() resolves, and no rejoin.
        // ERR_CLOSED is the application's own close(): reported as without reconnect.
        if (err instanceof ConnectionError && err.code !== 'ERR_CLOSED') {
          this.#host.forget(this);
          return;
        }
        throw err;
      },
    );
  }

  /** The sink as the session sees it: an expulsion also drops the binding from the rejoin set. */
  #wrap(sink: GroupSink): GroupSink {
    return {
      view: (view) => sink.view(view),
      message: (msg) => sink.message(msg),
      block: () => sink.block(),
      unblock: () => sink.unblock(),
      checkpoint: (req) => sink.checkpoint(req),
      expelled: (reason, err) => {
        this.#host.forget(this);
        sink.expelled(reason, err);
      },
    };
  }
}
