// ViewState: everything a daemon holds for one daemon view, created fresh when the view
// installs (instead of resetting fields one by one): the view and this daemon's index in
// it, its sending stream (seq, outbox), every member's stream until stable (ReceiveLog),
// early delivery, the order (Sequencer) and delivery through it, and what the other
// members hold (StabilityTracker).
//
// Outside a view (joining, or after stepping down) `view` is undefined and `myIndex` -1;
// after a step-down the old view's logs stay readable (the buffered bytes still count
// for flow control) until the next install replaces them.
//
// The failure detector is not here: it outlives views (its heartbeat clock and the
// buffer-full timer run on across installs) and the view change's proposer holds it; its
// per-view tables are reset at install.
import type { chorus } from '../wire/gen/chorus.js';
import { invariant } from '../errors.js';
import { EarlyDelivery } from './early-delivery.js';
import { ReceiveLog } from './receive-log.js';
import { Sequencer } from './sequencer.js';
import { StabilityTracker } from './stability.js';
import { LinkRtt } from './link-rtt.js';
import type { DaemonView, PeerKey } from './types.js';

/** What the daemon is doing: joining a primary, in a view, in a flush of its view, or gone. */
export type Mode = 'joining' | 'normal' | 'flushing' | 'left';

export class ViewState {
  /** The daemon view (undefined outside one). */
  readonly view: DaemonView | undefined;
  /** This daemon's index in the view (-1 outside one). */
  readonly myIndex: number;
  /** The last seq of this daemon's sending stream. */
  sentSeq: number;
  /** Entries stamped for the sending stream, not sent yet. */
  outbox: chorus.IEntry[];
  /** The next global seq to deliver. */
  nextDeliver: number;
  /** Every member's stream of this view, until stable. */
  readonly rlog: ReceiveLog;
  /** Early (fifo/causal) delivery. */
  readonly earlyDelivery: EarlyDelivery;
  /** The order: assigned here (coordinator) or learned from the coordinator. */
  readonly sequencer: Sequencer;
  /** What the other members hold (from heartbeats and data batches). */
  readonly stability: StabilityTracker;
  /** Round-trip times to the other members (status only). */
  readonly rtt: LinkRtt;

  private constructor(view: DaemonView | undefined, myIndex: number, from?: ViewState) {
    this.view = view;
    this.myIndex = myIndex;
    this.rtt = new LinkRtt(view?.members.length ?? 0);
    if (from !== undefined) {
      this.sentSeq = from.sentSeq;
      this.nextDeliver = from.nextDeliver;
      this.rlog = from.rlog;
      this.earlyDelivery = from.earlyDelivery;
      this.sequencer = from.sequencer;
      this.stability = from.stability;
    } else {
      this.sentSeq = 0;
      this.nextDeliver = 1;
      this.rlog = new ReceiveLog();
      this.earlyDelivery = new EarlyDelivery(this.rlog);
      this.sequencer = new Sequencer(this.rlog);
      this.stability = new StabilityTracker();
    }
    this.outbox = [];
  }

  /** Before the first view: nothing held. */
  static none(): ViewState {
    return new ViewState(undefined, -1);
  }

  /** A new daemon view with this daemon (`self`) in it: every stream starts empty. */
  static install(view: DaemonView, self: PeerKey): ViewState {
    const myIndex = view.members.findIndex((m) => m.key === self);
    invariant(myIndex >= 0, 'installing a view without this daemon');
    invariant(new Set(view.members.map((m) => m.key)).size === view.members.length, `view ${view.id} lists a member twice`);
    const state = new ViewState(view, myIndex);
    const n = view.members.length;
    state.rlog.reset(n);
    state.earlyDelivery.reset(n);
    state.sequencer.reset(n);
    state.stability.reset(n, myIndex);
    return state;
  }

  /** Out of the view (stepped down): no view, nothing to send; the old logs stay readable. */
  leftBehind(): ViewState {
    return new ViewState(undefined, -1, this);
  }

  get isCoordinator(): boolean {
    return this.view !== undefined && this.myIndex === 0;
  }

  /** The last global seq delivered here. */
  get delivered(): number {
    return this.nextDeliver - 1;
  }

  /** This daemon's entries of the view, in stream order: sent (still in the log), then stamped and not sent. */
  ownEntries(): Array<chorus.IEntry | undefined> {
    const own = this.myIndex >= 0 ? (this.rlog.range(this.myIndex, 1, this.rlog.received[this.myIndex] ?? 0)?.entries ?? []) : [];
    return [...own, ...this.outbox];
  }

  /** What this member holds of the view, for its acknowledgement of a flush. */
  holdings(): chorus.IProposeAck {
    return {
      sent: this.sentSeq,
      received: this.rlog.received.slice(),
      delivered: this.nextDeliver - 1,
      orders: this.sequencer.order.from(0).map((r) => ({ ...r })),
      deliveredSeqs: this.rlog.deliveredSeq.slice(),
      depMarks: this.rlog.depMarks(),
      earlyPassed: this.earlyDelivery.delivered.slice(),
    };
  }

  /** Index of member `key` in the view (-1: not a member, or no view). */
  memberIndex(key: PeerKey): number {
    const members = this.view?.members;
    if (members === undefined) return -1;
    for (let i = 0; i < members.length; i++) if (members[i]!.key === key) return i;
    return -1;
  }
}
