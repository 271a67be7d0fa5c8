// Guarantee 2, virtual synchrony: members that install view v and then v+1 of a group
// delivered exactly the same set of messages while in v (a message reaches every
// survivor or none: a view change is a barrier). Sending-view delivery: a message is
// delivered in the view it was sent in, while the delivering member has that view
// installed, and a member sends in its current view (or, when its sends are held by a
// view change, in the next one — never in an older view).
import type { HistoryEvent } from './history.js';
import { deliveredPerView, indexHistory, survivorsByView, type HistoryIndex, type MemberSession } from './history-index.js';
import { list, violation, type Violation } from './violation.js';

export function checkVirtualSynchrony(events: readonly HistoryEvent[]): Violation[] {
  return virtualSynchrony(indexHistory(events));
}

export function virtualSynchrony(index: HistoryIndex): Violation[] {
  const out: Violation[] = [];
  sameSet(index, out);
  sendingView(index, out);
  return out;
}

function sameSet(index: HistoryIndex, out: Violation[]): void {
  for (const [group, sessions] of index.sessionsByGroup) {
    const delivered = new Map<MemberSession, Map<number, Set<string>>>(sessions.map((s) => [s, deliveredPerView(s)]));
    const survivors = [...survivorsByView(sessions)].sort(([a], [b]) => a - b);
    for (const [viewId, moved] of survivors) {
      if (moved.length < 2) continue;
      const sets = moved.map((s) => delivered.get(s)?.get(viewId) ?? new Set<string>());
      const union = new Set<string>();
      for (const set of sets) for (const id of set) union.add(id);
      for (const id of union) {
        const have = moved.filter((_, i) => sets[i]!.has(id)).map((s) => s.member);
        if (have.length === moved.length) continue;
        const lack = moved.filter((_, i) => !sets[i]!.has(id)).map((s) => s.member);
        const sender = index.sendById.get(id)?.event.member;
        out.push(
          violation(
            2,
            'same-set',
            `group "${group}": ${list(moved.map((s) => s.member))} all moved from view ${viewId} to view ${viewId + 1}, ` +
              `but message ${id}${sender === undefined ? '' : ` (sent by ${sender})`} was delivered in view ${viewId} ` +
              `by ${list(have)} and not by ${list(lack)}`,
            moved
              .filter((_, i) => sets[i]!.has(id))
              .map((s) => s.deliveries.find((d) => d.event.id === id)?.event)
              .filter((e) => e !== undefined),
          ),
        );
      }
    }
  }
}

function sendingView(index: HistoryIndex, out: Violation[]): void {
  for (const d of index.deliveries) {
    const e = d.event;
    const send = index.sendById.get(e.id);
    if (send !== undefined && send.event.viewId !== e.viewId) {
      out.push(
        violation(
          2,
          'sending-view',
          `group "${e.group}": ${e.member} delivered message ${e.id} (sent by ${send.event.member} in view ${send.event.viewId}) in view ${e.viewId}`,
          [send.event, e],
        ),
      );
    }
    if (d.inView !== e.viewId) {
      out.push(
        violation(
          2,
          'delivered-in-view',
          `group "${e.group}": ${e.member} delivered message ${e.id} as of view ${e.viewId} while ` +
            (d.inView === undefined ? `it had no view of the group installed` : `its installed view was ${d.inView}`),
          [e],
        ),
      );
    }
  }
  for (const s of index.sends) {
    if (s.inView !== undefined && s.event.viewId < s.inView) {
      out.push(
        violation(
          2,
          'send-view',
          `group "${s.event.group}": ${s.event.member} sent message ${s.event.id} in view ${s.event.viewId} after it had installed view ${s.inView}`,
          [s.event],
        ),
      );
    }
  }
}
