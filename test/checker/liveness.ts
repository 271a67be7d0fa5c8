// Guarantee 7, liveness, for the end of a run whose faults have healed: every message
// that a live member sent (and the service accepted) is delivered by every live member
// that was in its sending view and is still in the group at the end, in the same
// membership session. Opt-in: only the caller knows which clients are alive and
// connected at the end.
//
// A sender that was expelled or crashed since may have lost its message (a partitioned
// member's messages may never reach the primary), so only senders still in the group at
// the end, or that left it on purpose, are held to this.
import type { HistoryEvent } from './history.js';
import { indexHistory, type HistoryIndex, type MemberSession } from './history-index.js';
import { list, violation, type Violation } from './violation.js';

export interface LivenessOptions {
  /** Client ids alive and connected at the end of the history. */
  readonly live: readonly string[];
}

export function checkLiveness(events: readonly HistoryEvent[], options: LivenessOptions): Violation[] {
  return liveness(indexHistory(events), options);
}

function hasView(session: MemberSession, viewId: number): boolean {
  return session.views.some((v) => v.viewId === viewId);
}

export function liveness(index: HistoryIndex, options: LivenessOptions): Violation[] {
  const out: Violation[] = [];
  const live = new Set(options.live);
  const deliveredBy = new Map<string, Set<string>>(); // member → ids
  for (const d of index.deliveries) {
    let ids = deliveredBy.get(d.event.member);
    if (ids === undefined) deliveredBy.set(d.event.member, (ids = new Set()));
    ids.add(d.event.id);
  }
  for (const s of index.sends) {
    const { member, group, id, viewId } = s.event;
    if (!live.has(member) || index.sendById.get(id) !== s) continue;
    const sessions = index.sessionsByGroup.get(group) ?? [];
    const senderSession = s.session ?? sessions.find((x) => x.member === member && hasView(x, viewId));
    if (senderSession === undefined || (senderSession.end !== 'open' && senderSession.end !== 'leave')) continue;
    const missing = sessions
      .filter((x) => live.has(x.member) && x.end === 'open' && hasView(x, viewId))
      .filter((x) => !(deliveredBy.get(x.member)?.has(id) ?? false))
      .map((x) => x.member);
    if (missing.length === 0) continue;
    out.push(
      violation(
        7,
        'delivered-to-live',
        `group "${group}" view ${viewId}: message ${id} sent by ${member} was never delivered by ${list(missing)} ` +
          `(live, in view ${viewId} and still in the group at the end)`,
        [s.event],
      ),
    );
  }
  return out;
}
