// EarlyDelivery: `fifo` and `causal` entries reach local clients without waiting for the
// sequencer.
//
// Each sender's stream is passed in order; an entry is delivered once its group is in
// the view the entry was sent in and (causal) this daemon passed everything the sender
// had passed when it sent it. The ordered path later applies the entry to the group
// table without delivering it again. Replaced at every daemon view install (reset).
import { chorus } from '../wire/gen/chorus.js';
import { allAtLeast } from './causal-past.js';
import type { GroupRecord, GroupTable } from './group-table.js';
import type { ReceiveLog } from './receive-log.js';

/** An entry to deliver early to the local members of its group. */
export interface EarlyDue {
  readonly group: GroupRecord;
  readonly entry: chorus.IEntry;
}

export class EarlyDelivery {
  /**
   * Per sender, how far this daemon passed its stream — every entry up to here is
   * delivered here (early or in order) or concerns no local member. Entries pass in
   * stream order, so per-sender FIFO holds.
   */
  private early: number[] = [];
  /** Per sender, the last seq delivered here early (to a local client). */
  private earlyDelivered: number[] = [];

  /** The receive log is read (never changed): what has arrived, and what was delivered in order. */
  constructor(private readonly rlog: ReceiveLog) {}

  /** A new daemon view with `n` members: nothing passed. */
  reset(n: number): void {
    this.early = new Array<number>(n).fill(0);
    this.earlyDelivered = new Array<number>(n).fill(0);
  }

  /** Per sender, how far early delivery passed its stream (the causal past of what is sent next). */
  get passed(): readonly number[] {
    return this.early;
  }
  /** Per sender, the last seq delivered here early. */
  get delivered(): readonly number[] {
    return this.earlyDelivered;
  }

  /** Whether something was delivered here early that the ordered path has not reached. */
  deliveredAhead(): boolean {
    const deliveredSeq = this.rlog.deliveredSeq;
    for (let t = 0; t < this.earlyDelivered.length; t++) if (this.earlyDelivered[t]! > deliveredSeq[t]!) return true;
    return false;
  }

  /**
   * Pass every stream as far as it may go. `hasLocalMember(g)`: a client of this daemon
   * is in group g; `orderedThrough`: the last global seq delivered here. Returns whether
   * anything passed, and the entries to deliver now, in order.
   */
  run(table: GroupTable, hasLocalMember: (g: GroupRecord) => boolean, orderedThrough: number): { progress: boolean; due: EarlyDue[] } {
    const due: EarlyDue[] = [];
    let progress = false;
    for (let again = true; again; ) {
      again = false;
      for (let t = 0; t < this.early.length; t++) {
        const from = Math.max(this.early[t]!, this.rlog.deliveredSeq[t]!);
        const to = this.rlog.received[t]!;
        let k = from;
        while (k < to && this.pass(t, k + 1, this.rlog.entry(t, k + 1)!, table, hasLocalMember, orderedThrough, due)) k++;
        if (k !== this.early[t]) {
          this.early[t] = k;
          again = true;
          progress = true;
        }
      }
    }
    return { progress, due };
  }

  /** Whether early delivery may pass entry `e` of sender `t` (adding it to `due` if it is due here). */
  private pass(
    t: number,
    seq: number,
    e: chorus.IEntry,
    table: GroupTable,
    hasLocalMember: (g: GroupRecord) => boolean,
    orderedThrough: number,
    due: EarlyDue[],
  ): boolean {
    if ((e.kind ?? chorus.Entry.Kind.DATA) !== chorus.Entry.Kind.DATA) return true; // views change on the ordered path
    const g = table.get(e.group ?? '');
    // Sent in a view this daemon has not installed yet (or of a group it has not seen
    // yet): its members may include a local client whose join is still on its way.
    // Wait for the ordered path.
    if (g === undefined || (e.groupView ?? 0) > g.viewId) return false;
    // An entry passes only after its causal past, whether or not a local client is in its
    // group: what this daemon passed is the causal past of what it sends next, so passing
    // an entry without its past would let a later message of ours name the entry but not
    // that past, and a flush that lost the past could then neither keep nor cut it
    // consistently (the cut keeps what was delivered early, assuming its past was
    // passed here too).
    const passed = e.causal?.passed;
    if (passed && !allAtLeast(this.early, passed, t)) return false;
    // Also the ordered prefix the sender had delivered when it sent the entry.
    if ((e.dep ?? 0) > orderedThrough) return false;
    if (!hasLocalMember(g)) return true;
    const order = e.order ?? chorus.Order.ORDER_TOTAL;
    // An undelivered total/safe entry holds back the sender's later entries (FIFO).
    if (order !== chorus.Order.ORDER_FIFO && order !== chorus.Order.ORDER_CAUSAL) return false;
    due.push({ group: g, entry: e });
    this.earlyDelivered[t] = seq;
    return true;
  }
}
