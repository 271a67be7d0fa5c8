// The cut of a flush: what the old daemon view delivers before the next one installs.
//
// Pure: computed by the proposer from the participants' acknowledgements (what each
// holds, delivered, knows of the order, and the causal barriers of what it holds) and
// from what the proposer holds itself. Every survivor then delivers exactly the cut,
// in the cut's order (keeps guarantee 1, virtual synchrony: the survivors of a view
// deliver the same set of messages in it).
import type { chorus } from '../wire/gen/chorus.js';
import { allAtLeast } from './causal-past.js';
import { OrderLog, type OrderRun, runFromProto } from './order-log.js';

export interface CutInput {
  /** The proposal's ballot (copied into the cut). */
  readonly ballot: chorus.IBallot;
  readonly oldViewId: number;
  /** Members of the old view: senders 0..n-1. */
  readonly n: number;
  /** The proposer's index in the old view, and what it holds by now per sender. */
  readonly self: number;
  readonly received: readonly number[];
  /** Every participant's acknowledgement, with the participant's index in the old view. */
  readonly acks: ReadonlyArray<{ readonly index: number; readonly ack: chorus.IProposeAck }>;
}

/**
 * The cut: the union of what the participants hold, and the final order of the old
 * view's undelivered entries — the longest order any participant knows (a slot no
 * participant holds is skipped), then the rest by sender index and seq, which keeps
 * each sender's FIFO order and puts nothing before what it causally follows.
 */
export function computeCut(input: CutInput): chorus.ICut {
  const { n, self, received } = input;
  const cutSeqs = new Array<number>(n).fill(0);
  const holders = new Array<number>(n).fill(self);
  let firstGlobal = Number.POSITIVE_INFINITY;
  const acks = input.acks;
  for (const { index, ack } of acks) {
    const rcv = ack.received ?? [];
    for (let s = 0; s < n; s++) {
      if ((rcv[s] ?? 0) > cutSeqs[s]!) {
        cutSeqs[s] = rcv[s] ?? 0;
        holders[s] = index;
      }
    }
    firstGlobal = Math.min(firstGlobal, ack.delivered ?? 0);
  }
  // Fetch from the proposer when it holds the entries by now (they may have arrived
  // after its own acknowledgement): every participant reaches the proposer, but not
  // necessarily the participant that reported the most (a cut link between two members).
  for (let s = 0; s < n; s++) if (received[s]! >= cutSeqs[s]!) holders[s] = self;
  // Assemble the longest known order from firstGlobal + 1. Every participant's runs
  // are pieces of the one stream its sequencer sent, so overlapping pieces agree.
  const known = new OrderLog(firstGlobal + 1);
  const runs: OrderRun[] = [];
  for (const { ack } of acks) for (const r of ack.orders ?? []) runs.push(runFromProto(r));
  runs.sort((a, b) => a.firstGlobal - b.firstGlobal);
  let end = firstGlobal + 1;
  for (const r of runs) {
    if (r.firstGlobal + r.count <= end) continue;
    if (r.firstGlobal > end) break;
    const skip = end - r.firstGlobal;
    known.append({ sender: r.sender, firstSeq: r.firstSeq + skip, count: r.count - skip, firstGlobal: end });
    end = r.firstGlobal + r.count;
  }
  const orders: OrderRun[] = known.from(firstGlobal + 1);
  const markLists = acks.map((a) => a.ack.depMarks ?? []);
  const depOf = depLookup(markLists, n);
  const causalOf = causalLookup(markLists);
  // Entries some participant delivered early (and its sender's entries before them)
  // are kept: their causal past was delivered there too, so it is kept as well, and
  // their causal barrier was delivered there, so it names no lost slot.
  const keep = new Array<number>(n).fill(0);
  for (const { ack } of acks) {
    const passed = ack.earlyPassed ?? [];
    for (let s = 0; s < n; s++) keep[s] = Math.max(keep[s]!, passed[s] ?? 0);
  }
  // What a kept entry names in its causal vector was passed where it was delivered, so
  // it is kept too (to a fixpoint): the walk below must not cut the past of a kept entry.
  const vectors = markLists.flat().filter((m) => m.causal?.passed !== undefined && m.causal.passed !== null);
  for (let grew = true; grew; ) {
    grew = false;
    for (const m of vectors) {
      const s = m.sender ?? 0;
      if (s >= n || (m.seq ?? 0) > keep[s]!) continue;
      const passed = m.causal!.passed!;
      for (let t = 0; t < n; t++) {
        if (t !== s && (passed[t] ?? 0) > keep[t]!) {
          keep[t] = passed[t]!;
          grew = true;
        }
      }
    }
  }
  // Keep causality when failed senders took part of it with them: walking the known
  // order, a slot whose entry no participant holds is skipped; so is every later
  // entry that depends on a skipped one (its causal barrier reaches it, or its causal
  // vector names an entry no participant holds: a total or safe entry sent after its
  // sender delivered a fifo/causal one early, seed 114207), together with the rest of
  // that sender's stream (FIFO). Survivors' own entries never depend on a skipped slot:
  // they delivered everything they depend on.
  let firstExcluded = Number.POSITIVE_INFINITY;
  /** The entry's causal vector names an entry of another sender that is not in the cut. */
  const pastLost = (s: number, seq: number): boolean => causalOf(s, seq)?.some((need, t) => t !== s && need > cutSeqs[t]!) ?? false;
  const exclude = (s: number, seq: number, global: number) => {
    firstExcluded = Math.min(firstExcluded, global);
    cutSeqs[s] = Math.min(cutSeqs[s]!, seq - 1);
  };
  for (const r of orders) {
    for (let k = 0; k < r.count; k++) {
      const seq = r.firstSeq + k;
      const global = r.firstGlobal + k;
      if (seq > cutSeqs[r.sender]!) exclude(r.sender, seq, global);
      else if (seq > keep[r.sender]! && (depOf(r.sender, seq) >= firstExcluded || pastLost(r.sender, seq))) exclude(r.sender, seq, global);
    }
  }
  const lastKnown = end - 1;
  // Per sender, the highest seq already placed: by the known order, or delivered
  // somewhere before it (a sender's entries are placed in seq order). The rest of
  // the cut gets new slots after the known order, unless it depends on an order no
  // participant knows or on an excluded entry.
  const placed = new Array<number>(n).fill(0);
  for (const r of orders) placed[r.sender] = Math.max(placed[r.sender]!, r.firstSeq + r.count - 1);
  for (const { ack } of acks) {
    const delivered = ack.deliveredSeqs ?? [];
    for (let s = 0; s < n; s++) placed[s] = Math.max(placed[s]!, delivered[s] ?? 0);
  }
  // Place the rest sender by sender, in rounds: a causal entry waits until its causal
  // past is placed, and is cut (with the rest of its sender's stream) when that past
  // is not in the cut.
  let next = end;
  for (let progress = true; progress; ) {
    progress = false;
    for (let s = 0; s < n; s++) {
      const from = placed[s]! + 1;
      let seq = from;
      for (; seq <= cutSeqs[s]!; seq++) {
        if (seq > keep[s]!) {
          const dep = depOf(s, seq);
          if (dep > lastKnown || dep >= firstExcluded) {
            cutSeqs[s] = seq - 1;
            break;
          }
        }
        const passed = causalOf(s, seq);
        if (passed === undefined) continue;
        if (passed.some((need, t) => t !== s && need > cutSeqs[t]!)) {
          if (seq > keep[s]!) cutSeqs[s] = seq - 1; // its causal past did not survive
          break;
        }
        if (!allAtLeast(placed, passed, s)) break; // wait for that past to be placed

      }
      if (seq === from) continue;
      orders.push({ sender: s, firstSeq: from, count: seq - from, firstGlobal: next });
      next += seq - from;
      placed[s] = seq - 1;
      progress = true;
    }
  }
  for (let s = 0; s < n; s++) {
    // Nothing kept is left unplaced when the acks are honest: a kept entry's causal past
    // is kept and placeable. Acks that contradict each other (no honest daemon sends
    // them: a lying member) must not stop the daemon: the rest of a kept prefix goes
    // last, in seq order, whatever its vector says.
    if (placed[s]! < keep[s]!) {
      const from = placed[s]! + 1;
      const count = Math.min(keep[s]!, cutSeqs[s]!) - from + 1;
      if (count > 0) {
        orders.push({ sender: s, firstSeq: from, count, firstGlobal: next });
        next += count;
        placed[s] = from + count - 1;
      }
    }
    cutSeqs[s] = Math.min(cutSeqs[s]!, placed[s]!);
  }
  return {
    ballot: input.ballot,
    oldViewId: input.oldViewId,
    cutSeqs,
    orders: orders.map((r) => ({ ...r })),
    holders,
  };
}

/** `depOf(sender, seq)`: the causal barrier of an entry, from participants' marks (0 if unknown). */
function depLookup(markLists: ReadonlyArray<readonly chorus.IDepMark[]>, n: number): (s: number, seq: number) => number {
  const perSender: Array<Array<{ seq: number; dep: number }>> = Array.from({ length: n }, () => []);
  for (const marks of markLists) for (const m of marks) perSender[m.sender ?? 0]?.push({ seq: m.seq ?? 0, dep: m.dep ?? 0 });
  for (const list of perSender) list.sort((a, b) => a.seq - b.seq || a.dep - b.dep);
  return (s, seq) => {
    const list = perSender[s]!;
    let lo = 0;
    let hi = list.length - 1;
    let dep = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]!.seq <= seq) {
        dep = list[mid]!.dep;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return dep;
  };
}

/** `causalOf(sender, seq)`: the causal deps of a causal entry held by some participant. */
function causalLookup(markLists: ReadonlyArray<readonly chorus.IDepMark[]>): (s: number, seq: number) => readonly number[] | undefined {
  const bySender = new Map<number, Map<number, readonly number[]>>();
  for (const marks of markLists) {
    for (const m of marks) {
      const passed = m.causal?.passed;
      if (!passed) continue;
      let perSeq = bySender.get(m.sender ?? 0);
      if (perSeq === undefined) bySender.set(m.sender ?? 0, (perSeq = new Map()));
      perSeq.set(m.seq ?? 0, passed);
    }
  }
  return (s, seq) => bySender.get(s)?.get(seq);
}
