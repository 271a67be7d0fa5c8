// The recorded history the virtual-synchrony checker reads. The simulator and the
// real-process tests write exactly these events, one JSON object per line.
//
// Order: the checker never uses `t` for correctness. The order of one member's (or one
// daemon's) own events is the order in which they appear in the array or file; events
// of different members may be interleaved in any way. `t` (ms) is for reports only.
//
// Identities: a daemon is `name#incarnation`; a member is a client id. Message ids are
// unique in the cluster.

export type Order = 'fifo' | 'causal' | 'total' | 'safe';

/** Why a member appears in a view change (`join`) or left it (the rest). */
export type ChangeCause = 'join' | 'leave' | 'crash' | 'partition' | 'expelled';

/** A daemon installed a (primary) daemon view. */
export interface DaemonViewEvent {
  readonly type: 'daemon-view';
  readonly t: number;
  /** `name#incarnation` of the installing daemon. */
  readonly daemon: string;
  readonly viewId: number;
  /** `name#incarnation`, oldest first. */
  readonly members: readonly string[];
  /**
   * True when this view was founded by `chorus force-primary` on this daemon (the one
   * view the forcing daemon installs alone; the views after it are ordinary). It is
   * exempt from the quorum rules and must have an id above every daemon view installed
   * before it (`forced-view-id`). Absent means false; older recorders that do not write
   * it can name forced views with `PrimaryComponentOptions.forcedPrimaryViews`.
   */
  readonly forced?: boolean;
}

/** A client installed a group view. Its first view of a group is the one it joined with. */
export interface GroupViewEvent {
  readonly type: 'group-view';
  readonly t: number;
  readonly member: string;
  readonly group: string;
  readonly viewId: number;
  /** Client ids, in the view's order. */
  readonly members: readonly string[];
  readonly joined: readonly string[];
  readonly left: readonly string[];
  readonly causes: Readonly<Record<string, ChangeCause>>;
}

/** A member multicast a message, and the service accepted it. */
export interface SendEvent {
  readonly type: 'send';
  readonly t: number;
  readonly member: string;
  readonly group: string;
  /** Unique in the cluster. */
  readonly id: string;
  readonly order: Order;
  /** The view the message was sent in (its sending view). */
  readonly viewId: number;
}

/** A member delivered a message. */
export interface DeliverEvent {
  readonly type: 'deliver';
  readonly t: number;
  readonly member: string;
  readonly group: string;
  readonly id: string;
  readonly sender: string;
  readonly order: Order;
  /** The view the message is delivered in, as the delivering member reports it. */
  readonly viewId: number;
  /** Group sequence number: the same at every member for `total` and `safe` messages. */
  readonly seq: number;
}

/** The member's handle for the group is dead; it may join again (a new session). */
export interface ExpelledEvent {
  readonly type: 'expelled';
  readonly t: number;
  readonly member: string;
  readonly group: string;
  readonly reason: string;
}

/**
 * The member left the group on purpose. Its last view is the one before the view that
 * removes it; it does not install that view.
 */
export interface LeaveEvent {
  readonly type: 'leave';
  readonly t: number;
  readonly member: string;
  readonly group: string;
}

/** A client process died: every session it had ends here. */
export interface CrashEvent {
  readonly type: 'crash';
  readonly t: number;
  readonly member: string;
}

/**
 * A daemon process died. Its clients died too, but the history does not say which
 * clients were on which daemon: the checker acts only on explicit member events.
 */
export interface DaemonCrashEvent {
  readonly type: 'daemon-crash';
  readonly t: number;
  readonly daemon: string;
}

/**
 * A daemon left the daemon view on purpose (SIGTERM): it took part in the view change to
 * daemon view `viewId`, which took it out, and it is gone for good. It counts towards the
 * quorum of that change (it cannot take part in any other successor of its last view).
 */
export interface DaemonLeftEvent {
  readonly type: 'daemon-left';
  readonly t: number;
  readonly daemon: string;
  readonly viewId: number;
}

/**
 * A member installed state (guarantee 6) before its first view of a session: the state
 * taken at the start of group view `viewId`, which reflects the messages `contents`
 * (ids, in the provider's delivery order). Recorded before that view's group-view event.
 */
export interface TransferEvent {
  readonly type: 'transfer';
  readonly t: number;
  readonly member: string;
  readonly group: string;
  readonly viewId: number;
  readonly contents: readonly string[];
}

/**
 * One recorded event. Events of any other `type` may appear in a file (newer
 * recorders); the checker ignores them.
 */
export type HistoryEvent =
  | DaemonViewEvent
  | GroupViewEvent
  | SendEvent
  | DeliverEvent
  | ExpelledEvent
  | LeaveEvent
  | CrashEvent
  | DaemonCrashEvent
  | DaemonLeftEvent
  | TransferEvent;

export type HistoryEventType = HistoryEvent['type'];

export const ORDERS: readonly Order[] = ['fifo', 'causal', 'total', 'safe'];
export const CHANGE_CAUSES: readonly ChangeCause[] = ['join', 'leave', 'crash', 'partition', 'expelled'];
