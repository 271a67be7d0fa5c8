// One pass over a history that every check shares: it splits each member's events of a
// group into membership sessions and notes, for every send and delivery, which view the
// member had installed at that point of its own event order.
//
// A session of (member, group) starts at a group-view event when the member has no
// open session of that group, and ends at `expelled` or `leave` of that group, at the
// member's `crash`, or at the end of the history. A member that joins again after
// being expelled or leaving starts a new session.
import { isLostEra } from './lost-era.js';
import type {
  DaemonViewEvent,
  DeliverEvent,
  GroupViewEvent,
  HistoryEvent,
  Order,
  SendEvent,
  TransferEvent,
} from './history.js';

export type SessionEnd = 'open' | 'expelled' | 'leave' | 'crash';

export interface MemberSession {
  readonly member: string;
  readonly group: string;
  /** 0 for the member's first session of the group, then 1, 2, … */
  readonly index: number;
  /** Views installed in this session, in the member's order. */
  readonly views: GroupViewEvent[];
  readonly sends: SendRecord[];
  readonly deliveries: DeliveryRecord[];
  end: SessionEnd;
  endEvent: HistoryEvent | undefined;
}

export interface SendRecord {
  readonly event: SendEvent;
  /** The sender's latest installed view of the group at the send; undefined: none. */
  readonly inView: number | undefined;
  readonly session: MemberSession | undefined;
}

export interface DeliveryRecord {
  readonly event: DeliverEvent;
  /** The member's latest installed view of the group at the delivery; undefined: none. */
  readonly inView: number | undefined;
  readonly session: MemberSession | undefined;
  /** False for a second (duplicate) delivery of the same id at the same member. */
  readonly first: boolean;
}

export interface HistoryIndex {
  readonly daemonViews: DaemonViewEvent[];
  /** Daemon view id → the daemons that left on purpose at the change to it. */
  readonly leftAt: Map<number, Set<string>>;
  /** Daemon (name#incarnation) → when its process crashed (what it knew is gone). */
  readonly crashedAt: Map<string, number>;
  /** Member → when its process died. */
  readonly memberCrashedAt: Map<string, number>;
  readonly groupViews: GroupViewEvent[];
  /** Every send, in history order (duplicates of an id included). */
  readonly sends: SendRecord[];
  /** The first send of each message id. */
  readonly sendById: Map<string, SendRecord>;
  /** Every delivery, in history order. */
  readonly deliveries: DeliveryRecord[];
  /** Every state transfer, in history order (view ids of a lost era moved like the views'). */
  readonly transfers: TransferEvent[];
  readonly sessions: MemberSession[];
  readonly sessionsByGroup: Map<string, MemberSession[]>;
  /** Per group, per member: its sends and deliveries of the group, in its own order. */
  readonly streams: Map<string, Map<string, Array<SendRecord | DeliveryRecord>>>;
  readonly members: Set<string>;
  readonly groups: Set<string>;
  readonly eventCount: number;
  /** Events of types the checker does not know (ignored). */
  readonly ignoredCount: number;
}

/** The order a message was sent with: the send's, else what the delivery says. */
export function orderOf(index: HistoryIndex, d: DeliverEvent): Order {
  return index.sendById.get(d.id)?.event.order ?? d.order;
}

export function isSend(r: SendRecord | DeliveryRecord): r is SendRecord {
  return r.event.type === 'send';
}

export function getOrCreate<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    map.set(key, value);
  }
  return value;
}

/** Group view ids of a lost era are moved this far up, so they never meet the new era's. */
export const LOST_ERA_VIEW_OFFSET = 1_000_000_000;

/**
 * Group view ids continue from what the daemons that are up know when an operator forces
 * a primary (a crashed process takes its knowledge with it), so after a forced view a
 * group view id may be used again when only members that died before it had used it. Those
 * members' events in that view (its view event, sends and deliveries) are given the id
 * `LOST_ERA_VIEW_OFFSET + id`: the two eras are then two views to every check. Only when
 * another list of the id was installed after the forced view; anything else stays as
 * recorded (two lists of one id in one era are a violation).
 */
function separateLostEras(events: readonly HistoryEvent[]): readonly HistoryEvent[] {
  const forcedAt: number[] = [];
  const crashedAt = new Map<string, number>();
  const lists = new Map<string, Map<string, Array<{ member: string; t: number }>>>(); // group\0id → members key → installers
  for (const e of events) {
    if (e.type === 'daemon-view' && e.forced === true) forcedAt.push(e.t);
    else if (e.type === 'crash' && !crashedAt.has(e.member)) crashedAt.set(e.member, e.t);
    else if (e.type === 'group-view') {
      const byList = getOrCreate(lists, `${e.group}\u0000${e.viewId}`, () => new Map());
      getOrCreate(byList, JSON.stringify(e.members), () => []).push({ member: e.member, t: e.t });
    }
  }
  if (forcedAt.length === 0) return events;
  // member\0group → the first view id of its lost era (it died in that era: every later
  // view of it in the group is of that era too)
  const movedFrom = new Map<string, number>();
  for (const [key, byList] of lists) {
    if (byList.size < 2) continue;
    const [group, id] = key.split('\u0000') as [string, string];
    const all = [...byList.values()];
    const ways = all.map((installers) => installers.map((i) => ({ t: i.t, who: i.member })));
    for (const [k, installers] of all.entries()) {
      if (!isLostEra(ways, k, forcedAt, (m) => crashedAt.get(m))) continue;
      for (const i of installers) {
        const k = `${i.member}\u0000${group}`;
        movedFrom.set(k, Math.min(movedFrom.get(k) ?? Number.POSITIVE_INFINITY, Number(id)));
      }
    }
  }
  if (movedFrom.size === 0) return events;
  // A view of the lost era installed by a moved member moves for all its installers: a
  // member that joined late in that era (seed 111363) installed only views whose ids the
  // forced primary never used, but they are the same views its moved peers installed.
  for (let changed = true; changed; ) {
    changed = false;
    for (const [key, byList] of lists) {
      const [group, id] = key.split('\u0000') as [string, string];
      const viewId = Number(id);
      for (const installers of byList.values()) {
        const moved = installers.some((i) => viewId >= (movedFrom.get(`${i.member}\u0000${group}`) ?? Number.POSITIVE_INFINITY));
        if (!moved) continue;
        for (const i of installers) {
          const k = `${i.member}\u0000${group}`;
          if ((movedFrom.get(k) ?? Number.POSITIVE_INFINITY) > viewId) {
            movedFrom.set(k, viewId);
            changed = true;
          }
        }
      }
    }
  }
  return events.map((e) => {
    if (e.type !== 'group-view' && e.type !== 'send' && e.type !== 'deliver' && e.type !== 'transfer') return e;
    const from = movedFrom.get(`${e.member}\u0000${e.group}`);
    return from !== undefined && e.viewId >= from ? { ...e, viewId: LOST_ERA_VIEW_OFFSET + e.viewId } : e;
  });
}

export function indexHistory(recorded: readonly HistoryEvent[]): HistoryIndex {
  const events = separateLostEras(recorded);
  let ignoredCount = 0;
  const index: Omit<HistoryIndex, 'ignoredCount'> = {
    daemonViews: [],
    leftAt: new Map(),
    crashedAt: new Map(),
    memberCrashedAt: new Map(),
    groupViews: [],
    sends: [],
    sendById: new Map(),
    deliveries: [],
    transfers: [],
    sessions: [],
    sessionsByGroup: new Map(),
    streams: new Map(),
    members: new Set(),
    groups: new Set(),
    eventCount: events.length,
  };
  /** member → group → open session */
  const open = new Map<string, Map<string, MemberSession>>();
  /** `${member}\u0000${group}` → sessions started so far */
  const sessionCount = new Map<string, number>();
  /** member → ids it delivered */
  const delivered = new Map<string, Set<string>>();

  const openOf = (member: string): Map<string, MemberSession> => getOrCreate(open, member, () => new Map());
  const close = (session: MemberSession, end: SessionEnd, event: HistoryEvent): void => {
    session.end = end;
    session.endEvent = event;
    open.get(session.member)?.delete(session.group);
  };
  const stream = (group: string, member: string): Array<SendRecord | DeliveryRecord> =>
    getOrCreate(getOrCreate(index.streams, group, () => new Map()), member, () => []);

  for (const e of events) {
    switch (e.type) {
      case 'daemon-view':
        index.daemonViews.push(e);
        break;
      case 'group-view': {
        index.members.add(e.member);
        index.groups.add(e.group);
        index.groupViews.push(e);
        const sessions = openOf(e.member);
        let session = sessions.get(e.group);
        if (session === undefined) {
          const key = `${e.member}\u0000${e.group}`;
          const n = sessionCount.get(key) ?? 0;
          sessionCount.set(key, n + 1);
          session = { member: e.member, group: e.group, index: n, views: [], sends: [], deliveries: [], end: 'open', endEvent: undefined };
          sessions.set(e.group, session);
          index.sessions.push(session);
          getOrCreate(index.sessionsByGroup, e.group, () => []).push(session);
        }
        session.views.push(e);
        break;
      }
      case 'send': {
        index.members.add(e.member);
        index.groups.add(e.group);
        const session = open.get(e.member)?.get(e.group);
        const record: SendRecord = { event: e, inView: session?.views.at(-1)?.viewId, session };
        session?.sends.push(record);
        index.sends.push(record);
        if (!index.sendById.has(e.id)) index.sendById.set(e.id, record);
        stream(e.group, e.member).push(record);
        break;
      }
      case 'deliver': {
        index.members.add(e.member);
        index.groups.add(e.group);
        const session = open.get(e.member)?.get(e.group);
        const seen = getOrCreate(delivered, e.member, () => new Set());
        const record: DeliveryRecord = { event: e, inView: session?.views.at(-1)?.viewId, session, first: !seen.has(e.id) };
        seen.add(e.id);
        session?.deliveries.push(record);
        index.deliveries.push(record);
        stream(e.group, e.member).push(record);
        break;
      }
      case 'expelled':
      case 'leave': {
        const session = open.get(e.member)?.get(e.group);
        if (session !== undefined) close(session, e.type, e);
        break;
      }
      case 'crash':
        for (const session of [...openOf(e.member).values()]) close(session, 'crash', e);
        if (!index.memberCrashedAt.has(e.member)) index.memberCrashedAt.set(e.member, e.t);
        break;
      case 'daemon-left':
        getOrCreate(index.leftAt, e.viewId, () => new Set<string>()).add(e.daemon);
        break;
      case 'daemon-crash':
        if (!index.crashedAt.has(e.daemon)) index.crashedAt.set(e.daemon, e.t);
        break;
      case 'transfer':
        index.transfers.push(e);
        break;
      default:
        ignoredCount += 1;
    }
  }
  return { ...index, ignoredCount };
}

/** For each view id v of a session's views: the ids it delivered while in v. */
export function deliveredPerView(session: MemberSession): Map<number, Set<string>> {
  const out = new Map<number, Set<string>>();
  for (const d of session.deliveries) {
    if (d.inView === undefined) continue;
    getOrCreate(out, d.inView, () => new Set()).add(d.event.id);
  }
  return out;
}

/**
 * Survivors of each view change of a group: for view v, the sessions that installed v
 * and, as their next view, v+1.
 */
export function survivorsByView(sessions: readonly MemberSession[]): Map<number, MemberSession[]> {
  const out = new Map<number, MemberSession[]>();
  for (const s of sessions) {
    for (let i = 0; i + 1 < s.views.length; i++) {
      const v = s.views[i]!.viewId;
      if (s.views[i + 1]!.viewId === v + 1) getOrCreate(out, v, () => []).push(s);
    }
  }
  return out;
}
