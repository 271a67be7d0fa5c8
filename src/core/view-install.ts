// Installing the next daemon view: from an Install (of a flush, the founding of view 1,
// a forced primary, or a member that installed it before us) to the new ViewState.
//
// An Install waits as `pending` until the end of the step's round; then this daemon
// either is not in the new view (it leaves if asked to, else steps down), or misses
// entries of the cut (it never accepted the decision: it steps down), or delivers the
// rest of the old view up to the cut, applies the boundary to the group table (departed
// daemons' clients leave their groups), installs the view, unblocks the groups the flush
// blocked whose view did not change, and replays the frames that arrived early for it.
//
// The component owns the pending Install, the last few installed (a member still in an
// older view learns the view it missed from any member that installed it), the frames
// of views not installed yet, and the groups blocked by the flush. It reaches the node
// through a narrow context: the clock, its identity, the ViewState, `send`, and the
// node operations an install needs (applying the cut, the group boundary, installing
// the view, leaving or stepping down, replaying a frame).
import { chorus } from '../wire/gen/chorus.js';
import { invariant } from '../errors.js';
import { type GroupEffect, type GroupTable, type LeaveCause, causeFromProto } from './group-table.js';
import type { DaemonId, DaemonView, PeerKey } from './types.js';
import { peerKey } from './types.js';
import { memberFromProto } from './view-member.js';
import type { Mode, ViewState } from './view-state.js';

/** Installs kept to tell members still in an older view the view they missed. */
const RECENT_INSTALLS = 4;
/**
 * Frames of views not installed yet kept at most, in number and in (estimated) bytes: a
 * peer stamping large frames with a later view id cannot grow the daemon past this. A
 * legitimate frame dropped here is repaired like a lost one (receive vectors, fetch).
 */
const MAX_FUTURE_FRAMES = 10_000;
const MAX_FUTURE_BYTES = 32 * 1024 * 1024;

export interface ViewInstallContext {
  readonly nowMs: number;
  readonly selfId: DaemonId;
  readonly selfKey: PeerKey;
  readonly vs: ViewState;
  readonly mode: Mode;
  readonly table: GroupTable;
  /** The operator asked this daemon to leave the cluster. */
  readonly leaveRequested: boolean;
  send(to: PeerKey, frame: chorus.IPeerFrame): void;
  /** Bootstrap: this daemon agreed to `from` founding view 1. */
  votedFor(from: PeerKey): boolean;
  /** This member holds every entry of the cut (it accepted the decision). */
  holdsCut(cutSeqs: readonly number[]): boolean;
  /** Adopt the final order of the old view and deliver up to the cut. */
  applyCut(orders: readonly chorus.IOrderRange[], cutSeqs: readonly number[]): void;
  /** Joiner: the group table the Install carries. */
  adoptTable(groups: chorus.IGroupTable | null | undefined): void;
  groupEffects(effects: readonly GroupEffect[]): void;
  installView(view: DaemonView, forced: boolean, left: ReadonlyArray<{ key: PeerKey; cause: LeaveCause }>): void;
  /** Tell the local members of group `name` that sends flow again. */
  unblock(name: string): void;
  leaveNow(viewId: number): void;
  stepDown(reason: string): void;
  /** Handle a frame again (one that arrived early for the view now installed). */
  replay(from: PeerKey, frame: chorus.IPeerFrame): void;
}

export class ViewInstall {
  private pending: chorus.IInstall | undefined;
  /** The Install force-primary built (its daemon-view trace says `forced`). */
  private forced: chorus.IInstall | undefined;
  /** Installs this daemon installed lately (newest last). */
  private readonly recent: chorus.IInstall[] = [];
  private readonly pushedMs = new Map<PeerKey, number>();
  private readonly futureFrames: Array<{ from: PeerKey; frame: chorus.IPeerFrame }> = [];
  private futureBytes = 0;
  /** Groups whose local members got `block` when a daemon flush started. */
  private readonly flushBlocked = new Set<string>();
  /** Groups that installed a view at the last daemon view boundary. */
  private readonly boundaryViews = new Set<string>();

  constructor(
    private readonly ctx: ViewInstallContext,
    private readonly heartbeatMs: number,
  ) {}

  /** Install this view at the end of the round (a flush's outcome, a founding, a forced primary). */
  later(install: chorus.IInstall): void {
    this.pending = install;
  }

  /** force-primary built this Install. */
  forcedLater(install: chorus.IInstall): void {
    this.pending = install;
    this.forced = install;
  }

  /** The Install this daemon installed after view `oldViewId`, if it is a recent one. */
  installedAfter(oldViewId: number): chorus.IInstall | undefined {
    return this.recent.find((i) => (i.oldViewId ?? 0) === oldViewId);
  }

  /** The highest of `id` and the view ids this daemon installed lately. */
  maxViewId(id: number): number {
    for (const i of this.recent) id = Math.max(id, i.newViewId ?? 0);
    return id;
  }

  /** The flush blocked the local members of group `name`. */
  blocked(name: string): void {
    this.flushBlocked.add(name);
  }

  /** Group `name` installed a view (at the daemon view boundary, it needs no unblock). */
  groupViewInstalled(name: string): void {
    this.boundaryViews.add(name);
  }

  /** Frames of a view this daemon has not installed yet wait for it. */
  deferIfFuture(from: PeerKey, viewId: number, frame: chorus.IPeerFrame): boolean {
    const view = this.ctx.vs.view;
    if (view === undefined || viewId > view.id) {
      const bytes = estimateFrameBytes(frame);
      if (this.futureFrames.length < MAX_FUTURE_FRAMES && this.futureBytes + bytes <= MAX_FUTURE_BYTES) {
        this.futureFrames.push({ from, frame });
        this.futureBytes += bytes;
      }
      return true;
    }
    return false;
  }

  onInstall(from: PeerKey, install: chorus.IInstall): void {
    const ctx = this.ctx;
    const view = ctx.vs.view;
    if (view === undefined) {
      // Joiner: only an Install that names it matters; a founding view 1 only from the
      // founder this daemon agreed to.
      const named = (install.members ?? []).some((m) => m.id?.name === ctx.selfId.name && m.id?.incarnation === ctx.selfId.incarnation);
      if ((install.oldViewId ?? 0) === 0 && !ctx.votedFor(from)) return;
      // Without the group table (a proposer that completed a view leaving itself out had
      // none to give) a joiner cannot install: it waits to be admitted again.
      if (named && ctx.mode === 'joining' && install.groups != null) this.pending = install;
      return;
    }
    // An Install exists only once every participant of its ballot accepted its decision,
    // so it is the one successor of this view, whoever forwards it (the proposer, a later
    // proposer completing it, or a member that installed it and hears us still in the old view).
    if ((install.oldViewId ?? 0) !== view.id) return;
    this.pending = install;
  }

  /** Tell a member still in an older view the view it missed (its Install was lost). */
  pushInstall(to: PeerKey, oldViewId: number): void {
    const install = this.installedAfter(oldViewId);
    if (install === undefined) return;
    const last = this.pushedMs.get(to) ?? -Infinity;
    if (this.ctx.nowMs - last < 2 * this.heartbeatMs) return;
    this.pushedMs.set(to, this.ctx.nowMs);
    this.ctx.send(to, { install });
  }

  /** Install a pending view once every entry up to its cut is delivered here. */
  maybeInstall(): boolean {
    const ctx = this.ctx;
    const install = this.pending;
    if (install === undefined) return false;
    this.pending = undefined;
    const members = (install.members ?? []).map(memberFromProto);
    const inView = members.some((m) => m.key === ctx.selfKey);
    if (ctx.vs.view !== undefined && !inView) {
      // A view without us (we were excluded, or we leave): its cut was computed without
      // us, so we deliver nothing more of the old view.
      if (ctx.leaveRequested) ctx.leaveNow(install.newViewId ?? 0);
      else ctx.stepDown('excluded from the new view');
      return true;
    }
    if (ctx.vs.view !== undefined && !ctx.holdsCut(install.cutSeqs ?? [])) {
      // A member of the new view that never accepted its decision (a later proposer
      // completed it without us): we cannot deliver its cut, so we leave and rejoin.
      ctx.stepDown(`missing entries of the cut of view ${install.newViewId ?? 0}`);
      return true;
    }
    if (ctx.vs.view !== undefined) {
      ctx.applyCut(install.orders ?? [], install.cutSeqs ?? []);
      if (ctx.mode === 'left') return true;
      const delivered = ctx.vs.nextDeliver - 1;
      invariant(delivered >= (install.lastGlobal ?? 0), `install of view ${install.newViewId ?? 0}: delivered ${delivered} of ${install.lastGlobal ?? 0}`);
    }
    if (ctx.vs.view !== undefined) {
      this.recent.push(install);
      if (this.recent.length > RECENT_INSTALLS) this.recent.shift();
    }
    if (!inView) {
      if (ctx.leaveRequested) ctx.leaveNow(install.newViewId ?? 0);
      else ctx.stepDown('excluded from the new view');
      return true;
    }
    const departed = new Map<string, LeaveCause>();
    const causes = install.leftCauses ?? [];
    const left: Array<{ key: PeerKey; cause: LeaveCause }> = [];
    (install.left ?? []).forEach((id, i) => {
      const cause = causeFromProto(causes[i] ?? chorus.Cause.CAUSE_LEAVE);
      departed.set(id.name ?? '', cause);
      left.push({ key: peerKey({ name: id.name ?? '', incarnation: id.incarnation ?? '' }), cause });
    });
    if (ctx.vs.view === undefined) {
      ctx.adoptTable(install.groups);
    } else {
      this.boundaryViews.clear();
      ctx.groupEffects(ctx.table.applyBoundary(departed));
    }
    const forced = install === this.forced;
    this.forced = undefined;
    ctx.installView({ id: install.newViewId ?? 0, members }, forced, left);
    // Groups blocked by the flush whose view did not change: unblock them now.
    for (const name of this.flushBlocked) {
      if (this.boundaryViews.has(name)) continue;
      ctx.unblock(name);
    }
    this.flushBlocked.clear();
    this.boundaryViews.clear();
    // Frames that arrived early for this view.
    const future = this.futureFrames.splice(0);
    this.futureBytes = 0;
    for (const f of future) ctx.replay(f.from, f.frame);
    return true;
  }

  /** Stepped down: nothing pending, no view installed lately, no frame kept, nothing blocked. */
  steppedDown(): void {
    this.flushBlocked.clear();
    this.pending = undefined;
    this.recent.length = 0;
    this.futureFrames.length = 0;
    this.futureBytes = 0;
  }
}

/** A frame's size for the future-frame bound: its payloads plus a fixed allowance. */
function estimateFrameBytes(frame: chorus.IPeerFrame): number {
  let bytes = 256;
  for (const e of frame.data?.entries ?? []) bytes += 48 + (e.data?.length ?? 0);
  bytes += frame.stateChunk?.data?.length ?? 0;
  bytes += 64 * ((frame.install?.members?.length ?? 0) + (frame.install?.groups?.groups?.length ?? 0) + (frame.order?.ranges?.length ?? 0));
  return bytes;
}
