// Guarantee 4, ordering, chosen per message. What a delivery of m2 must respect depends
// on m2's own order (an implementation may give more, never less):
// - every order: FIFO — the sender's earlier messages of the group (any order) are
//   delivered first; and a member that delivers m2 delivers every earlier message of
//   that sender sent in the same view.
// - `causal`, `total`, `safe`: causality — every message that happened before m2 is
//   delivered first, and those sent in m2's view are delivered at all. m1 happened
//   before m2 when some member sent or delivered m1 before it sent m2 (transitively),
//   within the group. Causality is computed from each member's own event order, among
//   the messages of one sending view: across views, sending-view delivery (guarantee
//   2) already puts every message of an earlier view first.
// - `total`, `safe`: one order at every member (common messages in the same relative
//   order), one `seq` per message and one message per `seq` in a group, and seqs that
//   strictly increase at each member. `total` is not uniform: what a member delivered
//   in the view it then failed in (crash, expelled) need not agree (see mustAgree).
// - `safe`: uniform — a message delivered by anyone in view v is delivered by every
//   member that moves from v to v+1, even if the members that delivered it did not.
import { isLostEra } from './lost-era.js';
import type { DeliverEvent, HistoryEvent, Order } from './history.js';
import {
  getOrCreate,
  indexHistory,
  isSend,
  orderOf,
  survivorsByView,
  type DeliveryRecord,
  type HistoryIndex,
  type SendRecord,
} from './history-index.js';
import { list, violation, type Violation } from './violation.js';

export function checkOrdering(events: readonly HistoryEvent[]): Violation[] {
  return ordering(indexHistory(events));
}

export function ordering(index: HistoryIndex): Violation[] {
  const out: Violation[] = [];
  for (const group of index.groups) {
    const firsts = firstDeliveries(index, group);
    const seqViolations = sequenceNumbers(index, group, firsts);
    out.push(...seqViolations);
    // With one seq per message, one message per seq and increasing seqs at every
    // member, every member delivers in seq order: the same order. Compare the orders
    // themselves only when the seqs are wrong, to name the members that disagree.
    if (seqViolations.length > 0) totalOrder(index, group, firsts, out);
    causality(index, group, out);
  }
  safeUniform(index, out);
  return out;
}

function isTotal(order: Order): boolean {
  return order === 'total' || order === 'safe';
}

/** Per member: its first delivery of each message of the group, in its order. */
function firstDeliveries(index: HistoryIndex, group: string): Map<string, DeliveryRecord[]> {
  const out = new Map<string, DeliveryRecord[]>();
  for (const d of index.deliveries) {
    if (d.first && d.event.group === group) getOrCreate(out, d.event.member, () => []).push(d);
  }
  return out;
}

/**
 * Whether a total/safe delivery must agree with the other members' (one seq, one
 * order). `total` is not uniform: a member that fails in view v (crashes or is
 * expelled before installing v+1) may have delivered in v what the survivors order
 * differently — a sequencer that delivers its own order and crashes before sending it,
 * a minority that delivers before it learns it is out (guarantee 5) — and `safe` is
 * the order that rules this out. Such a member's deliveries must still agree with its
 * own (increasing seqs, causality).
 */
function mustAgree(index: HistoryIndex, d: DeliveryRecord): boolean {
  const order = orderOf(index, d.event);
  if (order === 'safe') return true;
  if (order !== 'total') return false;
  const session = d.session;
  if (session === undefined || (session.end !== 'crash' && session.end !== 'expelled')) return true;
  return d.inView !== session.views.at(-1)?.viewId;
}

function sequenceNumbers(index: HistoryIndex, group: string, firsts: Map<string, DeliveryRecord[]>): Violation[] {
  const out: Violation[] = [];
  const seqsOf = new Map<string, Map<number, DeliverEvent[]>>(); // id → seq → deliveries
  const idsAt = new Map<number, Map<string, DeliverEvent[]>>(); // seq → id → deliveries
  for (const [member, deliveries] of firsts) {
    let previous: DeliverEvent | undefined;
    for (const d of deliveries) {
      const e = d.event;
      if (!isTotal(orderOf(index, e))) continue;
      if (mustAgree(index, d)) {
        getOrCreate(getOrCreate(seqsOf, e.id, () => new Map()), e.seq, () => []).push(e);
        getOrCreate(getOrCreate(idsAt, e.seq, () => new Map()), e.id, () => []).push(e);
      }
      if (previous !== undefined && e.seq <= previous.seq) {
        out.push(
          violation(
            4,
            'seq-increasing',
            `group "${group}": ${member} delivered ${e.id} (seq ${e.seq}) after ${previous.id} (seq ${previous.seq}): seqs must strictly increase`,
            [previous, e],
          ),
        );
      }
      previous = e;
    }
  }
  for (const [id, bySeq] of seqsOf) {
    if (bySeq.size < 2) continue;
    const described = [...bySeq].map(([seq, ds]) => `seq ${seq} at ${list(ds.map((d) => d.member))}`).join(', ');
    out.push(
      violation(4, 'seq-agree', `group "${group}": message ${id} has different seqs: ${described}`, [...bySeq.values()].map((ds) => ds[0]!)),
    );
  }
  // Group seqs continue from what the daemons that are up know when an operator forces a
  // primary: a seq that only members that died before the forced view had delivered
  // (with their daemons, whose knowledge died too) may be given again after it — the same
  // lost era as daemon view ids (primary-component.ts). Any other reuse is a violation.
  const forcedAt = index.daemonViews.filter((v) => v.forced === true).map((v) => v.t);
  for (const [seq, byIdAll] of idsAt) {
    if (byIdAll.size < 2) continue;
    const entries = [...byIdAll];
    const ways = entries.map(([, ds]) => ds.map((d) => ({ t: d.t, who: d.member })));
    const byId = new Map(entries.filter((_, k) => !isLostEra(ways, k, forcedAt, (m) => index.memberCrashedAt.get(m))));
    if (byId.size < 2) continue;
    const described = [...byId].map(([id, ds]) => `${id} at ${list(ds.map((d) => d.member))}`).join(', ');
    out.push(
      violation(4, 'seq-unique', `group "${group}": seq ${seq} was given to ${byId.size} messages: ${described}`, [...byId.values()].map((ds) => ds[0]!)),
    );
  }
  return out;
}

/** Any two members deliver their common total/safe messages in the same order. */
function totalOrder(index: HistoryIndex, group: string, firsts: Map<string, DeliveryRecord[]>, out: Violation[]): void {
  const sequences = [...firsts]
    .map(([member, ds]) => {
      const ids = ds.filter((d) => mustAgree(index, d)).map((d) => d.event.id);
      return { member, ids, position: new Map(ids.map((id, k) => [id, k])) };
    })
    .filter((s) => s.ids.length > 0);
  for (let i = 0; i < sequences.length; i++) {
    for (let j = i + 1; j < sequences.length; j++) {
      const p = sequences[i]!;
      const q = sequences[j]!;
      let last: { id: string; at: number } | undefined;
      for (const id of p.ids) {
        const at = q.position.get(id);
        if (at === undefined) continue;
        if (last !== undefined && at < last.at) {
          out.push(
            violation(
              4,
              'total-order',
              `group "${group}": ${p.member} delivered ${last.id} before ${id}, but ${q.member} delivered ${id} before ${last.id}`,
            ),
          );
          break; // one report per pair of members
        }
        last = { id, at };
      }
    }
  }
}

interface MessageInfo {
  readonly id: string;
  readonly sender: string;
  /** Position among the sender's sends of the group, from 0. */
  readonly index: number;
  readonly viewId: number;
  readonly order: Order;
  readonly send: SendRecord;
}

type VectorClock = Map<string, number>;

function merge(into: VectorClock, from: VectorClock): void {
  for (const [s, n] of from) if ((into.get(s) ?? 0) < n) into.set(s, n);
}

function raise(clock: VectorClock, sender: string, count: number): void {
  if ((clock.get(sender) ?? 0) < count) clock.set(sender, count);
}

/**
 * Causal past of every sent message among the messages of its own sending view, as a
 * vector: sender → how many of its sends of the group happened before. A sender's sends
 * are ordered by its own event order, so the past is downward closed per sender and a
 * count describes it exactly. Only the sending view matters: a message of an earlier
 * view delivered after a later one is already a broken sending-view delivery
 * (guarantee 2), and a causal chain cannot come back into a view its members have left.
 * Undefined when causality is cyclic (reported).
 */
function causalPasts(
  group: string,
  streams: Map<string, Array<SendRecord | DeliveryRecord>>,
  info: Map<string, MessageInfo>,
  out: Violation[],
): Map<string, VectorClock> | undefined {
  const pasts = new Map<string, VectorClock>();
  const cursor = new Map<string, number>();
  /** member → sending view → what the member has seen of that view */
  const clocks = new Map<string, Map<number, VectorClock>>();
  /** message id → members whose next event is a delivery of it, sent later */
  const waiting = new Map<string, string[]>();
  const ready = [...streams.keys()];
  while (ready.length > 0) {
    const member = ready.pop()!;
    const records = streams.get(member)!;
    const views = getOrCreate(clocks, member, () => new Map());
    let i = cursor.get(member) ?? 0;
    for (; i < records.length; i++) {
      const r = records[i]!;
      const m = info.get(r.event.id);
      if (m === undefined) continue;
      const clock = getOrCreate(views, m.viewId, () => new Map());
      if (isSend(r)) {
        if (m.send !== r) continue;
        pasts.set(m.id, new Map(clock));
        raise(clock, member, m.index + 1);
        ready.push(...(waiting.get(m.id) ?? []));
        waiting.delete(m.id);
        continue;
      }
      const past = pasts.get(m.id);
      if (past === undefined) {
        getOrCreate(waiting, m.id, () => []).push(member);
        break;
      }
      merge(clock, past);
      raise(clock, m.sender, m.index + 1);
    }
    cursor.set(member, i);
  }
  if (waiting.size === 0) return pasts;
  // Members wait for sends that come after their own deliveries: some message was
  // delivered before it was sent. Causality means nothing here.
  const blocked = [...waiting].flatMap(([id, members]) => members.map((member) => `${member} delivered ${id}`));
  out.push(violation(4, 'causal-cycle', `group "${group}": deliveries that causally precede their own send: ${blocked.join(', ')}`));
  return undefined;
}

function causality(index: HistoryIndex, group: string, out: Violation[]): void {
  const streams = index.streams.get(group);
  if (streams === undefined) return;
  const info = new Map<string, MessageInfo>();
  const sentInView = new Map<string, MessageInfo[]>(); // `${sender}\u0000${viewId}` → in send order
  for (const [member, records] of streams) {
    let n = 0;
    for (const r of records) {
      if (!isSend(r) || index.sendById.get(r.event.id) !== r) continue;
      const m: MessageInfo = { id: r.event.id, sender: member, index: n++, viewId: r.event.viewId, order: r.event.order, send: r };
      info.set(m.id, m);
      getOrCreate(sentInView, `${member}\u0000${m.viewId}`, () => []).push(m);
    }
  }
  const pasts = causalPasts(group, streams, info, out);
  if (pasts === undefined) return;

  for (const [member, records] of streams) {
    const delivered = new Set<string>();
    /** sender → the latest of its messages delivered here */
    const fifoLatest = new Map<string, MessageInfo>();
    /** sender → (count of its sends in the past of `by`), the largest seen */
    const causalBound = new Map<string, { count: number; by: MessageInfo }>();
    /** `${sender}\u0000${viewId}` → sends of that view that must be delivered here */
    const fifoNeed = new Map<string, { count: number; by: MessageInfo }>();
    const causalNeed = new Map<string, { count: number; by: MessageInfo }>();
    const need = (map: typeof fifoNeed, key: string, count: number, by: MessageInfo): void => {
      const now = map.get(key);
      if (now === undefined || now.count < count) map.set(key, { count, by });
    };

    for (const r of records) {
      if (isSend(r) || !r.first) continue;
      const m = info.get(r.event.id);
      if (m === undefined) continue;
      delivered.add(m.id);
      const latest = fifoLatest.get(m.sender);
      if (latest !== undefined && m.index < latest.index) {
        out.push(
          violation(
            4,
            'fifo-order',
            `group "${group}": ${member} delivered ${m.id} after ${latest.id}, but ${m.sender} sent ${m.id} first`,
            [m.send.event, latest.send.event, r.event],
          ),
        );
      }
      if (latest === undefined || latest.index < m.index) fifoLatest.set(m.sender, m);
      const bound = causalBound.get(m.sender);
      if (bound !== undefined && m.index < bound.count) {
        out.push(
          violation(
            4,
            'causal-order',
            `group "${group}": ${member} delivered ${m.id} (from ${m.sender}) after ${bound.by.id} (${bound.by.order}, from ${bound.by.sender}), ` +
              `but ${m.id} happened before ${bound.by.id}`,
            [m.send.event, bound.by.send.event, r.event],
          ),
        );
      }
      need(fifoNeed, `${m.sender}\u0000${m.viewId}`, m.index, m);
      if (m.order === 'fifo') continue;
      for (const [sender, count] of pasts.get(m.id) ?? []) {
        if (sender === m.sender) continue;
        const now = causalBound.get(sender);
        if (now === undefined || now.count < count) causalBound.set(sender, { count, by: m });
        need(causalNeed, `${sender}\u0000${m.viewId}`, count, m);
      }
    }

    // Gaps: predecessors sent in the same view that were never delivered here.
    const reported = new Set<string>();
    const gaps = (map: typeof fifoNeed, rule: string, why: string): void => {
      for (const [key, { count, by }] of map) {
        for (const m of sentInView.get(key) ?? []) {
          if (m.index >= count || delivered.has(m.id) || reported.has(m.id)) continue;
          reported.add(m.id);
          out.push(
            violation(
              4,
              rule,
              `group "${group}" view ${m.viewId}: ${member} delivered ${by.id} (from ${by.sender}) but never ${m.id} (from ${m.sender}), ${why}`,
              [m.send.event, by.send.event],
            ),
          );
        }
      }
    };
    gaps(fifoNeed, 'fifo-gap', 'which its sender sent first in the same view');
    gaps(causalNeed, 'causal-gap', 'which happened before it in the same view');
  }
}

/** A safe message delivered in v by anyone reaches every member that moves to v+1. */
function safeUniform(index: HistoryIndex, out: Violation[]): void {
  const deliverers = new Map<string, Set<string>>(); // id → members
  for (const d of index.deliveries) getOrCreate(deliverers, d.event.id, () => new Set()).add(d.event.member);
  const survivors = new Map<string, Map<number, string[]>>();
  for (const [group, sessions] of index.sessionsByGroup) {
    survivors.set(group, new Map([...survivorsByView(sessions)].map(([v, ss]) => [v, ss.map((s) => s.member)])));
  }
  for (const [id, send] of index.sendById) {
    if (send.event.order !== 'safe') continue;
    const got = deliverers.get(id);
    const moved = survivors.get(send.event.group)?.get(send.event.viewId);
    if (got === undefined || moved === undefined || moved.some((m) => got.has(m))) continue;
    out.push(
      violation(
        4,
        'safe-uniform',
        `group "${send.event.group}" view ${send.event.viewId}: safe message ${id} (from ${send.event.member}) was delivered by ${list(got)} ` +
          `but by none of ${list(moved)}, who moved to view ${send.event.viewId + 1}`,
        [send.event],
      ),
    );
  }
}
