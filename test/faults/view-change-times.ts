// View-change times of real fault runs (guarantee 7 says "within the failure-detection
// timeout plus the flush time": reported, never asserted). For each fault the harness
// injected, from the fault to the first daemon view that drops what the fault removed,
// installed at every member of that view, split into:
//   detection — fault → the first `view change started` (the proposer's log line) for a
//               proposal without the faulty daemon: silence, suspicion, takeover;
//   flush     — that proposal → the new view installed at its last member (the daemons'
//               event logs): ballots, cut, fetches, restarts after a second failure.
import type { DaemonViewEvent, HistoryEvent } from '../checker/index.js';
import type { DaemonProcess } from '../multi/harness.js';
import type { FaultRecord } from './harness.js';

export interface ViewChangeTime {
  readonly fault: FaultRecord;
  /** The daemon view that completed the change. */
  readonly viewId: number;
  readonly detectionMs: number | undefined;
  readonly flushMs: number | undefined;
  readonly totalMs: number;
}

interface ProposalLine {
  readonly t: number;
  readonly proposed: readonly string[];
}

/** `view change started` lines of every daemon process: when, and the proposed members. */
export function proposalsFrom(processes: readonly DaemonProcess[]): ProposalLine[] {
  const out: ProposalLine[] = [];
  for (const p of processes) {
    for (const line of p.output) {
      if (!line.includes('"view change started"')) continue;
      try {
        const j = JSON.parse(line) as { time?: number; proposed?: string[] };
        if (typeof j.time === 'number' && Array.isArray(j.proposed)) out.push({ t: j.time, proposed: j.proposed });
      } catch {
        // not a JSON line
      }
    }
  }
  return out.sort((a, b) => a.t - b.t);
}

/** Whether a daemon view (or proposal) with `members` completes what `fault` started. */
function completes(fault: FaultRecord, members: readonly string[]): boolean {
  if (fault.excluded !== undefined && fault.excluded.length > 0) return fault.excluded.every((k) => !members.includes(k));
  // A cut link: the protocol drops one end, whichever.
  const before = fault.members ?? [];
  return before.length > 0 && before.some((k) => !members.includes(k));
}

export function measureViewChanges(
  faults: readonly FaultRecord[],
  daemonLogs: ReadonlyArray<readonly HistoryEvent[]>,
  proposals: readonly ProposalLine[],
): ViewChangeTime[] {
  const views = daemonLogs.flat().filter((e): e is DaemonViewEvent => e.type === 'daemon-view');
  const out: ViewChangeTime[] = [];
  for (const fault of faults) {
    if (fault.viewId === undefined) continue;
    const after = views.filter((v) => v.viewId > fault.viewId! && v.t >= fault.t && completes(fault, v.members));
    if (after.length === 0) continue;
    const viewId = Math.min(...after.map((v) => v.viewId));
    const installs = after.filter((v) => v.viewId === viewId);
    const installedMs = Math.max(...installs.map((v) => v.t));
    // Pino's `time` is whole ms: allow 1 ms of rounding on either side.
    const start = proposals.find((p) => p.t >= Math.floor(fault.t) && p.t <= installedMs + 1 && completes(fault, p.proposed));
    out.push({
      fault,
      viewId,
      detectionMs: start === undefined ? undefined : Math.max(0, start.t - fault.t),
      flushMs: start === undefined ? undefined : Math.max(0, installedMs - start.t),
      totalMs: installedMs - fault.t,
    });
  }
  return out;
}

export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const ms = (v: number | undefined) => (v === undefined ? '—' : `${Math.round(v)} ms`);

/** One line per measured fault: `kill b: 742 ms = detection 701 ms + flush 41 ms (view 7)`. */
export function formatViewChange(v: ViewChangeTime): string {
  return `${v.fault.kind} ${v.fault.daemons.join(',')}: ${ms(v.totalMs)} = detection ${ms(v.detectionMs)} + flush ${ms(v.flushMs)} (daemon view ${v.viewId})`;
}

/** Median and max of detection, flush and total over `times`. */
export function summarizeViewChanges(times: readonly ViewChangeTime[]): string[] {
  const pick = (f: (v: ViewChangeTime) => number | undefined) => times.map(f).filter((x): x is number => x !== undefined);
  const line = (label: string, values: number[]) =>
    `${label.padEnd(10)} median ${ms(median(values))}, max ${ms(values.length === 0 ? undefined : Math.max(...values))} (${values.length} measured)`;
  return [line('detection', pick((v) => v.detectionMs)), line('flush', pick((v) => v.flushMs)), line('total', pick((v) => v.totalMs))];
}
