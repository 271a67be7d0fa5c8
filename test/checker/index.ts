// The virtual-synchrony checker: verifies recorded histories (simulator runs and
// real-process runs) against the guarantees of DESIGN.md. Pure, except for reading
// JSON-lines files.
//
//   const events = mergeHistories(await readHistory('a.jsonl'), await readHistory('b.jsonl'));
//   const { violations, stats } = checkHistory(events, { live: ['c1', 'c2'] });
//   if (violations.length > 0) throw new Error(formatViolations(violations));
//
// Feed it a complete history: the order of each member's own events must be the order
// it saw them in (keep all of one member's events in one list), and a member whose
// session is still open at the end is taken as correct. `live` (guarantee 7) only
// after the faults have healed and every pending message had time to arrive.
export type {
  ChangeCause,
  CrashEvent,
  DaemonCrashEvent,
  DaemonLeftEvent,
  DaemonViewEvent,
  DeliverEvent,
  ExpelledEvent,
  GroupViewEvent,
  HistoryEvent,
  HistoryEventType,
  LeaveEvent,
  Order,
  SendEvent,
  TransferEvent,
} from './history.js';
export type { Guarantee, Violation } from './violation.js';
export { formatViolation, formatViolations } from './violation.js';
export { checkHistory, type CheckOptions, type CheckResult, type HistoryStats } from './check-history.js';
export { checkViewAgreement } from './view-agreement.js';
export { checkVirtualSynchrony } from './virtual-synchrony.js';
export { checkIntegrity, type IntegrityOptions } from './integrity.js';
export { checkOrdering } from './ordering.js';
export { checkPrimaryComponent, hasQuorum, type PrimaryComponentOptions } from './primary-component.js';
export { checkLiveness, type LivenessOptions } from './liveness.js';
export { HistoryFormatError, mergeHistories, parseHistory, readHistory } from './jsonl.js';
