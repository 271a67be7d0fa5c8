// ReceiveLog: the entries of the current daemon view, per sender, from receipt until
// they are stable.
//
// Every member (this daemon included) sends one stream per view, seq 1, 2, ...; the
// log keeps each stream from its oldest entry not yet collected up to the highest seq
// received, with no gaps (a gap is fetched before anything after it is accepted). An
// entry is collected once every member has it and this daemon delivered it. The log
// answers Fetch (repair of a link that lost frames) and tells a flush what it holds.
// It is replaced at every daemon view install (reset).
import { chorus } from '../wire/gen/chorus.js';

const ENTRY_OVERHEAD_BYTES = 48;

/** Whether an entry is delivered uniformly: `safe` messages and every group-table entry. */
export function uniform(e: chorus.IEntry): boolean {
  return e.order === chorus.Order.ORDER_SAFE || (e.kind ?? chorus.Entry.Kind.DATA) !== chorus.Entry.Kind.DATA;
}

/** What an entry counts against the bound of buffered bytes. */
export function entryBytes(e: chorus.IEntry): number {
  return (e.data?.length ?? 0) + ENTRY_OVERHEAD_BYTES;
}

export class ReceiveLog {
  /** Per sender index, entries by seq (log[s][seq - logBase[s]]). */
  private log: Array<Array<chorus.IEntry | undefined>> = [];
  private logBase: number[] = [];
  private receivedSeq: number[] = [];
  private delivered: number[] = [];
  /** Causal barrier of the last entry received from each sender (Entry.dep). */
  private lastDep: number[] = [];
  private retained = 0;
  private uniformCount = 0;

  /** A new daemon view with `n` members: every stream starts empty. */
  reset(n: number): void {
    this.log = Array.from({ length: n }, () => []);
    this.logBase = new Array<number>(n).fill(1);
    this.receivedSeq = new Array<number>(n).fill(0);
    this.delivered = new Array<number>(n).fill(0);
    this.lastDep = new Array<number>(n).fill(0);
    this.retained = 0;
    this.uniformCount = 0;
  }

  /** Per sender, the highest seq received (every seq up to it is here or collected). */
  get received(): readonly number[] {
    return this.receivedSeq;
  }
  /** Per sender, the highest seq delivered here (in order). */
  get deliveredSeq(): readonly number[] {
    return this.delivered;
  }
  /** Bytes of the entries held (the buffer of unstable entries). */
  get retainedBytes(): number {
    return this.retained;
  }
  /** Uniform entries (see `uniform`) received and not yet delivered: while any, acknowledge promptly. */
  get uniformHeld(): number {
    return this.uniformCount;
  }

  /** Sum of `received`: grows whenever anything arrives. */
  totalReceived(): number {
    let sum = 0;
    for (const r of this.receivedSeq) sum += r;
    return sum;
  }

  /** Entry s/seq, or undefined when not received or collected. */
  entry(s: number, seq: number): chorus.IEntry | undefined {
    return this.log[s]![seq - this.logBase[s]!];
  }

  /**
   * Entries of sender `s` from `firstSeq` on, of which those past `received[s]` are new
   * (the caller checked there is no gap before `firstSeq`). Returns whether `received[s]`
   * advanced.
   */
  receive(s: number, firstSeq: number, entries: readonly chorus.IEntry[]): boolean {
    const have = this.receivedSeq[s]!;
    const log = this.log[s]!;
    const base = this.logBase[s]!;
    let dep = this.lastDep[s]!;
    for (let i = have + 1 - firstSeq; i < entries.length; i++) {
      const e = entries[i]!;
      // Only the first entry of a batch carries its causal barrier: fill it in, so a
      // relayed copy carries it too.
      if ((e.dep ?? 0) > dep) dep = e.dep!;
      e.dep = dep;
      log[firstSeq + i - base] = e;
      this.retained += entryBytes(e);
      if (uniform(e)) this.uniformCount += 1;
    }
    this.lastDep[s] = dep;
    const last = firstSeq + entries.length - 1;
    if (last <= have) return false;
    this.receivedSeq[s] = last;
    return true;
  }

  /** Entry s/seq was delivered here (in order). */
  markDelivered(s: number, seq: number, entry: chorus.IEntry): void {
    if (uniform(entry)) this.uniformCount -= 1;
    this.delivered[s] = seq;
  }

  /**
   * Answer to a Fetch: the entries of `s` from `fromSeq` to `toSeq` that are still here,
   * or undefined when there are none (or some were collected: every member had them).
   */
  range(s: number, fromSeq: number, toSeq: number): { firstSeq: number; entries: chorus.IEntry[] } | undefined {
    const base = this.logBase[s]!;
    const from = Math.max(fromSeq, base);
    const to = Math.min(toSeq, this.receivedSeq[s]!);
    if (to < from) return undefined;
    const entries: chorus.IEntry[] = [];
    for (let seq = from; seq <= to; seq++) {
      const e = this.log[s]![seq - base];
      if (e === undefined) return undefined; // collected: every member had it
      entries.push(e);
    }
    return { firstSeq: from, entries };
  }

  /**
   * Drop the entries every member has (`othersHave(s)`: the lowest seq of `s` the other
   * members reported) and this daemon delivered.
   */
  collect(othersHave: (s: number) => number): void {
    for (let s = 0; s < this.log.length; s++) {
      const upTo = Math.min(this.receivedSeq[s]!, othersHave(s), this.delivered[s]!);
      const base = this.logBase[s]!;
      const log = this.log[s]!;
      // Collect in chunks: slicing the log on every step would copy it on every frame.
      const collectable = upTo - base + 1;
      if (collectable <= 0 || (collectable < 256 && collectable * 2 < log.length)) continue;
      for (let k = 0; k <= upTo - base; k++) {
        const e = log[k];
        if (e !== undefined) this.retained -= entryBytes(e);
      }
      this.log[s] = log.slice(upTo - base + 1);
      this.logBase[s] = upTo + 1;
    }
  }

  /** Causal barriers of the entries held here and not delivered, as change points. */
  depMarks(): chorus.IDepMark[] {
    const marks: chorus.IDepMark[] = [];
    for (let s = 0; s < this.receivedSeq.length; s++) {
      let last = -1;
      const base = this.logBase[s]!;
      for (let seq = Math.max(this.delivered[s]! + 1, base); seq <= this.receivedSeq[s]!; seq++) {
        const e = this.log[s]![seq - base];
        const dep = e?.dep ?? 0;
        if (e?.causal) marks.push({ sender: s, seq, dep, causal: e.causal });
        else if (dep !== last) marks.push({ sender: s, seq, dep });
        last = dep;
      }
    }
    return marks;
  }
}
