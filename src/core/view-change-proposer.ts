// The proposer's side of a view change (the flush), as a proposer in Paxos' sense.
//
// The coordinator (or the oldest member it does not suspect, when the coordinator is
// gone) proposes a new view with a ballot above every one it saw; it collects from every
// participant what it holds (ProposeAck), decides the cut (the union) and the final
// order of the old view, or completes the decision a participant accepted earlier, sends
// it (Cut), and installs the new view once every participant accepted it (Ready).
// A failure during a flush restarts it with a higher ballot. A proposal needs a quorum
// of the last primary view (dynamic voting): a proposer that cannot gather one steps down.
//
// The component owns the proposal, the retry flag, the highest counter seen and the
// conflict timer. It is given the failure detector and the member's side (whose promise
// is the highest ballot), and reaches the node through a narrow context: the clock, its
// identity and view, the join and leave queues, `send` / `trace`, and the node
// operations a proposal needs (propose to itself, deliver the cut, install, step down).
import { chorus } from '../wire/gen/chorus.js';
import { type Ballot, ballotEquals, ballotFromProto, ballotToProto, compareBallot } from './ballot.js';
import { computeCut } from './cut.js';
import type { FailureDetector } from './failure-detector.js';
import { type LeaveCause, causeFromProto, causeToProto } from './group-table.js';
import { hasQuorum } from './quorum.js';
import type { DaemonId, DaemonView, PeerKey, TraceEvent, ViewMember } from './types.js';
import { peerKey } from './types.js';
import type { ViewChangeMember } from './view-change-member.js';
import { compareAge, memberFromProto, memberToProto } from './view-member.js';

/** The proposer's side of a flush. */
export interface Proposal {
  readonly ballot: Ballot;
  readonly oldView: DaemonView;
  readonly newView: DaemonView;
  /** Old members that take part in the flush (survivors and voluntary leavers). */
  readonly participants: readonly PeerKey[];
  readonly leaving: ReadonlySet<PeerKey>;
  readonly acks: Map<PeerKey, chorus.IProposeAck>;
  readonly ready: Set<PeerKey>;
  readonly startedMs: number;
  readonly propose: chorus.IPropose;
  /** The decision sent for acceptance: the cut with the new view (ids, members, who left). */
  decision: chorus.ICut | undefined;
  /** Last time Propose or Cut went out to participants that have not answered (control frames are repaired too). */
  resentMs: number;
}

export interface ViewChangeProposerContext {
  readonly nowMs: number;
  readonly selfId: DaemonId;
  readonly selfKey: PeerKey;
  readonly joining: boolean;
  readonly view: DaemonView | undefined;
  /** This daemon's index in the view. */
  readonly myIndex: number;
  /** Per member of the view: the highest seq received in order from it. */
  readonly received: readonly number[];
  /** The highest global seq delivered. */
  readonly delivered: number;
  /** Daemons to add, and members leaving on purpose, in the next view (emptied by a proposal). */
  readonly joinQueue: Map<PeerKey, ViewMember>;
  readonly leaveQueue: Set<PeerKey>;
  /** The members to keep in a view change (see FailureDetector.clique). */
  clique(): ViewMember[];
  memberIndex(key: PeerKey): number;
  /** The highest daemon view id this daemon has seen: installed, accepted or acknowledged. */
  maxViewIdSeen(): number;
  send(to: PeerKey, frame: chorus.IPeerFrame): void;
  trace(event: TraceEvent): void;
  /** The member's side of this daemon takes the Propose it sent to itself. */
  proposeToSelf(propose: chorus.IPropose): void;
  /** Deliver the old view up to the decided cut. */
  applyCut(orders: readonly chorus.IOrderRange[], cutSeqs: readonly number[]): void;
  /** The group table after the boundary of `departed`, as a copy (its effects concern nobody). */
  tableAfter(departed: ReadonlyMap<string, LeaveCause>): chorus.IGroupTable;
  /** Install this view when the step settles. */
  installLater(install: chorus.IInstall): void;
  /** The completed view leaves this daemon out: leave, or step down. */
  excluded(install: chorus.IInstall, reason: string): void;
  /** No quorum of the last primary view. */
  stepDown(reason: string): void;
  /** The address of a member of the new view. */
  learnAddress(member: ViewMember): void;
}

export class ViewChangeProposer {
  private current: Proposal | undefined;
  /** Our ballot was refused by one whose proposer is gone: propose again above it. */
  private retryPropose = false;
  /** The highest ballot counter seen in any view: new ballots go above it. */
  private maxCounter = 0;
  /** When a conflict between two other members was first seen (it waits for the rest). */
  private conflictSinceMs: number | undefined;

  constructor(
    private readonly ctx: ViewChangeProposerContext,
    private readonly fd: FailureDetector,
    private readonly member: ViewChangeMember,
    private readonly heartbeatMs: number,
    private readonly suspectMs: number,
    private readonly flushTimeoutMs: number,
  ) {}

  /** The flush this daemon proposes, if any. */
  get proposal(): Readonly<Proposal> | undefined {
    return this.current;
  }

  /** The earliest time this side must act again (infinity: nothing to wait for). */
  nextWakeMs(): number {
    let wake = Number.POSITIVE_INFINITY;
    if (this.current !== undefined) wake = Math.min(wake, this.current.startedMs + this.flushTimeoutMs + 1);
    if (this.conflictSinceMs !== undefined) wake = Math.min(wake, this.conflictSinceMs + 2 * this.heartbeatMs);
    return wake;
  }

  /** A view was installed, or this daemon steps down. */
  reset(): void {
    this.current = undefined;
    this.retryPropose = false;
    this.conflictSinceMs = undefined;
  }

  /** Dropped without reset (stepping down keeps the retry state as it was). */
  drop(): void {
    this.current = undefined;
  }

  /** This member promised `ballot` of `from`: new ballots go above it; ours is outvoted. */
  onPromised(ballot: Ballot, from: PeerKey): void {
    this.maxCounter = Math.max(this.maxCounter, ballot.counter);
    if (this.current !== undefined && from !== this.ctx.selfKey) this.current = undefined; // outvoted
  }

  /** Should this daemon propose a new view, and with whom? */
  maybePropose(): boolean {
    const ctx = this.ctx;
    const view = ctx.view;
    if (view === undefined || ctx.joining || this.current !== undefined) return false;
    const suspects = this.fd.suspects;
    const myIndex = ctx.myIndex;
    const flush = this.member.flush;
    if (flush !== undefined) {
      const f = flush;
      const stuck = ctx.nowMs - f.startedMs > 2 * this.flushTimeoutMs;
      if (f.proposer === ctx.selfKey) {
        // Our own ballot was refused (a higher one exists): continue above it when its
        // proposer is gone, or when its flush makes no progress.
        if (!this.retryPropose && !stuck) return false;
        this.retryPropose = false;
        return this.propose();
      }
      // A flush we acknowledged is stuck if its proposer is suspected (or it makes no
      // progress for long): the oldest member we do not suspect takes over with a higher
      // ballot, and completes whatever that flush got accepted.
      const p = ctx.memberIndex(f.proposer);
      if (p >= 0 && !suspects.has(p) && !stuck) return false;
      if (!this.isActingCoordinator()) return false;
      return this.propose();
    }
    if (myIndex !== 0) {
      // Take over only when every older member has been silent for long (a live
      // coordinator that cannot hear us drops us instead: the younger end goes).
      if (!this.isActingCoordinator()) return false;
      for (let i = 0; i < myIndex; i++) if (ctx.nowMs - this.fd.lastHeard[i]! <= 2 * this.suspectMs) return false;
    }
    const joinQueue = ctx.joinQueue;
    const leaveQueue = ctx.leaveQueue;
    // The common case, on every step of a healthy coordinator: nobody suspects anybody.
    if (joinQueue.size === 0 && leaveQueue.size === 0 && suspects.size === 0 && this.fd.peerSuspects.every((x) => x.size === 0)) {
      return false;
    }
    const keep = ctx.clique();
    const changed =
      keep.length !== view.members.length || joinQueue.size > 0 || leaveQueue.size > 0;
    if (!changed) {
      this.conflictSinceMs = undefined;
      return false;
    }
    // Only others' suspicions (a link broken between two other members): they reach us
    // one heartbeat at a time, so wait two heartbeats for the rest of them before
    // choosing whom to exclude, or the first report alone would pick the wrong end.
    const onlyConflicts =
      joinQueue.size === 0 && leaveQueue.size === 0 && view.members.every((m, i) => !suspects.has(i) || i === myIndex);
    if (onlyConflicts) {
      this.conflictSinceMs ??= ctx.nowMs;
      if (ctx.nowMs - this.conflictSinceMs < 2 * this.heartbeatMs) return false;
    }
    this.conflictSinceMs = undefined;
    return this.propose();
  }

  private isActingCoordinator(): boolean {
    for (let i = 0; i < this.ctx.myIndex; i++) if (!this.fd.suspects.has(i)) return false;
    return true;
  }

  private propose(): boolean {
    const ctx = this.ctx;
    const old = ctx.view!;
    const keep = ctx.clique();
    const leaving = new Set([...ctx.leaveQueue].filter((k) => keep.some((m) => m.key === k)));
    // Tentative: the id is decided once the acknowledgements say which ids exist.
    const newViewId = ctx.maxViewIdSeen() + 1;
    const members: ViewMember[] = keep.filter((m) => !leaving.has(m.key));
    for (const j of ctx.joinQueue.values()) members.push({ ...j, joinedView: newViewId });
    members.sort(compareAge);
    const participants = keep.map((m) => m.key);
    // The survivors must be a quorum of the last primary view (keeps guarantee 5); the
    // proposals that may have been installed are checked once the acks are in.
    if (!hasQuorum(participants, old.members.map((m) => m.key))) {
      ctx.stepDown('no quorum of the last primary view');
      return true;
    }
    const ballot: Ballot = { counter: Math.max(this.member.highest.counter, this.maxCounter) + 1, proposer: ctx.selfId };
    ctx.joinQueue.clear();
    ctx.leaveQueue.clear();
    const propose: chorus.IPropose = {
      ballot: ballotToProto(ballot),
      oldViewId: old.id,
      newViewId,
      members: members.map(memberToProto),
      leaving: old.members.filter((m) => leaving.has(m.key)).map((m) => m.id),
    };
    this.current = {
      ballot,
      oldView: old,
      newView: { id: newViewId, members },
      participants,
      leaving,
      acks: new Map(),
      ready: new Set(),
      startedMs: ctx.nowMs,
      propose,
      decision: undefined,
      resentMs: ctx.nowMs,
    };
    ctx.trace({ type: 'view-change-start', ballot: ballot.counter, proposer: ctx.selfKey, members: members.map((m) => m.key) });
    for (const k of participants) if (k !== ctx.selfKey) ctx.send(k, { propose });
    ctx.proposeToSelf(propose);
    return true;
  }

  onProposeAck(from: PeerKey, ack: chorus.IProposeAck): void {
    const p = this.current;
    if (p === undefined || !ballotEquals(ack.ballot, p.ballot) || (ack.oldViewId ?? 0) !== p.oldView.id) return;
    if (!p.participants.includes(from)) return;
    if (ack.refused) {
      // A participant acknowledged a higher ballot: that proposer runs this flush. Give
      // way, and continue above it if that flush does not complete in time.
      const higher = ballotFromProto(ack.highest);
      this.member.noteHigher(higher);
      this.maxCounter = Math.max(this.maxCounter, higher.counter);
      this.current = undefined;
      this.ctx.trace({ type: 'flush-restart', ballot: p.ballot.counter });
      // Its proposer runs the flush if it is a member we still hear; otherwise (it crashed,
      // or is an earlier incarnation) go on above it at once. (A live rival is left alone
      // until its flush is stuck: both going on at once could outbid each other forever.)
      const owner = this.ctx.memberIndex(peerKey(higher.proposer));
      this.retryPropose = owner < 0 || this.fd.suspects.has(owner);
      return;
    }
    if (!p.acks.has(from)) p.acks.set(from, ack);
  }

  onReady(from: PeerKey, r: chorus.IReady): void {
    const p = this.current;
    if (p === undefined || !ballotEquals(r.ballot, p.ballot)) return;
    p.ready.add(from);
  }

  /**
   * Proposer: restart on failure; once every participant acknowledged, send the
   * decision (the highest one any participant accepted, else a new one); install once
   * every participant accepted it (Ready).
   */
  progress(): boolean {
    const p = this.current;
    if (p === undefined) return false;
    const ctx = this.ctx;
    const suspects = this.fd.suspects;
    // A participant failed, or the flush takes too long: restart with a higher ballot.
    const failed = p.participants.some((k) => {
      const i = ctx.memberIndex(k);
      return i >= 0 && suspects.has(i);
    });
    if (failed || ctx.nowMs - p.startedMs > this.flushTimeoutMs) {
      if (!failed) {
        // Whoever did not answer in time is treated as failed.
        for (const k of p.participants) {
          if (p.acks.has(k) && (p.decision === undefined || p.ready.has(k))) continue;
          const i = ctx.memberIndex(k);
          if (i >= 0 && i !== ctx.myIndex) suspects.add(i);
        }
        this.fd.changed = true;
      }
      this.current = undefined;
      ctx.trace({ type: 'flush-restart', ballot: p.ballot.counter });
      return this.propose();
    }
    // Control frames are lost on broken links like data frames: repeat them to whoever
    // has not answered (members answer a repeat with their earlier answer).
    if (ctx.nowMs - p.resentMs >= this.heartbeatMs) {
      p.resentMs = ctx.nowMs;
      for (const k of p.participants) {
        if (k === ctx.selfKey) continue;
        if (!p.acks.has(k)) ctx.send(k, { propose: p.propose });
        else if (p.decision !== undefined && !p.ready.has(k)) ctx.send(k, { cut: p.decision });
      }
    }
    // A participant already installed the next view (its Install exists only once every
    // participant of its decision accepted it): complete that view.
    for (const ack of p.acks.values()) {
      if (ack.installed) {
        this.current = undefined;
        const install = ack.installed;
        for (const k of p.participants) if (k !== ctx.selfKey) ctx.send(k, { install });
        ctx.installLater(install);
        return true;
      }
    }
    if (p.acks.size < p.participants.length) return false;
    if (p.decision === undefined) {
      p.decision = this.decide(p);
      for (const k of p.participants) if (k !== ctx.selfKey) ctx.send(k, { cut: p.decision });
      this.member.onCut(ctx.selfKey, p.decision);
      return true;
    }
    if (p.ready.size < p.participants.length) return false;
    this.finishProposal(p);
    return true;
  }

  /**
   * The decision of this ballot. Paxos' rule: when a participant accepted a decision for
   * this old view, the one with the highest ballot is completed unchanged (if any daemon
   * installed a view, every participant of its ballot accepted it, and this proposer's
   * participants, a quorum of the old view too, include one of them). Otherwise a new
   * decision: the cut, and a view id above every id any participant has seen.
   */
  private decide(p: Proposal): chorus.ICut {
    let best: chorus.ICut | undefined;
    for (const ack of p.acks.values()) {
      const a = ack.accepted;
      if (a == null || (a.oldViewId ?? 0) !== p.oldView.id) continue;
      if (best === undefined || compareBallot(ballotFromProto(a.ballot), ballotFromProto(best.ballot)) > 0) best = a;
    }
    if (best !== undefined) {
      this.ctx.trace({ type: 'view-change-complete', ballot: p.ballot.counter, viewId: best.newViewId ?? 0 });
      return { ...best, ballot: ballotToProto(p.ballot), holders: this.holdersFor(p, best.cutSeqs ?? []) };
    }
    const cut = this.computeCut(p);
    let maxId = this.ctx.maxViewIdSeen();
    for (const ack of p.acks.values()) maxId = Math.max(maxId, ack.maxViewId ?? 0);
    const newViewId = maxId + 1;
    const oldKeys = new Set(p.oldView.members.map((m) => m.key));
    const members = p.newView.members.map((m) => (oldKeys.has(m.key) ? m : { ...m, joinedView: newViewId }));
    const left: chorus.IDaemonId[] = [];
    const leftCauses: chorus.Cause[] = [];
    const newKeys = new Set(members.map((m) => m.key));
    for (const m of p.oldView.members) {
      if (newKeys.has(m.key)) continue;
      // Why it left, as far as the proposer can tell: on purpose; excluded for lagging;
      // silent to the proposer itself (crashed, or cut off from it); or dropped only
      // because some other member could not reach it (a partial partition).
      const i = this.ctx.memberIndex(m.key);
      const cause: LeaveCause = p.leaving.has(m.key)
        ? 'leave'
        : this.fd.laggards.has(m.key)
          ? 'expelled'
          : i >= 0 && !this.fd.suspects.has(i)
            ? 'partition'
            : 'crash';
      left.push(m.id);
      leftCauses.push(causeToProto(cause));
    }
    return { ...cut, newViewId, members: members.map(memberToProto), left, leftCauses };
  }

  /** Per old member, a participant that holds its entries up to `cutSeqs` (this daemon if it does). */
  private holdersFor(p: Proposal, cutSeqs: readonly number[]): number[] {
    const n = p.oldView.members.length;
    const received = this.ctx.received;
    const holders = new Array<number>(n).fill(this.ctx.myIndex);
    for (let s = 0; s < n; s++) {
      const need = cutSeqs[s] ?? 0;
      if (received[s]! >= need) continue;
      for (const [k, ack] of p.acks) {
        if ((ack.received ?? [])[s]! >= need) {
          holders[s] = this.ctx.memberIndex(k);
          break;
        }
      }
    }
    return holders;
  }

  /** The cut of proposal `p` (see computeCut in cut.ts), from its acks and what this daemon holds now. */
  private computeCut(p: Proposal): chorus.ICut {
    return computeCut({
      ballot: ballotToProto(p.ballot),
      oldViewId: p.oldView.id,
      n: p.oldView.members.length,
      self: this.ctx.myIndex,
      received: this.ctx.received,
      acks: p.participants.map((k) => ({ index: this.ctx.memberIndex(k), ack: p.acks.get(k)! })),
    });
  }

  private finishProposal(p: Proposal): void {
    const ctx = this.ctx;
    const cut = p.decision!;
    this.current = undefined;
    const departed = new Map<string, LeaveCause>();
    const left = cut.left ?? [];
    const leftCauses = cut.leftCauses ?? [];
    left.forEach((id, i) => departed.set(id.name ?? '', causeFromProto(leftCauses[i] ?? chorus.Cause.CAUSE_LEAVE)));
    const newMembers = (cut.members ?? []).map(memberFromProto);
    const targets = new Set<PeerKey>(p.participants);
    for (const m of newMembers) targets.add(m.key);
    targets.delete(ctx.selfKey);
    if (!newMembers.some((m) => m.key === ctx.selfKey)) {
      // We complete a decision an earlier ballot got accepted, and it leaves us out: we
      // did not take part in its cut (we may have delivered less than where its order
      // starts), so we do not deliver it. The members deliver it from the Install; a
      // joiner in it waits for a later view (no group table from us).
      const orders = cut.orders ?? [];
      let lastGlobal = 0;
      for (const r of orders) lastGlobal = Math.max(lastGlobal, (r.firstGlobal ?? 0) + (r.count ?? 0) - 1);
      const install: chorus.IInstall = {
        ballot: ballotToProto(p.ballot),
        oldViewId: p.oldView.id,
        newViewId: cut.newViewId ?? 0,
        members: cut.members ?? [],
        lastGlobal,
        left,
        leftCauses,
        cutSeqs: cut.cutSeqs ?? [],
        orders,
        firstGlobal: (orders[0]?.firstGlobal ?? 1) - 1,
      };
      for (const key of targets) ctx.send(key, { install });
      ctx.excluded(install, 'excluded from the view it completed');
      return;
    }
    // Deliver the cut here first: the table a joiner receives is the table after it
    // and after this boundary.
    ctx.applyCut(cut.orders ?? [], cut.cutSeqs ?? []);
    const lastGlobal = ctx.delivered;
    const install: chorus.IInstall = {
      ballot: ballotToProto(p.ballot),
      oldViewId: p.oldView.id,
      newViewId: cut.newViewId ?? 0,
      members: cut.members ?? [],
      lastGlobal,
      groups: ctx.tableAfter(departed),
      left,
      leftCauses,
      cutSeqs: cut.cutSeqs ?? [],
      orders: cut.orders ?? [],
      firstGlobal: ((cut.orders ?? [])[0]?.firstGlobal ?? lastGlobal + 1) - 1,
    };
    for (const key of targets) ctx.send(key, { install });
    for (const m of newMembers) ctx.learnAddress(m);
    ctx.installLater(install);
  }
}
