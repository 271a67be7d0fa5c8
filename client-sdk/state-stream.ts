// The joiner's view of one state transfer: the chunks the provider sent, handed to
// `install()` as an AsyncIterable<Uint8Array> (or all at once through `bytes()`).
//
// The stream is its own iterator: iterating twice, or calling bytes() after a partial
// iteration, continues where the reader stopped. Chunks are held only until the reader
// takes them, and the provider sends at most a window of chunks ahead of the joiner's
// acknowledgements, so the memory a transfer holds stays bounded however large the state.

import type { StateReader } from './types.js';

export interface ReceivedChunk {
  index: number;
  data: Uint8Array;
  last: boolean;
}

/** How the stream tells its owner what the reader did (for acknowledgements). */
export interface StreamObserver {
  /** The reader took chunk `index`. */
  consumed(index: number, last: boolean): void;
  /** The reader waits for a chunk that has not arrived. */
  starved(): void;
}

interface Waiter {
  resolve(result: IteratorResult<Uint8Array>): void;
  reject(err: Error): void;
}

const EMPTY = new Uint8Array(0);

export class StateStream implements StateReader, AsyncIterator<Uint8Array> {
  #chunks: Array<ReceivedChunk | undefined> = [];
  #head = 0;
  #waiters: Waiter[] = [];
  /** The last chunk was handed to the reader. */
  #ended = false;
  #failure: Error | undefined;
  readonly #observer: StreamObserver;

  constructor(observer: StreamObserver) {
    this.#observer = observer;
  }

  /** Whether the reader has taken every chunk, the last one included. */
  get ended(): boolean {
    return this.#ended;
  }

  /** A chunk arrived from the provider (in index order). */
  push(chunk: ReceivedChunk): void {
    if (this.#failure || this.#ended) return;
    this.#chunks.push(chunk);
    while (this.#waiters.length > 0) {
      const result = this.#poll();
      if (!result) return;
      this.#waiters.shift()!.resolve(result);
    }
  }

  /** The transfer is over without its state: the reader's next read throws `err`. */
  fail(err: Error): void {
    if (this.#failure) return;
    this.#failure = err;
    // Unread chunks are garbage now: release them (each keeps its frame alive).
    this.#chunks = [];
    this.#head = 0;
    for (const waiter of this.#waiters.splice(0)) waiter.reject(err);
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return this;
  }

  next(): Promise<IteratorResult<Uint8Array>> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#waiters.length === 0) {
      const result = this.#poll();
      if (result) return Promise.resolve(result);
    }
    // Credit for what was read so far, or a provider waiting for it would never send
    // the chunk this reader waits for.
    this.#observer.starved();
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /**
   * A `break` out of a for-await loop: nothing to release. What the reader leaves unread
   * is read and discarded by the SDK once install() returns (the provider waits for it).
   */
  return(): Promise<IteratorResult<Uint8Array>> {
    return Promise.resolve({ done: true, value: undefined });
  }

  /** The rest of the state in one array (no copy when it came as a single chunk). */
  async bytes(): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let length = 0;
    for (let r = await this.next(); !r.done; r = await this.next()) {
      if (r.value.byteLength === 0) continue;
      parts.push(r.value);
      length += r.value.byteLength;
    }
    if (parts.length === 0) return EMPTY;
    if (parts.length === 1) return parts[0]!;
    const out = new Uint8Array(length);
    let offset = 0;
    for (const part of parts) {
      out.set(part, offset);
      offset += part.byteLength;
    }
    return out;
  }

  /** Reads and discards whatever the reader left, up to the last chunk. */
  async drain(): Promise<void> {
    while (!(await this.next()).done) {
      // discarded: install() chose not to read it
    }
  }

  /**
   * The next result for the reader, or undefined when it must wait. Empty chunks (a
   * provider may end its state with one) are consumed, and acknowledged, but not handed
   * out: the reader sees only bytes.
   */
  #poll(): IteratorResult<Uint8Array> | undefined {
    while (this.#head < this.#chunks.length) {
      const chunk = this.#chunks[this.#head]!;
      this.#chunks[this.#head++] = undefined;
      if (this.#head === this.#chunks.length) {
        this.#chunks = [];
        this.#head = 0;
      }
      if (chunk.last) this.#ended = true;
      this.#observer.consumed(chunk.index, chunk.last);
      if (chunk.data.byteLength > 0) return { done: false, value: chunk.data };
    }
    return this.#ended ? { done: true, value: undefined } : undefined;
  }
}
