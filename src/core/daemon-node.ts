// DaemonNode: the protocol of one daemon as a deterministic state machine.
//
//   step(input) → CoreOutput
//
// One entry point for everything (frames, client requests, link events, time), so the
// daemon and the simulator drive exactly the same code. Within a daemon view:
//
// - every daemon appends its clients' requests as entries to its own sending stream
//   (per-sender seq 1, 2, ...) and sends them in batches to every member;
// - the coordinator (oldest member) is the view's sequencer: it assigns global seqs to
//   runs of entries in per-sender order and broadcasts batched order runs;
// - every daemon delivers entries in global order once it has both the entry and its
//   place, applying them to the replicated GroupTable (data, joins, leaves, markers);
// - entries stay buffered until every member has them (stability, learned from the
//   receive vectors on data batches and heartbeats); a link that lost frames is repaired by Fetch.
//
// View changes run the flush (view-change-proposer.ts and view-change-member.ts; forming
// the first primary: bootstrap.ts; joining: admission.ts; the operator's way back:
// force-primary.ts): the proposer collects from every
// survivor what it holds, computes the cut (the union) and the final order of the old
// view, has survivors fetch what they miss, and installs the new view with that cut.
// Ballots order competing proposals; a failure during a flush restarts it with a
// higher ballot. A proposal needs a quorum of the last primary view and of every
// proposal that may have been installed (dynamic voting): a daemon that cannot gather
// one steps down, expels its clients ('partitioned') and rejoins as a new incarnation.
//
// This class keeps `step`, the dispatch and the role transitions (install, step-down,
// leave). The state of the current daemon view is one ViewState (view-state.ts), replaced
// at install; the data path (data-path.ts), the client path (client-path.ts), installing
// the next view (view-install.ts), join and leave requests (membership-requests.ts) and
// a step-down's clients (step-down.ts) are components that act through a shared context.
import { chorus } from '../wire/gen/chorus.js';
import { invariant } from '../errors.js';
import { checkPeerFrame } from './frame-guard.js';
import { type GroupEffect, type GroupRecord, GroupTable, type LeaveCause } from './group-table.js';
import { type Ballot, ballotFromProto } from './ballot.js';
import { Admission, type AdmissionStatus } from './admission.js';
import { Bootstrap } from './bootstrap.js';
import { LocalClients } from './local-clients.js';
import { StateTransfer } from './state-transfer.js';
import { ViewChangeProposer } from './view-change-proposer.js';
import { ViewChangeMember } from './view-change-member.js';
import { FailureDetector } from './failure-detector.js';
import { ForcePrimary } from './force-primary.js';
import type { CoreInput, CoreOutput, DaemonId, DaemonView, PeerKey, PeerOutput, TraceEvent, ViewMember } from './types.js';
import { emptyOutput, peerKey } from './types.js';
import { type Mode, ViewState } from './view-state.js';
import { DataPath } from './data-path.js';
import { ViewInstall } from './view-install.js';
import { ClientPath } from './client-path.js';
import { MembershipRequests } from './membership-requests.js';
import { expelLocalClients, groupsAfterPartition } from './step-down.js';

export interface DaemonNodeOptions {
  readonly self: DaemonId;
  readonly advertise: string;
  /** True when started with seeds: join an existing view instead of founding one. */
  readonly join: boolean;
  readonly maxMessageBytes: number;
  /** Heartbeat period on every link. */
  readonly heartbeatMs?: number;
  /** No frame from a member for this long → suspect it. */
  readonly suspectMs?: number;
  /** Bound of the buffer of unstable entries; past it, senders are slowed. */
  readonly maxBufferBytes?: number;
  /** How often a joining daemon repeats its join request. */
  readonly joinRetryMs?: number;
  /**
   * Bootstrap: with no primary to join yet, daemons that find each other through their
   * seeds form the first primary once this many of them (this one included) are
   * together. Undefined: never form one, only join.
   */
  readonly expect?: number;
  /** Emit a `send` trace for every message (for checkers; off in production). */
  readonly traceSends?: boolean;
  /** Time at creation. */
  readonly nowMs: number;
}

export class DaemonNode {
  readonly baseIncarnation: string;
  private selfId: DaemonId;
  private key: PeerKey;
  private epoch = 0;
  private readonly advertise: string;
  private readonly maxMessageBytes: number;
  private readonly heartbeatMs: number;
  private readonly suspectMs: number;
  private readonly maxBufferBytes: number;
  private readonly joinRetryMs: number;
  /** Never was in a view: may take part in forming the first primary. */
  private fresh: boolean;
  /** Forming the first primary among fresh daemons. */
  private readonly bootstrap: Bootstrap;

  private mode: Mode;
  private nowMs: number;
  private out: CoreOutput = emptyOutput();

  /** Everything of the current daemon view (view-state.ts), replaced at install. */
  private vs = ViewState.none();
  private table = new GroupTable();

  // Failure detection.
  private readonly fd: FailureDetector;

  // View change.
  /** The proposer's side: the proposal, its retries, the highest counter seen. */
  private readonly proposer: ViewChangeProposer;
  /** The member's side: the ballot promised, the flush taken part in, the decision accepted. */
  private readonly flushMember: ViewChangeMember;
  /** The next view: the pending Install, the views installed lately, frames of views to come. */
  private readonly installs: ViewInstall;
  /** force-primary: the operator's way back after the majority was lost for good. */
  private readonly forcePrimary: ForcePrimary;
  /** What this daemon knew of the groups when it stepped down (so ids never repeat). */
  private lastGroups: chorus.IGroupTable | undefined;
  private lastViewId = 0;
  /** Join and leave requests of daemons (the coordinator's queues), and this daemon's own leave. */
  private readonly requests: MembershipRequests;

  // Joining: finding the primary and getting in.
  private readonly admission: Admission;

  private readonly local: LocalClients;
  private readonly transfer: StateTransfer;
  /** Client requests, the pump into the outbox, group effects routed to local clients. */
  private readonly clients: ClientPath;
  /** Data batches, order, delivery, heartbeats and stability of the current view. */
  private readonly data: DataPath;

  constructor(options: DaemonNodeOptions) {
    this.selfId = options.self;
    this.baseIncarnation = options.self.incarnation;
    this.key = peerKey(options.self);
    this.advertise = options.advertise;
    this.maxMessageBytes = options.maxMessageBytes;
    this.heartbeatMs = options.heartbeatMs ?? 250;
    this.suspectMs = options.suspectMs ?? 1500;
    this.maxBufferBytes = options.maxBufferBytes ?? 64 * 1024 * 1024;
    this.joinRetryMs = options.joinRetryMs ?? 1000;
    this.fd = new FailureDetector(this.suspectMs, this.heartbeatMs);
    this.local = new LocalClients(
      { self: options.self.name, maxMessageBytes: this.maxMessageBytes, maxBufferBytes: this.maxBufferBytes, traceSends: options.traceSends ?? false },
      () => this.vs.earlyDelivery,
    );
    // What every component's context reads of the node (each gets it with its own additions).
    const node = this;
    const shared = {
      get nowMs() {
        return node.nowMs;
      },
      get selfId() {
        return node.selfId;
      },
      get selfKey() {
        return node.key;
      },
      advertise: this.advertise,
      get fresh() {
        return node.fresh;
      },
      get mode() {
        return node.mode;
      },
      get vs() {
        return node.vs;
      },
      get view() {
        return node.vs.view;
      },
      get received() {
        return node.vs.rlog.received;
      },
      get table() {
        return node.table;
      },
      get flushing() {
        return node.flushMember.flush !== undefined;
      },
      get leaveRequested() {
        return node.requests.leaveRequested;
      },
      send: (to: PeerKey, frame: chorus.IPeerFrame) => this.send(to, frame),
      sendAll: (sends: readonly PeerOutput[]) => this.sendAll(sends),
      trace: (event: TraceEvent) => {
        this.out.traces.push(event);
      },
      address: (peer: PeerKey, advertise: string) => {
        this.out.addresses.push({ peer, advertise });
      },
      probe: (address: string) => {
        this.out.probes.push(address);
      },
      maxViewIdSeen: () => this.maxViewIdSeen(),
      applyCut: (orders: readonly chorus.IOrderRange[], cutSeqs: readonly number[]) => this.data.applyCut(orders, cutSeqs),
      groupEffects: (effects: readonly GroupEffect[], early = false) => this.clients.onGroupEffects(effects, early),
      leaveNow: (viewId?: number) => this.leaveNow(viewId),
      stepDown: (reason: string) => this.stepDown(reason),
    };
    const ctx = <T extends object>(own: T): typeof shared & T => Object.defineProperties(Object.create(shared), Object.getOwnPropertyDescriptors(own));
    this.transfer = new StateTransfer(shared, this.local, options.self.name, this.maxBufferBytes);
    this.fresh = options.join;
    this.bootstrap = new Bootstrap(
      ctx({
        get mayFound() {
          return node.fresh && node.vs.view === undefined;
        },
      }),
      options.expect,
      this.joinRetryMs,
    );
    this.flushMember = new ViewChangeMember(
      ctx({
        promised: (ballot: Ballot, from: PeerKey, first: boolean) => this.onPromised(ballot, from, first),
        holdings: () => this.vs.holdings(),
        ackToSelf: (ack: chorus.IProposeAck) => this.onProposeAck(this.key, ack),
        readyToSelf: (ready: chorus.IReady) => this.proposer.onReady(this.key, ready),
      }),
    );
    this.admission = new Admission(shared, this.joinRetryMs);
    this.requests = new MembershipRequests(
      ctx({
        lookingPeer: (key: PeerKey, advertise: string) => this.admission.onLookingPeer(key, advertise),
        freshPeer: (key: PeerKey, advertise: string) => {
          this.admission.onFreshPeer(key, advertise);
          this.bootstrap.notePeer(key, advertise);
        },
        admit: (view: DaemonView, key: PeerKey, from: PeerKey, direct: boolean, req: chorus.IJoinRequest) => this.admission.onJoinRequest(view, key, from, direct, req),
        beingAdded: (key: PeerKey) => this.proposer.proposal?.newView.members.some((m) => m.key === key) === true,
        suspect: (i: number) => this.fd.suspect(i),
      }),
    );
    this.proposer = new ViewChangeProposer(
      ctx({
        get joining() {
          return node.mode === 'joining';
        },
        get myIndex() {
          return node.vs.myIndex;
        },
        get delivered() {
          return node.vs.nextDeliver - 1;
        },
        joinQueue: this.requests.joinQueue,
        leaveQueue: this.requests.leaveQueue,
        clique: () => this.data.clique(),
        memberIndex: (key: PeerKey) => this.memberIndex(key),
        proposeToSelf: (propose: chorus.IPropose) => this.onPropose(this.key, propose),
        tableAfter: (departed: ReadonlyMap<string, LeaveCause>) => {
          const snapshot = this.table.clone();
          snapshot.applyBoundary(departed); // a copy: its effects concern nobody
          return snapshot.toProto();
        },
        installLater: (install: chorus.IInstall) => this.installs.later(install),
        excluded: (install: chorus.IInstall, reason: string) => {
          if (this.requests.leaveRequested) this.leaveNow(install.newViewId ?? 0);
          else this.stepDown(reason);
        },
        learnAddress: (m: ViewMember) => this.out.addresses.push({ peer: m.key, advertise: m.advertise }),
      }),
      this.fd,
      this.flushMember,
      this.heartbeatMs,
      this.suspectMs,
      this.flushTimeoutMs(),
    );
    this.forcePrimary = new ForcePrimary(
      ctx({
        get primaryViewId() {
          return node.vs.view?.id;
        },
        get highestCounter() {
          return node.flushMember.highest.counter;
        },
        groupsNow: () => (this.vs.view !== undefined ? this.table.toProto() : (this.lastGroups ?? { groups: [] })),
        get lastGroups() {
          return node.lastGroups;
        },
      }),
      this.suspectMs,
    );
    this.installs = new ViewInstall(
      ctx({
        votedFor: (from: PeerKey) => this.bootstrap.votedFor(from),
        holdsCut: (cutSeqs: readonly number[]) => this.flushMember.holdsCut(cutSeqs),
        adoptTable: (groups: chorus.IGroupTable | null | undefined) => {
          this.table = GroupTable.fromProto(groups);
        },
        installView: (view: DaemonView, forced: boolean, left: ReadonlyArray<{ key: PeerKey; cause: LeaveCause }>) => this.installView(view, forced, left),
        unblock: (name: string) => this.clients.unblock(name),
        replay: (from: PeerKey, frame: chorus.IPeerFrame) => this.onFrame(from, frame),
      }),
      this.heartbeatMs,
    );
    this.data = new DataPath(
      ctx({
        get proposing() {
          return node.proposer.proposal !== undefined;
        },
        get holding() {
          return node.transfer.holding();
        },
        deferIfFuture: (from: PeerKey, viewId: number, frame: chorus.IPeerFrame) => this.installs.deferIfFuture(from, viewId, frame),
        hasLocalMember: (g: GroupRecord) => this.local.hasLocalMember(g),
        deliver: (g: GroupRecord, entry: chorus.IEntry, id: string, seq: number) => this.clients.deliver(g, entry, id, seq),
      }),
      this.fd,
      this.maxBufferBytes,
    );
    this.clients = new ClientPath(
      ctx({
        groupViewInstalled: (name: string) => this.installs.groupViewInstalled(name),
        flushBlocked: (name: string) => this.installs.blocked(name),
      }),
      this.local,
      this.transfer,
      this.maxBufferBytes,
    );
    this.nowMs = options.nowMs;
    this.mode = options.join ? 'joining' : 'normal';
  }

  /** The first output: the founding view, if any. Call once before any step. */
  start(): CoreOutput {
    this.out = emptyOutput();
    if (this.mode === 'normal') {
      this.installView({ id: 1, members: [{ id: this.selfId, key: this.key, advertise: this.advertise, joinedView: 1 }] });
    }
    return this.finish();
  }

  // ------------------------------------------------------------------ introspection

  get self(): DaemonId {
    return this.selfId;
  }
  get selfKey(): PeerKey {
    return this.key;
  }
  get currentView(): DaemonView | undefined {
    return this.vs.view;
  }
  get state(): Mode {
    return this.mode;
  }
  get groups(): GroupTable {
    return this.table;
  }
  get isCoordinator(): boolean {
    return this.vs.isCoordinator;
  }
  get bufferedBytes(): number {
    return this.vs.rlog.retainedBytes;
  }

  // ------------------------------------------------------------------ step

  step(input: CoreInput): CoreOutput {
    this.out = emptyOutput();
    if (this.mode === 'left') return this.out;
    if (input.kind === 'tick') this.nowMs = Math.max(this.nowMs, input.nowMs);
    switch (input.kind) {
      case 'tick':
        break;
      case 'peer-frame':
        this.onFrame(input.from, input.frame);
        break;
      case 'peer-up':
        this.onPeerUp(input.peer, input.advertise);
        break;
      case 'peer-down':
        break; // The link redials by itself; heartbeats then repair what was lost.
      case 'client-connect':
        this.local.connect(input.client, input.name, input.protocol);
        break;
      case 'client-request':
        this.clients.onClientRequest(input.client, input.request);
        break;
      case 'client-disconnect':
        this.clients.onClientDisconnect(input.client, input.expelled === true);
        break;
      case 'leave':
        this.requests.onLeave();
        break;
      case 'force-primary':
        this.onForcePrimary();
        break;
    }
    return this.finish();
  }

  /** End of step: run every part until nothing moves, then timers. */
  private finish(): CoreOutput {
    // Each part can enable another (a delivery starts a group change whose marker must
    // go out; an install releases held requests).
    for (let progress = true, rounds = 0; progress && this.mode !== 'left'; rounds++) {
      invariant(rounds < 10_000, 'step does not settle');
      progress = this.clients.pump();
      progress = this.data.flushOutbox() || progress;
      progress = this.data.flushOrders() || progress;
      progress = this.data.deliverReady() || progress;
      progress = this.data.deliverEarly() || progress;
      progress = this.data.detectFailures() || progress;
      progress = this.proposer.maybePropose() || progress;
      progress = this.proposer.progress() || progress;
      progress = this.flushMember.progress() || progress;
      progress = this.installs.maybeInstall() || progress;
      progress = this.forceProgress() || progress;
    }
    if (this.mode === 'left') {
      this.out.wakeAtMs = undefined;
      return this.handOut();
    }
    this.data.heartbeats();
    if (this.transfer.installing.size > 0 || this.transfer.waiting.size > 0) {
      this.clients.failStalledTransfers();
      if (this.local.pending.length > 0) {
        this.clients.pump();
        this.data.flushOutbox();
      }
    }
    if (this.transfer.forwarded.size > 0) this.transfer.sweepForwarded();
    this.data.acknowledgeSafe();
    this.data.collectGarbage();
    this.out.wakeAtMs = this.nextWake();
    return this.handOut();
  }

  /** The step's output, with the events for clients the components queued. */
  private handOut(): CoreOutput {
    for (const e of this.local.takeEvents()) this.out.clientEvents.push(e);
    return this.out;
  }

  private nextWake(): number {
    if (this.mode === 'joining') {
      if (this.maybeFoundPrimary()) return this.nowMs + 1;
      const nextJoinAttemptMs = this.admission.retry();
      const forceAt = this.forcePrimary.wakeAtMs();
      return Math.max(Math.min(nextJoinAttemptMs, forceAt), this.nowMs + 1);
    }
    let wake = this.fd.nextWakeMs();
    wake = Math.min(wake, this.proposer.nextWakeMs());
    const flush = this.flushMember.flush;
    if (flush !== undefined) wake = Math.min(wake, flush.startedMs + 2 * this.flushTimeoutMs() + 1);
    wake = this.transfer.nextWakeMs(wake);
    return Math.max(wake, this.nowMs + 1);
  }

  /** Bootstrap: install view 1 once every candidate agreed to this daemon founding it. */
  private maybeFoundPrimary(): boolean {
    const install = this.bootstrap.maybeFound();
    if (install === undefined) return false;
    this.installs.later(install);
    this.installs.maybeInstall();
    return true;
  }

  private flushTimeoutMs(): number {
    return 2 * this.suspectMs;
  }

  // ------------------------------------------------------------------ peers and frames

  private onPeerUp(peer: PeerKey, advertise: string): void {
    this.forcePrimary.onPeerUp(peer);
    if (this.mode === 'joining') {
      this.admission.onPeerUp(peer, advertise);
      return;
    }
    // A member's link came back: tell it at once what we hold, so it resends what
    // the broken connection lost (and we do the same on its heartbeat).
    const i = this.memberIndex(peer);
    if (i >= 0) this.data.sendHeartbeat(i);
    this.sendAll(this.transfer.onPeerUp(peer));
  }

  private onJoinStatus(status: chorus.IJoinStatus): void {
    if (this.mode !== 'joining') return;
    this.admission.onJoinStatus(status);
  }

  private send(to: PeerKey, frame: chorus.IPeerFrame): void {
    this.out.sends.push({ to, frame });
  }

  private sendAll(sends: readonly PeerOutput[]): void {
    for (const o of sends) this.out.sends.push(o);
  }

  private onFrame(from: PeerKey, frame: chorus.IPeerFrame): void {
    // The boundary: a frame the receiver cannot act on safely is dropped (src/core/frame-guard.ts).
    const ctx = { selfKey: this.key, view: this.vs.view, delivered: this.vs.nextDeliver - 1, flush: this.flushMember.flush, proposal: this.proposer.proposal };
    const rejected = checkPeerFrame(ctx, from, frame);
    if (rejected !== undefined) {
      this.out.traces.push({ type: 'frame-rejected', from, reason: rejected });
      return;
    }
    const i = this.memberIndex(from);
    if (i >= 0) this.fd.heard(i, this.nowMs);
    if (frame.data) this.data.onData(from, frame.data, frame);
    else if (frame.order) this.data.onOrder(from, frame.order, frame);
    else if (frame.heartbeat) this.onHeartbeat(from, frame.heartbeat, frame);
    else if (frame.fetch) this.data.onFetch(from, frame.fetch);
    else if (frame.joinRequest) this.requests.onJoinRequest(from, frame.joinRequest);
    else if (frame.leaveRequest) this.requests.onLeaveRequest(frame.leaveRequest);
    else if (frame.propose) this.onPropose(from, frame.propose);
    else if (frame.proposeAck) this.onProposeAck(from, frame.proposeAck);
    else if (frame.cut) this.flushMember.onCut(from, frame.cut);
    else if (frame.ready) this.proposer.onReady(from, frame.ready);
    else if (frame.install) this.installs.onInstall(from, frame.install);
    else if (frame.joinStatus) this.onJoinStatus(frame.joinStatus);
    else if (frame.stateChunk) this.sendAll(this.transfer.onStateChunk(frame.stateChunk));
    else if (frame.stateAck) this.transfer.onStateAck(frame.stateAck);
    else if (frame.forceQuery) this.forcePrimary.onForceQuery(from);
    else if (frame.forceInfo) this.forcePrimary.onForceInfo(from, frame.forceInfo);
    else if (frame.foundingRelease) this.bootstrap.onFoundingRelease(from, frame.foundingRelease);
  }

  private memberIndex(key: PeerKey): number {
    return this.vs.memberIndex(key);
  }

  private onHeartbeat(from: PeerKey, hb: chorus.IHeartbeat, frame: chorus.IPeerFrame): void {
    const viewId = hb.viewId ?? 0;
    if (this.mode === 'joining') {
      // A member answering our join request: the link from it to us works.
      this.admission.onHeartbeat(from);
      return;
    }
    if (this.vs.view === undefined || viewId !== this.vs.view.id) {
      if (this.vs.view !== undefined && viewId > this.vs.view.id) this.installs.deferIfFuture(from, viewId, frame);
      // Still in a view we left behind: its Install did not reach it (lost on a cut link,
      // or its proposer crashed midway). Any daemon that installed the view tells it.
      else if (this.vs.view !== undefined) this.installs.pushInstall(from, viewId);
      return;
    }
    const i = this.memberIndex(from);
    if (i >= 0) this.data.onHeartbeat(from, i, viewId, hb);
  }

  // ------------------------------------------------------------------ role transitions

  /** Leave the cluster for good (asked to, and the view without this daemon installed). */
  private leaveNow(viewId?: number): void {
    this.mode = 'left';
    this.out.left = true;
    this.out.traces.push({ type: 'left', ...(viewId !== undefined ? { viewId } : {}) });
    for (const c of this.local.closeAll()) this.out.closeClients.push({ client: c, reason: 'daemon left the cluster' });
  }

  // ------------------------------------------------------------------ view change: proposer

  /** The highest daemon view id this daemon has seen: installed, accepted or acknowledged. */
  private maxViewIdSeen(): number {
    return this.installs.maxViewId(Math.max(this.vs.view?.id ?? 0, this.lastViewId, this.flushMember.accepted?.newViewId ?? 0));
  }

  private onProposeAck(from: PeerKey, ack: chorus.IProposeAck): void {
    if ((ack.oldViewId ?? 0) === 0) {
      this.bootstrap.onAck(from, ack);
      return;
    }
    this.proposer.onProposeAck(from, ack);
  }

  // ------------------------------------------------------------------ view change: member

  private onPropose(from: PeerKey, p: chorus.IPropose): void {
    const ballot = ballotFromProto(p.ballot);
    const oldViewId = p.oldViewId ?? 0;
    if (oldViewId === 0) {
      this.bootstrap.onPropose(from, p);
      return;
    }
    if (this.vs.view === undefined) return;
    if (oldViewId > this.vs.view.id) {
      this.installs.deferIfFuture(from, oldViewId, { propose: p });
      return;
    }
    if (oldViewId < this.vs.view.id) {
      // We already installed a later view: if it is the one this flush is about, say so.
      const install = this.installs.installedAfter(oldViewId);
      if (install !== undefined) this.send(from, { proposeAck: { ballot: p.ballot ?? null, oldViewId, installed: install } });
      return;
    }
    this.flushMember.onPropose(from, p, ballot);
  }

  /** This member promised `ballot` of `from` (the first time in this view: `first`). */
  private onPromised(ballot: Ballot, from: PeerKey, first: boolean): void {
    this.proposer.onPromised(ballot, from);
    // Stop sending in the old view: everything stamped so far goes out first, so the
    // proposer has it before it has our acknowledgement (links are FIFO).
    if (first) {
      this.data.flushOutbox();
      this.clients.blockForFlush();
      this.out.traces.push({ type: 'flush-start', ballot: ballot.counter, proposer: from });
    }
    this.mode = 'flushing';
  }

  /** Enter `view` (a fresh ViewState): every component starts the view. */
  private installView(view: DaemonView, forced = false, left: ReadonlyArray<{ key: PeerKey; cause: LeaveCause }> = []): void {
    this.vs = ViewState.install(view, this.key);
    this.fresh = false;
    this.bootstrap.reset();
    this.mode = 'normal';
    this.flushMember.reset();
    this.proposer.reset();
    this.lastViewId = Math.max(this.lastViewId, view.id);
    this.fd.reset(view.members.length, this.vs.myIndex, this.nowMs);
    this.admission.installed(view);
    this.requests.installed(view);
    for (const m of view.members) if (m.key !== this.key) this.out.addresses.push({ peer: m.key, advertise: m.advertise });
    const extra = { ...(forced ? { forced: true } : {}), ...(left.length > 0 ? { left } : {}) };
    this.out.traces.push({ type: 'daemon-view', viewId: view.id, members: view.members.map((m) => m.key), ...extra });
    this.requests.leaveAgain();
  }

  /**
   * Outside the primary component: stop delivering, expel every local client from
   * its groups ('partitioned'), and rejoin as a new incarnation through the members
   * of the last view (keeps guarantee 5).
   */
  private stepDown(reason: string): void {
    const old = this.vs.view;
    this.out.traces.push({ type: 'step-down', reason });
    this.transfer.reset();
    expelLocalClients(this.local, this.table, this.vs.ownEntries());
    this.lastGroups = groupsAfterPartition(this.table);
    this.lastViewId = Math.max(this.lastViewId, this.maxViewIdSeen());
    this.table = new GroupTable();
    this.vs = this.vs.leftBehind();
    this.flushMember.reset();
    this.proposer.drop();
    this.installs.steppedDown();
    this.requests.steppedDown();
    this.mode = 'joining';
    this.epoch += 1;
    this.selfId = { name: this.selfId.name, incarnation: `${this.baseIncarnation}.${this.epoch}` };
    this.key = peerKey(this.selfId);
    this.out.identity = this.selfId;
    this.admission.steppedDown(old?.members ?? []);
  }

  /** Operator: force this daemon's side to be the primary (src/core/force-primary.ts). */
  private onForcePrimary(): void {
    this.installForced(this.forcePrimary.start(this.admission.knownPeers(), this.admission.probes));
  }

  private forceProgress(): boolean {
    const { moved, install } = this.forcePrimary.progress();
    this.installForced(install);
    return moved;
  }

  private installForced(install: chorus.IInstall | undefined): void {
    if (install === undefined) return;
    this.installs.forcedLater(install);
  }

  // ------------------------------------------------------------------ status

  status(): {
    name: string;
    incarnation: string;
    mode: Mode;
    viewId: number | undefined;
    members: Array<{ name: string; incarnation: string; advertise: string; coordinator: boolean; suspected: boolean; rttMs: number | undefined }>;
    groups: Array<{ name: string; viewId: number; members: string[]; hosts: string[]; seq: number }>;
    clients: number;
    bufferedBytes: number;
    admission: AdmissionStatus;
  } {
    return {
      name: this.selfId.name,
      incarnation: this.selfId.incarnation,
      mode: this.mode,
      viewId: this.vs.view?.id,
      members: (this.vs.view?.members ?? []).map((m, i) => ({
        name: m.id.name,
        incarnation: m.id.incarnation,
        advertise: m.advertise,
        coordinator: i === 0,
        suspected: this.fd.suspects.has(i),
        rttMs: this.vs.rtt.rttMs[i],
      })),
      groups: this.table.sorted().map((g) => ({ name: g.name, viewId: g.viewId, members: g.members.map((m) => m.client), hosts: g.members.map((m) => m.daemon), seq: g.totalSeq })),
      clients: this.local.size,
      bufferedBytes: this.vs.rlog.retainedBytes,
      admission: this.admission.describe(),
    };
  }
}
