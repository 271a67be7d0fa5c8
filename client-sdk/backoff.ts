// Delays between redials of a lost daemon connection (`reconnect: true`): exponential,
// bounded, with jitter. The bound keeps a long outage from turning into minutes of
// silence after the daemon is back; the jitter keeps the clients of a restarted daemon
// from redialling it in lockstep, all in the same millisecond.

/** The first redial waits about this long after the connection broke. */
export const BACKOFF_FIRST_MS = 100;
/** No redial waits longer than this (before jitter). */
export const BACKOFF_MAX_MS = 5_000;

/** One outage's delays: a new Backoff per outage starts again from the first delay. */
export class Backoff {
  readonly #maxMs: number;
  /** Returns a number in [0, 1): passed in so that tests can pin it. */
  readonly #random: () => number;
  #nextMs: number;

  constructor(options: { firstMs?: number; maxMs?: number; random?: () => number } = {}) {
    this.#maxMs = options.maxMs ?? BACKOFF_MAX_MS;
    this.#random = options.random ?? Math.random;
    this.#nextMs = options.firstMs ?? BACKOFF_FIRST_MS;
  }

  /**
   * The delay before the next attempt: the base (first, doubling, at most max) scaled
   * by a random factor in [0.5, 1.5).
   */
  next(): number {
    const base = this.#nextMs;
    this.#nextMs = Math.min(base * 2, this.#maxMs);
    return Math.round(base * (0.5 + this.#random()));
  }
}
