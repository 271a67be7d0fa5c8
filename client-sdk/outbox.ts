// Request batching and socket backpressure.
//
// Every request is encoded when it is issued, as a ClientFrame of its own. Protobuf
// merges repeated fields by concatenation, so the concatenation of such frames is one
// ClientFrame holding all their requests, in order. Encoding at once (not at flush
// time) snapshots the caller's data: an application may reuse its buffer as soon as
// `multicast()` returns, as with `WebSocket.send()`.
//
// Requests issued in one tick leave in one frame: the first request of a tick schedules
// a flush at the end of that tick (a microtask), so a lone request goes out without
// waiting and a burst costs one WebSocket message. When the socket already holds more
// than `highWaterBytes`, flushes wait (polling: browsers have no drain event) and the
// requests keep queueing; nothing is dropped.

import type { Transport } from './transport.js';

/** Delay between checks of `bufferedAmount` while the socket drains. */
const DRAIN_POLL_MS = 5;
/** Sent entries kept at the queue's head before it is compacted. */
const COMPACT_AFTER = 1024;
/**
 * Requests packed into one frame at most. The daemon refuses a frame of more than 65,536
 * requests and applies a frame in slices; smaller frames also let a burst of tiny
 * multicasts start moving before the whole burst is encoded into one message.
 */
export const MAX_REQUESTS_PER_FRAME = 4096;

export interface OutboxLimits {
  /**
   * Requests are packed into frames of at most this many bytes (a single larger request
   * goes alone): the daemon bounds a frame by its maximum message size plus headers, so
   * a batch must not grow past what one message may take.
   */
  frameBudgetBytes: number;
  /** Stop flushing while the socket buffers more than this. */
  highWaterBytes: number;
}

export class Outbox {
  readonly #transport: Transport;
  readonly #limits: OutboxLimits;
  #queue: Uint8Array[] = [];
  #head = 0;
  #scheduled = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  constructor(transport: Transport, limits: OutboxLimits) {
    this.#transport = transport;
    this.#limits = limits;
  }

  /** Queues one encoded ClientFrame; it leaves at the end of this tick at the latest. */
  push(frame: Uint8Array): void {
    if (this.#stopped) return;
    this.#queue.push(frame);
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.#flush());
    }
  }

  /** Sends everything queued now, ignoring backpressure (used right before closing). */
  flushAll(): void {
    this.#send(Infinity);
  }

  /** Drops what is queued and stops; later pushes are ignored. */
  stop(): void {
    this.#stopped = true;
    this.#queue = [];
    this.#head = 0;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #flush(): void {
    this.#timer = undefined;
    if (this.#stopped) return;
    this.#send(this.#limits.highWaterBytes);
    if (this.#head < this.#queue.length) {
      // Still blocked by backpressure: stay scheduled so pushes do not flush early.
      this.#timer = setTimeout(() => this.#flush(), DRAIN_POLL_MS);
    } else {
      this.#scheduled = false;
    }
  }

  /** Sends queued requests in frames while the socket holds at most `highWaterBytes`. */
  #send(highWaterBytes: number): void {
    const queue = this.#queue;
    const budget = this.#limits.frameBudgetBytes;
    while (this.#head < queue.length && this.#transport.bufferedAmount <= highWaterBytes) {
      let end = this.#head + 1;
      let bytes = queue[this.#head]!.byteLength;
      const last = Math.min(queue.length, this.#head + MAX_REQUESTS_PER_FRAME);
      while (end < last && bytes + queue[end]!.byteLength <= budget) bytes += queue[end++]!.byteLength;
      this.#transport.send(end === this.#head + 1 ? queue[this.#head]! : concat(queue, this.#head, end, bytes));
      this.#head = end;
    }
    if (this.#head === queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head >= COMPACT_AFTER && this.#head * 2 >= queue.length) {
      // Under sustained backpressure the queue never empties: drop the sent prefix so
      // sent frames can be collected.
      this.#queue = queue.slice(this.#head);
      this.#head = 0;
    }
  }
}

function concat(parts: readonly Uint8Array[], start: number, end: number, bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let offset = 0;
  for (let i = start; i < end; i++) {
    out.set(parts[i]!, offset);
    offset += parts[i]!.byteLength;
  }
  return out;
}
