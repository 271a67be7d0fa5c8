// The data path of a daemon view: what flows between the members while no flush runs.
//
// - this daemon's stamped entries go out in DataBatches (with what it holds, for
//   stability) and into its own stream of the receive log;
// - DataBatches from the members (or relayed in answer to a Fetch) fill the receive log;
//   the coordinator orders what arrived and broadcasts OrderBatches; the others accept
//   the order; a gap (lost frames on a broken connection) is fetched again;
// - delivery in global order once an entry and its place are both here (uniform entries
//   wait until every member has them), early delivery of fifo/causal entries, and during
//   a flush, delivery up to the cut the install prescribes;
// - heartbeats (what this daemon holds, suspects, ordered and delivered), their
//   acknowledgement role while uniform entries wait, and garbage collection of what is
//   stable;
// - failure detection on the view's members: silence, and a coordinator's laggard.
//
// The component keeps no state of its own: the per-view state is the node's ViewState
// (read through the context at every call, since an install replaces it). What the data
// path does to the outside goes through the context: `send`, `trace`, and the node's
// routing of group-table effects to local clients (`groupEffects`, `deliver`).
import { chorus } from '../wire/gen/chorus.js';
import { invariant } from '../errors.js';
import type { FailureDetector } from './failure-detector.js';
import type { GroupEffect, GroupRecord, GroupTable } from './group-table.js';
import { runFromProto } from './order-log.js';
import { uniform } from './receive-log.js';
import type { CoreOutput, PeerKey, ViewMember } from './types.js';
import type { Mode, ViewState } from './view-state.js';

export interface DataPathContext {
  readonly nowMs: number;
  readonly selfKey: PeerKey;
  /** The current daemon view's state (replaced at install). */
  readonly vs: ViewState;
  readonly mode: Mode;
  /** This daemon acknowledged a flush of the view: the cut decides what is delivered. */
  readonly flushing: boolean;
  /** This daemon proposes a view change (its proposal may still need what is held). */
  readonly proposing: boolean;
  /** A state transfer holds back delivery here. */
  readonly holding: boolean;
  readonly table: GroupTable;
  send(to: PeerKey, frame: chorus.IPeerFrame): void;
  trace(event: CoreOutput['traces'][number]): void;
  /** A frame of a view not installed yet: kept for it (true), or not (false: current or older). */
  deferIfFuture(from: PeerKey, viewId: number, frame: chorus.IPeerFrame): boolean;
  /** Route what the group table did to the local clients (`deliveredEarly`: delivered here already). */
  groupEffects(effects: readonly GroupEffect[], deliveredEarly: boolean): void;
  /** A client of this daemon is in group `g`. */
  hasLocalMember(g: GroupRecord): boolean;
  /** Deliver an entry to the local members of its group. */
  deliver(group: GroupRecord, entry: chorus.IEntry, messageId: string, seq: number): void;
}

export class DataPath {
  constructor(
    private readonly ctx: DataPathContext,
    private readonly fd: FailureDetector,
    private readonly maxBufferBytes: number,
  ) {}

  // ------------------------------------------------------------------ sending

  /** Send what this daemon stamped (the outbox) to every member, into its own stream first. */
  flushOutbox(): boolean {
    const vs = this.ctx.vs;
    if (vs.outbox.length === 0 || vs.view === undefined || this.ctx.mode === 'joining') return false;
    const entries = vs.outbox;
    vs.outbox = [];
    // Causal barrier: everything delivered here so far happened before these entries.
    entries[0]!.dep = vs.nextDeliver - 1;
    const firstSeq = vs.sentSeq + 1;
    vs.sentSeq += entries.length;
    this.receiveEntries(vs.myIndex, firstSeq, entries);
    const frame: chorus.IPeerFrame = {
      data: {
        viewId: vs.view.id,
        firstSeq,
        entries,
        received: vs.rlog.received.slice(),
        delivered: vs.nextDeliver - 1,
        ordered: vs.sequencer.order.known,
      },
    };
    for (const m of vs.view.members) if (m.key !== this.ctx.selfKey) this.ctx.send(m.key, frame);
    return true;
  }

  /** Broadcast what the sequencer ordered in this step. */
  flushOrders(): boolean {
    const vs = this.ctx.vs;
    if (vs.view === undefined) return false;
    const ranges = vs.sequencer.takeOutbox();
    if (ranges === undefined) return false;
    const frame: chorus.IPeerFrame = { order: { viewId: vs.view.id, ranges } };
    for (const m of vs.view.members) if (m.key !== this.ctx.selfKey) this.ctx.send(m.key, frame);
    return true;
  }

  // ------------------------------------------------------------------ receiving

  onData(from: PeerKey, batch: chorus.IDataBatch, frame: chorus.IPeerFrame): void {
    const viewId = batch.viewId ?? 0;
    if (this.ctx.deferIfFuture(from, viewId, frame)) return;
    const vs = this.ctx.vs;
    if (viewId < vs.view!.id) return; // old view: settled by its flush
    const link = vs.memberIndex(from);
    if (link < 0) return;
    const s = batch.relayed ? (batch.origin ?? 0) : link;
    if (s >= vs.view!.members.length) return;
    if (!batch.relayed && batch.received !== undefined && batch.received !== null) {
      vs.stability.note(link, batch.received, batch.delivered ?? 0, batch.ordered ?? 0);
    }
    const firstSeq = batch.firstSeq ?? 0;
    const entries = batch.entries ?? [];
    if (firstSeq > vs.rlog.received[s]! + 1) {
      // Frames were lost (a broken connection): ask for the gap and what follows.
      if (!batch.relayed) this.ctx.send(from, { fetch: { viewId, origin: s, fromSeq: vs.rlog.received[s]! + 1, toSeq: firstSeq + entries.length - 1 } });
      return;
    }
    this.receiveEntries(s, firstSeq, entries);
  }

  private receiveEntries(s: number, firstSeq: number, entries: readonly chorus.IEntry[]): void {
    const vs = this.ctx.vs;
    if (vs.rlog.receive(s, firstSeq, entries) && vs.isCoordinator && this.ctx.mode === 'normal') vs.sequencer.sequenceAll();
  }

  onOrder(from: PeerKey, batch: chorus.IOrderBatch, frame: chorus.IPeerFrame): void {
    const viewId = batch.viewId ?? 0;
    if (this.ctx.deferIfFuture(from, viewId, frame)) return;
    const vs = this.ctx.vs;
    if (viewId < vs.view!.id) return;
    if (vs.memberIndex(from) !== 0) return; // only the view's sequencer orders
    if (this.ctx.flushing) return; // after acknowledging a flush, the cut decides
    const missing = vs.sequencer.accept(batch.ranges ?? []);
    if (missing !== undefined) this.ctx.send(from, { fetch: { viewId, ordersFrom: missing } });
  }

  /** A heartbeat of member `i` of the current view (`viewId`): what it holds, suspects, ordered and delivered. */
  onHeartbeat(from: PeerKey, i: number, viewId: number, hb: chorus.IHeartbeat): void {
    const vs = this.ctx.vs;
    const theirs = hb.received ?? [];
    // What the sender had sent by its previous heartbeat and is still missing here was
    // lost with a broken connection.
    const due = vs.stability.noteHeartbeat(i, theirs, hb.delivered ?? 0, hb.ordered ?? 0, hb.holding === true);
    vs.rtt.heard(i, hb, this.ctx.nowMs);
    this.fd.peerReported(i, hb.suspects ?? []);
    if (!this.ctx.flushing && due > vs.rlog.received[i]!) {
      this.ctx.send(from, { fetch: { viewId, origin: i, fromSeq: vs.rlog.received[i]! + 1, toSeq: due } });
    }
    if (i === 0 && !this.ctx.flushing && (hb.ordered ?? 0) > vs.sequencer.order.known) {
      this.ctx.send(from, { fetch: { viewId, ordersFrom: vs.sequencer.order.known + 1 } });
    }
  }

  /** A member asks again for entries or order it lost. */
  onFetch(from: PeerKey, f: chorus.IFetch): void {
    const vs = this.ctx.vs;
    if (vs.view === undefined || (f.viewId ?? 0) !== vs.view.id) return;
    if ((f.ordersFrom ?? 0) > 0) {
      const runs = vs.sequencer.order.from(f.ordersFrom ?? 0);
      if (runs.length > 0) this.ctx.send(from, { order: { viewId: vs.view.id, ranges: runs } });
      return;
    }
    const s = f.origin ?? 0;
    if (s >= vs.view.members.length) return;
    const answer = vs.rlog.range(s, f.fromSeq ?? 0, f.toSeq ?? 0);
    if (answer === undefined) return;
    this.ctx.send(from, { data: { viewId: vs.view.id, firstSeq: answer.firstSeq, entries: answer.entries, origin: s, relayed: true } });
  }

  // ------------------------------------------------------------------ delivery

  /** Deliver, in global order, every entry whose data and place are both known. */
  deliverReady(): boolean {
    if (this.ctx.vs.view === undefined || this.ctx.flushing) return false;
    if (this.ctx.holding) return false;
    return this.deliverThrough(Number.POSITIVE_INFINITY, undefined);
  }

  /**
   * Deliver up to `limit` (inclusive). With `cutSeqs` (a flush), a slot whose entry is
   * beyond the cut is skipped: no survivor holds it.
   */
  private deliverThrough(limit: number, cutSeqs: readonly number[] | undefined): boolean {
    const vs = this.ctx.vs;
    const before = vs.nextDeliver;
    while (vs.nextDeliver <= limit) {
      const slot = vs.sequencer.order.slot(vs.nextDeliver);
      if (slot === undefined) break;
      const { sender: s, seq } = slot;
      if (cutSeqs !== undefined && seq > (cutSeqs[s] ?? 0)) {
        vs.nextDeliver += 1;
        continue;
      }
      if (vs.rlog.received[s]! < seq) break; // data not here yet
      const entry = vs.rlog.entry(s, seq);
      invariant(entry !== undefined, `entry ${s}/${seq} collected before delivery`);
      const order = entry.order ?? chorus.Order.ORDER_TOTAL;
      // `safe` messages and every group-table entry (joins, leaves, end-of-view markers,
      // transfer outcomes) wait until every member has the entry and its place (uniform
      // delivery): a sequencer that delivered a group view change alone and crashed
      // would otherwise leave a view id that the survivors then use with other members.
      // A flush (cutSeqs) delivers what its install prescribes to every survivor.
      if (uniform(entry) && cutSeqs === undefined && !vs.stability.safeStable(s, seq, vs.nextDeliver, vs.rlog.deliveredSeq)) break;
      vs.nextDeliver += 1;
      vs.rlog.markDelivered(s, seq, entry);
      const sender = vs.view!.members[s]!;
      const messageId = `${entry.client ?? ''}/${entry.clientSeq ?? 0}`;
      // An entry already delivered here early is applied to the table, not delivered again.
      const early = seq <= vs.earlyDelivery.passed[s]! && (order === chorus.Order.ORDER_FIFO || order === chorus.Order.ORDER_CAUSAL);
      const effects = this.ctx.table.apply(entry, sender.id.name, messageId);
      for (const fx of effects) if (fx.kind === 'rejected') this.ctx.trace({ type: 'frame-rejected', from: sender.key, reason: fx.reason });
      this.ctx.groupEffects(effects, early);
      if (this.ctx.mode === 'left') break;
    }
    return vs.nextDeliver !== before;
  }

  /**
   * Early delivery of `fifo` and `causal` entries, without waiting for the sequencer
   * (see EarlyDelivery). Not during a flush: then the install says what is delivered.
   */
  deliverEarly(): boolean {
    const vs = this.ctx.vs;
    if (vs.view === undefined || this.ctx.flushing || this.ctx.mode !== 'normal') return false;
    if (this.ctx.holding) return false;
    const { progress, due } = vs.earlyDelivery.run(this.ctx.table, (g) => this.ctx.hasLocalMember(g), vs.nextDeliver - 1);
    for (const { group, entry } of due) this.ctx.deliver(group, entry, `${entry.client ?? ''}/${entry.clientSeq ?? 0}`, 0);
    return progress;
  }

  /** Adopt the final order of the old view (a flush's cut) and deliver up to the cut. */
  applyCut(orders: readonly chorus.IOrderRange[], cutSeqs: readonly number[]): void {
    const vs = this.ctx.vs;
    const delivered = vs.nextDeliver - 1;
    vs.sequencer.order.truncateAfter(delivered);
    for (const r of orders) {
      const run = runFromProto(r);
      const end = run.firstGlobal + run.count - 1;
      if (end <= delivered) continue;
      vs.sequencer.order.append(run.firstGlobal > delivered ? run : { ...run, firstSeq: run.firstSeq + (delivered + 1 - run.firstGlobal), count: end - delivered, firstGlobal: delivered + 1 });
    }
    this.deliverThrough(Number.POSITIVE_INFINITY, cutSeqs);
  }

  // ------------------------------------------------------------------ heartbeats and stability

  /** Heartbeats to every member when due (period, or changed suspicions). */
  heartbeats(): void {
    const vs = this.ctx.vs;
    if (vs.view === undefined || !this.fd.heartbeatDue(this.ctx.nowMs)) return;
    for (let i = 0; i < vs.view.members.length; i++) if (i !== vs.myIndex) this.sendHeartbeat(i);
  }

  /** Tell member `i` what this daemon holds, suspects, ordered and delivered. */
  sendHeartbeat(i: number): void {
    const vs = this.ctx.vs;
    const view = vs.view!;
    this.ctx.send(view.members[i]!.key, {
      heartbeat: {
        viewId: view.id,
        received: vs.rlog.received.slice(),
        suspects: [...this.fd.suspects],
        ordered: vs.sequencer.order.known,
        delivered: vs.nextDeliver - 1,
        holding: this.ctx.holding,
        ...vs.rtt.stamp(i, this.ctx.nowMs),
      },
    });
  }

  /** While uniform entries wait, tell every member at once what this daemon holds and knows. */
  acknowledgeSafe(): void {
    const vs = this.ctx.vs;
    if (vs.rlog.uniformHeld <= 0 || vs.view === undefined || this.ctx.flushing || this.ctx.mode !== 'normal') return;
    if (!vs.stability.acknowledgeDue(vs.rlog.totalReceived(), vs.sequencer.order.known)) return;
    for (let i = 0; i < vs.view.members.length; i++) if (i !== vs.myIndex) this.sendHeartbeat(i);
  }

  /** Drop entries every member has and this daemon delivered; forget delivered order. */
  collectGarbage(): void {
    const vs = this.ctx.vs;
    if (vs.view === undefined || this.ctx.flushing || this.ctx.proposing) return;
    vs.rlog.collect((s) => vs.stability.othersReceived(s));
    vs.sequencer.order.forgetThrough(Math.min(vs.nextDeliver - 1, vs.stability.othersDelivered()));
  }

  // ------------------------------------------------------------------ failure detection

  /** Suspect the members silent too long, and a laggard (see excludeLaggard). */
  detectFailures(): boolean {
    const view = this.ctx.vs.view;
    if (view === undefined) return false;
    const suspected = this.fd.detect(this.ctx.nowMs);
    for (const i of suspected) this.ctx.trace({ type: 'suspect', member: view.members[i]!.key, silentMs: this.ctx.nowMs - (this.fd.lastHeard[i] ?? this.ctx.nowMs) });
    return this.excludeLaggard() || suspected.length > 0;
  }

  /**
   * A member that keeps the buffer of unstable entries over half its bound for longer
   * than twice the suspect timeout (it does not acknowledge what it receives) is
   * excluded like a crashed one: one slow daemon must not stall the cluster. The
   * coordinator decides, so the slow member (not its reporter) is the one dropped.
   */
  private excludeLaggard(): boolean {
    const vs = this.ctx.vs;
    const coordinating = vs.myIndex === 0 && !this.ctx.flushing && !this.ctx.proposing;
    if (!this.fd.bufferFullTooLong(coordinating && vs.rlog.retainedBytes > this.maxBufferBytes / 2, this.ctx.nowMs)) return false;
    const n = vs.view!.members.length;
    let laggard = -1;
    let least = Number.POSITIVE_INFINITY;
    for (let m = 1; m < n; m++) {
      if (this.fd.suspects.has(m) || vs.stability.isHolding(m)) continue; // holding for a state transfer: lagging on purpose
      const acked = vs.stability.backlog(m, vs.rlog.received);
      // Larger backlog = more behind.
      if (-acked < least) {
        least = -acked;
        laggard = m;
      }
    }
    if (laggard < 0) return false;
    this.fd.excludeLaggard(laggard, vs.view!.members[laggard]!.key);
    this.ctx.trace({ type: 'suspect', member: vs.view!.members[laggard]!.key });
    return true;
  }

  /** The members to keep in a view change (see FailureDetector.clique). */
  clique(): ViewMember[] {
    const view = this.ctx.vs.view!;
    return this.fd.clique().map((i) => view.members[i]!);
  }
}
