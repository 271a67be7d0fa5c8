// The process-group table, replicated at every daemon. Every daemon applies the same
// entries in the same (total) order, so every daemon computes the same group views.
//
// A group view change is a barrier inside the ordered stream (keeps guarantee 2,
// sending-view delivery): when a join or leave of group G is ordered at position p,
// G enters a change. Each daemon that hosts members of G answers, when it delivers p,
// with an END_OF_VIEW marker for G's current view, sent after every message it stamped
// with that view; from then on it holds its clients' new messages for G. Once the
// markers of all those daemons are ordered, the new view is installed at that
// position. So every message stamped with view v is ordered before v+1 is installed.
// Ops ordered while G is changing join the same change (fewer views).
import { chorus } from '../wire/gen/chorus.js';
import { invariant } from '../errors.js';

/** Why a member left a group's view (a joined member has no cause: it joined). */
export type LeaveCause = 'leave' | 'crash' | 'partition' | 'expelled';

export interface GroupMember {
  readonly client: string;
  /** Name of the daemon hosting the client. */
  readonly daemon: string;
  /** Joined with a state provider: may be asked for a checkpoint. */
  offersState: boolean;
  /**
   * Waiting for state transfer: `provider` sends the state taken at the start of group
   * view `transfer`. Replicated, so every daemon picks the same provider.
   */
  awaitingState: boolean;
  provider: string;
  transfer: number;
}

/** What a view install means for a member that asked for state. */
export type TransferPlan =
  | { readonly kind: 'begin'; readonly joiner: GroupMember; readonly provider: GroupMember; readonly transfer: number }
  /** The group had no member before: nothing to install. */
  | { readonly kind: 'none'; readonly joiner: GroupMember }
  /**
   * No member provides now: the joiner waits, in the group, for one that does (a later
   * view plans its transfer); its daemon takes it out after the join's wait (see
   * StateTransfer.giveUpWaits).
   */
  | { readonly kind: 'wait'; readonly joiner: GroupMember };

type PendingOp =
  | { readonly kind: 'join'; readonly member: GroupMember }
  | { readonly kind: 'leave'; readonly client: string; readonly cause: LeaveCause }
  /** A new view with the same members: a transfer needs a new checkpoint (its provider failed). */
  | { readonly kind: 'refresh' };

interface GroupChange {
  readonly ops: PendingOp[];
  /** Daemons whose END_OF_VIEW marker for the current view is still missing. */
  readonly waiting: Set<string>;
}

export interface GroupRecord {
  readonly name: string;
  /** 0: the group never had a view. */
  viewId: number;
  members: GroupMember[];
  /** Last group seq given to a delivered message (message `seq` in the API). */
  totalSeq: number;
  change: GroupChange | undefined;
}

export interface GroupViewChange {
  readonly group: GroupRecord;
  readonly previous: readonly GroupMember[];
  readonly joined: readonly GroupMember[];
  readonly left: ReadonlyArray<{ readonly member: GroupMember; readonly cause: LeaveCause }>;
  /** Clients whose join was ordered but who left before the view installed. */
  readonly abortedJoins: readonly GroupMember[];
  /** State transfers that start (or restart, or cannot happen) at this view. */
  readonly transfers: readonly TransferPlan[];
}

/**
 * What applying entries (or a daemon view boundary) did, in order, as data: the daemon
 * routes it to its local clients once the table is updated.
 */
export type GroupEffect =
  | { readonly kind: 'deliver'; readonly group: GroupRecord; readonly entry: chorus.IEntry; readonly messageId: string; readonly seq: number }
  /** G entered a change; `hosts` are the daemons that must send END_OF_VIEW. */
  | { readonly kind: 'change-started'; readonly group: GroupRecord; readonly hosts: ReadonlySet<string> }
  | { readonly kind: 'view-installed'; readonly change: GroupViewChange }
  /** An entry no honest daemon sends, ignored (the node reports its sender). */
  | { readonly kind: 'rejected'; readonly reason: 'unknown-group' };

const CAUSE_TO_PROTO: Record<LeaveCause, chorus.Cause> = {
  leave: chorus.Cause.CAUSE_LEAVE,
  crash: chorus.Cause.CAUSE_CRASH,
  partition: chorus.Cause.CAUSE_PARTITION,
  expelled: chorus.Cause.CAUSE_EXPELLED,
};
export function causeToProto(cause: LeaveCause): chorus.Cause {
  return CAUSE_TO_PROTO[cause];
}

export function causeFromProto(c: chorus.Cause): LeaveCause {
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

export const MAX_GROUP_NAME_LENGTH = 200;
/**
 * Bounds on the replicated table, checked by a client's daemon when it asks to join (so
 * the Install that carries the table stays far below the frame limit: 100,000
 * memberships of ~80 bytes is 8 MB). Concurrent joins at several daemons may overshoot
 * by what they have in flight.
 */
export const MAX_GROUPS = 10_000;
export const MAX_GROUPS_PER_CLIENT = 1_000;
export const MAX_MEMBERSHIPS = 100_000;

export class GroupTable {
  private readonly groups = new Map<string, GroupRecord>();
  /**
   * Empty groups are removed, so a table does not grow with every name ever used. The
   * highest view id and seq they had are kept: a group created later (under any name)
   * starts above them, so a group name never sees an id twice (guarantee 1) and its seqs
   * never repeat either.
   */
  private prunedViewId = 0;
  private prunedTotalSeq = 0;
  /**
   * Members of all groups together, and per client the groups it is in: kept as members
   * come and go (install() is the only place they do), so the join limits cost nothing
   * per join (a scan of up to 100,000 memberships per join request made a client that
   * joins 1,000 groups cost ~10^8 steps).
   */
  private memberships = 0;
  private readonly groupsPerClient = new Map<string, number>();

  private counted(members: readonly GroupMember[], delta: 1 | -1): void {
    for (const m of members) {
      this.memberships += delta;
      const n = (this.groupsPerClient.get(m.client) ?? 0) + delta;
      if (n > 0) this.groupsPerClient.set(m.client, n);
      else this.groupsPerClient.delete(m.client);
    }
  }

  /** Groups in the table. */
  get size(): number {
    return this.groups.size;
  }

  /** Members of all groups together. */
  membershipCount(): number {
    return this.memberships;
  }

  /** Groups `client` is a member of. */
  groupsOf(client: string): number {
    return this.groupsPerClient.get(client) ?? 0;
  }

  get(name: string): GroupRecord | undefined {
    return this.groups.get(name);
  }

  /** Groups sorted by name: the deterministic iteration order. */
  sorted(): GroupRecord[] {
    return [...this.groups.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  isMember(group: string, client: string): boolean {
    const g = this.groups.get(group);
    return g !== undefined && g.members.some((m) => m.client === client);
  }

  /**
   * Apply one ordered entry from daemon `sender`; returns what it did. A DATA entry no
   * honest daemon sends — for a group that does not exist, stamped with another group
   * view, or from a non-member — changes nothing and returns a 'rejected' effect: every
   * daemon applies the same entries to the same table, so every daemon ignores it alike.
   */
  apply(entry: chorus.IEntry, sender: string, messageId: string): GroupEffect[] {
    const fx: GroupEffect[] = [];
    this.applyEntry(entry, sender, messageId, fx);
    return fx;
  }

  private applyEntry(entry: chorus.IEntry, sender: string, messageId: string, fx: GroupEffect[]): void {
    const kind = entry.kind ?? chorus.Entry.Kind.DATA;
    const name = entry.group ?? '';
    const client = entry.client ?? '';
    switch (kind) {
      case chorus.Entry.Kind.DATA: {
        const g = this.groups.get(name);
        // The sending daemon stamps only members' messages with the current view and
        // holds them while the group changes; anything else came from a lying peer.
        if (g === undefined || (entry.groupView ?? 0) !== g.viewId || !g.members.some((m) => m.client === client)) {
          fx.push({ kind: 'rejected', reason: 'unknown-group' });
          return;
        }
        // `seq` is a place in the group's total order: fifo and causal messages have
        // none (they may be delivered before the sequencer placed them).
        const order = entry.order ?? chorus.Order.ORDER_TOTAL;
        if (order === chorus.Order.ORDER_FIFO || order === chorus.Order.ORDER_CAUSAL) {
          fx.push({ kind: 'deliver', group: g, entry, messageId, seq: 0 });
          return;
        }
        g.totalSeq += 1;
        fx.push({ kind: 'deliver', group: g, entry, messageId, seq: g.totalSeq });
        return;
      }
      case chorus.Entry.Kind.GROUP_JOIN: {
        let g = this.groups.get(name);
        if (g === undefined) {
          g = { name, viewId: this.prunedViewId, members: [], totalSeq: this.prunedTotalSeq, change: undefined };
          this.groups.set(name, g);
        }
        if (g.members.some((m) => m.client === client)) return;
        if (g.change?.ops.some((op) => op.kind === 'join' && op.member.client === client)) return;
        const member: GroupMember = {
          client,
          daemon: sender,
          offersState: entry.offerState === true,
          awaitingState: entry.wantState === true,
          provider: '',
          transfer: 0,
        };
        const op: PendingOp = { kind: 'join', member };
        if (g.members.length === 0 && g.change === undefined) {
          // Nobody can be sending in the current view: install at once.
          this.install(g, [op], fx);
          return;
        }
        this.addOp(g, op, fx);
        return;
      }
      case chorus.Entry.Kind.GROUP_LEAVE:
      case chorus.Entry.Kind.CLIENT_GONE: {
        const g = this.groups.get(name);
        if (g === undefined) return;
        const member = g.members.some((m) => m.client === client);
        const joining = g.change?.ops.some((op) => op.kind === 'join' && op.member.client === client) ?? false;
        if (!member && !joining) return;
        const cause: LeaveCause =
          kind === chorus.Entry.Kind.GROUP_LEAVE ? 'leave' : entry.cause === chorus.Cause.CAUSE_EXPELLED ? 'expelled' : 'crash';
        this.addOp(g, { kind: 'leave', client, cause }, fx);
        return;
      }
      case chorus.Entry.Kind.END_OF_VIEW: {
        const g = this.groups.get(name);
        if (g?.change === undefined || (entry.groupView ?? 0) !== g.viewId) return; // stale marker
        g.change.waiting.delete(sender);
        if (g.change.waiting.size === 0) this.install(g, g.change.ops, fx);
        return;
      }
      case chorus.Entry.Kind.STATE_FAILED: {
        // The provider could not provide: it is not asked again (until it joins again),
        // and the joiner gets a new checkpoint from another member at a new view.
        const g = this.groups.get(name);
        if (g === undefined) return;
        const provider = g.members.find((m) => m.client === client);
        if (provider !== undefined) provider.offersState = false;
        const joiner = g.members.find((m) => m.client === (entry.joiner ?? ''));
        if (joiner?.awaitingState && joiner.provider === client && joiner.transfer === (entry.groupView ?? 0)) {
          this.addOp(g, { kind: 'refresh' }, fx);
        }
        return;
      }
      case chorus.Entry.Kind.STATE_INSTALLED: {
        // The joiner installed the state of view `groupView` (its join completed): it holds
        // the group's state from then on, whichever transfer the table planned since (its
        // provider may have gone just as the install finished, and a re-plan started
        // another transfer, or a wait).
        const g = this.groups.get(name);
        const joiner = g?.members.find((m) => m.client === client);
        const w = entry.groupView ?? 0;
        if (joiner?.awaitingState && w > 0 && w <= g!.viewId) {
          joiner.awaitingState = false;
          joiner.provider = '';
          joiner.transfer = w;
        }
        return;
      }
      default:
        invariant(false, `unknown entry kind ${String(kind)}`);
    }
  }

  /**
   * A daemon view boundary: every old-view message is delivered, so every pending
   * change completes here, together with the removal of the members hosted by
   * departed daemons (in member order, groups by name: deterministic).
   */
  applyBoundary(departed: ReadonlyMap<string, LeaveCause>): GroupEffect[] {
    const fx: GroupEffect[] = [];
    for (const g of this.sorted()) {
      const ops: PendingOp[] = [];
      for (const op of g.change?.ops ?? []) {
        if (op.kind === 'join' && departed.has(op.member.daemon)) continue;
        ops.push(op);
      }
      for (const m of g.members) {
        const cause = departed.get(m.daemon);
        if (cause !== undefined) ops.push({ kind: 'leave', client: m.client, cause });
      }
      if (ops.length > 0) this.install(g, ops, fx);
      else g.change = undefined;
    }
    return fx;
  }

  private addOp(g: GroupRecord, op: PendingOp, fx: GroupEffect[]): void {
    if (g.change !== undefined) {
      g.change.ops.push(op);
      return;
    }
    const hosts = new Set(g.members.map((m) => m.daemon));
    if (hosts.size === 0) {
      this.install(g, [op], fx); // no member can be sending: no barrier needed
      return;
    }
    g.change = { ops: [op], waiting: hosts };
    fx.push({ kind: 'change-started', group: g, hosts });
  }

  private install(g: GroupRecord, ops: readonly PendingOp[], fx: GroupEffect[]): void {
    const previous = g.members;
    let members = previous.slice();
    const aborted: GroupMember[] = [];
    const causes = new Map<string, LeaveCause>();
    for (const op of ops) {
      if (op.kind === 'refresh') continue;
      if (op.kind === 'join') {
        if (!members.some((m) => m.client === op.member.client)) members.push(op.member);
      } else {
        const leaving = members.find((m) => m.client === op.client);
        if (leaving === undefined) continue;
        members = members.filter((m) => m.client !== op.client);
        if (previous.includes(leaving)) causes.set(op.client, op.cause);
        else aborted.push(leaving);
      }
    }
    const joined = members.filter((m) => !previous.includes(m));
    const left = previous.filter((m) => !members.includes(m)).map((m) => ({ member: m, cause: causes.get(m.client) ?? 'leave' }));
    g.change = undefined;
    g.members = members;
    this.counted(joined, 1);
    this.counted(left.map((l) => l.member), -1);
    g.viewId += 1;
    const transfers = this.planTransfers(g, previous, joined);
    fx.push({ kind: 'view-installed', change: { group: g, previous, joined, left, abortedJoins: aborted, transfers } });
    if (members.length === 0) this.prune(g);
  }

  /** Removes an empty group, keeping its highest ids as the table's watermark. */
  private prune(g: GroupRecord): void {
    this.prunedViewId = Math.max(this.prunedViewId, g.viewId);
    this.prunedTotalSeq = Math.max(this.prunedTotalSeq, g.totalSeq);
    this.groups.delete(g.name);
  }

  /**
   * State transfer at a new view (guarantee 6): a member waiting for state gets, from
   * the oldest member that offers state and is not waiting itself, the state taken at
   * the start of this view. A transfer whose provider is
   * still there and willing goes on; one whose provider left or failed restarts here.
   * Members that do not provide are never asked: while none of those present provides,
   * the joiner waits for one (its provider is '' meanwhile), and every later view of
   * the group tries again.
   */
  private planTransfers(g: GroupRecord, previous: readonly GroupMember[], joined: readonly GroupMember[]): TransferPlan[] {
    const plans: TransferPlan[] = [];
    // Who can provide is decided before any plan of this view changes a flag: a member
    // whose own transfer fails here has no state to give. A member that joins with
    // provide() and no install() brings its own state (restored from its own copy): it
    // may provide from its first view on.
    const providers = g.members.filter((p) => p.offersState && !p.awaitingState);
    for (const m of g.members) {
      if (!m.awaitingState) continue;
      const isNew = joined.includes(m);
      if (!isNew && g.members.some((p) => p.client === m.provider && p.offersState)) continue;
      const provider = providers.find((p) => p !== m);
      if (provider === undefined && isNew && previous.length === 0) {
        // The first members, and none brings a state of its own: there is no state yet.
        m.awaitingState = false;
        plans.push({ kind: 'none', joiner: m });
        continue;
      }
      if (provider === undefined) {
        // Told once, when it starts waiting (it joined, or its provider went).
        const alreadyWaiting = !isNew && m.provider === '';
        m.provider = '';
        m.transfer = 0;
        if (!alreadyWaiting) plans.push({ kind: 'wait', joiner: m });
        continue;
      }
      m.provider = provider.client;
      m.transfer = g.viewId;
      plans.push({ kind: 'begin', joiner: m, provider, transfer: g.viewId });
    }
    return plans;
  }

  /** A deep copy, pending changes included. */
  clone(): GroupTable {
    const t = new GroupTable();
    t.prunedViewId = this.prunedViewId;
    t.prunedTotalSeq = this.prunedTotalSeq;
    for (const g of this.groups.values()) {
      const change = g.change === undefined ? undefined : { ops: g.change.ops.slice(), waiting: new Set(g.change.waiting) };
      const members = g.members.map((m) => ({ ...m }));
      const copy = (m: GroupMember) => members.find((x) => x.client === m.client) ?? { ...m };
      const ops = change?.ops.map((op): PendingOp => (op.kind === 'join' ? { kind: 'join', member: copy(op.member) } : op));
      t.counted(members, 1);
      t.groups.set(g.name, {
        name: g.name,
        viewId: g.viewId,
        members,
        totalSeq: g.totalSeq,
        change: change === undefined ? undefined : { ops: ops!, waiting: change.waiting },
      });
    }
    return t;
  }

  toProto(): chorus.IGroupTable {
    return {
      prunedViewId: this.prunedViewId,
      prunedTotalSeq: this.prunedTotalSeq,
      groups: this.sorted().map((g) => {
        invariant(g.change === undefined, `snapshot of group ${g.name} during a change`);
        return {
          name: g.name,
          viewId: g.viewId,
          totalSeq: g.totalSeq,
          members: g.members.map((m) => ({
            client: m.client,
            daemon: m.daemon,
            offersState: m.offersState,
            awaitingState: m.awaitingState,
            provider: m.provider,
            transfer: m.transfer,
          })),
        };
      }),
    };
  }

  static fromProto(table: chorus.IGroupTable | null | undefined): GroupTable {
    const t = new GroupTable();
    t.prunedViewId = table?.prunedViewId ?? 0;
    t.prunedTotalSeq = table?.prunedTotalSeq ?? 0;
    for (const g of table?.groups ?? []) {
      const name = g.name ?? '';
      // A forced primary's table lists every group it learned of, emptied of members:
      // they only raise the watermark.
      if ((g.members ?? []).length === 0) {
        t.prunedViewId = Math.max(t.prunedViewId, g.viewId ?? 0);
        t.prunedTotalSeq = Math.max(t.prunedTotalSeq, g.totalSeq ?? 0);
        continue;
      }
      const members: GroupMember[] = (g.members ?? []).map((m) => ({
        client: m.client ?? '',
        daemon: m.daemon ?? '',
        offersState: m.offersState === true,
        awaitingState: m.awaitingState === true,
        provider: m.provider ?? '',
        transfer: m.transfer ?? 0,
      }));
      t.counted(members, 1);
      t.groups.set(name, { name, viewId: g.viewId ?? 0, totalSeq: g.totalSeq ?? 0, members, change: undefined });
    }
    return t;
  }
}
