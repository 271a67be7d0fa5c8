// An HDR-style latency histogram: log-linear buckets over integer microseconds.
//
// Values below 128 µs have a bucket each; above, every power of two is split into 64
// linear sub-buckets, so any recorded value is reported within 1/64 (< 1.6 %) of itself
// — two significant digits, as HdrHistogram with `numberOfSignificantValueDigits = 2`.
// Written here rather than taken from `hdr-histogram-js` (3 transitive dependencies and an
// embedded WebAssembly blob) because the bench needs only record, merge, percentile and a
// compact form to send between processes.

const LINEAR = 128; // values < LINEAR µs are exact
const SUB = 64; // sub-buckets per power of two above that
const SUB_BITS = 6;
const MAX_US = 2 ** 31 - 1; // ~36 minutes: anything slower is clamped
const BUCKETS = indexOf(MAX_US) + 1;

function indexOf(us: number): number {
  if (us < LINEAR) return us;
  const msb = 31 - Math.clz32(us); // ≥ 7
  const shift = msb - SUB_BITS; // ≥ 1
  return shift * SUB + (us >>> shift);
}

/** The highest value that falls into bucket `index` (what HdrHistogram reports). */
function highestOf(index: number): number {
  if (index < LINEAR) return index;
  const shift = Math.floor(index / SUB) - 1;
  const mantissa = (index % SUB) + SUB;
  return ((mantissa + 1) << shift) - 1;
}

/** Sparse form for IPC: [bucket index, count] pairs. */
export type HistogramJson = Array<[number, number]>;

export class LatencyHistogram {
  readonly #counts = new Float64Array(BUCKETS);
  #total = 0;
  #max = 0;

  /** Records one latency in milliseconds (negative values count as 0). */
  recordMs(ms: number): void {
    let us = Math.round(ms * 1000);
    if (!(us > 0)) us = 0;
    else if (us > MAX_US) us = MAX_US;
    this.#counts[indexOf(us)]!++;
    this.#total++;
    if (us > this.#max) this.#max = us;
  }

  get count(): number {
    return this.#total;
  }

  /** Largest value recorded, in ms (exact, not bucketed). */
  get maxMs(): number {
    return this.#max / 1000;
  }

  /** The value at percentile `p` (0–100) in ms, or null when nothing was recorded. */
  percentileMs(p: number): number | null {
    if (this.#total === 0) return null;
    const rank = Math.max(1, Math.ceil((p / 100) * this.#total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i]!;
      if (seen >= rank) return Math.min(highestOf(i), this.#max) / 1000;
    }
    return this.#max / 1000;
  }

  merge(other: LatencyHistogram): void {
    other.#forEach((i, n) => {
      this.#counts[i]! += n;
    });
    this.#total += other.#total;
    this.#max = Math.max(this.#max, other.#max);
  }

  reset(): void {
    this.#counts.fill(0);
    this.#total = 0;
    this.#max = 0;
  }

  toJSON(): { buckets: HistogramJson; maxUs: number } {
    const buckets: HistogramJson = [];
    this.#forEach((i, n) => buckets.push([i, n]));
    return { buckets, maxUs: this.#max };
  }

  static fromJSON(json: { buckets: HistogramJson; maxUs: number }): LatencyHistogram {
    const h = new LatencyHistogram();
    for (const [i, n] of json.buckets) {
      if (!Number.isInteger(i) || i < 0 || i >= BUCKETS || !(n > 0)) continue;
      h.#counts[i]! += n;
      h.#total += n;
    }
    h.#max = json.maxUs;
    return h;
  }

  #forEach(fn: (index: number, count: number) => void): void {
    for (let i = 0; i < BUCKETS; i++) if (this.#counts[i]! > 0) fn(i, this.#counts[i]!);
  }
}
