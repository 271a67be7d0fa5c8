// Join and leave requests of daemons, queued at the coordinator for its next proposal.
//
// A joiner's request reaches any member; a member answers it at once (the joiner learns
// that the link toward it works) and forwards it to the coordinator, which queues the
// joiner once Admission has the join evidence. A daemon leaving on purpose (SIGTERM)
// asks the coordinator, which queues it for a view change; if it is alone, or when a
// view without it installs, it leaves. Outside a primary, a fresh daemon's request is
// a bootstrap candidate.
//
// The component owns the join and leave queues (the proposer reads and empties them) and
// whether this daemon was asked to leave. It reaches the node through a narrow context.
import type { chorus } from '../wire/gen/chorus.js';
import type { DaemonId, DaemonView, PeerKey, ViewMember } from './types.js';
import { peerKey } from './types.js';
import type { Mode, ViewState } from './view-state.js';

export interface MembershipRequestsContext {
  readonly selfId: DaemonId;
  readonly selfKey: PeerKey;
  readonly vs: ViewState;
  readonly mode: Mode;
  /** Never was in a view: may take part in forming the first primary. */
  readonly fresh: boolean;
  send(to: PeerKey, frame: chorus.IPeerFrame): void;
  /** Tell the transport where a peer is. */
  address(peer: PeerKey, advertise: string): void;
  trace(event: { type: 'suspect'; member: PeerKey }): void;
  /** Outside a primary: another fresh daemon looking for one (a bootstrap candidate). */
  freshPeer(key: PeerKey, advertise: string): void;
  /** A daemon outside the primary asked this one (also outside) to let it join. */
  lookingPeer(key: PeerKey, advertise: string): void;
  /** Coordinator: whether the join evidence admits `key` now (see Admission.onJoinRequest). */
  admit(view: DaemonView, key: PeerKey, from: PeerKey, direct: boolean, req: chorus.IJoinRequest): boolean;
  /** The running proposal adds `key` already. */
  beingAdded(key: PeerKey): boolean;
  /** Suspect member `i` now; false if it already was. */
  suspect(i: number): boolean;
  /** Leave the cluster now (the last view installed, if any). */
  leaveNow(viewId?: number): void;
}

export class MembershipRequests {
  /** Coordinator: daemons to add in the next view. */
  readonly joinQueue = new Map<PeerKey, ViewMember>();
  /** Coordinator: members to remove in the next view (leaving on purpose). */
  readonly leaveQueue = new Set<PeerKey>();
  private requested = false;

  constructor(private readonly ctx: MembershipRequestsContext) {}

  /** The operator asked this daemon to leave the cluster. */
  get leaveRequested(): boolean {
    return this.requested;
  }

  onJoinRequest(from: PeerKey, req: chorus.IJoinRequest): void {
    const ctx = this.ctx;
    const who = req.who;
    if (!who?.name || !who.incarnation) return;
    const key = peerKey({ name: who.name, incarnation: who.incarnation });
    const view = ctx.vs.view;
    if (view === undefined || ctx.mode === 'joining') {
      // No primary here: another fresh daemon looking for one is a bootstrap candidate.
      if (ctx.fresh && req.fresh && from === key && key !== ctx.selfKey) ctx.freshPeer(key, req.advertise ?? '');
      // Another daemon looking for the primary: if an operator forces one here, that
      // daemon must be asked for its ids (it may know views this one never saw).
      else if (from === key && key !== ctx.selfKey) ctx.lookingPeer(key, req.advertise ?? '');
      return;
    }
    const direct = from === key;
    if (direct) {
      // Answer the joiner straight away: it learns that the link toward it works.
      ctx.address(key, req.advertise ?? '');
      ctx.send(key, { heartbeat: { viewId: view.id } });
    }
    if (!ctx.vs.isCoordinator) {
      if (direct) ctx.send(view.members[0]!.key, { joinRequest: req });
      return;
    }
    if (ctx.vs.memberIndex(key) >= 0 || this.joinQueue.has(key)) return; // a repeat
    if (ctx.beingAdded(key)) return; // being added now
    // A name already in the view under another incarnation: that run is gone (a daemon
    // restarted). Exclude it first; the newcomer's retries get it in afterwards.
    const old = view.members.findIndex((m) => m.id.name === who.name);
    if (old >= 0) {
      if (old !== ctx.vs.myIndex && ctx.suspect(old)) ctx.trace({ type: 'suspect', member: view.members[old]!.key });
      return;
    }
    // Admit a joiner only once every member hears it and it hears every member (see Admission).
    if (!ctx.admit(view, key, from, direct, req)) return;
    this.joinQueue.set(key, { id: { name: who.name, incarnation: who.incarnation }, key, advertise: req.advertise ?? '', joinedView: 0 });
    ctx.address(key, req.advertise ?? '');
  }

  onLeaveRequest(req: chorus.ILeaveRequest): void {
    const view = this.ctx.vs.view;
    if (view === undefined) return;
    const who = req.who;
    if (!who?.name || !who.incarnation) return;
    const key = peerKey({ name: who.name, incarnation: who.incarnation });
    if (this.ctx.vs.memberIndex(key) < 0) return;
    if (!this.ctx.vs.isCoordinator) {
      this.ctx.send(view.members[0]!.key, { leaveRequest: req });
      return;
    }
    this.leaveQueue.add(key);
  }

  /** The operator asks this daemon to leave the cluster (SIGTERM). */
  onLeave(): void {
    if (this.requested) return;
    this.requested = true;
    const view = this.ctx.vs.view;
    if (view === undefined || view.members.length === 1) {
      this.ctx.leaveNow();
      return;
    }
    if (this.ctx.vs.isCoordinator) this.leaveQueue.add(this.ctx.selfKey);
    else this.ctx.send(view.members[0]!.key, { leaveRequest: { who: this.ctx.selfId } });
  }

  /** `view` installed: requests of its members are done; other joins and leaves stay queued. */
  installed(view: DaemonView): void {
    for (const m of view.members) this.joinQueue.delete(m.key);
    for (const k of [...this.leaveQueue]) if (!view.members.some((m) => m.key === k)) this.leaveQueue.delete(k);
  }

  /** In a newly installed view: a daemon asked to leave asks again (or leaves, alone). */
  leaveAgain(): void {
    if (!this.requested) return;
    const vs = this.ctx.vs;
    const view = vs.view!;
    if (view.members.length === 1) this.ctx.leaveNow();
    else if (vs.myIndex === 0) this.leaveQueue.add(this.ctx.selfKey);
    else this.ctx.send(view.members[0]!.key, { leaveRequest: { who: this.ctx.selfId } });
  }

  /** Stepped down: no queue (the proposals they were for are gone). */
  steppedDown(): void {
    this.joinQueue.clear();
    this.leaveQueue.clear();
  }
}
