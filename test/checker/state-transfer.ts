// Guarantee 6, state transfer: a member that joins with state installs, before any
// message of its first view w, a state that reflects exactly the messages delivered in
// the group before w, and then delivers every message after that point. Checked
// against every other member that moved from w-1 to w: its "content before w" (its own
// installed state, if it had one, plus what it delivered in views before w) must hold
// the same messages as the installed state, with the total/safe ones in the same order;
// and the joiner must never deliver a message its state already holds.
import type { TransferEvent } from './history.js';
import { orderOf, type HistoryIndex, type MemberSession } from './history-index.js';
import { list, violation, type Violation } from './violation.js';

export function stateTransfer(index: HistoryIndex, transfers: readonly TransferEvent[]): Violation[] {
  const out: Violation[] = [];
  const transferOf = new Map<MemberSession, TransferEvent>();
  for (const t of transfers) {
    const sessions = index.sessionsByGroup.get(t.group) ?? [];
    const own = sessions.find((s) => s.member === t.member && s.views[0]?.viewId === t.viewId && !transferOf.has(s));
    if (own === undefined) {
      out.push(violation(6, 'transfer-view', `group "${t.group}": ${t.member} installed the state of view ${t.viewId} but does not start a session in that view`, [t]));
      continue;
    }
    transferOf.set(own, t);
  }
  const orders = new Map<string, string>();
  for (const d of index.deliveries) if (!orders.has(d.event.id)) orders.set(d.event.id, orderOf(index, d.event));
  const isTotal = (id: string) => {
    const order = index.sendById.get(id)?.event.order ?? orders.get(id);
    return order === 'total' || order === 'safe';
  };
  const contentBefore = (s: MemberSession, w: number): string[] => {
    const ids = [...(transferOf.get(s)?.contents ?? [])];
    for (const d of s.deliveries) if (d.first && (d.inView ?? 0) < w) ids.push(d.event.id);
    return ids;
  };
  // A member holds the group's state when it installed it, or when it founded the group
  // (its first view lists every member as joined). One that joined a group with members
  // without a transfer (a watcher that neither asks for nor provides state) holds only
  // what it delivered since: a transferred state must hold all of that (nothing missing),
  // and may hold more.
  const holdsState = (s: MemberSession): boolean => {
    if (transferOf.has(s)) return true;
    const first = s.views[0];
    return first !== undefined && first.members.every((m) => first.joined.includes(m));
  };
  for (const [own, t] of transferOf) {
    const w = t.viewId;
    const contents = new Set(t.contents);
    for (const d of own.deliveries) {
      if (contents.has(d.event.id)) {
        out.push(violation(6, 'transfer-duplicate', `group "${t.group}": ${t.member} delivered ${d.event.id} although its installed state (view ${w}) holds it`, [t, d.event]));
      }
    }
    const sessions = index.sessionsByGroup.get(t.group) ?? [];
    for (const ref of sessions) {
      if (ref === own) continue;
      const partial = !holdsState(ref);
      const ids = ref.views.map((v) => v.viewId);
      const k = ids.indexOf(w - 1);
      if (k < 0 || ids[k + 1] !== w) continue; // did not move from w-1 to w
      const theirs = contentBefore(ref, w);
      const theirSet = new Set(theirs);
      const missing = theirs.filter((id) => !contents.has(id));
      const extra = partial ? [] : t.contents.filter((id) => !theirSet.has(id));
      if (missing.length > 0 || extra.length > 0) {
        out.push(
          violation(
            6,
            'transfer-state',
            `group "${t.group}": the state ${t.member} installed at view ${w} differs from what ${ref.member} holds before view ${w}: missing ${list(missing.slice(0, 5))}${missing.length > 5 ? ` (+${missing.length - 5})` : ''}, extra ${list(extra.slice(0, 5))}${extra.length > 5 ? ` (+${extra.length - 5})` : ''}`,
            [t],
          ),
        );
        continue;
      }
      // (A partial holder's total messages are the tail of the state's.)
      const b = theirs.filter(isTotal);
      const a = partial ? t.contents.filter(isTotal).slice(-b.length || Number.POSITIVE_INFINITY) : t.contents.filter(isTotal);
      const at = a.findIndex((id, i) => id !== b[i]);
      if (at >= 0) {
        out.push(violation(6, 'transfer-order', `group "${t.group}": the state ${t.member} installed at view ${w} orders ${a[at]} where ${ref.member} delivered ${b[at]}`, [t]));
      }
    }
  }
  return out;
}
