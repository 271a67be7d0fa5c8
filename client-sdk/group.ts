// A joined process group, as the application sees it: the current view, the group's
// events, multicast and leave. Created by `Client.join()` only.

import { EventEmitter } from 'eventemitter3';
import { RequestError } from '../src/errors.js';
import { isOrder } from './convert.js';
import type { GroupLink, GroupSink } from './session.js';
import type { GroupEvents, Message, MulticastOptions, View } from './types.js';

const utf8 = new TextEncoder();

// member → leaving (leave() sent) → left; member/leaving → expelled. Only `member`
// may multicast; events keep coming while `leaving`, until the daemon confirms.
type Membership = 'member' | 'leaving' | 'left' | 'expelled';

export class Group extends EventEmitter<GroupEvents> {
  /** The group's name. */
  readonly name: string;
  #view: View;
  #membership: Membership = 'member';
  #leaving: Promise<void> | undefined;
  readonly #link: GroupLink;

  /** @internal Use `Client.join()`. */
  constructor(name: string, firstView: View, link: GroupLink) {
    super();
    this.name = name;
    this.#view = firstView;
    this.#link = link;
    const sink: GroupSink = {
      view: (view) => {
        this.#view = view;
        this.#emit('view', view);
      },
      message: (msg: Message) => this.#emit('message', msg),
      block: () => this.#emit('block'),
      unblock: () => this.#emit('unblock'),
      expelled: (reason, err) => {
        this.#membership = 'expelled';
        if (err) this.#emit('expelled', reason, err);
        else this.#emit('expelled', reason);
      },
      checkpoint: (req) => this.#emit('checkpoint', req),
    };
    link.attach(sink);
  }

  /** The current view: the first view once `join()` resolved, then the latest `view` event's. */
  get view(): View {
    return this.#view;
  }

  /**
   * Sends `data` to every member of the current view (itself included). Strings are
   * sent UTF-8 encoded. Resolves with the message id once the local daemon accepted it
   * (`wait: 'accepted'`, the default) or once this member delivered it
   * (`wait: 'delivered'`). Rejects with RequestError (ERR_NOT_MEMBER,
   * ERR_MESSAGE_TOO_LARGE, ERR_BAD_REQUEST, or the daemon's refusal) or ConnectionError
   * (ERR_DISCONNECTED: the connection broke, or with `reconnect: true` it is down and
   * this group not yet rejoined; ERR_CLOSED).
   */
  multicast(data: Uint8Array | string, options: MulticastOptions = {}): Promise<{ id: string }> {
    if (this.#membership !== 'member') {
      return Promise.reject(new RequestError('ERR_NOT_MEMBER', `not a member of ${JSON.stringify(this.name)} (${this.#membership})`));
    }
    const order = options.order ?? 'total';
    if (!isOrder(order)) {
      return Promise.reject(new RequestError('ERR_BAD_REQUEST', `unknown order ${JSON.stringify(order)}: use fifo, causal, total or safe`));
    }
    const wait = options.wait ?? 'accepted';
    if (wait !== 'accepted' && wait !== 'delivered') {
      return Promise.reject(new RequestError('ERR_BAD_REQUEST', `unknown wait ${JSON.stringify(wait)}: use accepted or delivered`));
    }
    let bytes: Uint8Array;
    if (typeof data === 'string') bytes = utf8.encode(data);
    else if (data instanceof Uint8Array) bytes = data;
    else return Promise.reject(new RequestError('ERR_BAD_REQUEST', 'data must be a Uint8Array or a string'));
    // Checked here so an oversized message costs no traffic; the daemon checks again.
    const max = this.#link.maxMessageBytes;
    if (max > 0 && bytes.byteLength > max) {
      return Promise.reject(
        new RequestError('ERR_MESSAGE_TOO_LARGE', `message of ${bytes.byteLength} bytes exceeds the daemon's maximum of ${max}`),
      );
    }
    return this.#link.multicast(bytes, order, wait === 'delivered').then((id) => ({ id }));
  }

  /**
   * Leaves the group. Resolves once the daemon confirms; no event of the group fires
   * after that. Calling it again returns the same promise; on a handle that is already
   * out of the group (left or expelled) it resolves at once. With `reconnect: true`, it
   * rejects with ERR_DISCONNECTED while the connection is down, and resolves when the
   * connection breaks under it (the member is out of the group; it is not rejoined).
   */
  leave(): Promise<void> {
    if (this.#leaving) return this.#leaving;
    if (this.#membership !== 'member') return Promise.resolve();
    this.#membership = 'leaving';
    this.#leaving = this.#link.leave().then(
      () => {
        if (this.#membership === 'leaving') this.#membership = 'left';
      },
      (err: unknown) => {
        this.#leaving = undefined;
        // Expelled meanwhile: the member is out of the group, which is what was asked.
        if (this.#membership === 'expelled') return;
        this.#membership = 'member';
        throw err;
      },
    );
    return this.#leaving;
  }

  // A throwing listener must not break the session's routing loop (the other groups and
  // the events after this one): report it as an uncaught error instead, as Node does
  // for a throwing socket listener, and carry on.
  #emit<K extends keyof GroupEvents>(event: K, ...args: GroupEvents[K]): void {
    try {
      (this.emit as (event: K, ...args: GroupEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      queueMicrotask(() => {
        throw err;
      });
    }
  }
}
