// The client path: between this daemon's local clients and its daemon view.
//
// - client requests go to LocalClients (state-transfer chunks and acknowledgements on to
//   StateTransfer); accepted requests are pumped into the view's outbox as far as the
//   buffer of unstable entries has room;
// - what the group table did when an entry was applied is routed to the local clients:
//   deliveries (and the transfer hold's byte count), `block` and the end-of-view marker
//   when a group change starts, the new group view (with the transfers it starts and the
//   deferred joins it releases);
// - a daemon flush blocks every group with a local member; the install unblocks those
//   whose view did not change.
//
// The component keeps no state of its own (LocalClients and StateTransfer do). It
// reaches the node through a narrow context: the ViewState, the mode, the group table,
// `send`, `trace`, and the install's record of the groups a flush blocked.
import { chorus } from '../wire/gen/chorus.js';
import type { GroupEffect, GroupRecord, GroupTable, GroupViewChange } from './group-table.js';
import { type LocalClients, transferKey } from './local-clients.js';
import type { StateTransfer } from './state-transfer.js';
import type { DaemonId, PeerOutput, TraceEvent } from './types.js';
import type { Mode, ViewState } from './view-state.js';

export interface ClientPathContext {
  readonly selfId: DaemonId;
  readonly vs: ViewState;
  readonly mode: Mode;
  /** This daemon acknowledged a flush of the view. */
  readonly flushing: boolean;
  readonly table: GroupTable;
  /** The operator asked this daemon to leave the cluster (requests are refused). */
  readonly leaveRequested: boolean;
  sendAll(sends: readonly PeerOutput[]): void;
  trace(event: TraceEvent): void;
  /** Group `name` installed a view at the daemon view boundary. */
  groupViewInstalled(name: string): void;
  /** The flush blocked the local members of group `name`. */
  flushBlocked(name: string): void;
}

export class ClientPath {
  constructor(
    private readonly ctx: ClientPathContext,
    private readonly local: LocalClients,
    private readonly transfer: StateTransfer,
    private readonly maxBufferBytes: number,
  ) {}

  // ------------------------------------------------------------------ requests

  onClientRequest(clientId: string, request: chorus.IClientRequest): void {
    const ctx = this.ctx;
    const state = this.local.request(clientId, request, ctx.table, ctx.vs.rlog.retainedBytes, ctx.leaveRequested);
    // A chunk sent during a daemon flush goes on: the transfer is anchored at its group
    // view and the flush does not end it (refused, the SDK would stop, and the joiner stall).
    if (state?.kind === 'chunk') ctx.sendAll(this.transfer.onProviderChunk(state.client, state.req, state.chunk, ctx.mode === 'normal' || ctx.mode === 'flushing'));
    else if (state?.kind === 'ack') ctx.sendAll(this.transfer.onJoinerAck(state.client, state.req, state.ack));
  }

  onClientDisconnect(clientId: string, expelled: boolean): void {
    if (!this.local.disconnect(clientId, expelled, this.ctx.table)) return;
    this.transfer.forgetClient(clientId);
  }

  /** Move accepted requests into the sending stream (see LocalClients.pump), as far as the buffer has room. */
  pump(): boolean {
    const ctx = this.ctx;
    if (ctx.mode !== 'normal' || ctx.flushing || this.local.pending.length === 0) return false;
    const { entries, traces } = this.local.pump(ctx.table, this.maxBufferBytes - ctx.vs.rlog.retainedBytes);
    for (const t of traces) ctx.trace(t);
    for (const e of entries) ctx.vs.outbox.push(e);
    return entries.length > 0;
  }

  /**
   * Report transfers whose provider went silent (see StateTransfer.failStalled), and
   * give up the waits for a provider that lasted as long as their joins allow.
   */
  failStalledTransfers(): void {
    if (this.ctx.mode !== 'normal' || this.ctx.flushing) return;
    for (const t of this.transfer.failStalled()) this.ctx.trace(t);
    this.transfer.giveUpWaits();
  }

  // ------------------------------------------------------------------ group effects

  /** Route what the group table did to the local clients (`deliveredEarly`: the entry was delivered here already). */
  onGroupEffects(effects: readonly GroupEffect[], deliveredEarly = false): void {
    for (const fx of effects) {
      if (fx.kind === 'deliver') {
        if (!deliveredEarly) this.deliver(fx.group, fx.entry, fx.messageId, fx.seq);
      } else if (fx.kind === 'change-started') this.onGroupChangeStarted(fx.group, fx.hosts);
      else if (fx.kind === 'view-installed') this.onGroupViewInstalled(fx.change);
      // 'rejected': reported where the entry was applied (DataPath.deliverThrough)
    }
  }

  /** Deliver an entry to the local members of its group. */
  deliver(g: GroupRecord, entry: chorus.IEntry, id: string, seq: number): void {
    this.local.deliver(g, entry, id, seq);
    this.transfer.delivered(g, entry.data?.length ?? 0);
  }

  private onGroupChangeStarted(g: GroupRecord, hosts: ReadonlySet<string>): void {
    const ctx = this.ctx;
    if (!hosts.has(ctx.selfId.name)) return;
    this.local.signal(g, chorus.GroupSignal.Kind.BLOCK);
    // The marker follows every entry this daemon stamped with the old view. During a
    // daemon flush it is not needed: the daemon view boundary completes the change.
    if (ctx.mode === 'normal' && !ctx.flushing) {
      ctx.vs.outbox.push({ kind: chorus.Entry.Kind.END_OF_VIEW, group: g.name, groupView: g.viewId });
    }
  }

  private onGroupViewInstalled(change: GroupViewChange): void {
    const ctx = this.ctx;
    const g = change.group;
    ctx.groupViewInstalled(g.name);
    const view = this.local.groupViewInstalled(change);
    ctx.trace({ type: 'group-view', group: g.name, viewId: g.viewId, members: view.members!, joined: view.joined!, left: view.left!, leftCauses: change.left.map((l) => l.cause) });
    for (const l of change.left) {
      const key = transferKey(g.name, l.member.client);
      this.transfer.joinerLeft(g.name, l.member.client);
      if (!this.local.failedJoins.delete(key)) continue;
      const retry = this.local.deferredJoins.get(key);
      this.local.deferredJoins.delete(key);
      if (retry !== undefined) this.onClientRequest(retry.client, retry.request);
    }
    ctx.sendAll(this.transfer.dropStale(g, change.transfers));
    for (const plan of change.transfers) ctx.sendAll(this.transfer.start(g, plan));
  }

  // ------------------------------------------------------------------ daemon flush

  /** A daemon flush starts: sends are held until the new view; tell every local member. */
  blockForFlush(): void {
    for (const g of this.ctx.table.sorted()) {
      const local = this.local.localMembers(g);
      if (local.length === 0) continue;
      this.ctx.flushBlocked(g.name);
      for (const c of local) this.local.toClient(c.id, { signal: { group: g.name, kind: chorus.GroupSignal.Kind.BLOCK } });
    }
  }

  /** The new view installed and group `name` kept its view: its local members may send again. */
  unblock(name: string): void {
    const g = this.ctx.table.get(name);
    if (g === undefined) return;
    for (const c of this.local.localMembers(g)) this.local.toClient(c.id, { signal: { group: name, kind: chorus.GroupSignal.Kind.UNBLOCK } });
  }
}
