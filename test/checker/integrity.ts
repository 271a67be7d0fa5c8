// Guarantee 3, integrity: a member delivers a message at most once, and only if some
// member sent it — with the sender, group and order of that send. Message ids are
// unique in the cluster, so "at most once" holds per member across its sessions.
import type { HistoryEvent } from './history.js';
import { indexHistory, type HistoryIndex } from './history-index.js';
import { violation, type Violation } from './violation.js';

export interface IntegrityOptions {
  /**
   * Whether a delivery needs a recorded send. `true` (default): always. `'per-sender'`:
   * only when the history holds some send of that sender (for partial histories, where
   * some processes' logs are missing). `false`: never.
   */
  readonly requireSends?: boolean | 'per-sender';
}

export function checkIntegrity(events: readonly HistoryEvent[], options: IntegrityOptions = {}): Violation[] {
  return integrity(indexHistory(events), options);
}

export function integrity(index: HistoryIndex, options: IntegrityOptions = {}): Violation[] {
  const out: Violation[] = [];
  const requireSends = options.requireSends ?? true;
  const senders = new Set(index.sends.map((s) => s.event.member));

  const firstSend = new Map<string, HistoryEvent>();
  for (const s of index.sends) {
    const earlier = firstSend.get(s.event.id);
    if (earlier === undefined) firstSend.set(s.event.id, s.event);
    else {
      out.push(
        violation(3, 'unique-id', `message id ${s.event.id} was sent twice (by ${s.event.member} in group "${s.event.group}")`, [
          earlier,
          s.event,
        ]),
      );
    }
  }

  const firstDelivery = new Map<string, HistoryEvent>();
  for (const d of index.deliveries) {
    const e = d.event;
    if (!d.first) {
      out.push(
        violation(
          3,
          'at-most-once',
          `group "${e.group}": ${e.member} delivered message ${e.id} (from ${e.sender}) more than once`,
          [firstDelivery.get(`${e.member}\u0000${e.id}`), e],
        ),
      );
      continue;
    }
    firstDelivery.set(`${e.member}\u0000${e.id}`, e);
    const send = index.sendById.get(e.id)?.event;
    if (send === undefined) {
      const required = requireSends === true || (requireSends === 'per-sender' && senders.has(e.sender));
      if (required) {
        out.push(
          violation(3, 'no-send', `group "${e.group}": ${e.member} delivered message ${e.id} from ${e.sender}, which nobody sent`, [e]),
        );
      }
      continue;
    }
    const wrong: string[] = [];
    if (send.member !== e.sender) wrong.push(`sender ${e.sender} instead of ${send.member}`);
    if (send.group !== e.group) wrong.push(`group "${e.group}" instead of "${send.group}"`);
    if (send.order !== e.order) wrong.push(`order ${e.order} instead of ${send.order}`);
    if (wrong.length > 0) {
      out.push(
        violation(3, 'matches-send', `${e.member} delivered message ${e.id} with ${wrong.join(', ')}`, [send, e]),
      );
    }
  }
  return out;
}
