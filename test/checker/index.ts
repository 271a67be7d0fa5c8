// The virtual-synchrony checker: verifies recorded histories (simulator runs and
// real-process runs) against the guarantees of ../shared/DESIGN.md. Pure, except for
// reading JSON-lines files.
export type {
  ChangeCause,
  CrashEvent,
  DaemonCrashEvent,
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
