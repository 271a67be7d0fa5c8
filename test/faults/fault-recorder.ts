// Records what real SDK clients see, in the checker's history format
// (test/checker/history.ts), like test/multi/recorder.ts, plus what the fault tests need:
// a client that is killed records nothing after its `crash` (a dead process sees
// nothing), state transfers (`transfer` events), leaves, and the ids each multicast
// was accepted with (to check that nothing a surviving member sent was lost).
import type { Group, Message, View } from '../../client-sdk/index.js';
import type { HistoryEvent } from '../checker/history.js';
import { groupViewEvent } from '../multi/recorder.js';
import { wallClockMs } from '../../daemon/wall-clock.js';

/** Same clock as the daemons' event logs: sub-ms wall-clock time (daemon/wall-clock.ts). */
export { wallClockMs };

export interface AcceptedMulticast {
  readonly t: number;
  readonly member: string;
  readonly group: string;
  readonly id: string;
}

export class FaultRecorder {
  readonly events: HistoryEvent[] = [];
  readonly accepted: AcceptedMulticast[] = [];
  /** Members whose process is dead (crash recorded): their later events are dropped. */
  readonly #dead = new Set<string>();
  /** member → group → ids delivered in the current session. */
  readonly #delivered = new Map<string, Map<string, Set<string>>>();
  deliveries = 0;

  /**
   * Record a group handle from the moment join() resolved (its first view). With
   * `transfer`, the member installed state before that view: the ids the state holds.
   */
  attach(member: string, group: Group, transfer?: readonly string[]): void {
    if (this.#dead.has(member)) return;
    this.#sessionDelivered(member, group.name).clear();
    if (transfer !== undefined) {
      this.events.push({ type: 'transfer', t: wallClockMs(), member, group: group.name, viewId: group.view.id, contents: [...transfer] });
    }
    this.#view(member, group.name, group.view);
    group.on('view', (v) => this.#view(member, group.name, v));
    group.on('message', (m) => this.#deliver(member, group.name, m));
    group.on('expelled', (reason) => {
      if (this.#dead.has(member)) return;
      this.events.push({ type: 'expelled', t: wallClockMs(), member, group: group.name, reason });
    });
  }

  /** The member left `group` on purpose (after leave() resolved: no event follows). */
  leave(member: string, group: string): void {
    if (this.#dead.has(member)) return;
    this.events.push({ type: 'leave', t: wallClockMs(), member, group });
  }

  /** The client is gone (killed, or its daemon died): every session ends here. */
  crash(member: string): void {
    if (this.#dead.has(member)) return;
    this.#dead.add(member);
    this.events.push({ type: 'crash', t: wallClockMs(), member });
  }

  isDead(member: string): boolean {
    return this.#dead.has(member);
  }

  multicastAccepted(member: string, group: string, id: string): void {
    if (this.#dead.has(member)) return;
    this.accepted.push({ t: wallClockMs(), member, group, id });
  }

  /** Ids `member` delivered in its current session of `group`. */
  deliveredIn(member: string, group: string): ReadonlySet<string> {
    return this.#sessionDelivered(member, group);
  }

  /** Forget what was recorded (the soak checks one round at a time). */
  clear(): void {
    this.events.length = 0;
    this.accepted.length = 0;
    this.#delivered.clear();
  }

  #sessionDelivered(member: string, group: string): Set<string> {
    let groups = this.#delivered.get(member);
    if (groups === undefined) this.#delivered.set(member, (groups = new Map()));
    let ids = groups.get(group);
    if (ids === undefined) groups.set(group, (ids = new Set()));
    return ids;
  }

  #view(member: string, group: string, v: View): void {
    if (this.#dead.has(member)) return;
    this.events.push(groupViewEvent(member, group, v, wallClockMs()));
  }

  #deliver(member: string, group: string, m: Message): void {
    if (this.#dead.has(member)) return;
    this.deliveries++;
    this.#sessionDelivered(member, group).add(m.id);
    this.events.push({ type: 'deliver', t: wallClockMs(), member, group, id: m.id, sender: m.sender, order: m.order, viewId: m.viewId, seq: m.seq });
  }
}
