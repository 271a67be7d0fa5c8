// Runs every check of the virtual-synchrony checker on one history: guarantees 1 to 6
// always, and 7 (liveness) when the caller says which clients are live at the
// end. Violations come back as data, grouped by guarantee; `stats` says how much the
// history held, so a run that checked nothing is visible.
import type { HistoryEvent } from './history.js';
import { indexHistory, survivorsByView } from './history-index.js';
import { integrity, type IntegrityOptions } from './integrity.js';
import { liveness } from './liveness.js';
import { ordering } from './ordering.js';
import { primaryComponent, type PrimaryComponentOptions } from './primary-component.js';
import { stateTransfer } from './state-transfer.js';
import { viewAgreement } from './view-agreement.js';
import { virtualSynchrony } from './virtual-synchrony.js';
import type { Violation } from './violation.js';

export interface CheckOptions extends IntegrityOptions, PrimaryComponentOptions {
  /** When given: also check liveness (guarantee 7) with these client ids as live at the end. */
  readonly live?: readonly string[];
}

export interface HistoryStats {
  readonly events: number;
  /** Events of unknown types, ignored. */
  readonly ignoredEvents: number;
  readonly members: number;
  readonly groups: number;
  /** Membership sessions (member, group, from join to expelled/leave/crash/end). */
  readonly sessions: number;
  /** Distinct (group, view id) pairs installed. */
  readonly groupViews: number;
  /** Distinct daemon view ids installed. */
  readonly daemonViews: number;
  readonly sends: number;
  readonly deliveries: number;
  /** (group, v) with at least two members that moved from v to v+1: same-set checks made. */
  readonly viewChangesCompared: number;
}

export interface CheckResult {
  readonly violations: Violation[];
  readonly stats: HistoryStats;
}

export function checkHistory(events: readonly HistoryEvent[], options: CheckOptions = {}): CheckResult {
  const index = indexHistory(events);
  const violations = [
    ...viewAgreement(index),
    ...virtualSynchrony(index),
    ...integrity(index, options),
    ...ordering(index),
    ...primaryComponent(index, options),
    ...stateTransfer(index, index.transfers),
    ...(options.live === undefined ? [] : liveness(index, { live: options.live })),
  ];
  let viewChangesCompared = 0;
  for (const sessions of index.sessionsByGroup.values()) {
    for (const moved of survivorsByView(sessions).values()) if (moved.length >= 2) viewChangesCompared += 1;
  }
  const stats: HistoryStats = {
    events: index.eventCount,
    ignoredEvents: index.ignoredCount,
    members: index.members.size,
    groups: index.groups.size,
    sessions: index.sessions.length,
    groupViews: new Set(index.groupViews.map((v) => `${v.group}\u0000${v.viewId}`)).size,
    daemonViews: new Set(index.daemonViews.map((v) => v.viewId)).size,
    sends: index.sends.length,
    deliveries: index.deliveries.length,
    viewChangesCompared,
  };
  return { violations, stats };
}
