// Checks one fault run: the daemons' event logs (their daemon views and every message
// they sent) merged with what the clients recorded, through the virtual-synchrony
// checker (guarantees 1–6, and 7 for the clients alive at the end), plus one rule the
// fault tests add: nothing a surviving member sent is lost.
import { openSync, readSync, closeSync, fstatSync } from 'node:fs';

import { checkHistory, checkLiveness, mergeHistories, parseHistory, type HistoryEvent, type HistoryStats, type Violation } from '../checker/index.js';
import { indexHistory, type MemberSession } from '../checker/history-index.js';
import { formatViolation, violation } from '../checker/violation.js';
import type { AcceptedMulticast } from './fault-recorder.js';

/**
 * Reads event log files incrementally: each read returns the complete lines written
 * since the last one (a daemon killed mid-write leaves at most one partial last line,
 * which is never returned).
 */
export class EventLogReader {
  readonly #offsets = new Map<string, number>();

  read(files: readonly string[], filter?: (e: HistoryEvent) => boolean): HistoryEvent[][] {
    return files.map((file) => {
      const from = this.#offsets.get(file) ?? 0;
      let text = '';
      let fd: number;
      try {
        fd = openSync(file, 'r');
      } catch {
        return []; // the daemon wrote nothing yet
      }
      try {
        const size = fstatSync(fd).size;
        if (size > from) {
          const buf = Buffer.alloc(size - from);
          readSync(fd, buf, 0, buf.length, from);
          text = buf.toString('utf8');
        }
      } finally {
        closeSync(fd);
      }
      const complete = text.lastIndexOf('\n') + 1;
      this.#offsets.set(file, from + Buffer.byteLength(text.slice(0, complete)));
      const events = parseHistory(text.slice(0, complete), file);
      return filter === undefined ? events : events.filter(filter);
    });
  }
}

export interface RunCheck {
  readonly violations: Violation[];
  readonly stats: HistoryStats;
  /** One line per violation (empty when the run is clean). */
  readonly report: string;
  readonly history: HistoryEvent[];
}

export interface RunCheckInput {
  /** Per daemon process: its event log's events. */
  readonly daemonLogs: ReadonlyArray<readonly HistoryEvent[]>;
  /** What the clients recorded (one list: each member's events in its own order). */
  readonly clientEvents: readonly HistoryEvent[];
  /** Client ids alive and connected at the end (liveness). */
  readonly live: readonly string[];
  /** What the clients' multicast() calls resolved with. */
  readonly accepted: readonly AcceptedMulticast[];
}

export function checkRun(input: RunCheckInput): RunCheck {
  // Daemon logs first: on a tie in time, a send precedes the deliveries of its message.
  const history = mergeHistories(...input.daemonLogs, input.clientEvents);
  const result = checkHistory(history);
  const violations = [
    ...result.violations,
    ...checkLiveness(history, { live: input.live }),
    ...nothingLost(history, input.accepted),
  ];
  return { violations, stats: result.stats, report: violations.slice(0, 30).map(formatViolation).join('\n'), history };
}

/**
 * A member whose daemon stays in the primary loses nothing it sent (README, "What
 * survives a crash"; guarantee 7): a multicast its daemon accepted was sent, and if the
 * member went on past the message's sending view (or is still there at the end, or
 * left on purpose), it delivered the message in that view itself — and by virtual
 * synchrony (guarantee 2) so did every member that moved on with it. A member that
 * crashed or was expelled in that view may have lost it: that is allowed.
 */
export function nothingLost(history: readonly HistoryEvent[], accepted: readonly AcceptedMulticast[]): Violation[] {
  const index = indexHistory(history);
  const out: Violation[] = [];
  const delivered = new Set<string>();
  for (const d of index.deliveries) delivered.add(`${d.event.member}\u0000${d.event.id}`);
  const survived = (s: MemberSession, viewId: number): boolean =>
    s.end === 'open' || s.end === 'leave' || s.views.some((v) => v.viewId > viewId);
  for (const a of accepted) {
    const send = index.sendById.get(a.id);
    if (send === undefined) {
      // Accepted but never sent: only a daemon that crashed or left the primary drops it.
      const session = sessionAt(index.sessionsByGroup.get(a.group) ?? [], a.member, a.t);
      if (session !== undefined && (session.end === 'open' || session.end === 'leave')) {
        out.push(violation(7, 'accepted-sent', `group "${a.group}": ${a.member}'s multicast ${a.id} was accepted but never sent, and ${a.member} stayed in the group`));
      }
      continue;
    }
    const { viewId } = send.event;
    const session = send.session ?? index.sessionsByGroup.get(a.group)?.find((s) => s.member === a.member && s.views.some((v) => v.viewId === viewId));
    if (session === undefined || !survived(session, viewId)) continue;
    if (!delivered.has(`${a.member}\u0000${a.id}`)) {
      out.push(
        violation(
          7,
          'nothing-lost',
          `group "${a.group}": ${a.member} sent ${a.id} in view ${viewId} and stayed in the group past it, but never delivered it`,
          [send.event],
        ),
      );
    }
  }
  return out;
}

/** The session of `member` that was open at time `t`. */
function sessionAt(sessions: readonly MemberSession[], member: string, t: number): MemberSession | undefined {
  let best: MemberSession | undefined;
  for (const s of sessions) {
    if (s.member !== member || s.views.length === 0 || s.views[0]!.t > t) continue;
    if (s.endEvent !== undefined && s.endEvent.t < t) continue;
    best = s;
  }
  return best;
}
