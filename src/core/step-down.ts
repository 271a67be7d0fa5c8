// Stepping down (outside the primary component): what happens to the local clients, and
// what of the group table is kept.
//
// Every local client is expelled from its groups ('partitioned'): pending leaves are
// answered (they happened), requests waiting for a delivery or in the queue fail, and
// deferred joins fail. Joins are kept: they wait for the primary, and a join already
// sent in the lost view (or ordered, its group view not installed yet) is queued again
// as new, with the state-transfer flags it had.
import { chorus } from '../wire/gen/chorus.js';
import type { GroupTable } from './group-table.js';
import { type LocalClients, type LocalEntry, transferKey } from './local-clients.js';
import { entryBytes } from './receive-log.js';

/**
 * Expel every local client of `local` from the groups of `table`. `own`: this daemon's
 * entries of the lost view (sent or stamped), in stream order.
 */
export function expelLocalClients(local: LocalClients, table: GroupTable, own: ReadonlyArray<chorus.IEntry | undefined>): void {
  local.failedJoins.clear();
  for (const { client, request } of local.deferredJoins.values()) {
    local.reply(client, request.req ?? 0, false, 'ERR_NOT_MEMBER', 'expelled: partitioned (join again)');
  }
  local.deferredJoins.clear();
  for (const g of table.sorted()) {
    for (const c of local.localMembers(g)) {
      local.toClient(c.id, { signal: { group: g.name, kind: chorus.GroupSignal.Kind.EXPELLED, reason: 'partitioned' } });
      const leaveReq = c.pendingLeaves.get(g.name);
      if (leaveReq !== undefined) {
        c.pendingLeaves.delete(g.name);
        local.reply(c.id, leaveReq, true);
      }
    }
  }
  for (const c of local.all.values()) {
    for (const [id, req] of c.waitDelivered) local.reply(c.id, req, false, 'ERR_NOT_MEMBER', `expelled before ${id} was delivered`);
    c.waitDelivered.clear();
  }
  // Joins wait for the primary; everything else of the lost membership is dropped.
  const keep: LocalEntry[] = local.pending.filter((e) => e.entry.kind === chorus.Entry.Kind.GROUP_JOIN);
  // A join already sent in this view (or ordered, its group view not installed yet) is
  // lost with the view, and its client still waits for it: send it again (as new).
  const sent = new Map<string, chorus.IEntry>();
  for (const g of table.sorted()) {
    for (const op of g.change?.ops ?? []) {
      if (op.kind === 'join') sent.set(transferKey(g.name, op.member.client), { wantState: op.member.awaitingState, offerState: op.member.offersState });
    }
  }
  for (const e of own) {
    if (e?.kind !== chorus.Entry.Kind.GROUP_JOIN || local.all.get(e.client ?? '')?.pendingJoins.get(e.group ?? '') !== e.clientSeq) continue;
    sent.set(transferKey(e.group ?? '', e.client ?? ''), e);
  }
  for (const c of local.all.values()) {
    for (const [group, req] of c.pendingJoins) {
      if (keep.some((e) => e.entry.client === c.id && e.entry.group === group)) continue;
      const e = sent.get(transferKey(group, c.id));
      const entry: chorus.IEntry = { kind: chorus.Entry.Kind.GROUP_JOIN, group, client: c.id, clientSeq: req };
      if (e?.wantState) entry.wantState = true;
      if (e?.offerState) entry.offerState = true;
      keep.push({ entry, replyTo: undefined });
    }
  }
  for (const e of local.pending) {
    if (e.replyTo) local.reply(e.replyTo.client, e.replyTo.req, false, 'ERR_NOT_MEMBER', 'expelled: partitioned');
  }
  local.pending.length = 0;
  local.pending.push(...keep);
  local.pendingBytes = keep.reduce((sum, e) => sum + entryBytes(e.entry), 0);
}

/**
 * What a daemon keeps of the groups when it steps down: their view ids and seqs, emptied
 * of members, so that a forced primary founded from here continues them instead of
 * starting over (ids never repeat). `table` is not changed.
 */
export function groupsAfterPartition(table: GroupTable): chorus.IGroupTable {
  const kept = table.clone();
  kept.applyBoundary(new Map(kept.sorted().flatMap((g) => g.members.map((m) => [m.daemon, 'partition'] as const))));
  return kept.toProto();
}
