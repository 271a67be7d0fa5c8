// The member's side of a view change (the flush), as an acceptor in Paxos' sense.
//
// A member acknowledges the highest ballot it saw in the current view's flush, telling
// its proposer what it holds (and what it accepted earlier in this flush); it fetches
// what the proposer's cut (the decision) says it misses, and accepts the decision
// (Ready) once every entry of the cut is here. The accepted decision is reported to
// every later proposer of this flush, so that it completes it instead of deciding
// differently.
//
// The component owns the ballot it promised (`highest`), the flush it takes part in and
// the decision it accepted. It reaches the node through a narrow context: the clock,
// its key, the view and what it received, `send`, and the few node operations a promise
// and an acknowledgement need (`promised`, `holdings`, `maxViewIdSeen`, and the proposer's own handlers
// when this daemon proposes to itself).
import type { chorus } from '../wire/gen/chorus.js';
import { type Ballot, ballotEquals, ballotToProto, compareBallot } from './ballot.js';
import type { DaemonView, PeerKey } from './types.js';

/** A member's side of a flush: the ballot it acknowledged. */
export interface FlushState {
  readonly ballot: Ballot;
  readonly proposer: PeerKey;
  readonly oldViewId: number;
  readonly startedMs: number;
  /** The acknowledgement sent, repeated when the proposer repeats its Propose. */
  readonly ack: chorus.IProposeAck;
  cut: chorus.ICut | undefined;
  readySent: boolean;
}

export interface ViewChangeMemberContext {
  readonly nowMs: number;
  readonly selfKey: PeerKey;
  readonly view: DaemonView | undefined;
  /** Per member of the view: the highest seq received in order from it. */
  readonly received: readonly number[];
  send(to: PeerKey, frame: chorus.IPeerFrame): void;
  /**
   * This member promised `ballot` of `from` (`first`: its first promise in this view):
   * the node stops sending in the old view and enters the flush.
   */
  promised(ballot: Ballot, from: PeerKey, first: boolean): void;
  /** What this member holds of the old view, for its acknowledgement. */
  holdings(): chorus.IProposeAck;
  /** The highest daemon view id this daemon has seen: installed, accepted or acknowledged. */
  maxViewIdSeen(): number;
  /** The proposer's side of this daemon, when it proposed to itself. */
  ackToSelf(ack: chorus.IProposeAck): void;
  readyToSelf(ready: chorus.IReady): void;
}

export class ViewChangeMember {
  /** The highest ballot this member acknowledged (its promise). */
  private highestBallot: Ballot = { counter: 0, proposer: { name: '', incarnation: '' } };
  private current: FlushState | undefined;
  /**
   * The decision (Cut) this daemon accepted in the flush of its current view, with the
   * ballot it was accepted under: reported in acknowledgements so that a later proposer
   * completes it instead of deciding differently (Paxos' rule). Reset at install.
   */
  private acceptedCut: chorus.ICut | undefined;

  constructor(private readonly ctx: ViewChangeMemberContext) {}

  get highest(): Ballot {
    return this.highestBallot;
  }
  /** The flush this member takes part in, if any. */
  get flush(): Readonly<FlushState> | undefined {
    return this.current;
  }
  get accepted(): chorus.ICut | undefined {
    return this.acceptedCut;
  }

  /** A proposer learned of a higher ballot (a refusal names it): new ballots go above it. */
  noteHigher(ballot: Ballot): void {
    if (compareBallot(ballot, this.highestBallot) > 0) this.highestBallot = ballot;
  }

  /** The view changed (installed, or this daemon stepped down): no flush, nothing accepted. */
  reset(): void {
    this.current = undefined;
    this.acceptedCut = undefined;
  }

  /** A Propose for the current view (the node handled other views). */
  onPropose(from: PeerKey, p: chorus.IPropose, ballot: Ballot): void {
    const oldViewId = p.oldViewId ?? 0;
    // Promises bind within one flush: a member not flushing made none in this view (it
    // flushes from its first acknowledgement until it installs or steps down), so a ballot
    // it saw in an earlier view does not make it refuse (the proposer would wait for a
    // flush that is long over).
    const order = this.current === undefined ? 1 : compareBallot(ballot, this.highestBallot);
    if (order < 0) {
      // Members acknowledge only the highest ballot; say which, so its proposer continues
      // above it at once instead of timing out.
      this.ctx.send(from, { proposeAck: { ballot: p.ballot ?? null, oldViewId, refused: true, highest: ballotToProto(this.highestBallot) } });
      return;
    }
    if (order === 0) {
      // A repeat (our acknowledgement was lost): answer it again.
      if (this.current !== undefined && from !== this.ctx.selfKey && compareBallot(this.current.ballot, ballot) === 0) this.ctx.send(from, { proposeAck: this.current.ack });
      return;
    }
    this.highestBallot = ballot;
    this.ctx.promised(ballot, from, this.current === undefined);
    const ack: chorus.IProposeAck = {
      ballot: p.ballot ?? null,
      oldViewId,
      ...this.ctx.holdings(),
      // The promise: what this member accepted in this flush, and the ids it has seen.
      accepted: this.acceptedCut ?? null,
      maxViewId: this.ctx.maxViewIdSeen(),
    };
    this.current = { ballot, proposer: from, oldViewId, startedMs: this.ctx.nowMs, ack, cut: undefined, readySent: false };
    if (from === this.ctx.selfKey) this.ctx.ackToSelf(ack);
    else this.ctx.send(from, { proposeAck: ack });
  }

  onCut(from: PeerKey, cut: chorus.ICut): void {
    const f = this.current;
    if (f === undefined || !ballotEquals(cut.ballot, f.ballot) || from !== f.proposer) return;
    if (f.cut !== undefined && f.readySent) {
      // A repeat: our Ready was lost.
      this.ctx.send(from, { ready: { ballot: ballotToProto(f.ballot), oldViewId: f.oldViewId } });
      return;
    }
    // First time, or a repeat while we still miss entries (a fetch or its answer was lost).
    f.cut = cut;
    const view = this.ctx.view!;
    const received = this.ctx.received;
    const cutSeqs = cut.cutSeqs ?? [];
    const holders = cut.holders ?? [];
    for (let s = 0; s < view.members.length; s++) {
      if (received[s]! >= (cutSeqs[s] ?? 0)) continue;
      const holder = view.members[holders[s] ?? 0];
      if (holder === undefined || holder.key === this.ctx.selfKey) continue;
      this.ctx.send(holder.key, { fetch: { viewId: view.id, origin: s, fromSeq: received[s]! + 1, toSeq: cutSeqs[s] ?? 0 } });
    }
  }

  /**
   * Member: accept the decision once every entry of its cut is here (Ready). From then
   * on the decision is reported to every later proposer of this flush.
   */
  progress(): boolean {
    const f = this.current;
    if (f === undefined || f.cut === undefined || f.readySent) return false;
    if (!this.holdsCut(f.cut.cutSeqs ?? [])) return false;
    f.readySent = true;
    this.acceptedCut = f.cut;
    const ready: chorus.IReady = { ballot: ballotToProto(f.ballot), oldViewId: f.oldViewId };
    if (f.proposer === this.ctx.selfKey) this.ctx.readyToSelf(ready);
    else this.ctx.send(f.proposer, { ready });
    return true;
  }

  /** Whether every entry of a cut is here. */
  holdsCut(cutSeqs: readonly number[]): boolean {
    const received = this.ctx.received;
    for (let s = 0; s < received.length; s++) if (received[s]! < (cutSeqs[s] ?? 0)) return false;
    return true;
  }
}
