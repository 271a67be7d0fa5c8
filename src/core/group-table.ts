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

export type LeaveCause = 'join' | 'leave' | 'crash' | 'partition' | 'expelled';

export interface GroupMember {
  readonly client: string;
  /** Name of the daemon hosting the client. */
  readonly daemon: string;
}

type PendingOp =
  | { readonly kind: 'join'; readonly member: GroupMember }
  | { readonly kind: 'leave'; readonly client: string; readonly cause: LeaveCause };

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
}

/** What applying one entry did; the daemon routes it to its local clients. */
export interface GroupEffects {
  deliver(group: GroupRecord, entry: chorus.IEntry, messageId: string, seq: number): void;
  /** G entered a change; `hosts` are the daemons that must send END_OF_VIEW. */
  changeStarted(group: GroupRecord, hosts: ReadonlySet<string>): void;
  viewInstalled(change: GroupViewChange): void;
}

const CAUSE_TO_PROTO: Record<LeaveCause, chorus.Cause> = {
  join: chorus.Cause.CAUSE_JOIN,
  leave: chorus.Cause.CAUSE_LEAVE,
  crash: chorus.Cause.CAUSE_CRASH,
  partition: chorus.Cause.CAUSE_PARTITION,
  expelled: chorus.Cause.CAUSE_EXPELLED,
};
export function causeToProto(cause: LeaveCause): chorus.Cause {
  return CAUSE_TO_PROTO[cause];
}

export const MAX_GROUP_NAME_LENGTH = 200;

export class GroupTable {
  private readonly groups = new Map<string, GroupRecord>();

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

  /** Apply one ordered entry from daemon `sender`. */
  apply(entry: chorus.IEntry, sender: string, messageId: string, fx: GroupEffects): void {
    const kind = entry.kind ?? chorus.Entry.Kind.DATA;
    const name = entry.group ?? '';
    const client = entry.client ?? '';
    switch (kind) {
      case chorus.Entry.Kind.DATA: {
        const g = this.groups.get(name);
        // The sending daemon stamps only members' messages with the current view and
        // holds them while the group changes; anything else is a protocol bug.
        invariant(g !== undefined, `message for unknown group ${name}`);
        invariant(
          (entry.groupView ?? 0) === g.viewId,
          `message of ${client} stamped with view ${entry.groupView ?? 0} of ${name} ordered in view ${g.viewId}`,
        );
        invariant(g.members.some((m) => m.client === client), `message from non-member ${client} of ${name}`);
        // `seq` is a place in the group's total order: fifo and causal messages have
        // none (they may be delivered before the sequencer placed them).
        const order = entry.order ?? chorus.Order.ORDER_TOTAL;
        if (order === chorus.Order.ORDER_FIFO || order === chorus.Order.ORDER_CAUSAL) {
          fx.deliver(g, entry, messageId, 0);
          return;
        }
        g.totalSeq += 1;
        fx.deliver(g, entry, messageId, g.totalSeq);
        return;
      }
      case chorus.Entry.Kind.GROUP_JOIN: {
        let g = this.groups.get(name);
        if (g === undefined) {
          g = { name, viewId: 0, members: [], totalSeq: 0, change: undefined };
          this.groups.set(name, g);
        }
        if (g.members.some((m) => m.client === client)) return;
        if (g.change?.ops.some((op) => op.kind === 'join' && op.member.client === client)) return;
        const op: PendingOp = { kind: 'join', member: { client, daemon: sender } };
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
      default:
        invariant(false, `unknown entry kind ${String(kind)}`);
    }
  }

  /**
   * A daemon view boundary: every old-view message is delivered, so every pending
   * change completes here, together with the removal of the members hosted by
   * departed daemons (in member order, groups by name: deterministic).
   */
  applyBoundary(departed: ReadonlyMap<string, LeaveCause>, fx: GroupEffects): void {
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
  }

  private addOp(g: GroupRecord, op: PendingOp, fx: GroupEffects): void {
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
    fx.changeStarted(g, hosts);
  }

  private install(g: GroupRecord, ops: readonly PendingOp[], fx: GroupEffects): void {
    const previous = g.members;
    let members = previous.slice();
    const aborted: GroupMember[] = [];
    const causes = new Map<string, LeaveCause>();
    for (const op of ops) {
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
    g.viewId += 1;
    fx.viewInstalled({ group: g, previous, joined, left, abortedJoins: aborted });
  }

  /** A deep copy, pending changes included. */
  clone(): GroupTable {
    const t = new GroupTable();
    for (const g of this.groups.values()) {
      const change = g.change === undefined ? undefined : { ops: g.change.ops.slice(), waiting: new Set(g.change.waiting) };
      t.groups.set(g.name, { name: g.name, viewId: g.viewId, members: g.members.slice(), totalSeq: g.totalSeq, change });
    }
    return t;
  }

  toProto(): chorus.IGroupTable {
    return {
      groups: this.sorted().map((g) => {
        invariant(g.change === undefined, `snapshot of group ${g.name} during a change`);
        return { name: g.name, viewId: g.viewId, totalSeq: g.totalSeq, members: g.members.map((m) => ({ client: m.client, daemon: m.daemon })) };
      }),
    };
  }

  static fromProto(table: chorus.IGroupTable | null | undefined): GroupTable {
    const t = new GroupTable();
    for (const g of table?.groups ?? []) {
      const name = g.name ?? '';
      t.groups.set(name, {
        name,
        viewId: g.viewId ?? 0,
        totalSeq: g.totalSeq ?? 0,
        members: (g.members ?? []).map((m) => ({ client: m.client ?? '', daemon: m.daemon ?? '' })),
        change: undefined,
      });
    }
    return t;
  }
}
