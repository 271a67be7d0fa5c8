// The boundary between the network and the protocol core: every peer frame is checked
// against what the receiving daemon knows before the core acts on it (issue 10, must-
// haves 1 and 2). Chorus tolerates crashes, not lies, but no frame — authenticated or
// not — may crash a daemon, make it index outside its arrays, or act for another daemon.
//
// `checkPeerFrame` is pure: it reads a snapshot of the receiver's state (GuardContext)
// and answers the reason to drop the frame, or undefined to let the core have it. The
// core then drops the frame and emits a `frame-rejected` trace, which the daemon counts
// (`chorus_peer_frames_rejected_total{reason}`), logs (rate-limited) and answers by
// disconnecting a peer that keeps doing it.
//
// Only what an honest daemon never sends is rejected: frames of older views, repeats
// and frames a race makes useless are left to the core, which ignores them (a peer is
// never disconnected for being late). A frame of a later view than the receiver's is
// checked for what does not depend on that view; it waits in the core's future queue
// and comes through here again, against the view it names, once that is installed.
import type { chorus } from '../wire/gen/chorus.js';
import { peerKey, type DaemonId, type DaemonView, type PeerKey } from './types.js';

/** Why a frame was dropped: the `reason` label of the rejection counter (a bounded set). */
export type RejectReason =
  /** A count, seq or global seq that is not a non-negative safe integer (NaN, Infinity, -1, 2^60). */
  | 'not-finite'
  /** An index (sender, origin, holder, suspect) outside the view it refers to. */
  | 'index-out-of-range'
  /** A per-member list whose length is not the view's size. */
  | 'bad-length'
  /** A member list naming a daemon twice, or a member without name or incarnation. */
  | 'bad-members'
  /** A view id, ballot counter or attempt too far ahead (or one that would wrap). */
  | 'view-out-of-window'
  /** Values that contradict each other or what the receiver knows (an order with a gap). */
  | 'implausible'
  /** A list longer than any honest frame holds. */
  | 'too-large'
  /** A view-change frame from a daemon outside the view it is about. */
  | 'not-member'
  /** A frame about daemon X from another daemon (a ballot, ForceQuery). */
  | 'impersonation'
  /**
   * A Join or Leave request about daemon X from another daemon that is not a member of the
   * receiver's view: a stranger speaking for X, or a former member forwarding X's request
   * in a race (its view is older). Dropped and counted, never held against the sender.
   */
  | 'forward-from-non-member'
  /** An ordered DATA entry for a group that does not exist, or from a non-member (group table). */
  | 'unknown-group';

export const REJECT_REASONS: readonly RejectReason[] = [
  'not-finite',
  'index-out-of-range',
  'bad-length',
  'bad-members',
  'view-out-of-window',
  'implausible',
  'too-large',
  'not-member',
  'impersonation',
  'forward-from-non-member',
  'unknown-group',
];

/** Reasons an honest daemon may cause in a race: counted, but not logged as warnings nor answered by a disconnect. */
export const RACY_REASONS: ReadonlySet<RejectReason> = new Set<RejectReason>(['forward-from-non-member']);

/** A ballot as the core keeps it. */
export interface GuardBallot {
  readonly counter: number;
  readonly proposer: DaemonId;
}

/** Read-only view of what the receiving daemon knows. */
export interface GuardContext {
  readonly selfKey: PeerKey;
  /** The installed daemon view (undefined while joining). */
  readonly view: DaemonView | undefined;
  /** Highest global seq delivered here. */
  readonly delivered: number;
  /** The flush this daemon takes part in, if any (its current ballot). */
  readonly flush: { readonly ballot: GuardBallot; readonly oldViewId: number } | undefined;
  /** The view change this daemon proposes, if any. */
  readonly proposal: { readonly ballot: GuardBallot; readonly participants: readonly PeerKey[] } | undefined;
}

/** How far ahead of the installed view a frame's view id may be (ids grow by one per change). */
export const VIEW_WINDOW = 1000;
/** View ids and ballot counters stay below this: `+ 1` never wraps the uint32 on the wire. */
export const MAX_WIRE_ID = 2 ** 31;
/** Daemons in one view, and names in one list of daemons. */
export const MAX_MEMBERS = 1024;
/** Longest daemon name, incarnation or advertised address. */
export const MAX_ID_CHARS = 512;

// ---------------------------------------------------------------- helpers

type Check = RejectReason | undefined;

const indexCache = new WeakMap<DaemonView, Map<PeerKey, number>>();

/** Index of `key` in `view` (-1 if absent), with a per-view map (views are immutable). */
export function indexIn(view: DaemonView | undefined, key: PeerKey): number {
  if (view === undefined) return -1;
  let map = indexCache.get(view);
  if (map === undefined) {
    map = new Map(view.members.map((m, i) => [m.key, i]));
    indexCache.set(view, map);
  }
  return map.get(key) ?? -1;
}

/** A 64-bit counter carried as a double: absent, or an exact non-negative integer. */
function seqOk(x: number | null | undefined): boolean {
  return x === undefined || x === null || (Number.isSafeInteger(x) && x >= 0);
}

/** A uint32 field: absent, or an integer in [0, 2^32). */
function u32Ok(x: number | null | undefined): boolean {
  return x === undefined || x === null || (Number.isInteger(x) && x >= 0 && x <= 0xffffffff);
}

function idOk(id: chorus.IDaemonId | null | undefined): id is chorus.IDaemonId {
  const name = id?.name;
  const inc = id?.incarnation;
  return typeof name === 'string' && typeof inc === 'string' && name.length > 0 && inc.length > 0 && name.length <= MAX_ID_CHARS && inc.length <= MAX_ID_CHARS;
}

function keyOf(id: chorus.IDaemonId | null | undefined): PeerKey {
  return peerKey({ name: id?.name ?? '', incarnation: id?.incarnation ?? '' });
}

/** A list of daemons: bounded, each named, none twice. */
function idsOk(ids: readonly (chorus.IDaemonId | null | undefined)[]): Check {
  if (ids.length > MAX_MEMBERS) return 'too-large';
  const seen = new Set<PeerKey>();
  for (const id of ids) {
    if (!idOk(id)) return 'bad-members';
    const k = keyOf(id);
    if (seen.has(k)) return 'bad-members';
    seen.add(k);
  }
  return undefined;
}

function membersOk(members: readonly chorus.IMember[], nonEmpty: boolean): Check {
  if (nonEmpty && members.length === 0) return 'bad-members';
  for (const m of members) {
    if ((m.advertise ?? '').length > MAX_ID_CHARS) return 'too-large';
    if (!u32Ok(m.joinedView) || (m.joinedView ?? 0) >= MAX_WIRE_ID) return 'view-out-of-window';
  }
  return idsOk(members.map((m) => m.id));
}

function ballotOk(b: chorus.IBallot | null | undefined): Check {
  if (!u32Ok(b?.counter) || (b?.counter ?? 0) >= MAX_WIRE_ID) return 'view-out-of-window';
  if (b?.proposer !== undefined && b.proposer !== null && !idOk(b.proposer)) return 'bad-members';
  return undefined;
}

function sameBallot(p: chorus.IBallot | null | undefined, b: GuardBallot): boolean {
  return (p?.counter ?? 0) === b.counter && (p?.proposer?.name ?? '') === b.proposer.name && (p?.proposer?.incarnation ?? '') === b.proposer.incarnation;
}

/** A view id: an integer below MAX_WIRE_ID, and (with a view) at most VIEW_WINDOW ahead of it. */
function viewIdOk(ctx: GuardContext, id: number | null | undefined): Check {
  if (!u32Ok(id) || (id ?? 0) >= MAX_WIRE_ID) return 'view-out-of-window';
  if (ctx.view !== undefined && (id ?? 0) > ctx.view.id + VIEW_WINDOW) return 'view-out-of-window';
  return undefined;
}

/** A per-member vector of seqs of a view of `n`: at most n entries (`exact`: exactly n), each a uint32. */
function vectorOk(v: readonly number[] | null | undefined, n: number, exact = false): Check {
  const len = v?.length ?? 0;
  if (exact ? len !== n : len > n) return 'bad-length';
  for (let i = 0; i < len; i++) if (!u32Ok(v![i])) return 'not-finite';
  return undefined;
}

/** Order runs: well-formed; with `n`, senders in a view of `n`; with `contiguous`, no gap or overlap between them. */
function ordersOk(ranges: readonly chorus.IOrderRange[], n: number | undefined, contiguous: boolean): Check {
  let end = -1;
  for (const r of ranges) {
    if (!u32Ok(r.sender) || !u32Ok(r.firstSeq) || !u32Ok(r.count) || !seqOk(r.firstGlobal)) return 'not-finite';
    if (n !== undefined && (r.sender ?? 0) >= n) return 'index-out-of-range';
    const count = r.count ?? 0;
    const first = r.firstGlobal ?? 0;
    if (count < 1 || (r.firstSeq ?? 0) < 1 || first < 1) return 'implausible';
    if (!Number.isSafeInteger(first + count)) return 'not-finite';
    if (contiguous) {
      if (end >= 0 && first !== end) return 'implausible';
      end = first + count;
    }
  }
  return undefined;
}

function causalOk(c: chorus.ICausalDeps | null | undefined, n: number | undefined): Check {
  const passed = c?.passed;
  if (passed === undefined || passed === null) return undefined;
  if (passed.length > (n ?? MAX_MEMBERS)) return 'bad-length';
  for (const x of passed) if (!u32Ok(x)) return 'not-finite';
  return undefined;
}

/** The size of the view a frame about `viewId` refers to, when the receiver knows it. */
function sizeFor(ctx: GuardContext, viewId: number | null | undefined): number | undefined {
  return ctx.view !== undefined && (viewId ?? 0) === ctx.view.id ? ctx.view.members.length : undefined;
}

function isMember(ctx: GuardContext, key: PeerKey): boolean {
  return indexIn(ctx.view, key) >= 0;
}

// ---------------------------------------------------------------- frames

/**
 * Whether the core may act on `frame` from `from`: undefined, or the reason to drop it.
 * Cost: one pass over the frame's lists (entries of a batch included).
 */
export function checkPeerFrame(ctx: GuardContext, from: PeerKey, frame: chorus.IPeerFrame): RejectReason | undefined {
  if (frame.data) return checkData(ctx, frame.data);
  if (frame.order) return checkOrder(ctx, frame.order);
  if (frame.heartbeat) return checkHeartbeat(ctx, frame.heartbeat);
  if (frame.fetch) return checkFetch(ctx, frame.fetch);
  if (frame.joinRequest) return checkJoinRequest(ctx, from, frame.joinRequest);
  if (frame.leaveRequest) return checkLeaveRequest(ctx, from, frame.leaveRequest);
  if (frame.propose) return checkPropose(ctx, from, frame.propose);
  if (frame.proposeAck) return checkProposeAck(ctx, from, frame.proposeAck);
  if (frame.cut) return checkCutFrame(ctx, from, frame.cut);
  if (frame.ready) return checkReady(ctx, from, frame.ready);
  if (frame.install) return checkInstallFrame(ctx, from, frame.install);
  if (frame.joinStatus) return checkJoinStatus(ctx, frame.joinStatus);
  if (frame.forceQuery) return idOk(frame.forceQuery.who) && keyOf(frame.forceQuery.who) === from ? undefined : 'impersonation';
  if (frame.forceInfo) return checkForceInfo(frame.forceInfo);
  if (frame.foundingRelease) {
    const r = frame.foundingRelease;
    if (!idOk(r.founder)) return 'bad-members';
    return u32Ok(r.attempt) && (r.attempt ?? 0) < MAX_WIRE_ID ? undefined : 'view-out-of-window';
  }
  return undefined;
}

function checkData(ctx: GuardContext, batch: chorus.IDataBatch): Check {
  const bad = viewIdOk(ctx, batch.viewId);
  if (bad) return bad;
  if (!seqOk(batch.delivered) || !seqOk(batch.ordered) || !u32Ok(batch.firstSeq) || !u32Ok(batch.origin)) return 'not-finite';
  const n = sizeFor(ctx, batch.viewId);
  if (n !== undefined && batch.relayed === true && (batch.origin ?? 0) >= n) return 'index-out-of-range';
  const received = vectorOk(batch.received, n ?? MAX_MEMBERS);
  if (received) return received;
  const entries = batch.entries ?? [];
  if (entries.length === 0) return undefined;
  if ((batch.firstSeq ?? 0) < 1 || (batch.firstSeq ?? 0) + entries.length - 1 > 0xffffffff) return 'implausible';
  for (const e of entries) {
    if (!seqOk(e.dep) || !u32Ok(e.groupView) || !u32Ok(e.clientSeq)) return 'not-finite';
    // Enums: the codec checks them on the wire; a frame handed over in memory is checked here.
    if (!enumOk(e.kind, 6) || !enumOk(e.order, 3) || !enumOk(e.cause, 5)) return 'implausible';
    const causal = causalOk(e.causal, n);
    if (causal) return causal;
  }
  return undefined;
}

function enumOk(x: number | null | undefined, max: number): boolean {
  return x === undefined || x === null || (Number.isInteger(x) && x >= 0 && x <= max);
}

function checkOrder(ctx: GuardContext, batch: chorus.IOrderBatch): Check {
  return viewIdOk(ctx, batch.viewId) ?? ordersOk(batch.ranges ?? [], sizeFor(ctx, batch.viewId), false);
}

function checkHeartbeat(ctx: GuardContext, hb: chorus.IHeartbeat): Check {
  const bad = viewIdOk(ctx, hb.viewId);
  if (bad) return bad;
  if (!seqOk(hb.ordered) || !seqOk(hb.delivered)) return 'not-finite';
  const n = sizeFor(ctx, hb.viewId) ?? MAX_MEMBERS;
  const received = vectorOk(hb.received, n);
  if (received) return received;
  const suspects = hb.suspects ?? [];
  if (suspects.length > n) return 'bad-length';
  for (const s of suspects) if (!Number.isInteger(s) || s < 0 || s >= n) return 'index-out-of-range';
  return undefined;
}

function checkFetch(ctx: GuardContext, f: chorus.IFetch): Check {
  const bad = viewIdOk(ctx, f.viewId);
  if (bad) return bad;
  if (!seqOk(f.ordersFrom) || !u32Ok(f.origin) || !u32Ok(f.fromSeq) || !u32Ok(f.toSeq)) return 'not-finite';
  const n = sizeFor(ctx, f.viewId);
  if (n !== undefined && (f.ordersFrom ?? 0) === 0 && (f.origin ?? 0) >= n) return 'index-out-of-range';
  return undefined;
}

// Only a daemon speaks for itself: a Join or Leave about X comes from X, or from a
// member of the receiver's view forwarding X's own request to its coordinator.
function checkJoinRequest(ctx: GuardContext, from: PeerKey, req: chorus.IJoinRequest): Check {
  if (!idOk(req.who)) return 'bad-members';
  if ((req.advertise ?? '').length > MAX_ID_CHARS) return 'too-large';
  const heard = idsOk(req.heard ?? []);
  if (heard) return heard;
  const who = keyOf(req.who);
  if (who !== from && !isMember(ctx, from)) return 'forward-from-non-member';
  return undefined;
}

function checkLeaveRequest(ctx: GuardContext, from: PeerKey, req: chorus.ILeaveRequest): Check {
  if (!idOk(req.who)) return 'bad-members';
  if (keyOf(req.who) !== from && !isMember(ctx, from)) return 'forward-from-non-member';
  return undefined;
}

function checkPropose(ctx: GuardContext, from: PeerKey, p: chorus.IPropose): Check {
  const ballot = ballotOk(p.ballot);
  if (ballot) return ballot;
  // A ballot names its proposer: only that daemon proposes under it.
  if (!idOk(p.ballot?.proposer) || keyOf(p.ballot!.proposer) !== from) return 'impersonation';
  const oldViewId = p.oldViewId ?? 0;
  const newViewId = p.newViewId ?? 0;
  const ids = viewIdOk(ctx, oldViewId) ?? (u32Ok(newViewId) && newViewId < MAX_WIRE_ID ? undefined : 'view-out-of-window');
  if (ids) return ids;
  const members = membersOk(p.members ?? [], false);
  if (members) return members;
  const leaving = idsOk(p.leaving ?? []);
  if (leaving) return leaving;
  if (oldViewId === 0) return newViewId <= 1 ? undefined : 'implausible'; // bootstrap: found view 1, or withdraw (0)
  if (newViewId <= oldViewId) return 'implausible';
  // Only a member of the view being changed may start its flush (a stranger's Propose
  // would leave the members flushing, with sends blocked, until it times out).
  if (ctx.view !== undefined && oldViewId === ctx.view.id && !isMember(ctx, from)) return 'not-member';
  return undefined;
}

function checkProposeAck(ctx: GuardContext, from: PeerKey, ack: chorus.IProposeAck): Check {
  const ballot = ballotOk(ack.ballot) ?? ballotOk(ack.highest);
  if (ballot) return ballot;
  const oldViewId = ack.oldViewId ?? 0;
  const ids = viewIdOk(ctx, oldViewId) ?? viewIdOk(ctx, ack.maxViewId);
  if (ids) return ids;
  if (!seqOk(ack.delivered) || !u32Ok(ack.sent)) return 'not-finite';
  if (oldViewId === 0) return undefined; // a bootstrap vote: the founder counts only its candidates'
  const n = sizeFor(ctx, oldViewId);
  if (n === undefined) return undefined; // about another view: the core ignores it
  if (!isMember(ctx, from)) return 'not-member';
  const received = ack.received ?? [];
  const vectors = vectorOk(received, n) ?? vectorOk(ack.deliveredSeqs, n) ?? vectorOk(ack.earlyPassed, n);
  if (vectors) return vectors;
  // What a member delivered (in order or early) it received first.
  for (let s = 0; s < n; s++) {
    const have = received[s] ?? 0;
    if ((ack.deliveredSeqs?.[s] ?? 0) > have || (ack.earlyPassed?.[s] ?? 0) > have) return 'implausible';
  }
  const orders = ordersOk(ack.orders ?? [], n, false);
  if (orders) return orders;
  for (const m of ack.depMarks ?? []) {
    if (!u32Ok(m.sender) || !u32Ok(m.seq) || !seqOk(m.dep)) return 'not-finite';
    if ((m.sender ?? 0) >= n) return 'index-out-of-range';
    const causal = causalOk(m.causal, n);
    if (causal) return causal;
  }
  const ambiguous = ack.ambiguous ?? [];
  if (ambiguous.length > MAX_MEMBERS) return 'too-large';
  for (const a of ambiguous) {
    const bad = idsOk(a.members ?? []) ?? viewIdOk(ctx, a.viewId);
    if (bad) return bad;
  }
  if (ack.accepted) {
    const cut = checkCut(ctx, ack.accepted);
    if (cut) return cut;
  }
  if (ack.installed) {
    const install = checkInstall(ctx, ack.installed);
    if (install) return install;
  }
  return undefined;
}

function checkCutFrame(ctx: GuardContext, from: PeerKey, cut: chorus.ICut): Check {
  const bad = checkCut(ctx, cut);
  if (bad) return bad;
  const f = ctx.flush;
  // The core matches a Cut to its flush by ballot: one that carries the flush's ballot
  // must be about the flush's view too (a ballot belongs to one flush).
  if (f !== undefined && sameBallot(cut.ballot, f.ballot) && (cut.oldViewId ?? 0) !== f.oldViewId) return 'implausible';
  if (ctx.view !== undefined && (cut.oldViewId ?? 0) === ctx.view.id && !isMember(ctx, from)) return 'not-member';
  return undefined;
}

/** A decision (a Cut frame, or the one an acknowledgement reports as accepted). */
function checkCut(ctx: GuardContext, cut: chorus.ICut): Check {
  const ids = ballotOk(cut.ballot) ?? viewIdOk(ctx, cut.oldViewId) ?? viewIdOk(ctx, cut.newViewId);
  if (ids) return ids;
  const oldViewId = cut.oldViewId ?? 0;
  const members = membersOk(cut.members ?? [], false) ?? idsOk(cut.left ?? []);
  if (members) return members;
  if ((cut.leftCauses?.length ?? 0) > (cut.left?.length ?? 0)) return 'bad-length';
  if ((cut.members?.length ?? 0) > 0 && (cut.newViewId ?? 0) <= oldViewId) return 'implausible';
  const n = sizeFor(ctx, oldViewId);
  const orders = ordersOk(cut.orders ?? [], n, true);
  if (orders) return orders;
  if (n === undefined) return vectorOk(cut.cutSeqs, MAX_MEMBERS) ?? vectorOk(cut.holders, MAX_MEMBERS);
  // Per old member: the cut's seq and who holds it.
  const vectors = vectorOk(cut.cutSeqs, n, true) ?? vectorOk(cut.holders, n);
  if (vectors) return vectors;
  for (const h of cut.holders ?? []) if (h >= n) return 'index-out-of-range';
  return undefined;
}

function checkReady(ctx: GuardContext, from: PeerKey, r: chorus.IReady): Check {
  const bad = ballotOk(r.ballot) ?? viewIdOk(ctx, r.oldViewId);
  if (bad) return bad;
  const p = ctx.proposal;
  // The proposer installs once every participant is Ready: a Ready counts only from one.
  if (p !== undefined && sameBallot(r.ballot, p.ballot) && !p.participants.includes(from)) return 'not-member';
  return undefined;
}

function checkInstallFrame(ctx: GuardContext, from: PeerKey, install: chorus.IInstall): Check {
  const bad = checkInstall(ctx, install);
  if (bad) return bad;
  // By design any daemon that installed a view may push its Install to a member still in
  // the view before (it is the one successor of that view): so the sender is a member of
  // the receiver's view, or of the view the Install names, or a member of the old view
  // that left with it (a coordinator leaving on purpose proposes a view without itself).
  // By name: a proposer left out of its own view steps down under a new incarnation and
  // still repeats the Install to the members it has not heard from.
  const name = from.slice(0, from.lastIndexOf('#'));
  if (isMember(ctx, from) || (ctx.view?.members.some((m) => m.id.name === name) ?? false)) return undefined;
  if ((install.members ?? []).some((m) => m.id?.name === name)) return undefined;
  if ((install.left ?? []).some((id) => id.name === name)) return undefined;
  return 'not-member';
}

/** An Install: a well-formed view; about the receiver's view, one it can install without breaking. */
function checkInstall(ctx: GuardContext, install: chorus.IInstall): Check {
  const ids = ballotOk(install.ballot);
  if (ids) return ids;
  const oldViewId = install.oldViewId ?? 0;
  const newViewId = install.newViewId ?? 0;
  // A joiner has no view: any id it learns is the cluster's (never past MAX_WIRE_ID).
  const window = viewIdOk(ctx, oldViewId) ?? viewIdOk(ctx, newViewId);
  if (window) return window;
  if (newViewId <= oldViewId) return 'implausible';
  if (!seqOk(install.lastGlobal) || !seqOk(install.firstGlobal)) return 'not-finite';
  const members = membersOk(install.members ?? [], true) ?? idsOk(install.left ?? []);
  if (members) return members;
  if ((install.leftCauses?.length ?? 0) > (install.left?.length ?? 0)) return 'bad-length';
  const groups = install.groups?.groups ?? [];
  for (const g of groups) {
    if (!u32Ok(g.viewId) || (g.viewId ?? 0) >= MAX_WIRE_ID || !seqOk(g.totalSeq)) return 'not-finite';
    for (const m of g.members ?? []) if (!u32Ok(m.transfer)) return 'not-finite';
  }
  const n = sizeFor(ctx, oldViewId);
  const orders = ordersOk(install.orders ?? [], n, true);
  if (orders) return orders;
  if (n === undefined) return vectorOk(install.cutSeqs, MAX_MEMBERS);
  const cutSeqs = vectorOk(install.cutSeqs, n);
  if (cutSeqs) return cutSeqs;
  // A member left out of the view delivers nothing more of the old one (it steps down).
  if (!(install.members ?? []).some((m) => keyOf(m.id) === ctx.selfKey)) return undefined;
  // The receiver delivers the old view up to the Install's lastGlobal by its orders: they
  // must continue what it delivered (a gap could never be filled) and reach lastGlobal.
  let end = ctx.delivered;
  for (const r of install.orders ?? []) {
    const last = (r.firstGlobal ?? 0) + (r.count ?? 0) - 1;
    if (last <= end) continue;
    if ((r.firstGlobal ?? 0) > end + 1) return 'implausible';
    end = last;
  }
  if ((install.lastGlobal ?? 0) > end) return 'implausible';
  return undefined;
}

function checkJoinStatus(ctx: GuardContext, status: chorus.IJoinStatus): Check {
  return viewIdOk(ctx, status.viewId) ?? membersOk(status.members ?? [], false);
}

function checkForceInfo(info: chorus.IForceInfo): Check {
  for (const id of [info.maxViewId, info.primaryViewId]) if (!u32Ok(id) || (id ?? 0) >= MAX_WIRE_ID) return 'view-out-of-window';
  for (const g of info.groups?.groups ?? []) {
    if (!u32Ok(g.viewId) || (g.viewId ?? 0) >= MAX_WIRE_ID || !seqOk(g.totalSeq)) return 'not-finite';
  }
  return undefined;
}
