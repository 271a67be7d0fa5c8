// StabilityTracker: what the other members of the daemon view hold, as they report it
// on data batches and heartbeats (their receive vectors, how far they delivered, how
// much of the order they know, whether they hold back delivery for a state transfer).
//
// From it follow: when a `safe` entry may be delivered (uniform delivery), what may be
// collected from the receive log and the order, which member lags, and what a broken
// connection lost. Reports only ever raise what is known (links reorder nothing, but a
// repeated or relayed report may be older). Replaced at every daemon view install.

export class StabilityTracker {
  private self = -1;
  /** Per member, per sender: the highest seq it reported received. */
  private peerReceived: number[][] = [];
  private peerDelivered: number[] = [];
  /** Highest global seq whose order each member knows (for `safe`). */
  private peerOrdered: number[] = [];
  /** Members that hold back delivery for a state transfer (Heartbeat.holding). */
  private peerHolding: boolean[] = [];
  /** Per member: how much of its stream it said it had sent, in its previous heartbeat. */
  private sentByLastHeartbeat: number[] = [];
  private lastAckOrdered = -1;
  private lastAckReceived = -1;

  /** A new daemon view with `n` members, this daemon at index `self`. */
  reset(n: number, self: number): void {
    this.self = self;
    this.peerReceived = Array.from({ length: n }, () => new Array<number>(n).fill(0));
    this.peerDelivered = new Array<number>(n).fill(0);
    this.peerOrdered = new Array<number>(n).fill(0);
    this.peerHolding = new Array<boolean>(n).fill(false);
    this.sentByLastHeartbeat = new Array<number>(n).fill(0);
    this.lastAckOrdered = -1;
    this.lastAckReceived = -1;
  }

  /** What member `i` holds and delivered (for stability and garbage collection). */
  note(i: number, received: readonly number[], delivered: number, ordered: number): void {
    const row = this.peerReceived[i]!;
    for (let s = 0; s < row.length; s++) row[s] = Math.max(row[s]!, received[s] ?? 0);
    this.peerDelivered[i] = Math.max(this.peerDelivered[i]!, delivered);
    this.peerOrdered[i] = Math.max(this.peerOrdered[i]!, ordered);
  }

  /**
   * A heartbeat of member `i`. Returns how much of its own stream it had sent by its
   * previous heartbeat: what of that is still missing here was lost with a broken
   * connection. (Not by this heartbeat: a heartbeat may overtake a large data frame,
   * which the link cuts into pieces with control frames between.)
   */
  noteHeartbeat(i: number, received: readonly number[], delivered: number, ordered: number, holding: boolean): number {
    this.note(i, received, delivered, ordered);
    this.peerHolding[i] = holding;
    const due = Math.min(received[i] ?? 0, this.sentByLastHeartbeat[i]!);
    this.sentByLastHeartbeat[i] = received[i] ?? 0;
    return due;
  }

  /** Member `i` holds back delivery for a state transfer (it lags on purpose). */
  isHolding(i: number): boolean {
    return this.peerHolding[i]!;
  }

  /**
   * Whether `safe` entry s/seq may be delivered at place `global`: every member holds it,
   * knows its place, and holds every entry placed before it (Totem's all-received-up-to;
   * those are the entries this daemon delivered, deliveredSeq per sender). Otherwise a
   * flush after crashes could skip an earlier slot and give the safe entry another place.
   */
  safeStable(s: number, seq: number, global: number, deliveredSeq: readonly number[]): boolean {
    const n = this.peerReceived.length;
    for (let m = 0; m < n; m++) {
      if (m === this.self) continue;
      const row = this.peerReceived[m]!;
      if (row[s]! < seq || this.peerOrdered[m]! < global) return false;
      for (let t = 0; t < n; t++) if (row[t]! < deliveredSeq[t]!) return false;
    }
    return true;
  }

  /** The lowest seq of sender `s` the other members reported received (+∞ alone). */
  othersReceived(s: number): number {
    let stable = Number.POSITIVE_INFINITY;
    for (let m = 0; m < this.peerReceived.length; m++) if (m !== this.self) stable = Math.min(stable, this.peerReceived[m]![s]!);
    return stable;
  }

  /** The lowest global seq the other members reported delivered (+∞ alone). */
  othersDelivered(): number {
    let all = Number.POSITIVE_INFINITY;
    for (let m = 0; m < this.peerDelivered.length; m++) if (m !== this.self) all = Math.min(all, this.peerDelivered[m]!);
    return all;
  }

  /** How many entries this daemon holds that member `m` did not report (its backlog). */
  backlog(m: number, received: readonly number[]): number {
    let behind = 0;
    for (let s = 0; s < received.length; s++) behind += received[s]! - this.peerReceived[m]![s]!;
    return behind;
  }

  /**
   * Whether to tell every member at once what this daemon holds and knows (while `safe`
   * entries wait): only when that changed since the last time.
   */
  acknowledgeDue(totalReceived: number, orderKnown: number): boolean {
    if (totalReceived === this.lastAckReceived && orderKnown === this.lastAckOrdered) return false;
    this.lastAckReceived = totalReceived;
    this.lastAckOrdered = orderKnown;
    return true;
  }
}
