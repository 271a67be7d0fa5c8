// Sequencer: the global order of the current daemon view.
//
// Every member keeps the order it learned (`order`, from the coordinator's Order
// batches, or its own runs on the coordinator). The coordinator (the oldest member) is
// the view's sequencer: it gives global seqs to runs of received entries in per-sender
// order and queues the runs for one broadcast per step. Replaced at every daemon view
// install (reset).
import type { chorus } from '../wire/gen/chorus.js';
import { allAtLeast } from './causal-past.js';
import { OrderLog, type OrderRun, runFromProto } from './order-log.js';
import type { ReceiveLog } from './receive-log.js';

export class Sequencer {
  private log = new OrderLog();
  // Sequencer state (coordinator only).
  private nextGlobal = 1;
  /** Per sender, the highest seq given a global seq. */
  private ordered: number[] = [];
  private outbox: OrderRun[] = [];

  /** The receive log is read (never changed) to know what can be ordered. */
  constructor(private readonly rlog: ReceiveLog) {}

  /** A new daemon view with `n` members: nothing ordered. */
  reset(n: number): void {
    this.ordered = new Array<number>(n).fill(0);
    this.log = new OrderLog();
    this.outbox = [];
    this.nextGlobal = 1;
  }

  /** The order known here. */
  get order(): OrderLog {
    return this.log;
  }

  /** Sequencer: order what can be ordered; a causal entry can unblock another sender. */
  sequenceAll(): void {
    for (let again = true; again; ) {
      again = false;
      for (let s = 0; s < this.rlog.received.length; s++) if (this.sequence(s)) again = true;
    }
  }

  /**
   * Sequencer: give global seqs to what was received from `s` and not yet ordered, up
   * to a causal entry whose causal past is not ordered yet: the order must not put an
   * entry before one that some member delivered before sending it.
   */
  private sequence(s: number): boolean {
    const from = this.ordered[s]! + 1;
    let to = this.rlog.received[s]!;
    for (let seq = from; seq <= to; seq++) {
      const passed = this.rlog.entry(s, seq)!.causal?.passed;
      if (passed && !allAtLeast(this.ordered, passed, s)) {
        to = seq - 1;
        break;
      }
    }
    if (to < from) return false;
    const count = to - from + 1;
    const last = this.outbox[this.outbox.length - 1];
    if (last !== undefined && last.sender === s && last.firstSeq + last.count === from) {
      this.outbox[this.outbox.length - 1] = { ...last, count: last.count + count };
    } else {
      this.outbox.push({ sender: s, firstSeq: from, count, firstGlobal: this.nextGlobal });
    }
    this.ordered[s] = to;
    this.nextGlobal += count;
    return true;
  }

  /** The runs ordered since the last call (now part of `order`), for the caller to broadcast. */
  takeOutbox(): OrderRun[] | undefined {
    if (this.outbox.length === 0) return undefined;
    const ranges = this.outbox;
    this.outbox = [];
    for (const r of ranges) this.log.append(r);
    return ranges;
  }

  /**
   * Runs from the sequencer. Returns the first global seq to fetch when a run does not
   * continue the known order (a lost Order batch), else undefined.
   */
  accept(ranges: readonly chorus.IOrderRange[]): number | undefined {
    for (const r of ranges) {
      const run = runFromProto(r);
      if (!this.log.fits(run)) return this.log.known + 1;
      this.log.append(run);
    }
    return undefined;
  }
}
