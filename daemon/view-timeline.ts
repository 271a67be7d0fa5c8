// The view timeline of one daemon, for operators: every daemon view and group view it
// installed, who joined and who left with why (join, leave, crash, partition, expelled),
// and for a daemon view how long the change took here — detection (this daemon's first
// hearing from a member it then suspected for silence — or its first suspicion, for a
// laggard or a member others suspect — to the start of its flush) and flush (the start of
// its flush, to the install) — plus the mode changes (stepped down, left). Built from the core's trace
// events with wall-clock times; shown by the live page (`GET /events`), `chorus watch`
// and `/status`; the histograms of /metrics read the same durations.
import type { TraceEvent } from '../src/core/types.js';

export type Cause = 'join' | 'leave' | 'crash' | 'partition' | 'expelled';

export interface TimelineEntry {
  /** Numbers the entries of this daemon's run (a client that reconnects asks for those after one). */
  readonly seq: number;
  /** Wall-clock time (ms since the epoch). */
  readonly at: number;
  readonly kind: 'daemon-view' | 'group-view' | 'mode';
  /** Daemon view id (daemon-view, mode) or group view id (group-view). */
  readonly viewId: number;
  readonly group?: string;
  readonly members?: readonly string[];
  readonly joined?: ReadonlyArray<{ readonly member: string; readonly cause: Cause }>;
  readonly left?: ReadonlyArray<{ readonly member: string; readonly cause: Cause }>;
  /** Daemon views: the silence (or first suspicion) of a member that left → the start of this daemon's flush (ms). */
  readonly detectionMs?: number;
  /** Daemon views: the start of this daemon's flush → the install (ms). */
  readonly flushMs?: number;
  /** Daemon views: declared by an operator's force-primary. */
  readonly forced?: boolean;
  /** Mode entries: what happened ('outside the primary', 'left'), and why. */
  readonly mode?: string;
  readonly reason?: string;
}

/** A daemon view change that completed here, with its durations: for the histograms. */
export interface ViewChangeTimes {
  readonly viewId: number;
  readonly detectionMs: number | undefined;
  readonly flushMs: number | undefined;
  /** Causes of the members that left (empty for a view that only added members). */
  readonly causes: readonly Cause[];
}

/** Entries kept: enough for an incident's story, bounded in memory (an entry is small). */
export const TIMELINE_ENTRIES = 500;

export class ViewTimeline {
  private readonly entries: TimelineEntry[] = [];
  private seq = 0;
  private previousMembers: readonly string[] = [];
  /** Since its last install: when this daemon last heard a member it suspects for silence, or first suspected one (wall ms). */
  private suspectedAt: number | undefined;
  /** The start of this daemon's flush since its last install (wall ms). */
  private flushAt: number | undefined;
  private readonly listeners: Array<(e: TimelineEntry) => void> = [];
  private readonly viewListeners: Array<(t: ViewChangeTimes) => void> = [];

  constructor(private readonly clock: () => number = Date.now) {}

  /** Called with every new entry. */
  onEntry(listener: (e: TimelineEntry) => void): void {
    this.listeners.push(listener);
  }

  /** Called at every daemon view installed here after the first. */
  onViewChange(listener: (t: ViewChangeTimes) => void): void {
    this.viewListeners.push(listener);
  }

  /** The seq of the latest entry (0 before any). */
  get lastSeq(): number {
    return this.seq;
  }

  /** Entries after `seq` (all with 0), oldest first. */
  since(seq = 0): TimelineEntry[] {
    return this.entries.filter((e) => e.seq > seq);
  }

  /** One trace event of the core; `viewId` is the daemon view installed now (mode entries). */
  trace(t: TraceEvent, viewId: number | undefined): void {
    const now = this.clock();
    switch (t.type) {
      case 'suspect': {
        // Silent members: the silence began when the member was last heard here.
        const since = now - Math.max(0, t.silentMs ?? 0);
        this.suspectedAt = Math.min(this.suspectedAt ?? since, since);
        return;
      }
      case 'flush-start':
      case 'view-change-start':
        this.flushAt ??= now;
        return;
      case 'daemon-view':
        this.daemonView(t, now);
        return;
      case 'group-view': {
        const causes = t.leftCauses ?? [];
        this.push({
          at: now,
          kind: 'group-view',
          viewId: t.viewId,
          group: t.group,
          members: t.members,
          joined: t.joined.map((member) => ({ member, cause: 'join' as const })),
          left: t.left.map((member, i) => ({ member, cause: causes[i] ?? 'leave' })),
        });
        return;
      }
      case 'step-down':
        this.reset();
        this.push({ at: now, kind: 'mode', viewId: viewId ?? 0, mode: 'outside the primary component', reason: t.reason });
        return;
      case 'left':
        this.push({ at: now, kind: 'mode', viewId: t.viewId ?? viewId ?? 0, mode: 'left the cluster' });
        return;
      default:
        return;
    }
  }

  private daemonView(t: Extract<TraceEvent, { type: 'daemon-view' }>, now: number): void {
    const before = new Set(this.previousMembers);
    const first = this.previousMembers.length === 0;
    const causeOf = new Map((t.left ?? []).map((l) => [l.key, l.cause]));
    const left = this.previousMembers.filter((m) => !t.members.includes(m)).map((member) => ({ member, cause: causeOf.get(member) ?? ('leave' as const) }));
    const joined = first ? [] : t.members.filter((m) => !before.has(m)).map((member) => ({ member, cause: 'join' as const }));
    const flushMs = this.flushAt !== undefined ? Math.max(0, now - this.flushAt) : undefined;
    const detectionMs =
      this.suspectedAt !== undefined && this.flushAt !== undefined && this.suspectedAt <= this.flushAt ? this.flushAt - this.suspectedAt : undefined;
    this.push({
      at: now,
      kind: 'daemon-view',
      viewId: t.viewId,
      members: t.members,
      joined,
      left,
      ...(detectionMs !== undefined ? { detectionMs } : {}),
      ...(flushMs !== undefined ? { flushMs } : {}),
      ...(t.forced ? { forced: true } : {}),
    });
    if (!first) {
      const times: ViewChangeTimes = { viewId: t.viewId, detectionMs, flushMs, causes: left.map((l) => l.cause) };
      for (const l of this.viewListeners) l(times);
    }
    this.previousMembers = t.members;
    this.suspectedAt = undefined;
    this.flushAt = undefined;
  }

  /** Stepped down: the next view is a fresh start (no durations across it). */
  private reset(): void {
    this.previousMembers = [];
    this.suspectedAt = undefined;
    this.flushAt = undefined;
  }

  private push(entry: Omit<TimelineEntry, 'seq'>): void {
    const e: TimelineEntry = { seq: ++this.seq, ...entry };
    this.entries.push(e);
    if (this.entries.length > TIMELINE_ENTRIES) this.entries.shift();
    for (const l of this.listeners) l(e);
  }
}
