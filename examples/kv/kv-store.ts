// The replicated state machine: a string → string map changed only by applying commands
// in the group's total order. Deterministic: the same commands in the same order give
// the same map (and the same digest) at every replica.

import { createHash } from 'node:crypto';
import type { KvCommand } from './kv-command.js';

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

/** What applying a command did. */
export interface ApplyResult {
  /** The key held a value before. */
  existed: boolean;
}

export class KvStore {
  #map = new Map<string, string>();

  get size(): number {
    return this.#map.size;
  }

  get(key: string): string | undefined {
    return this.#map.get(key);
  }

  apply(command: KvCommand): ApplyResult {
    const existed = this.#map.has(command.key);
    if (command.op === 'set') this.#map.set(command.key, command.value);
    else this.#map.delete(command.key);
    return { existed };
  }

  /** Forgets everything (a replica that may have diverged, before it takes the group's state again). */
  clear(): void {
    this.#map = new Map();
  }

  /**
   * The whole map as bytes: a snapshot, taken synchronously, so it is the state at
   * exactly the point where it is called (the SDK calls provide() at the checkpoint).
   * Sorted entries: equal maps give equal bytes.
   */
  snapshot(): Uint8Array {
    return utf8.encode(JSON.stringify(this.entries()));
  }

  /** Replaces the map with a snapshot's (never merges: install() may run more than once). */
  restore(bytes: Uint8Array): void {
    const map = new Map<string, string>();
    if (bytes.byteLength > 0) {
      const entries: unknown = JSON.parse(fromUtf8.decode(bytes));
      if (!Array.isArray(entries)) throw new TypeError('a kv snapshot is an array of [key, value] pairs');
      for (const entry of entries) {
        if (!Array.isArray(entry) || typeof entry[0] !== 'string' || typeof entry[1] !== 'string') {
          throw new TypeError('a kv snapshot entry is a [key, value] pair of strings');
        }
        map.set(entry[0], entry[1]);
      }
    }
    this.#map = map;
  }

  /** Entries sorted by key. */
  entries(): Array<[string, string]> {
    return [...this.#map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** SHA-256 of the sorted entries: equal at two replicas exactly when their maps are. */
  digest(): string {
    return createHash('sha256').update(this.snapshot()).digest('hex');
  }
}
