// StateTransfer: this daemon's side of the transfers of group state to joiners.
//
// A transfer is planned in the replicated group table at a view install (everyone
// picks the same provider); the chunks then travel point to point, provider SDK ->
// its daemon -> the joiner's daemon -> the joiner SDK, outside the ordered stream, and
// the joiner's acknowledgements travel back as credit. Only the end of a transfer
// (STATE_INSTALLED) and a provider's failure (STATE_FAILED) are ordered (queued here as
// local entries). Frames to other daemons are returned as data; client events go to
// the local clients' queue.
//
// Repair: a peer link that breaks loses the frames in flight on it, and chunks and
// acknowledgements are not in the ordered stream that the receive vectors repair. So the
// provider's daemon keeps the chunks it forwarded until the joiner acknowledges them
// (the SDK's window bounds them), and sends them again when its link to the joiner's
// daemon comes back (peer-up); the joiner's daemon passes on chunks strictly in order
// (a copy is dropped, one past a gap waits for the resend) and, on its own peer-up,
// sends the last acknowledgement again. Without this a lost chunk stalled the transfer
// until STATE_STALL_MS (30 s) re-planned it.
import { chorus } from '../wire/gen/chorus.js';
import type { GroupMember, GroupRecord, GroupTable, TransferPlan } from './group-table.js';
import { DEFAULT_STATE_WAIT_MS, type LocalClient, type LocalClients, transferKey } from './local-clients.js';
import type { DaemonView, PeerKey, PeerOutput, TraceEvent } from './types.js';

/** A joiner's daemon holds back delivery only while chunks keep coming (see holding()). */
const HOLD_GRACE_MS = 1000;
/** A transfer without a chunk or an acknowledgement for this long has a silent provider. */
const STATE_STALL_MS = 30_000;
/** StateAck.chunk meaning "this transfer is over here": the provider stops. */
const ABORTED_CHUNK = 0xffffffff;
/**
 * Bytes of chunks kept per transfer for a resend (and of early chunks at the joiner's
 * daemon). The SDK sends at most 8 chunks of 256 KiB ahead of the joiner's credit; a
 * provider that ignores its window gets no repair beyond this (its transfer falls back
 * to the stall detection).
 */
const RESEND_MAX_BYTES = 4 * 1024 * 1024;

/** What the transfers read of the node (never change). */
export interface TransferContext {
  readonly nowMs: number;
  readonly view: DaemonView | undefined;
  readonly table: GroupTable;
}

interface Installing {
  readonly group: string;
  readonly joiner: string;
  readonly transfer: number;
  bytes: number;
  lastChunkMs: number;
  /** The index of the next chunk to pass on to the joiner (chunks are numbered from 0). */
  nextChunk: number;
  /** The joiner's last acknowledgement, sent again when the link to its provider comes back. */
  lastAck: chorus.IStateAck | undefined;
}

/** Chunks a local provider sent to a joiner on another daemon, not acknowledged yet. */
interface Forwarded {
  readonly group: string;
  readonly joiner: string;
  readonly provider: string;
  readonly transfer: number;
  /** The joiner's daemon. */
  to: PeerKey;
  readonly chunks: chorus.IStateChunk[];
  bytes: number;
}

function forwardedKey(group: string, joiner: string, provider: string): string {
  return `${transferKey(group, joiner)}\u0000${provider}`;
}

export class StateTransfer {
  /** Chunks that came before this daemon installed the view of their transfer, by transferKey(group, joiner). */
  readonly earlyChunks = new Map<string, { group: string; joiner: string; transfer: number; chunks: chorus.IStateChunk[]; bytes: number }>();
  /** Local joiners installing state, by transferKey(group, joiner). */
  readonly installing = new Map<string, Installing>();
  /**
   * Local joiners whose SDK installed a state (its join completed) while the table still
   * has them waiting for one (STATE_INSTALLED is on its way): plans made meanwhile for
   * them (a new transfer, a wait) are over already.
   */
  readonly installedHere = new Set<string>();
  /** Local joiners waiting for a member that provides, by transferKey(group, joiner): until when. */
  readonly waiting = new Map<string, { readonly group: string; readonly joiner: string; readonly untilMs: number }>();
  /** Chunks of local providers not acknowledged yet, by forwardedKey(group, joiner, provider). */
  readonly forwarded = new Map<string, Forwarded>();
  private sends: PeerOutput[] = [];

  constructor(
    private readonly ctx: TransferContext,
    private readonly local: LocalClients,
    /** This daemon's name (the same in every incarnation). */
    private readonly self: string,
    private readonly maxBufferBytes: number,
  ) {}

  /** A transfer planned at the install of group view `g` (every daemon runs the same plan). */
  start(g: GroupRecord, plan: TransferPlan): PeerOutput[] {
    this.startTransfer(g, plan);
    return this.takeSends();
  }

  /** Provider SDK -> here: forward a chunk to the joiner's daemon (or report a failed provide()). */
  onProviderChunk(c: LocalClient, req: number, chunk: chorus.IStateChunk, normal: boolean): PeerOutput[] {
    const group = chunk.group ?? '';
    const joinerId = chunk.joiner ?? '';
    const transfer = chunk.transfer ?? 0;
    const joiner = this.currentTransfer(group, joinerId, c.id, transfer);
    if (joiner === undefined || !normal) {
      this.local.reply(c.id, req, false, 'ERR_STATE_ABORTED', `the transfer of ${group} to ${joinerId} at view ${transfer} is over`);
      return this.takeSends();
    }
    if ((chunk.errorCode ?? '') !== '') {
      this.local.queue({ kind: chorus.Entry.Kind.STATE_FAILED, group, client: c.id, joiner: joinerId, groupView: transfer }, undefined);
      this.local.reply(c.id, req, true);
      return this.takeSends();
    }
    const frame: chorus.IStateChunk = { ...chunk, provider: c.id };
    if (joiner.daemon === this.self) this.chunk(frame);
    else {
      const key = this.daemonKey(joiner.daemon);
      if (key === undefined) {
        this.local.reply(c.id, req, false, 'ERR_STATE_ABORTED', `the daemon of ${joinerId} is gone`);
        return this.takeSends();
      }
      this.sends.push({ to: key, frame: { stateChunk: frame } });
      this.keep(key, frame);
    }
    this.local.reply(c.id, req, true);
    return this.takeSends();
  }

  /** Keeps `frame` (sent to daemon `to`) until its joiner acknowledges it, for a resend. */
  private keep(to: PeerKey, frame: chorus.IStateChunk): void {
    const group = frame.group ?? '';
    const joiner = frame.joiner ?? '';
    const provider = frame.provider ?? '';
    const transfer = frame.transfer ?? 0;
    const k = forwardedKey(group, joiner, provider);
    let f = this.forwarded.get(k);
    if (f === undefined || f.transfer !== transfer) {
      f = { group, joiner, provider, transfer, to, chunks: [], bytes: 0 };
      this.forwarded.set(k, f);
    }
    f.to = to;
    f.chunks.push(frame);
    f.bytes += frame.data?.length ?? 0;
    while (f.bytes > RESEND_MAX_BYTES && f.chunks.length > 0) f.bytes -= f.chunks.shift()!.data?.length ?? 0;
  }

  /**
   * The link to daemon `peer` came back (frames in flight on the old one may be lost):
   * send again the chunks of local providers its joiners have not acknowledged, and the
   * last acknowledgements of local joiners whose provider is there.
   */
  onPeerUp(peer: PeerKey): PeerOutput[] {
    for (const [k, f] of this.forwarded) {
      if (f.to !== peer) continue;
      if (this.currentTransfer(f.group, f.joiner, f.provider, f.transfer) === undefined) {
        this.forwarded.delete(k);
        continue;
      }
      for (const chunk of f.chunks) this.sends.push({ to: peer, frame: { stateChunk: chunk } });
    }
    for (const t of this.installing.values()) {
      if (t.lastAck === undefined) continue;
      const provider = this.ctx.table.get(t.group)?.members.find((m) => m.client === (t.lastAck!.provider ?? ''));
      if (provider !== undefined && provider.daemon !== this.self && this.daemonKey(provider.daemon) === peer) {
        this.sends.push({ to: peer, frame: { stateAck: t.lastAck } });
      }
    }
    return this.takeSends();
  }

  /** A chunk from a provider's daemon, for a local joiner. */
  onStateChunk(chunk: chorus.IStateChunk): PeerOutput[] {
    this.chunk(chunk);
    return this.takeSends();
  }

  /** Joiner SDK -> here: credit for the provider, or the end of the transfer. */
  onJoinerAck(c: LocalClient, req: number, ack: chorus.IStateAck): PeerOutput[] {
    const group = ack.group ?? '';
    const key = transferKey(group, c.id);
    const t = this.installing.get(key);
    this.local.reply(c.id, req, true);
    const transfer = ack.transfer ?? 0;
    if (ack.installed && (t === undefined || t.transfer !== transfer)) {
      // The SDK installed transfer `transfer` (its join completed) after this daemon
      // moved on: its provider went and a re-plan started another transfer or a wait.
      // The state it installed is still the group's state at that view, with every
      // message since: the table is told, and the plans made meanwhile are over.
      const m = this.ctx.table.get(group)?.members.find((x) => x.client === c.id);
      if (m?.awaitingState && transfer > 0 && transfer <= (this.ctx.table.get(group)?.viewId ?? 0) && !this.installedHere.has(key)) {
        this.installed(group, c.id, transfer);
      }
      return this.takeSends();
    }
    if (t === undefined || t.transfer !== transfer) return this.takeSends();
    t.lastChunkMs = this.ctx.nowMs;
    if (ack.installed) this.installed(group, c.id, transfer);
    t.lastAck = { ...ack, joiner: c.id, installed: false };
    this.routeAck(t.lastAck);
    return this.takeSends();
  }

  /** Local `joiner`'s SDK installed the state of view `transfer`: the table is told (STATE_INSTALLED), and any plan for it is over here. */
  private installed(group: string, joiner: string, transfer: number): void {
    const key = transferKey(group, joiner);
    this.installedHere.add(key);
    this.installing.delete(key);
    this.waiting.delete(key);
    this.local.queue({ kind: chorus.Entry.Kind.STATE_INSTALLED, group, client: joiner, groupView: transfer }, undefined);
  }

  /** Credit for a local provider. */
  onStateAck(ack: chorus.IStateAck): void {
    const provider = ack.provider ?? '';
    const f = this.forwarded.get(forwardedKey(ack.group ?? '', ack.joiner ?? '', provider));
    if (f !== undefined && f.transfer === (ack.transfer ?? 0)) {
      const upTo = ack.chunk ?? 0;
      if (upTo === ABORTED_CHUNK) this.forwarded.delete(forwardedKey(f.group, f.joiner, provider));
      else {
        let done = false;
        while (f.chunks.length > 0 && (f.chunks[0]!.chunk ?? 0) <= upTo) {
          const c = f.chunks.shift()!;
          f.bytes -= c.data?.length ?? 0;
          done ||= c.last === true;
        }
        if (done) this.forwarded.delete(forwardedKey(f.group, f.joiner, provider));
      }
    }
    if (!this.local.has(provider)) return;
    this.local.toClient(provider, { stateAck: { group: ack.group ?? '', joiner: ack.joiner ?? '', transfer: ack.transfer ?? 0, chunk: ack.chunk ?? 0 } });
  }

  /** Joiner `client` left `group`: its transfer (if any) is over. */
  joinerLeft(group: string, client: string): void {
    this.installing.delete(transferKey(group, client));
    this.waiting.delete(transferKey(group, client));
    this.installedHere.delete(transferKey(group, client));
  }

  /** Client `client` disconnected: forget its transfers. */
  forgetClient(client: string): void {
    for (const [k, t] of this.installing) if (t.joiner === client) this.installing.delete(k);
    for (const [k, f] of this.forwarded) if (f.provider === client) this.forwarded.delete(k);
    for (const [k, w] of this.waiting) if (w.joiner === client) this.waiting.delete(k);
    for (const k of this.installedHere) if (k.endsWith(`\u0000${client}`)) this.installedHere.delete(k);
    for (const [k, e] of this.earlyChunks) if (e.joiner === client) this.earlyChunks.delete(k);
  }

  /**
   * Drops the chunks kept for transfers that are over: one that ended by STATE_INSTALLED
   * whose last acknowledgement a broken link lost would keep them until the group's next
   * view. Run at the end of every step while any are kept (a few entries at most).
   */
  sweepForwarded(): void {
    for (const [k, f] of this.forwarded) if (this.currentTransfer(f.group, f.joiner, f.provider, f.transfer) === undefined) this.forwarded.delete(k);
  }

  /** Outside the primary component: every transfer here is over. */
  reset(): void {
    this.installing.clear(); // joiners are expelled with everyone else
    this.waiting.clear();
    this.installedHere.clear();
    this.earlyChunks.clear();
    this.forwarded.clear();
  }

  /**
   * Group view `g` installed here with these transfer plans: early chunks that wait for
   * this view or an earlier one and whose transfer the plan here did not start are for
   * a transfer that is over (their provider is told to stop). Chunks kept for a resend
   * of a transfer in `g` that is over are dropped.
   */
  dropStale(g: GroupRecord, plans: readonly TransferPlan[]): PeerOutput[] {
    for (const [k, f] of this.forwarded) {
      if (f.group === g.name && this.currentTransfer(f.group, f.joiner, f.provider, f.transfer) === undefined) this.forwarded.delete(k);
    }
    for (const [k, early] of this.earlyChunks) {
      // This daemon is now at or past the view those chunks wait for: if the plan here
      // did not start that transfer, they are for one that is over.
      if (early.group !== g.name || early.transfer > g.viewId) continue;
      if (plans.some((p) => p.kind === 'begin' && p.transfer === early.transfer && p.joiner.client === early.joiner)) continue;
      this.earlyChunks.delete(k);
      this.routeAck({ group: g.name, joiner: early.joiner, provider: early.chunks[0]!.provider ?? '', transfer: early.transfer, chunk: ABORTED_CHUNK });
    }
    return this.takeSends();
  }

  /** A delivery of `bytes` in group `g`: counts toward the hold of its local members installing state. */
  delivered(g: GroupRecord, bytes: number): void {
    if (this.installing.size === 0) return;
    for (const m of g.members) {
      if (!m.awaitingState || m.daemon !== this.self || !this.local.has(m.client)) continue;
      const t = this.installing.get(transferKey(g.name, m.client));
      if (t !== undefined) t.bytes += bytes;
    }
  }

  /**
   * A transfer that made no progress (no chunk, no acknowledgement of the joiner) for
   * STATE_STALL_MS: its provider is alive but silent (stuck in provide(), or its SDK
   * lost the checkpoint). Report it as failed, so another member provides. Returns the
   * `state-stalled` traces.
   */
  failStalled(): TraceEvent[] {
    const traces: TraceEvent[] = [];
    const now = this.ctx.nowMs;
    for (const t of this.installing.values()) {
      if (now - t.lastChunkMs < STATE_STALL_MS) continue;
      const joiner = t.joiner;
      const m = this.ctx.table.get(t.group)?.members.find((x) => x.client === joiner);
      t.lastChunkMs = now; // once per stall period
      if (m === undefined || !m.awaitingState || m.transfer !== t.transfer) continue;
      traces.push({ type: 'state-stalled', group: t.group, joiner, provider: m.provider, transfer: t.transfer });
      this.local.queue({ kind: chorus.Entry.Kind.STATE_FAILED, group: t.group, client: m.provider, joiner, groupView: t.transfer }, undefined);
    }
    return traces;
  }

  /**
   * Local joiners that waited for a provider as long as their join allows: the join
   * fails with ERR_NO_STATE_PROVIDER and this daemon takes the joiner out of the group
   * (a transfer planned meanwhile is ignored here, see startTransfer).
   */
  giveUpWaits(): void {
    const now = this.ctx.nowMs;
    for (const [key, w] of this.waiting) {
      if (now < w.untilMs) continue;
      this.waiting.delete(key);
      const m = this.ctx.table.get(w.group)?.members.find((x) => x.client === w.joiner);
      if (m === undefined || !m.awaitingState || m.provider !== '' || !this.local.has(w.joiner)) continue;
      this.failJoin(w.group, w.joiner, `no member of ${w.group} provided its state within the join's wait`);
    }
  }

  /** The join of local `joiner` fails with ERR_NO_STATE_PROVIDER, and it is taken out of `group`. */
  private failJoin(group: string, joiner: string, why: string): void {
    this.waiting.delete(transferKey(group, joiner));
    this.local.toClient(joiner, { state: { group, kind: chorus.StateTransfer.Kind.FAILED, errorCode: 'ERR_NO_STATE_PROVIDER', errorMessage: why } });
    // The joiner is in the view: take it out again (others see it leave). A join it
    // sends meanwhile waits for that leave (see LocalClients.request).
    this.local.failedJoins.add(transferKey(group, joiner));
    this.local.queue({ kind: chorus.Entry.Kind.GROUP_LEAVE, group, client: joiner }, undefined);
  }

  /**
   * While a local joiner installs state, its new messages wait in its SDK. Past a bound,
   * this daemon holds back delivery (which slows every sender of the cluster through the
   * bounded buffers) until the install finishes — unless the transfer stalls, so that a
   * provider failure can still be ordered and answered.
   */
  holding(): boolean {
    for (const t of this.installing.values()) {
      if (t.bytes > this.maxBufferBytes / 4 && this.ctx.nowMs - t.lastChunkMs < HOLD_GRACE_MS) return true;
    }
    return false;
  }

  /** The earliest of `wake` and the times a hold ends or a transfer stalls. */
  nextWakeMs(wake: number): number {
    for (const w of this.waiting.values()) wake = Math.min(wake, w.untilMs);
    // A hold ends by itself when its transfer stalls.
    for (const t of this.installing.values()) {
      if (t.lastChunkMs + HOLD_GRACE_MS > this.ctx.nowMs) wake = Math.min(wake, t.lastChunkMs + HOLD_GRACE_MS);
      wake = Math.min(wake, t.lastChunkMs + STATE_STALL_MS);
    }
    return wake;
  }

  private takeSends(): PeerOutput[] {
    const sends = this.sends;
    this.sends = [];
    return sends;
  }

  private startTransfer(g: GroupRecord, plan: TransferPlan): void {
    const joiner = plan.joiner;
    const local = joiner.daemon === this.self && this.local.has(joiner.client);
    const key = transferKey(g.name, joiner.client);
    // The joiner's SDK installed a state already (STATE_INSTALLED is on its way), or this
    // daemon gave up for it (its leave is on the way): nothing more to start for it here.
    if (local && (this.installedHere.has(key) || this.local.failedJoins.has(key))) return;
    if (plan.kind === 'wait') {
      if (!local) return;
      // A transfer under way (its provider went) is over; the next begins at a later view.
      this.installing.delete(key);
      if (this.local.get(joiner.client)!.protocol < 2) {
        // An SDK of client protocol 1 does not know WAIT: its join fails at once, as it did.
        this.failJoin(g.name, joiner.client, `no member of ${g.name} can provide its state`);
        return;
      }
      if (!this.waiting.has(key)) {
        const waitMs = this.local.get(joiner.client)?.stateWaitMs.get(g.name) ?? DEFAULT_STATE_WAIT_MS;
        this.waiting.set(key, { group: g.name, joiner: joiner.client, untilMs: this.ctx.nowMs + waitMs });
      }
      this.local.toClient(joiner.client, { state: { group: g.name, kind: chorus.StateTransfer.Kind.WAIT } });
      return;
    }
    this.waiting.delete(key);
    if (plan.kind === 'none') {
      if (local) this.local.toClient(joiner.client, { state: { group: g.name, kind: chorus.StateTransfer.Kind.NONE } });
      return;
    }
    const provider = plan.provider;
    if (provider.daemon === this.self && this.local.has(provider.client)) {
      // Right after the view event, before any message of the view: the checkpoint.
      this.local.toClient(provider.client, { checkpoint: { group: g.name, joiner: joiner.client, transfer: plan.transfer } });
    }
    if (local) {
      this.installing.set(key, { group: g.name, joiner: joiner.client, transfer: plan.transfer, bytes: 0, lastChunkMs: this.ctx.nowMs, nextChunk: 0, lastAck: undefined });
      this.local.toClient(joiner.client, {
        state: { group: g.name, kind: chorus.StateTransfer.Kind.BEGIN, transfer: plan.transfer, provider: provider.client },
      });
      const early = this.earlyChunks.get(key);
      this.earlyChunks.delete(key);
      if (early !== undefined && early.transfer === plan.transfer) for (const c of early.chunks) this.chunk(c);
    }
  }

  /** The transfer `chunk` belongs to is the current one of its joiner (per the table). */
  private currentTransfer(group: string, joiner: string, provider: string, transfer: number): GroupMember | undefined {
    const m = this.ctx.table.get(group)?.members.find((x) => x.client === joiner);
    if (m === undefined || !m.awaitingState || m.provider !== provider || m.transfer !== transfer) return undefined;
    return m;
  }

  private daemonKey(name: string): PeerKey | undefined {
    return this.ctx.view?.members.find((m) => m.id.name === name)?.key;
  }

  /** A chunk for a local joiner. Chunks of a transfer that is over are dropped. */
  private chunk(chunk: chorus.IStateChunk): void {
    const group = chunk.group ?? '';
    const joiner = chunk.joiner ?? '';
    const t = this.installing.get(transferKey(group, joiner));
    const transfer = chunk.transfer ?? 0;
    if ((t === undefined || t.transfer < transfer) && transfer > (this.ctx.table.get(group)?.viewId ?? 0) && this.local.has(joiner)) {
      // The provider's daemon installed the view first (a first transfer, or a re-plan
      // while an older one runs here): keep the chunk until this daemon installs it too
      // and starts the transfer. A copy (resent after a broken link) is kept once, and
      // the bytes kept are bounded (past the bound the transfer stalls and is re-planned).
      const key = transferKey(group, joiner);
      const early = this.earlyChunks.get(key);
      if (early === undefined || early.transfer !== transfer) this.earlyChunks.set(key, { group, joiner, transfer, chunks: [chunk], bytes: chunk.data?.length ?? 0 });
      else if (!early.chunks.some((c) => (c.chunk ?? 0) === (chunk.chunk ?? 0)) && early.bytes < RESEND_MAX_BYTES) {
        early.chunks.push(chunk);
        early.bytes += chunk.data?.length ?? 0;
      }
      return;
    }
    if (t === undefined || t.transfer !== transfer || !this.local.has(joiner)) {
      // Tell the provider at once, so it does not wait for credit that never comes.
      this.routeAck({ group, joiner, provider: chunk.provider ?? '', transfer: chunk.transfer ?? 0, chunk: ABORTED_CHUNK });
      return;
    }
    const index = chunk.chunk ?? 0;
    if (index !== t.nextChunk) {
      // A copy (sent again after a broken link) is dropped, and its provider hears the
      // last acknowledgement again (the one it waits for may be what the link lost). A
      // chunk past a gap is dropped too: the lost one and those after it come again, in
      // order, once the provider's link to this daemon is back.
      if (index < t.nextChunk && t.lastAck !== undefined) this.routeAck(t.lastAck);
      return;
    }
    t.nextChunk = index + 1;
    t.lastChunkMs = this.ctx.nowMs;
    this.local.toClient(joiner, {
      state: {
        group,
        kind: chorus.StateTransfer.Kind.CHUNK,
        transfer: t.transfer,
        provider: chunk.provider ?? '',
        chunk: chunk.chunk ?? 0,
        data: chunk.data ?? new Uint8Array(0),
        last: chunk.last === true,
      },
    });
  }

  private routeAck(ack: chorus.IStateAck): void {
    const provider = this.ctx.table.get(ack.group ?? '')?.members.find((m) => m.client === (ack.provider ?? ''));
    if (provider === undefined) return;
    if (provider.daemon === this.self) this.onStateAck(ack);
    else {
      const key = this.daemonKey(provider.daemon);
      if (key !== undefined) this.sends.push({ to: key, frame: { stateAck: ack } });
    }
  }
}
