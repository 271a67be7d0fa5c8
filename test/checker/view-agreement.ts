// Guarantee 1, view agreement: every member that installs view v of a group sees the
// same member list in the same order; a member's view includes itself; within one
// membership session view ids grow by exactly one; a view id of a group is never
// reused (one member list per id, and a member that joins again gets a higher id);
// `joined`/`left` are the difference with the member's previous view, and every member
// that left has a cause.
import type { GroupViewEvent, HistoryEvent } from './history.js';
import { indexHistory, type HistoryIndex, LOST_ERA_VIEW_OFFSET } from './history-index.js';
import { list, violation, type Violation } from './violation.js';

export function checkViewAgreement(events: readonly HistoryEvent[]): Violation[] {
  return viewAgreement(indexHistory(events));
}

export function viewAgreement(index: HistoryIndex): Violation[] {
  const out: Violation[] = [];
  sameMembers(index, out);
  for (const session of index.sessions) {
    const { member, group } = session;
    for (let i = 0; i < session.views.length; i++) {
      const view = session.views[i]!;
      const previous = i > 0 ? session.views[i - 1] : undefined;
      if (!view.members.includes(member)) {
        out.push(
          violation(
            1,
            'includes-self',
            `group "${group}" view ${view.viewId}: ${member} installed members ${list(view.members)}, which do not include ${member}`,
            [view],
          ),
        );
      }
      // (Ids of a lost era are moved up by LOST_ERA_VIEW_OFFSET: compare them unmoved.)
      if (previous !== undefined && view.viewId % LOST_ERA_VIEW_OFFSET !== (previous.viewId % LOST_ERA_VIEW_OFFSET) + 1) {
        out.push(
          violation(
            1,
            'view-id-step',
            `group "${group}": ${member} went from view ${previous.viewId} to view ${view.viewId} in one membership session (view ids grow by exactly one)`,
            [previous, view],
          ),
        );
      }
      if (previous !== undefined && unmoved(view.viewId) === unmoved(previous.viewId) + 1) joinedLeft(previous, view, out);
      // A member's first view is the one it joined with — or a later one when its state
      // transfer restarted (the state is then taken at that later view, and the views
      // before it are skipped): it is then already listed in the view before.
      if (previous === undefined && !view.joined.includes(member) && !listedBefore(index, group, view.viewId, member)) {
        out.push(
          violation(
            1,
            'joined-self',
            `group "${group}" view ${view.viewId}: the first view of ${member}'s membership session does not list ${member} as joined (joined ${list(view.joined)})`,
            [view],
          ),
        );
      }
      causes(view, out);
    }
  }
  idsNeverRepeat(index, out);
  return out;
}

/** One member list per (group, view id), in the same order at every member. */
function sameMembers(index: HistoryIndex, out: Violation[]): void {
  // group → viewId → member-list key → installers
  const seen = new Map<string, Map<number, Map<string, GroupViewEvent[]>>>();
  for (const v of index.groupViews) {
    let byId = seen.get(v.group);
    if (byId === undefined) seen.set(v.group, (byId = new Map()));
    let lists = byId.get(v.viewId);
    if (lists === undefined) byId.set(v.viewId, (lists = new Map()));
    const key = JSON.stringify(v.members);
    const installers = lists.get(key);
    if (installers === undefined) lists.set(key, [v]);
    else installers.push(v);
  }
  // (Group views of a lost era, after force-primary, were given their own ids by
  // indexHistory: separateLostEras in history-index.ts.)
  for (const [group, byId] of seen) {
    for (const [viewId, lists] of byId) {
      if (lists.size < 2) continue;
      const variants = [...lists.values()];
      const described = variants
        .map((installers) => `${list(installers.map((v) => v.member))} installed ${list(installers[0]!.members)}`)
        .join('; ');
      out.push(
        violation(
          1,
          'same-members',
          `group "${group}" view ${viewId} has ${variants.length} different member lists: ${described}`,
          variants.map((installers) => installers[0]!),
        ),
      );
    }
  }
}

function sortedKey(items: Iterable<string>): string {
  return JSON.stringify([...new Set(items)].sort());
}

/** joined = new − old and left = old − new, compared as sets. */
function joinedLeft(previous: GroupViewEvent, view: GroupViewEvent, out: Violation[]): void {
  const oldMembers = new Set(previous.members);
  const newMembers = new Set(view.members);
  const joined = view.members.filter((m) => !oldMembers.has(m));
  const left = previous.members.filter((m) => !newMembers.has(m));
  if (sortedKey(joined) === sortedKey(view.joined) && sortedKey(left) === sortedKey(view.left)) return;
  out.push(
    violation(
      1,
      'joined-left',
      `group "${view.group}" view ${view.viewId} at ${view.member}: joined ${list(view.joined)} and left ${list(view.left)} ` +
        `do not match the change from view ${previous.viewId} ${list(previous.members)} to ${list(view.members)} ` +
        `(expected joined ${list(joined)}, left ${list(left)})`,
      [previous, view],
    ),
  );
}

/** Every member that left has a cause, and it is not `join`. */
function causes(view: GroupViewEvent, out: Violation[]): void {
  for (const m of view.left) {
    const cause = view.causes[m];
    if (cause === undefined || cause === 'join') {
      out.push(
        violation(
          1,
          'causes',
          `group "${view.group}" view ${view.viewId} at ${view.member}: ${m} left with ${cause === undefined ? 'no cause' : 'cause "join"'}`,
          [view],
        ),
      );
    }
  }
}

/** A member that joins a group again gets a view id above every one it had before. */
function idsNeverRepeat(index: HistoryIndex, out: Violation[]): void {
  const highest = new Map<string, GroupViewEvent>();
  for (const session of index.sessions) {
    const key = `${session.member}\u0000${session.group}`;
    const first = session.views[0];
    const before = highest.get(key);
    if (first !== undefined && before !== undefined && first.viewId <= before.viewId) {
      out.push(
        violation(
          1,
          'view-id-repeat',
          `group "${session.group}": ${session.member} joined again with view ${first.viewId} after it had installed view ${before.viewId} (view ids never repeat)`,
          [before, first],
        ),
      );
    }
    const last = session.views.at(-1);
    if (last !== undefined && (before === undefined || last.viewId > before.viewId)) highest.set(key, last);
  }
}

/** A view id as it was recorded (a lost era's ids are moved up by LOST_ERA_VIEW_OFFSET). */
function unmoved(viewId: number): number {
  return viewId % LOST_ERA_VIEW_OFFSET;
}

/**
 * `member` is listed in the view before `viewId`. In a lost era the view before may have
 * kept its id (only the ids that the forced primary used again were moved), so a moved
 * view's predecessor is looked for under both ids.
 */
function listedBefore(index: HistoryIndex, group: string, viewId: number, member: string): boolean {
  const before = viewId >= LOST_ERA_VIEW_OFFSET ? [viewId - 1, unmoved(viewId) - 1] : [viewId - 1];
  return index.groupViews.some((v) => v.group === group && before.includes(v.viewId) && v.members.includes(member));
}
