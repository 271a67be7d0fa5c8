// Guarantee 5, primary component: only one sequence of daemon views exists. Each view
// id has one member list at every daemon that installs it (two lists for one id are
// two primaries at once); each daemon installs increasing view ids, and views that
// include itself; and a view v needs a quorum of view v−1: more than half of its
// members, or exactly half including its oldest member (members[0]).
//
// Only the rule against v−1 is checked, when both views were recorded: the history
// does not hold the proposals that were acknowledged but not installed, so the rest of
// dynamic voting is the simulator's business. A view id that nobody recorded is skipped.
import type { DaemonViewEvent, HistoryEvent } from './history.js';
import { indexHistory, type HistoryIndex } from './history-index.js';
import { list, violation, type Violation } from './violation.js';

export interface PrimaryComponentOptions {
  /** Daemon view ids an operator declared with `chorus force-primary`: no quorum rule. */
  readonly forcedPrimaryViews?: readonly number[];
}

export function checkPrimaryComponent(events: readonly HistoryEvent[], options: PrimaryComponentOptions = {}): Violation[] {
  return primaryComponent(indexHistory(events), options);
}

/** |members(v) ∩ members(previous)| is a quorum of `previous`. */
export function hasQuorum(previous: readonly string[], next: readonly string[]): boolean {
  const kept = new Set(next);
  const common = previous.filter((m) => kept.has(m));
  if (2 * common.length > previous.length) return true;
  return 2 * common.length === previous.length && previous.length > 0 && kept.has(previous[0]!);
}

export function primaryComponent(index: HistoryIndex, options: PrimaryComponentOptions = {}): Violation[] {
  const out: Violation[] = [];
  const forced = new Set(options.forcedPrimaryViews ?? []);

  // viewId → member-list key → installers
  const byId = new Map<number, Map<string, DaemonViewEvent[]>>();
  const latest = new Map<string, DaemonViewEvent>();
  for (const v of index.daemonViews) {
    let lists = byId.get(v.viewId);
    if (lists === undefined) byId.set(v.viewId, (lists = new Map()));
    const key = JSON.stringify(v.members);
    const installers = lists.get(key);
    if (installers === undefined) lists.set(key, [v]);
    else installers.push(v);

    if (!v.members.includes(v.daemon)) {
      out.push(
        violation(5, 'daemon-includes-self', `${v.daemon} installed daemon view ${v.viewId} ${list(v.members)}, which does not include it`, [v]),
      );
    }
    const before = latest.get(v.daemon);
    if (before !== undefined && v.viewId <= before.viewId) {
      out.push(
        violation(
          5,
          'daemon-view-increasing',
          `${v.daemon} installed daemon view ${v.viewId} after daemon view ${before.viewId} (a daemon's view ids strictly increase)`,
          [before, v],
        ),
      );
    }
    if (before === undefined || v.viewId > before.viewId) latest.set(v.daemon, v);
  }

  /** viewId → one installation of it, for ids with a single member list */
  const agreed = new Map<number, DaemonViewEvent>();
  for (const [viewId, lists] of byId) {
    const variants = [...lists.values()];
    if (variants.length === 1) {
      agreed.set(viewId, variants[0]![0]!);
      continue;
    }
    const described = variants.map((vs) => `${list(vs[0]!.members)} at ${list(vs.map((v) => v.daemon))}`).join(' and ');
    out.push(
      violation(
        5,
        'two-primaries',
        `daemon view ${viewId} has ${variants.length} member lists, ${described}: two primaries at once`,
        variants.map((vs) => vs[0]!),
      ),
    );
  }

  for (const [viewId, view] of [...agreed].sort(([a], [b]) => a - b)) {
    const before = agreed.get(viewId - 1);
    if (before === undefined || forced.has(viewId) || hasQuorum(before.members, view.members)) continue;
    const { members } = view;
    const previous = before.members;
    const kept = previous.filter((m) => members.includes(m));
    out.push(
      violation(
        5,
        'quorum',
        `daemon view ${viewId} ${list(members)} keeps ${kept.length} of the ${previous.length} members of daemon view ${viewId - 1} ` +
          `${list(previous)}: no quorum (needs more than half, or exactly half including the oldest, ${previous[0] ?? '?'})`,
        [before, view],
      ),
    );
  }
  return out;
}
