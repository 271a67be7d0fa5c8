// The provider's side of one state transfer: what provide() returned, sent to the
// daemon as StateChunk requests of at most 256 KiB, with at most a window of chunks
// sent and not yet acknowledged by the joiner (end-to-end flow control: a slow joiner
// holds back the provider, never fills the daemons' buffers).
//
// Several transfers (two joiners) run side by side, each its own StateSender. A transfer
// stops quietly when the daemon refuses a chunk (ERR_STATE_ABORTED: the joiner left or
// another transfer replaced this one) or the connection ends. If provide() or the
// snapshot it returned fails, the daemon is told (ERR_PROVIDE_FAILED) and asks another
// member: the joiner never gets a silent empty state.

import { chorus } from '../src/wire/gen/chorus.js';

/** Largest chunk: big enough to stream fast, small enough to interleave with messages. */
export const STATE_CHUNK_BYTES_MAX = 256 * 1024;
/** Chunks sent and not acknowledged by the joiner, at most (bounds the joiner's memory). */
export const STATE_WINDOW_CHUNKS = 8;
/**
 * StateAck.chunk meaning "this transfer is over at the joiner's end" (the joiner left, or
 * its daemon dropped the transfer): the provider stops. No real transfer has that many
 * chunks (it would be a petabyte).
 */
export const STATE_ACK_ABORTED = 0xffff_ffff;

const EMPTY = new Uint8Array(0);

/** What a provider's provide() may produce (see StateTransfer.provide in types.ts). */
export type ProvidedState = Uint8Array | AsyncIterable<Uint8Array>;

export interface StateSenderHost {
  /** Sends one StateChunk request; `refused` runs if the daemon refuses it (or the connection ends first). */
  send(chunk: chorus.StateChunk.$Properties, refused: () => void): void;
}

/** Names one transfer: (group, joiner, transfer), plus this member's id as provider. */
export interface TransferName {
  group: string;
  joiner: string;
  provider: string;
  transfer: number;
}

export class StateSender {
  readonly #host: StateSenderHost;
  readonly #name: TransferName;
  /** Index of the next chunk. */
  #next = 0;
  /** Every chunk up to this index was consumed by the joiner (-1: none yet). */
  #acked = -1;
  #stopped = false;
  #wake: (() => void) | undefined;
  #iterator: AsyncIterator<Uint8Array> | undefined;

  constructor(host: StateSenderHost, name: TransferName) {
    this.#host = host;
    this.#name = name;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** The joiner consumed every chunk up to `chunk` (or, with STATE_ACK_ABORTED, the transfer is over). */
  credit(chunk: number): void {
    if (chunk === STATE_ACK_ABORTED) {
      this.stop();
      return;
    }
    if (chunk <= this.#acked) return;
    this.#acked = chunk;
    this.#wakeUp();
  }

  /** Ends the transfer without a word to the daemon (it aborted it, or the connection is gone). */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#wakeUp();
    const iterator = this.#iterator;
    this.#iterator = undefined;
    // Lets a snapshot release what it holds (a file handle, a database cursor).
    if (iterator?.return) void Promise.resolve(iterator.return()).catch(() => {});
  }

  /** Sends `state` (what provide() returned) to the end, or reports its failure. */
  async send(state: unknown): Promise<void> {
    try {
      if (state instanceof Uint8Array) await this.#sendBytes(state);
      else if (isAsyncIterable(state)) await this.#sendSnapshot(state);
      else throw new TypeError('provide() must return a Uint8Array or an AsyncIterable<Uint8Array>');
    } catch (err) {
      this.fail(err);
    } finally {
      this.#iterator = undefined;
    }
  }

  /** provide() (or its snapshot) failed: the daemon asks another member. */
  fail(err: unknown): void {
    if (this.#stopped) return;
    this.#stopped = true;
    const why = err instanceof Error ? err.message : String(err);
    this.#host.send(
      { ...this.#name, chunk: this.#next, errorCode: 'ERR_PROVIDE_FAILED', errorMessage: `provide() failed: ${why}` },
      () => {},
    );
  }

  async #sendBytes(state: Uint8Array): Promise<void> {
    const length = state.byteLength;
    if (length === 0) {
      await this.#sendChunk(EMPTY, true);
      return;
    }
    for (let offset = 0; offset < length && !this.#stopped; offset += STATE_CHUNK_BYTES_MAX) {
      const end = Math.min(offset + STATE_CHUNK_BYTES_MAX, length);
      await this.#sendChunk(state.subarray(offset, end), end === length);
    }
  }

  async #sendSnapshot(snapshot: AsyncIterable<Uint8Array>): Promise<void> {
    const iterator = snapshot[Symbol.asyncIterator]();
    this.#iterator = iterator;
    for (;;) {
      const result = await iterator.next();
      if (this.#stopped) return;
      if (result.done) break;
      const piece: unknown = result.value;
      if (!(piece instanceof Uint8Array)) throw new TypeError('the state snapshot yielded something other than a Uint8Array');
      // Pieces larger than a chunk are cut (views, not copies); empty ones carry nothing.
      for (let offset = 0; offset < piece.byteLength && !this.#stopped; offset += STATE_CHUNK_BYTES_MAX) {
        await this.#sendChunk(piece.subarray(offset, offset + STATE_CHUNK_BYTES_MAX), false);
      }
      if (this.#stopped) return;
    }
    // The end is known only once the snapshot ends: an empty last chunk says so.
    await this.#sendChunk(EMPTY, true);
  }

  /** Sends the next chunk as soon as the window has room for it. */
  async #sendChunk(data: Uint8Array, last: boolean): Promise<void> {
    while (!this.#stopped && this.#next > this.#acked + STATE_WINDOW_CHUNKS) {
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
    if (this.#stopped) return;
    this.#host.send({ ...this.#name, chunk: this.#next++, data, last }, () => this.stop());
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

function isAsyncIterable(value: unknown): value is AsyncIterable<Uint8Array> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
  );
}
