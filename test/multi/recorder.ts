// Records what a real SDK client sees, in the checker's history format
// (test/checker/history.ts), so real-process runs are checked like simulator runs.
import type { Group, Message, View } from '../../client-sdk/index.js';
import type { HistoryEvent } from '../checker/history.js';
import { wallClockMs } from '../../daemon/wall-clock.js';

/** Same clock as the daemons' event logs (daemon/wall-clock.ts): sub-ms wall-clock time. */
function now(): number {
  return wallClockMs();
}

export class HistoryRecorder {
  readonly events: HistoryEvent[] = [];

  /** Record a group handle from the moment join() resolved (its first view). */
  attach(member: string, group: Group): void {
    this.view(member, group.name, group.view);
    group.on('view', (v) => this.view(member, group.name, v));
    group.on('message', (m) => this.deliver(member, group.name, m));
    group.on('expelled', (reason) => this.events.push({ type: 'expelled', t: now(), member, group: group.name, reason }));
  }

  crash(member: string): void {
    this.events.push({ type: 'crash', t: now(), member });
  }

  private view(member: string, group: string, v: View): void {
    this.events.push(groupViewEvent(member, group, v, now()));
  }

  private deliver(member: string, group: string, m: Message): void {
    this.events.push({ type: 'deliver', t: now(), member, group, id: m.id, sender: m.sender, order: m.order, viewId: m.viewId, seq: m.seq });
  }
}

/** A group view an SDK member installed, as the checker's history event. */
export function groupViewEvent(member: string, group: string, v: View, t: number): HistoryEvent {
  return { type: 'group-view', t, member, group, viewId: v.id, members: v.members, joined: v.joined, left: v.left, causes: v.causes };
}
