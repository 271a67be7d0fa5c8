// Guarantee 5, primary component: only one sequence of daemon views exists.
//
// Rules, on what the history holds (installs only: proposals that were acknowledged but
// never installed anywhere are invisible here and stay the simulator's business):
//
// - `two-primaries`: one member list per daemon view id, at every daemon that installs
//   it, forced views included. A view installed by even one daemon fixes its id: any
//   other list under that id is a second primary (same id ⇒ same members).
// - `daemon-view-increasing`, `daemon-includes-self`: each daemon installs increasing
//   ids, and views that include itself.
// - `quorum`: the installed views, ordered by id, are the one sequence of primaries, so
//   a view v needs a quorum — more than half, or exactly half including the oldest
//   (members[0]) — of its predecessor in that sequence: the view with the highest id
//   below v that anyone installed (ids that nobody installed, such as a proposal a
//   restarted flush abandoned, are skipped, not a reason to skip the check). It also
//   needs a quorum of the view each of its installers installed just before it (the
//   previous primary that daemon knows; it differs from the predecessor when the daemon
//   missed installs).
// - `ambiguous-quorum`: a daemon that goes from its view p straight to view v skipped
//   every view w, p < w < v, that someone else installed. In this design a daemon that
//   learns that a view was installed completes that view before anything else (the
//   Paxos rule of DESIGN.md: "once any daemon installed a view, every later proposer
//   learns it"), and a daemon that was left out of a primary rejoins under a new
//   incarnation, so a daemon that kept its incarnation and skipped w never learned that
//   w was formed: for it, w is an ambiguous session (Lotem–Keidar–Dolev), and v must
//   hold a quorum of w too, or w's members may have gone on in a primary of their own.
//   (Only the views someone installed are visible; an acknowledged proposal that nobody
//   installed is not.)
//   Daemons that left on purpose at the change to v (`daemon-left` with viewId v) count
//   as present: they took part in that change and can take part in no other.
// - `forced-view-id`: a view founded by `force-primary` is exempt from the quorum rules
//   but must take an id above every daemon view installed before it in the history by a
//   daemon still alive then (a crashed process's knowledge of its views is gone: only
//   the daemons that are up can be asked; `two-primaries` makes the same exception) (history order: the simulator records in its global time order; merged
//   real-process logs by wall clock). A lower or equal id reuses an id of the primary
//   it replaces. Views after a forced view are ordinary and are checked as above.
//
// Quorum rules compare only views whose id has one member list (an id with two lists
// is reported as `two-primaries`, and which list is the "real" one is unknowable);
// an installer's own previous view is taken as that daemon installed it.
import { isLostEra } from './lost-era.js';
import type { DaemonViewEvent, HistoryEvent } from './history.js';
import { indexHistory, type HistoryIndex } from './history-index.js';
import { list, violation, type Violation } from './violation.js';

export interface PrimaryComponentOptions {
  /**
   * Daemon view ids an operator declared with `chorus force-primary` (every installation
   * of such an id counts as forced). Prefer `forced: true` on the daemon-view event: an
   * id alone is ambiguous when a forced view reuses an id.
   */
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

/** A view v must hold a quorum of `view`, for the reason `rule` and `why` give. */
interface Requirement {
  readonly rule: 'quorum' | 'ambiguous-quorum';
  readonly view: DaemonViewEvent;
  /** Appended after the view's members in the message; '' for v's predecessor. */
  readonly why: string;
}

export function primaryComponent(index: HistoryIndex, options: PrimaryComponentOptions = {}): Violation[] {
  const out: Violation[] = [];
  const forcedIds = new Set(options.forcedPrimaryViews ?? []);
  const isForced = (v: DaemonViewEvent): boolean => v.forced === true || forcedIds.has(v.viewId);

  // viewId → member-list key → installers
  const byId = new Map<number, Map<string, DaemonViewEvent[]>>();
  const latest = new Map<string, DaemonViewEvent>();
  /** installation → the view its daemon installed just before it (lower id) */
  const ownPrevious = new Map<DaemonViewEvent, DaemonViewEvent>();
  /**
   * What a forced view must stay above: the installations before it whose daemon was
   * still alive when it was forced (a crashed process's memory of its views is gone, and
   * force-primary can only ask the daemons that are up).
   */
  // A daemon that stepped down runs on as `<incarnation>.N` (same process, same memory):
  // a crash of any of its incarnations is the crash of all of them.
  const processOf = (daemon: string): string => daemon.replace(/\.\d+$/, '');
  const processCrashedAt = new Map<string, number>();
  for (const [d, at] of index.crashedAt) {
    const p = processOf(d);
    processCrashedAt.set(p, Math.min(processCrashedAt.get(p) ?? Number.POSITIVE_INFINITY, at));
  }
  const crashedBefore = (daemon: string, t: number): boolean => {
    const at = processCrashedAt.get(processOf(daemon));
    return at !== undefined && at <= t;
  };
  const seen: DaemonViewEvent[] = [];
  const forcedInstalls = index.daemonViews.filter(isForced);
  for (const v of index.daemonViews) {
    const key = JSON.stringify(v.members);
    if (isForced(v)) {
      let highest: DaemonViewEvent | undefined;
      for (const e of seen) if (!crashedBefore(e.daemon, v.t) && (highest === undefined || e.viewId > highest.viewId)) highest = e;
      // An equal id is fine only for another installation of the same view (same list).
      const sameView = highest !== undefined && v.viewId === highest.viewId && JSON.stringify(highest.members) === key;
      if (highest !== undefined && v.viewId <= highest.viewId && !sameView) {
        out.push(
          violation(
            5,
            'forced-view-id',
            `${v.daemon} forced primary daemon view ${v.viewId} ${list(v.members)} after ${highest.daemon} had installed daemon view ` +
              `${highest.viewId} ${list(highest.members)}: a forced view needs an id above every daemon view installed before it`,
            [highest, v],
          ),
        );
      }
    }
    seen.push(v);

    let lists = byId.get(v.viewId);
    if (lists === undefined) byId.set(v.viewId, (lists = new Map()));
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
    if (before === undefined || v.viewId > before.viewId) {
      if (before !== undefined) ownPrevious.set(v, before);
      latest.set(v.daemon, v);
    }

  }

  /** viewId → the installers of it, for ids with a single member list */
  const agreed = new Map<number, DaemonViewEvent[]>();
  for (const [viewId, lists] of byId) {
    let variants = [...lists.values()];
    // A forced view that reuses an id only crashed daemons had installed (their memory
    // of it died with them) is not a second primary: nobody alive could know the id.
    // Ids continue from a forced view, so a list installed before it only by daemons
    // that crashed before it (their knowledge died with them) is from a lost era, not a
    // second primary. (Not for any other pair: a successor installed after its only
    // installer crashed is exactly the bug guarantee 5 is about.)
    if (variants.length > 1) {
      const ways = variants.map((vs) => vs.map((e) => ({ t: e.t, who: e.daemon })));
      const forcedAt = forcedInstalls.map((f) => f.t);
      const live = variants.filter((_, k) => !isLostEra(ways, k, forcedAt, (d) => processCrashedAt.get(processOf(d))));
      if (live.length === 1) continue; // lists of different eras under one id: no second primary, and no list to check quorums against
      if (live.length > 1) variants = live;
    }
    if (variants.length === 1) {
      agreed.set(viewId, variants[0]!);
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

  const ids = [...byId.keys()].sort((a, b) => a - b);
  for (let i = 0; i < ids.length; i++) {
    const viewId = ids[i]!;
    const installers = agreed.get(viewId);
    if (installers === undefined || installers.some(isForced)) continue;
    const view = installers[0]!;

    const required = new Map<number, Requirement>();
    const predecessor = i > 0 ? agreed.get(ids[i - 1]!)?.[0] : undefined;
    if (predecessor !== undefined) required.set(predecessor.viewId, { rule: 'quorum', view: predecessor, why: '' });
    for (const e of installers) {
      const previous = ownPrevious.get(e);
      if (previous === undefined) continue;
      if (!required.has(previous.viewId)) {
        required.set(previous.viewId, { rule: 'quorum', view: previous, why: `, the view ${e.daemon} installed before it` });
      }
      for (let j = i - 1; j >= 0 && ids[j]! > previous.viewId; j--) {
        const skipped = agreed.get(ids[j]!);
        if (skipped === undefined || required.has(ids[j]!)) continue;
        required.set(ids[j]!, {
          rule: 'ambiguous-quorum',
          view: skipped[0]!,
          why:
            `, which ${list(skipped.map((s) => s.daemon))} installed while ${e.daemon} went from daemon view ${previous.viewId} ` +
            `straight to ${viewId} (for ${e.daemon} an ambiguous session)`,
        });
      }
    }

    // Daemons that left on purpose at this change took part in it and are gone for good:
    // they count towards its quorum (a coordinator of two that leaves keeps the primary).
    const leavers = index.leftAt.get(viewId) ?? new Set<string>();
    const counted = [...view.members, ...leavers];
    for (const [, { rule, view: before, why }] of [...required].sort(([a], [b]) => a - b)) {
      if (hasQuorum(before.members, counted)) continue;
      const { members } = view;
      const previous = before.members;
      const kept = previous.filter((m) => members.includes(m));
      out.push(
        violation(
          5,
          rule,
          `daemon view ${viewId} ${list(members)} keeps ${kept.length} of the ${previous.length} members of daemon view ${before.viewId} ` +
            `${list(previous)}${why}: no quorum (needs more than half, or exactly half including the oldest, ${previous[0] ?? '?'})`,
          [before, view],
        ),
      );
    }
  }
  return out;
}
