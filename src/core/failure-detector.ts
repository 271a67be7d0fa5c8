// FailureDetector: who this daemon suspects in its daemon view, and who the others do.
//
// Every frame from a member counts as a heartbeat; a member silent for `suspectMs` is
// suspected. Members report their own suspicions on heartbeats, and from both follows
// the clique a view change keeps (see clique.ts). The coordinator also suspects a member
// that keeps the buffer of unstable entries full (a laggard). Heartbeats go out every
// `heartbeatMs`, and at once when this daemon's suspicions changed. Time is what the
// node passes in. Per-view state is replaced at every daemon view install (reset).
import { largestClique } from './clique.js';
import type { PeerKey } from './types.js';

export class FailureDetector {
  private self = -1;
  /** Per member: when a frame from it last arrived. */
  private heardMs: number[] = [];
  private lastHeartbeatMs = -Infinity;
  private mine = new Set<number>();
  /** Per member: whom it suspects (its last heartbeat). */
  private reported: Array<Set<number>> = [];
  /** This daemon's suspicions changed since its last heartbeat: send one at once. */
  changed = false;
  /** Members this coordinator excluded for lagging stability (cause 'expelled'). */
  private readonly excluded = new Set<PeerKey>();
  /** Since when the buffer of unstable entries has been over half its bound. */
  private bufferFullSinceMs: number | undefined;

  constructor(
    private readonly suspectMs: number,
    private readonly heartbeatMs: number,
  ) {}

  /** A new daemon view with `n` members, this daemon at index `self`: nobody suspected. */
  reset(n: number, self: number, nowMs: number): void {
    this.self = self;
    this.heardMs = new Array<number>(n).fill(nowMs);
    this.reported = Array.from({ length: n }, () => new Set<number>());
    this.mine = new Set();
    this.excluded.clear();
    this.changed = true;
  }

  /**
   * Indexes this daemon suspects. (The view change still adds to it directly when a
   * participant does not answer in time; it then sets `changed`.)
   */
  get suspects(): Set<number> {
    return this.mine;
  }
  /** Per member: when a frame from it last arrived. */
  get lastHeard(): readonly number[] {
    return this.heardMs;
  }
  /** Per member: whom it reported suspecting. */
  get peerSuspects(): ReadonlyArray<ReadonlySet<number>> {
    return this.reported;
  }
  /** Members excluded for lagging stability (their leave cause is 'expelled'). */
  get laggards(): ReadonlySet<PeerKey> {
    return this.excluded;
  }

  /** A frame from member `i` arrived. */
  heard(i: number, nowMs: number): void {
    this.heardMs[i] = nowMs;
  }

  /** Member `i`'s heartbeat listed whom it suspects. */
  peerReported(i: number, suspects: readonly number[]): void {
    const sus = new Set<number>();
    for (const x of suspects) sus.add(x);
    this.reported[i] = sus;
  }

  /** Suspect the members silent for longer than `suspectMs`; returns the new ones. */
  detect(nowMs: number): number[] {
    const fresh: number[] = [];
    for (let i = 0; i < this.heardMs.length; i++) {
      if (i === this.self || this.mine.has(i)) continue;
      if (nowMs - this.heardMs[i]! > this.suspectMs) {
        this.mine.add(i);
        fresh.push(i);
      }
    }
    if (fresh.length > 0) this.changed = true;
    return fresh;
  }

  /** Suspect member `i` now (a restarted daemon's old run); false if it already was. */
  suspect(i: number): boolean {
    if (i === this.self || this.mine.has(i)) return false;
    this.mine.add(i);
    this.changed = true;
    return true;
  }

  /**
   * Whether the buffer of unstable entries has been over half its bound for longer than
   * twice the suspect timeout. `over` false (or not the coordinator, or in a flush)
   * restarts the count.
   */
  bufferFullTooLong(over: boolean, nowMs: number): boolean {
    if (!over) {
      this.bufferFullSinceMs = undefined;
      return false;
    }
    this.bufferFullSinceMs ??= nowMs;
    return nowMs - this.bufferFullSinceMs > 2 * this.suspectMs;
  }

  /** Exclude member `i` (key `key`) for lagging: suspected, with cause 'expelled'. */
  excludeLaggard(i: number, key: PeerKey): void {
    this.mine.add(i);
    this.excluded.add(key);
    this.bufferFullSinceMs = undefined;
    this.changed = true;
  }

  /** Whether heartbeats are due now (period, or changed suspicions); if so, they are sent. */
  heartbeatDue(nowMs: number): boolean {
    if (!this.changed && nowMs < this.lastHeartbeatMs + this.heartbeatMs) return false;
    this.changed = false;
    this.lastHeartbeatMs = nowMs;
    return true;
  }

  /** When the next heartbeat is due or the next member may become suspected. */
  nextWakeMs(): number {
    let wake = this.lastHeartbeatMs + this.heartbeatMs;
    for (let i = 0; i < this.heardMs.length; i++) {
      if (i === this.self || this.mine.has(i)) continue;
      wake = Math.min(wake, this.heardMs[i]! + this.suspectMs + 1);
    }
    return wake;
  }

  /**
   * The members to keep: the largest set of members this daemon does not suspect that
   * all reach each other (no one suspects another), with this daemon in it; ties go to
   * the oldest. When only some pairs cannot reach each other, the daemon with the broken
   * links is the one dropped, and a connected majority never shrinks to a minority.
   * Indexes in increasing (age) order.
   */
  clique(): number[] {
    const candidates: number[] = [];
    for (let i = 0; i < this.heardMs.length; i++) if (i === this.self || !this.mine.has(i)) candidates.push(i);
    return largestClique(candidates, this.self, (a, b) => this.conflict(a, b));
  }

  /** Whether `a` and `b` cannot both stay: one suspects the other. */
  conflict(a: number, b: number): boolean {
    const sa = a === this.self ? this.mine : this.reported[a]!;
    const sb = b === this.self ? this.mine : this.reported[b]!;
    return sa.has(b) || sb.has(a);
  }
}
