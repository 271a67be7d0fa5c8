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
//   runs of entries in per-sender order and broadcasts batched order ranges;
// - every daemon delivers entries in global order once it has both the entry and its
//   place, applying them to the replicated GroupTable (data, joins, leaves, markers).
//
// Daemon view changes (joins and voluntary leaves for now) run the flush: the
// coordinator proposes with a ballot, members stop sending and acknowledge with what
// they sent, the coordinator waits until it has ordered all of it, and installs the
// new view with the cut (`lastGlobal`) and the group table. Members deliver up to the
// cut, then install. Failure detection and flush restarts come with issue 3.
import { chorus } from '../wire/gen/chorus.js';
import { type ChorusErrorCode, invariant } from '../errors.js';
import { type GroupEffects, type GroupRecord, GroupTable, type GroupViewChange, type LeaveCause, MAX_GROUP_NAME_LENGTH, causeToProto } from './group-table.js';
import type { ClientOutput, CoreInput, CoreOutput, DaemonId, DaemonView, PeerKey, ViewMember } from './types.js';
import { emptyOutput, peerKey } from './types.js';

export interface DaemonNodeOptions {
  readonly self: DaemonId;
  readonly advertise: string;
  /** True when started with seeds: join an existing view instead of founding one. */
  readonly join: boolean;
  readonly maxMessageBytes: number;
  /** How often a joining daemon repeats its join request. */
  readonly joinRetryMs?: number;
  /** Time at creation. */
  readonly nowMs: number;
}

type Mode = 'joining' | 'normal' | 'flushing' | 'left';

/** A client request accepted by this daemon, not yet stamped into the sending stream. */
interface LocalEntry {
  readonly entry: chorus.IEntry;
}

interface LocalClient {
  readonly id: string;
  readonly name: string;
  /** group → req of the client's pending join. */
  readonly pendingJoins: Map<string, number>;
  readonly pendingLeaves: Map<string, number>;
  /** message id → req, for multicasts with wait: 'delivered'. */
  readonly waitDelivered: Map<string, number>;
}

interface ProposerState {
  readonly ballot: number;
  readonly oldView: DaemonView;
  readonly newView: DaemonView;
  readonly leaving: ReadonlySet<PeerKey>;
  readonly acks: Map<PeerKey, chorus.IProposeAck>;
}

const ORDER_NAMES = ['total', 'fifo', 'causal', 'safe'] as const;

export class DaemonNode {
  readonly self: DaemonId;
  readonly selfKey: PeerKey;
  private readonly advertise: string;
  private readonly maxMessageBytes: number;
  private readonly joinRetryMs: number;

  private mode: Mode;
  private nowMs: number;
  private out: CoreOutput = emptyOutput();

  private view: DaemonView | undefined;
  private myIndex = -1;
  private table = new GroupTable();

  // Sending stream of this view.
  private sentSeq = 0;
  private outbox: chorus.IEntry[] = [];
  private readonly pendingLocal: LocalEntry[] = [];

  // Receiving: per sender index, entries by seq (log[s][seq - logBase[s]]).
  private log: chorus.IEntry[][] = [];
  private logBase: number[] = [];
  private received: number[] = [];

  // Ordering and delivery.
  private orders: chorus.IOrderRange[] = [];
  private orderHead = 0;
  private nextDeliver = 1;
  // Sequencer state (coordinator only).
  private nextGlobal = 1;
  private ordered: number[] = [];
  private orderOutbox: chorus.IOrderRange[] = [];

  // View change.
  private highestBallot = 0;
  private proposer: ProposerState | undefined;
  private pendingInstall: chorus.IInstall | undefined;
  private readonly joinQueue = new Map<PeerKey, ViewMember>();
  private readonly leaveQueue = new Set<PeerKey>();
  private leaveRequested = false;
  private readonly futureFrames: Array<{ from: PeerKey; frame: chorus.IPeerFrame }> = [];

  // Joining.
  private readonly seeds = new Map<PeerKey, string>();
  private nextJoinAttemptMs = 0;

  private readonly clients = new Map<string, LocalClient>();
  private readonly groupFx: GroupEffects;

  constructor(options: DaemonNodeOptions) {
    this.self = options.self;
    this.selfKey = peerKey(options.self);
    this.advertise = options.advertise;
    this.maxMessageBytes = options.maxMessageBytes;
    this.joinRetryMs = options.joinRetryMs ?? 1000;
    this.nowMs = options.nowMs;
    this.groupFx = {
      deliver: (g, entry, id, seq) => this.onDeliver(g, entry, id, seq),
      changeStarted: (g, hosts) => this.onGroupChangeStarted(g, hosts),
      viewInstalled: (change) => this.onGroupViewInstalled(change),
    };
    if (options.join) {
      this.mode = 'joining';
    } else {
      this.mode = 'normal';
      this.view = { id: 1, members: [{ id: this.self, key: this.selfKey, advertise: this.advertise, joinedView: 1 }] };
    }
  }

  /** The first output: the founding view, if any. Call once before any step. */
  start(): CoreOutput {
    this.out = emptyOutput();
    if (this.view !== undefined) this.installView(this.view);
    return this.finish();
  }

  // ------------------------------------------------------------------ introspection

  get currentView(): DaemonView | undefined {
    return this.view;
  }
  get state(): Mode {
    return this.mode;
  }
  get groups(): GroupTable {
    return this.table;
  }
  get isCoordinator(): boolean {
    return this.view !== undefined && this.myIndex === 0;
  }

  // ------------------------------------------------------------------ step

  step(input: CoreInput): CoreOutput {
    this.out = emptyOutput();
    if (this.mode === 'left') return this.out;
    switch (input.kind) {
      case 'tick':
        this.nowMs = Math.max(this.nowMs, input.nowMs);
        break;
      case 'peer-frame':
        this.onFrame(input.from, input.frame);
        break;
      case 'peer-up':
        this.onPeerUp(input.peer, input.advertise);
        break;
      case 'peer-down':
        break; // Redial and retransmission: issue 3.
      case 'client-connect':
        this.clients.set(input.client, {
          id: input.client,
          name: input.name,
          pendingJoins: new Map(),
          pendingLeaves: new Map(),
          waitDelivered: new Map(),
        });
        break;
      case 'client-request':
        this.onClientRequest(input.client, input.request);
        break;
      case 'client-disconnect':
        this.onClientDisconnect(input.client);
        break;
      case 'leave':
        this.onLeave();
        break;
    }
    return this.finish();
  }

  /** End of step: stamp held requests, flush batches, run view-change progress. */
  private finish(): CoreOutput {
    // Each part can enable another (a delivery starts a group change whose marker must
    // go out; an install releases held requests): run them until nothing moves.
    for (let progress = true; progress && this.mode !== 'left'; ) {
      progress = this.pump();
      progress = this.flushOutbox() || progress;
      progress = this.flushOrders() || progress;
      progress = this.deliverReady() || progress;
      progress = this.maybeStartViewChange() || progress;
      progress = this.maybeFinishFlush() || progress;
      progress = this.maybeInstall() || progress;
    }
    if (this.mode === 'left') {
      this.out.wakeAtMs = undefined;
      return this.out;
    }
    if (this.mode === 'joining') {
      if (this.nowMs >= this.nextJoinAttemptMs && this.seeds.size > 0) {
        for (const peer of this.seeds.keys()) this.sendJoinRequest(peer);
        this.nextJoinAttemptMs = this.nowMs + this.joinRetryMs;
      }
      this.out.wakeAtMs = this.nextJoinAttemptMs > this.nowMs ? this.nextJoinAttemptMs : this.nowMs + this.joinRetryMs;
    }
    return this.out;
  }

  // ------------------------------------------------------------------ peers and frames

  private onPeerUp(peer: PeerKey, advertise: string): void {
    if (this.mode !== 'joining') return;
    this.seeds.set(peer, advertise);
    this.sendJoinRequest(peer);
  }

  private sendJoinRequest(peer: PeerKey): void {
    this.send(peer, { joinRequest: { who: this.self, advertise: this.advertise } });
  }

  private send(to: PeerKey, frame: chorus.IPeerFrame): void {
    this.out.sends.push({ to, frame });
  }

  private onFrame(from: PeerKey, frame: chorus.IPeerFrame): void {
    if (frame.data) this.onData(from, frame.data, frame);
    else if (frame.order) this.onOrder(from, frame.order, frame);
    else if (frame.joinRequest) this.onJoinRequest(frame.joinRequest);
    else if (frame.leaveRequest) this.onLeaveRequest(frame.leaveRequest);
    else if (frame.propose) this.onPropose(from, frame.propose);
    else if (frame.proposeAck) this.onProposeAck(from, frame.proposeAck);
    else if (frame.install) this.onInstall(frame.install);
    // heartbeat: failure detection comes with issue 3; hello frames are the link's business.
  }

  /** Frames of a view this daemon has not installed yet wait for it. */
  private deferIfFuture(from: PeerKey, viewId: number, frame: chorus.IPeerFrame): boolean {
    if (this.view === undefined || viewId > this.view.id) {
      this.futureFrames.push({ from, frame });
      return true;
    }
    return false;
  }

  private senderIndex(key: PeerKey): number {
    const members = this.view?.members ?? [];
    for (let i = 0; i < members.length; i++) if (members[i]!.key === key) return i;
    return -1;
  }

  private onData(from: PeerKey, batch: chorus.IDataBatch, frame: chorus.IPeerFrame): void {
    const viewId = batch.viewId ?? 0;
    if (this.deferIfFuture(from, viewId, frame)) return;
    if (viewId < this.view!.id) return; // old view: already settled by its flush
    const s = this.senderIndex(from);
    if (s < 0) return;
    this.receiveEntries(s, batch.firstSeq ?? 0, batch.entries ?? []);
  }

  private receiveEntries(s: number, firstSeq: number, entries: readonly chorus.IEntry[]): void {
    const have = this.received[s]!;
    // Links are FIFO: a batch continues the stream or repeats part of it.
    invariant(firstSeq <= have + 1, `gap in stream of sender ${s}: have ${have}, got ${firstSeq}`);
    const log = this.log[s]!;
    const base = this.logBase[s]!;
    for (let i = have + 1 - firstSeq; i < entries.length; i++) {
      log[firstSeq + i - base] = entries[i]!;
    }
    const last = firstSeq + entries.length - 1;
    if (last > have) {
      this.received[s] = last;
      if (this.isCoordinator) this.sequence(s);
    }
  }

  /** Sequencer: give global seqs to everything received from `s` not yet ordered. */
  private sequence(s: number): void {
    const from = this.ordered[s]! + 1;
    const to = this.received[s]!;
    if (to < from) return;
    const count = to - from + 1;
    const last = this.orderOutbox[this.orderOutbox.length - 1];
    if (last !== undefined && last.sender === s && (last.firstSeq ?? 0) + (last.count ?? 0) === from) {
      last.count = (last.count ?? 0) + count;
    } else {
      this.orderOutbox.push({ sender: s, firstSeq: from, count, firstGlobal: this.nextGlobal });
    }
    this.ordered[s] = to;
    this.nextGlobal += count;
  }

  private flushOrders(): boolean {
    if (this.orderOutbox.length === 0 || this.view === undefined) return false;
    const ranges = this.orderOutbox;
    this.orderOutbox = [];
    const frame: chorus.IPeerFrame = { order: { viewId: this.view.id, ranges } };
    for (const m of this.view.members) if (m.key !== this.selfKey) this.send(m.key, frame);
    for (const r of ranges) this.orders.push(r);
    return true;
  }

  private onOrder(from: PeerKey, batch: chorus.IOrderBatch, frame: chorus.IPeerFrame): void {
    const viewId = batch.viewId ?? 0;
    if (this.deferIfFuture(from, viewId, frame)) return;
    if (viewId < this.view!.id) return;
    if (this.senderIndex(from) !== 0) return; // only the view's sequencer orders
    for (const r of batch.ranges ?? []) this.orders.push(r);
  }

  /** Deliver, in global order, every entry whose data and place are both known. */
  private deliverReady(): boolean {
    const before = this.nextDeliver;
    this.deliverLoop();
    return this.nextDeliver !== before;
  }

  private deliverLoop(): void {
    while (this.orderHead < this.orders.length) {
      const r = this.orders[this.orderHead]!;
      const first = r.firstGlobal ?? 0;
      const count = r.count ?? 0;
      const s = r.sender ?? 0;
      const firstSeq = r.firstSeq ?? 0;
      while (this.nextDeliver < first + count) {
        const seq = firstSeq + (this.nextDeliver - first);
        if (this.received[s]! < seq) return; // data not here yet
        const base = this.logBase[s]!;
        const entry = this.log[s]![seq - base]!;
        this.nextDeliver += 1;
        this.deliverEntry(s, seq, entry);
        if (this.mode === 'left') return;
      }
      this.orderHead += 1;
      if (this.orderHead > 1024 && this.orderHead * 2 > this.orders.length) {
        this.orders = this.orders.slice(this.orderHead);
        this.orderHead = 0;
      }
    }
  }

  private deliverEntry(s: number, seq: number, entry: chorus.IEntry): void {
    const sender = this.view!.members[s]!;
    // Delivered entries are dropped at once: without failures nobody asks for them
    // again. Issue 3 keeps them until stable (every member has them) for the flush.
    const log = this.log[s]!;
    const base = this.logBase[s]!;
    log[seq - base] = undefined as unknown as chorus.IEntry;
    if (seq - base >= 1024) {
      this.log[s] = log.slice(seq - base + 1);
      this.logBase[s] = seq + 1;
    }
    const messageId = `${entry.client ?? ''}/${entry.clientSeq ?? 0}`;
    this.table.apply(entry, sender.id.name, messageId, this.groupFx);
  }

  // ------------------------------------------------------------------ group effects

  private localMembers(g: GroupRecord): LocalClient[] {
    const out: LocalClient[] = [];
    for (const m of g.members) {
      if (m.daemon !== this.self.name) continue;
      const c = this.clients.get(m.client);
      if (c !== undefined) out.push(c);
    }
    return out;
  }

  private toClient(client: string, event: chorus.IDaemonEvent): void {
    this.out.clientEvents.push({ client, event } satisfies ClientOutput);
  }

  private reply(client: string, req: number, ok: boolean, code?: ChorusErrorCode, message?: string, messageId?: string): void {
    this.toClient(client, { reply: { req, ok, errorCode: code ?? '', errorMessage: message ?? '', messageId: messageId ?? '' } });
  }

  private onDeliver(g: GroupRecord, entry: chorus.IEntry, id: string, seq: number): void {
    const delivery: chorus.IDaemonEvent = {
      delivery: {
        group: g.name,
        id,
        sender: entry.client ?? '',
        order: entry.order ?? chorus.Order.ORDER_TOTAL,
        viewId: g.viewId,
        seq,
        data: entry.data ?? new Uint8Array(0),
      },
    };
    for (const m of g.members) {
      if (m.daemon !== this.self.name || !this.clients.has(m.client)) continue;
      this.toClient(m.client, delivery);
    }
    const sender = this.clients.get(entry.client ?? '');
    if (sender !== undefined) {
      const req = sender.waitDelivered.get(id);
      if (req !== undefined) {
        sender.waitDelivered.delete(id);
        this.reply(sender.id, req, true, undefined, undefined, id);
      }
    }
  }

  private onGroupChangeStarted(g: GroupRecord, hosts: ReadonlySet<string>): void {
    if (!hosts.has(this.self.name)) return;
    for (const c of this.localMembers(g)) this.toClient(c.id, { signal: { group: g.name, kind: chorus.GroupSignal.Kind.BLOCK } });
    // The marker follows every entry this daemon stamped with the old view. During a
    // daemon flush it is not needed: the daemon view boundary completes the change.
    if (this.mode === 'normal') {
      this.outbox.push({ kind: chorus.Entry.Kind.END_OF_VIEW, group: g.name, groupView: g.viewId });
    }
  }

  private onGroupViewInstalled(change: GroupViewChange): void {
    const g = change.group;
    const leftIds = change.left.map((l) => l.member.client);
    const event: chorus.IDaemonEvent = {
      view: {
        group: g.name,
        viewId: g.viewId,
        members: g.members.map((m) => m.client),
        joined: change.joined.map((m) => m.client),
        left: leftIds,
        leftCauses: change.left.map((l) => causeToProto(l.cause)),
      },
    };
    this.out.traces.push({
      type: 'group-view',
      group: g.name,
      viewId: g.viewId,
      members: event.view!.members!,
      joined: event.view!.joined!,
      left: leftIds,
    });
    for (const m of g.members) {
      if (m.daemon !== this.self.name) continue;
      const c = this.clients.get(m.client);
      if (c === undefined) continue;
      this.toClient(c.id, event);
      const joinReq = c.pendingJoins.get(g.name);
      if (joinReq !== undefined) {
        c.pendingJoins.delete(g.name);
        this.reply(c.id, joinReq, true);
      } else {
        this.toClient(c.id, { signal: { group: g.name, kind: chorus.GroupSignal.Kind.UNBLOCK } });
      }
    }
    for (const l of change.left) this.finishLeave(l.member.client, l.member.daemon, g.name);
    for (const m of change.abortedJoins) this.finishLeave(m.client, m.daemon, g.name);
  }

  private finishLeave(client: string, daemon: string, group: string): void {
    if (daemon !== this.self.name) return;
    const c = this.clients.get(client);
    if (c === undefined) return;
    const leaveReq = c.pendingLeaves.get(group);
    if (leaveReq !== undefined) {
      c.pendingLeaves.delete(group);
      this.reply(c.id, leaveReq, true);
    }
    const joinReq = c.pendingJoins.get(group);
    if (joinReq !== undefined) {
      c.pendingJoins.delete(group);
      this.reply(c.id, joinReq, false, 'ERR_LEFT', `left ${group} before the join completed`);
    }
  }

  // ------------------------------------------------------------------ clients

  private onClientRequest(clientId: string, request: chorus.IClientRequest): void {
    const c = this.clients.get(clientId);
    if (c === undefined) return;
    const req = request.req ?? 0;
    if (this.leaveRequested) {
      this.reply(c.id, req, false, 'ERR_DISCONNECTED', 'the daemon is shutting down');
      return;
    }
    if (request.join) {
      const group = request.join.group ?? '';
      if (group.length === 0 || group.length > MAX_GROUP_NAME_LENGTH) {
        this.reply(c.id, req, false, 'ERR_BAD_GROUP_NAME', `group names have 1 to ${MAX_GROUP_NAME_LENGTH} characters`);
        return;
      }
      if (request.join.wantState) {
        this.reply(c.id, req, false, 'ERR_NOT_SUPPORTED', 'state transfer is not implemented yet');
        return;
      }
      if (this.table.isMember(group, c.id) || c.pendingJoins.has(group)) {
        this.reply(c.id, req, false, 'ERR_ALREADY_MEMBER', `already a member of ${group}`);
        return;
      }
      c.pendingJoins.set(group, req);
      this.pendingLocal.push({ entry: { kind: chorus.Entry.Kind.GROUP_JOIN, group, client: c.id, clientSeq: req } });
    } else if (request.leave) {
      const group = request.leave.group ?? '';
      if (!this.table.isMember(group, c.id) || c.pendingLeaves.has(group)) {
        this.reply(c.id, req, false, 'ERR_NOT_MEMBER', `not a member of ${group}`);
        return;
      }
      c.pendingLeaves.set(group, req);
      this.pendingLocal.push({ entry: { kind: chorus.Entry.Kind.GROUP_LEAVE, group, client: c.id, clientSeq: req } });
    } else if (request.multicast) {
      const mc = request.multicast;
      const group = mc.group ?? '';
      if (!this.table.isMember(group, c.id) || c.pendingLeaves.has(group)) {
        this.reply(c.id, req, false, 'ERR_NOT_MEMBER', `not a member of ${group}`);
        return;
      }
      const data = mc.data ?? new Uint8Array(0);
      if (data.length > this.maxMessageBytes) {
        this.reply(c.id, req, false, 'ERR_MESSAGE_TOO_LARGE', `message of ${data.length} bytes exceeds ${this.maxMessageBytes}`);
        return;
      }
      const order = mc.order ?? chorus.Order.ORDER_TOTAL;
      if (ORDER_NAMES[order] === undefined) {
        this.reply(c.id, req, false, 'ERR_BAD_REQUEST', `unknown order ${order}`);
        return;
      }
      if (order === chorus.Order.ORDER_SAFE) {
        // Delivering it like `total` would claim a uniformity we do not provide yet.
        this.reply(c.id, req, false, 'ERR_NOT_SUPPORTED', "order 'safe' is not implemented yet");
        return;
      }
      const id = `${c.id}/${req}`;
      this.pendingLocal.push({ entry: { kind: chorus.Entry.Kind.DATA, group, client: c.id, clientSeq: req, order, data } });
      if (mc.waitDelivered) c.waitDelivered.set(id, req);
      else this.reply(c.id, req, true, undefined, undefined, id);
    } else if (request.hello) {
      this.reply(c.id, req, false, 'ERR_BAD_REQUEST', 'hello was already done');
    } else {
      this.reply(c.id, req, false, 'ERR_BAD_REQUEST', 'empty request');
    }
  }

  private onClientDisconnect(clientId: string): void {
    const c = this.clients.get(clientId);
    if (c === undefined) return;
    this.clients.delete(clientId);
    const groups = new Set(c.pendingJoins.keys());
    for (const g of this.table.sorted()) if (g.members.some((m) => m.client === clientId)) groups.add(g.name);
    for (const group of [...groups].sort()) {
      this.pendingLocal.push({ entry: { kind: chorus.Entry.Kind.CLIENT_GONE, group, client: clientId } });
    }
  }

  /**
   * Move accepted requests into the sending stream, stamped with their group's current
   * view. Data and leaves of a group that is changing wait for its next view (keeps
   * guarantee 2: they are sent, and delivered, in that view).
   */
  private pump(): boolean {
    if (this.mode !== 'normal' || this.pendingLocal.length === 0) return false;
    const before = this.outbox.length;
    let keep = 0;
    for (let i = 0; i < this.pendingLocal.length; i++) {
      const item = this.pendingLocal[i]!;
      const e = item.entry;
      const g = this.table.get(e.group ?? '');
      if (e.kind !== chorus.Entry.Kind.GROUP_JOIN && g?.change !== undefined) {
        this.pendingLocal[keep++] = item;
        continue;
      }
      if (e.kind === chorus.Entry.Kind.DATA) {
        if (g === undefined || !g.members.some((m) => m.client === e.client)) {
          // The sender left (or disconnected) before its message could be sent.
          continue;
        }
        e.groupView = g.viewId;
      } else if (e.kind !== chorus.Entry.Kind.GROUP_JOIN) {
        e.groupView = g?.viewId ?? 0;
      }
      this.outbox.push(e);
    }
    this.pendingLocal.length = keep;
    return this.outbox.length !== before;
  }

  private flushOutbox(): boolean {
    if (this.outbox.length === 0 || this.view === undefined || this.mode === 'joining') return false;
    const entries = this.outbox;
    this.outbox = [];
    const firstSeq = this.sentSeq + 1;
    this.sentSeq += entries.length;
    const frame: chorus.IPeerFrame = { data: { viewId: this.view.id, firstSeq, entries } };
    for (const m of this.view.members) if (m.key !== this.selfKey) this.send(m.key, frame);
    this.receiveEntries(this.myIndex, firstSeq, entries);
    return true;
  }

  // ------------------------------------------------------------------ view changes

  private onJoinRequest(req: chorus.IJoinRequest): void {
    if (this.view === undefined || this.mode === 'joining') return; // nobody to join yet
    const who = req.who;
    if (!who?.name || !who.incarnation) return;
    const key = peerKey({ name: who.name, incarnation: who.incarnation });
    if (!this.isCoordinator) {
      this.send(this.view.members[0]!.key, { joinRequest: req });
      return;
    }
    if (this.senderIndex(key) >= 0 || this.joinQueue.has(key)) return; // a repeat
    if (this.proposer?.newView.members.some((m) => m.key === key)) return; // being added now
    // A name already in the view under another incarnation: replacing the old run
    // needs failure handling (issue 3); until then the newcomer waits.
    if (this.view.members.some((m) => m.id.name === who.name)) return;
    this.joinQueue.set(key, { id: { name: who.name, incarnation: who.incarnation }, key, advertise: req.advertise ?? '', joinedView: 0 });
    this.out.addresses.push({ peer: key, advertise: req.advertise ?? '' });
  }

  private onLeaveRequest(req: chorus.ILeaveRequest): void {
    if (this.view === undefined) return;
    const who = req.who;
    if (!who?.name || !who.incarnation) return;
    const key = peerKey({ name: who.name, incarnation: who.incarnation });
    if (this.senderIndex(key) < 0) return;
    if (!this.isCoordinator) {
      this.send(this.view.members[0]!.key, { leaveRequest: req });
      return;
    }
    this.leaveQueue.add(key);
  }

  private onLeave(): void {
    if (this.leaveRequested) return;
    this.leaveRequested = true;
    if (this.view === undefined || this.view.members.length === 1) {
      this.leaveNow();
      return;
    }
    if (this.isCoordinator) this.leaveQueue.add(this.selfKey);
    else this.send(this.view.members[0]!.key, { leaveRequest: { who: this.self } });
  }

  private leaveNow(): void {
    this.mode = 'left';
    this.out.left = true;
    this.out.traces.push({ type: 'left' });
    for (const c of this.clients.keys()) this.out.closeClients.push({ client: c, reason: 'daemon left the cluster' });
    this.clients.clear();
  }

  private maybeStartViewChange(): boolean {
    if (!this.isCoordinator || this.mode !== 'normal' || this.proposer !== undefined) return false;
    if (this.joinQueue.size === 0 && this.leaveQueue.size === 0) return false;
    const old = this.view!;
    const newViewId = old.id + 1;
    const members: ViewMember[] = old.members.filter((m) => !this.leaveQueue.has(m.key));
    for (const j of this.joinQueue.values()) members.push({ ...j, joinedView: newViewId });
    members.sort(compareAge);
    const ballot = this.highestBallot + 1;
    this.highestBallot = ballot;
    this.proposer = { ballot, oldView: old, newView: { id: newViewId, members }, leaving: new Set(this.leaveQueue), acks: new Map() };
    this.joinQueue.clear();
    this.leaveQueue.clear();
    this.out.traces.push({ type: 'view-change-start', ballot, proposer: this.selfKey, members: members.map((m) => m.key) });
    const propose: chorus.IPropose = {
      ballot: { counter: ballot, proposer: this.self },
      oldViewId: old.id,
      newViewId,
      members: members.map(memberToProto),
      leaving: old.members.filter((m) => this.proposer!.leaving.has(m.key)).map((m) => m.id),
    };
    for (const m of old.members) if (m.key !== this.selfKey) this.send(m.key, { propose });
    this.onPropose(this.selfKey, propose);
    return true;
  }

  private onPropose(from: PeerKey, p: chorus.IPropose): void {
    const counter = p.ballot?.counter ?? 0;
    // A member still installing the previous view answers once it has.
    if (this.deferIfFuture(from, p.oldViewId ?? 0, { propose: p })) return;
    if ((p.oldViewId ?? 0) !== this.view!.id) return;
    if (counter < this.highestBallot && from !== this.selfKey) return;
    this.highestBallot = Math.max(this.highestBallot, counter);
    // Stop sending in the old view: everything stamped so far goes out first, so the
    // proposer has it before it has our acknowledgement (links are FIFO).
    this.flushOutbox();
    this.mode = 'flushing';
    const ack: chorus.IProposeAck = {
      ballot: p.ballot ?? null,
      oldViewId: this.view!.id,
      sent: this.sentSeq,
      received: this.received.slice(),
      delivered: this.nextDeliver - 1,
    };
    if (from === this.selfKey) this.onProposeAck(this.selfKey, ack);
    else this.send(from, { proposeAck: ack });
  }

  private onProposeAck(from: PeerKey, ack: chorus.IProposeAck): void {
    const p = this.proposer;
    if (p === undefined || (ack.ballot?.counter ?? 0) !== p.ballot || (ack.oldViewId ?? 0) !== p.oldView.id) return;
    if (this.senderIndex(from) < 0) return;
    p.acks.set(from, ack);
  }

  /** Proposer: once every old member has acknowledged and all it sent is ordered and delivered here, install. */
  private maybeFinishFlush(): boolean {
    const p = this.proposer;
    if (p === undefined || p.acks.size < p.oldView.members.length) return false;
    for (let s = 0; s < p.oldView.members.length; s++) {
      const ack = p.acks.get(p.oldView.members[s]!.key)!;
      if (this.received[s]! < (ack.sent ?? 0)) return false;
    }
    this.flushOrders();
    this.deliverReady();
    if (this.nextDeliver !== this.nextGlobal) return false;
    const departed = new Map<string, LeaveCause>();
    const left: chorus.IDaemonId[] = [];
    const leftCauses: chorus.Cause[] = [];
    for (const m of p.oldView.members) {
      if (!p.leaving.has(m.key)) continue;
      departed.set(m.id.name, 'leave');
      left.push(m.id);
      leftCauses.push(chorus.Cause.CAUSE_LEAVE);
    }
    // The table a joiner receives is the table after this boundary.
    const snapshot = this.table.clone();
    snapshot.applyBoundary(departed, NO_EFFECTS);
    const install: chorus.IInstall = {
      ballot: { counter: p.ballot, proposer: this.self },
      oldViewId: p.oldView.id,
      newViewId: p.newView.id,
      members: p.newView.members.map(memberToProto),
      lastGlobal: this.nextGlobal - 1,
      groups: snapshot.toProto(),
      left,
      leftCauses,
    };
    const targets = new Set<PeerKey>();
    for (const m of p.newView.members) targets.add(m.key);
    for (const m of p.oldView.members) targets.add(m.key);
    targets.delete(this.selfKey);
    for (const key of targets) this.send(key, { install });
    for (const m of p.newView.members) this.out.addresses.push({ peer: m.key, advertise: m.advertise });
    this.proposer = undefined;
    this.pendingInstall = install;
    return true;
  }

  private onInstall(install: chorus.IInstall): void {
    const oldViewId = install.oldViewId ?? 0;
    if (this.view === undefined) {
      // Joiner: only an Install that names it matters.
      const named = (install.members ?? []).some((m) => m.id?.name === this.self.name && m.id?.incarnation === this.self.incarnation);
      if (!named) return;
    } else if (oldViewId !== this.view.id) {
      return;
    }
    this.pendingInstall = install;
  }

  /** Install a pending view once every entry up to its cut is delivered here. */
  private maybeInstall(): boolean {
    const install = this.pendingInstall;
    if (install === undefined) return false;
    if (this.view !== undefined) {
      this.deliverReady();
      if (this.mode === 'left') return true;
      if (this.nextDeliver - 1 < (install.lastGlobal ?? 0)) return false;
    }
    this.pendingInstall = undefined;
    const members = (install.members ?? []).map(memberFromProto);
    const inView = members.some((m) => m.key === this.selfKey);
    if (!inView) {
      this.leaveNow();
      return true;
    }
    if (this.view === undefined) {
      this.table = GroupTable.fromProto(install.groups);
    } else {
      const departed = new Map<string, LeaveCause>();
      const causes = install.leftCauses ?? [];
      (install.left ?? []).forEach((id, i) => departed.set(id.name ?? '', causeFromProto(causes[i] ?? chorus.Cause.CAUSE_LEAVE)));
      this.table.applyBoundary(departed, this.groupFx);
    }
    this.installView({ id: install.newViewId ?? 0, members });
    // Frames that arrived early for this view.
    const future = this.futureFrames.splice(0);
    for (const f of future) this.onFrame(f.from, f.frame);
    return true;
  }

  private installView(view: DaemonView): void {
    this.view = view;
    this.myIndex = view.members.findIndex((m) => m.key === this.selfKey);
    invariant(this.myIndex >= 0, 'installing a view without this daemon');
    invariant(new Set(view.members.map((m) => m.key)).size === view.members.length, `view ${view.id} lists a member twice`);
    this.mode = 'normal';
    const n = view.members.length;
    this.sentSeq = 0;
    this.log = Array.from({ length: n }, () => []);
    this.logBase = new Array<number>(n).fill(1);
    this.received = new Array<number>(n).fill(0);
    this.ordered = new Array<number>(n).fill(0);
    this.orders = [];
    this.orderHead = 0;
    this.orderOutbox = [];
    this.nextDeliver = 1;
    this.nextGlobal = 1;
    this.seeds.clear();
    for (const m of view.members) if (m.key !== this.selfKey) this.out.addresses.push({ peer: m.key, advertise: m.advertise });
    this.out.traces.push({ type: 'daemon-view', viewId: view.id, members: view.members.map((m) => m.key) });
    if (this.leaveRequested) {
      if (n === 1) this.leaveNow();
      else if (this.myIndex === 0) this.leaveQueue.add(this.selfKey);
      else this.send(view.members[0]!.key, { leaveRequest: { who: this.self } });
    }
  }

  // ------------------------------------------------------------------ status

  status(): {
    name: string;
    incarnation: string;
    mode: Mode;
    viewId: number | undefined;
    members: Array<{ name: string; incarnation: string; advertise: string; coordinator: boolean }>;
    groups: Array<{ name: string; viewId: number; members: string[]; seq: number }>;
    clients: number;
  } {
    return {
      name: this.self.name,
      incarnation: this.self.incarnation,
      mode: this.mode,
      viewId: this.view?.id,
      members: (this.view?.members ?? []).map((m, i) => ({ name: m.id.name, incarnation: m.id.incarnation, advertise: m.advertise, coordinator: i === 0 })),
      groups: this.table.sorted().map((g) => ({ name: g.name, viewId: g.viewId, members: g.members.map((m) => m.client), seq: g.totalSeq })),
      clients: this.clients.size,
    };
  }
}

const NO_EFFECTS: GroupEffects = { deliver() {}, changeStarted() {}, viewInstalled() {} };

function compareAge(a: ViewMember, b: ViewMember): number {
  if (a.joinedView !== b.joinedView) return a.joinedView - b.joinedView;
  if (a.id.name !== b.id.name) return a.id.name < b.id.name ? -1 : 1;
  return a.id.incarnation < b.id.incarnation ? -1 : a.id.incarnation > b.id.incarnation ? 1 : 0;
}

function memberToProto(m: ViewMember): chorus.IMember {
  return { id: { name: m.id.name, incarnation: m.id.incarnation }, advertise: m.advertise, joinedView: m.joinedView };
}

function memberFromProto(m: chorus.IMember): ViewMember {
  const id = { name: m.id?.name ?? '', incarnation: m.id?.incarnation ?? '' };
  return { id, key: peerKey(id), advertise: m.advertise ?? '', joinedView: m.joinedView ?? 0 };
}

function causeFromProto(c: chorus.Cause): LeaveCause {
  switch (c) {
    case chorus.Cause.CAUSE_CRASH:
      return 'crash';
    case chorus.Cause.CAUSE_PARTITION:
      return 'partition';
    case chorus.Cause.CAUSE_EXPELLED:
      return 'expelled';
    default:
      return 'leave';
  }
}
