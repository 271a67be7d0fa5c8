// The order of one daemon view: contiguous runs of global seqs, each mapping to a run
// of one sender's per-sender seqs. Kept from the oldest global some member may still
// need (for a flush or a retransmission) to the highest known.
import type { chorus } from '../wire/gen/chorus.js';
import { invariant } from '../errors.js';

export interface Slot {
  readonly sender: number;
  readonly seq: number;
}

export interface OrderRun {
  readonly sender: number;
  readonly firstSeq: number;
  readonly count: number;
  readonly firstGlobal: number;
}

export function runFromProto(r: chorus.IOrderRange): OrderRun {
  return { sender: r.sender ?? 0, firstSeq: r.firstSeq ?? 0, count: r.count ?? 0, firstGlobal: r.firstGlobal ?? 0 };
}

export class OrderLog {
  private runs: OrderRun[] = [];
  private head = 0;
  /** Next global seq whose place is unknown. */
  private endGlobal: number;

  /** A log whose first known global will be `firstGlobal` (globals start at 1). */
  constructor(firstGlobal = 1) {
    this.endGlobal = firstGlobal;
  }

  /** Highest global seq with a known place. */
  get known(): number {
    return this.endGlobal - 1;
  }

  /** Append a run; parts already known are ignored (retransmissions overlap). */
  append(run: OrderRun): void {
    const runEnd = run.firstGlobal + run.count;
    if (runEnd <= this.endGlobal || run.count <= 0) return;
    invariant(run.firstGlobal <= this.endGlobal, `order gap: know up to ${this.endGlobal - 1}, got run from ${run.firstGlobal}`);
    const skip = this.endGlobal - run.firstGlobal;
    this.runs.push(skip === 0 ? run : { sender: run.sender, firstSeq: run.firstSeq + skip, count: run.count - skip, firstGlobal: this.endGlobal });
    this.endGlobal = runEnd;
  }

  /** Would this run continue the log (no gap)? */
  fits(run: OrderRun): boolean {
    return run.firstGlobal <= this.endGlobal;
  }

  /** The slot of a global seq, if known and retained. */
  slot(global: number): Slot | undefined {
    if (global >= this.endGlobal) return undefined;
    // Deliveries walk forward: search from the head.
    let lo = this.head;
    let hi = this.runs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.runs[mid]!;
      if (global < r.firstGlobal) hi = mid - 1;
      else if (global >= r.firstGlobal + r.count) lo = mid + 1;
      else return { sender: r.sender, seq: r.firstSeq + (global - r.firstGlobal) };
    }
    return undefined;
  }

  /** Runs covering globals >= `from`, cut at `from`. */
  from(from: number): OrderRun[] {
    const out: OrderRun[] = [];
    for (let i = this.head; i < this.runs.length; i++) {
      const r = this.runs[i]!;
      const end = r.firstGlobal + r.count;
      if (end <= from) continue;
      if (r.firstGlobal >= from) out.push(r);
      else {
        const skip = from - r.firstGlobal;
        out.push({ sender: r.sender, firstSeq: r.firstSeq + skip, count: r.count - skip, firstGlobal: from });
      }
    }
    return out;
  }

  /** Forget runs that end at or below `global` (everyone delivered them). */
  forgetThrough(global: number): void {
    while (this.head < this.runs.length) {
      const r = this.runs[this.head]!;
      if (r.firstGlobal + r.count - 1 > global) break;
      this.head += 1;
    }
    if (this.head > 1024 && this.head * 2 > this.runs.length) {
      this.runs = this.runs.slice(this.head);
      this.head = 0;
    }
  }

  /** Drop everything known beyond `global` (a flush replaces the tail). */
  truncateAfter(global: number): void {
    const kept: OrderRun[] = [];
    for (let i = this.head; i < this.runs.length; i++) {
      const r = this.runs[i]!;
      if (r.firstGlobal > global) break;
      const end = r.firstGlobal + r.count - 1;
      kept.push(end <= global ? r : { ...r, count: global - r.firstGlobal + 1 });
    }
    this.runs = kept;
    this.head = 0;
    this.endGlobal = Math.min(this.endGlobal, global + 1);
  }
}
