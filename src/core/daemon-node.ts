// DaemonNode: the protocol of one daemon as a deterministic state machine.
//
//   step(input) → CoreOutput
//
// One entry point for everything (frames, client requests, link events, time), so the
// daemon and the simulator drive exactly the same code. Within a daemon view:
//
// - every daemon appends its clients' requests as entries to its own sending stream
//   (per-sender seq 1, 2, ...) and sends them in batches to every member;
// - the coordinator (oldest member) is the view's sequencer: it assigns global seqs to
//   runs of entries in per-sender order and broadcasts batched order runs;
// - every daemon delivers entries in global order once it has both the entry and its
//   place, applying them to the replicated GroupTable (data, joins, leaves, markers);
// - entries stay buffered until every member has them (stability, learned from the
//   receive vectors on data batches and heartbeats); a link that lost frames is repaired by Fetch.
//
// View changes run the flush (see ViewChange below): the proposer collects from every
// survivor what it holds, computes the cut (the union) and the final order of the old
// view, has survivors fetch what they miss, and installs the new view with that cut.
// Ballots order competing proposals; a failure during a flush restarts it with a
// higher ballot. A proposal needs a quorum of the last primary view and of every
// proposal that may have been installed (dynamic voting): a daemon that cannot gather
// one steps down, expels its clients ('partitioned') and rejoins as a new incarnation.
import { chorus } from '../wire/gen/chorus.js';
import { type ChorusErrorCode, invariant } from '../errors.js';
import { checkPeerFrame } from './frame-guard.js';
import {
  type GroupEffects,
  type GroupMember,
  type GroupRecord,
  GroupTable,
  type GroupViewChange,
  type LeaveCause,
  MAX_GROUP_NAME_LENGTH,
  type TransferPlan,
  causeToProto,
} from './group-table.js';
import { OrderLog, type OrderRun, runFromProto } from './order-log.js';
import { largestClique } from './clique.js';
import { hasQuorum } from './quorum.js';
import type { ClientOutput, CoreInput, CoreOutput, DaemonId, DaemonView, PeerKey, ViewMember } from './types.js';
import { ORDER_NAMES, emptyOutput, peerKey } from './types.js';

export interface DaemonNodeOptions {
  readonly self: DaemonId;
  readonly advertise: string;
  /** True when started with seeds: join an existing view instead of founding one. */
  readonly join: boolean;
  readonly maxMessageBytes: number;
  /** Heartbeat period on every link. */
  readonly heartbeatMs?: number;
  /** No frame from a member for this long → suspect it. */
  readonly suspectMs?: number;
  /** Bound of the buffer of unstable entries; past it, senders are slowed. */
  readonly maxBufferBytes?: number;
  /** How often a joining daemon repeats its join request. */
  readonly joinRetryMs?: number;
  /**
   * Bootstrap: with no primary to join yet, daemons that find each other through their
   * seeds form the first primary once this many of them (this one included) are
   * together. Undefined: never form one, only join.
   */
  readonly expect?: number;
  /** Emit a `send` trace for every message (for checkers; off in production). */
  readonly traceSends?: boolean;
  /** Time at creation. */
  readonly nowMs: number;
}

type Mode = 'joining' | 'normal' | 'flushing' | 'left';

interface Ballot {
  readonly counter: number;
  readonly proposer: DaemonId;
}

/** A client request accepted by this daemon, not yet stamped into the sending stream. */
interface LocalEntry {
  readonly entry: chorus.IEntry;
  /** Reply owed when the entry is sent (its multicast waited for buffer space). */
  readonly replyTo: { client: string; req: number; id: string } | undefined;
}

interface LocalClient {
  readonly id: string;
  readonly name: string;
  /** group → req of the client's pending join. */
  readonly pendingJoins: Map<string, number>;
  readonly pendingLeaves: Map<string, number>;
  /** message id → req, for multicasts with wait: 'delivered'. */
  readonly waitDelivered: Map<string, number>;
}

/** The proposer's side of a flush. */
interface Proposal {
  readonly ballot: Ballot;
  readonly oldView: DaemonView;
  readonly newView: DaemonView;
  /** Old members that take part in the flush (survivors and voluntary leavers). */
  readonly participants: readonly PeerKey[];
  readonly leaving: ReadonlySet<PeerKey>;
  readonly acks: Map<PeerKey, chorus.IProposeAck>;
  readonly ready: Set<PeerKey>;
  readonly startedMs: number;
  readonly propose: chorus.IPropose;
  /** The decision sent for acceptance: the cut with the new view (ids, members, who left). */
  decision: chorus.ICut | undefined;
  /** Last time Propose or Cut went out to participants that have not answered (control frames are repaired too). */
  resentMs: number;
}

/** A member's side of a flush: the ballot it acknowledged. */
interface FlushState {
  readonly ballot: Ballot;
  readonly proposer: PeerKey;
  readonly oldViewId: number;
  readonly startedMs: number;
  /** The acknowledgement sent, repeated when the proposer repeats its Propose. */
  readonly ack: chorus.IProposeAck;
  cut: chorus.ICut | undefined;
  readySent: boolean;
}


const ENTRY_OVERHEAD_BYTES = 48;
/** Addresses of daemons seen in views that a stepped-down daemon probes to find the primary. */
const MAX_KNOWN_ADDRESSES = 256;
/** A joiner's daemon holds back delivery only while chunks keep coming (see holding()). */
const HOLD_GRACE_MS = 1000;
/** A transfer without a chunk or an acknowledgement for this long has a silent provider. */
const STATE_STALL_MS = 30_000;
/** StateAck.chunk meaning "this transfer is over here": the provider stops. */
const ABORTED_CHUNK = 0xffffffff;

function transferKey(group: string, joiner: string): string {
  return `${group}\u0000${joiner}`;
}

export class DaemonNode {
  readonly baseIncarnation: string;
  private selfId: DaemonId;
  private key: PeerKey;
  private epoch = 0;
  private readonly advertise: string;
  private readonly maxMessageBytes: number;
  private readonly heartbeatMs: number;
  private readonly suspectMs: number;
  private readonly maxBufferBytes: number;
  private readonly joinRetryMs: number;
  private readonly traceSends: boolean;
  private readonly expect: number | undefined;
  /** Never was in a view: may take part in forming the first primary. */
  private fresh: boolean;
  private readonly bootstrapPeers = new Map<PeerKey, { advertise: string; seenMs: number }>();
  /** The founder this fresh daemon agreed to (one at a time, so two founders cannot both win). */
  private bootstrapVote: { founder: PeerKey; attempt: number; atMs: number; candidates: PeerKey[]; askedMs: number } | undefined;
  /** Founding attempts this fresh daemon promised never to vote for (founder → up to which attempt). */
  private readonly refusedFounders = new Map<PeerKey, number>();
  /** This daemon's founding attempts so far (each one's ballot counter). */
  private foundingAttempt = 0;
  private founding: { members: ViewMember[]; acks: Set<PeerKey>; startedMs: number } | undefined;

  private mode: Mode;
  private nowMs: number;
  private out: CoreOutput = emptyOutput();

  private view: DaemonView | undefined;
  private myIndex = -1;
  private table = new GroupTable();

  // Sending stream of this view.
  private sentSeq = 0;
  private outbox: chorus.IEntry[] = [];
  private readonly pendingLocal: LocalEntry[] = [];
  private pendingBytes = 0;

  // Receiving: per sender index, entries by seq (log[s][seq - logBase[s]]).
  private log: Array<Array<chorus.IEntry | undefined>> = [];
  private logBase: number[] = [];
  private received: number[] = [];
  private deliveredSeq: number[] = [];
  /** Causal barrier of the last entry received from each sender (Entry.dep). */
  private lastDep: number[] = [];
  private retainedBytes = 0;
  /**
   * Early (fifo/causal) delivery: per sender, how far this daemon passed its stream —
   * every entry up to here is delivered here (early or in order) or concerns no local
   * member. Entries pass in stream order, so per-sender FIFO holds.
   */
  private early: number[] = [];
  /** Per sender, the last seq delivered here early (to a local client). */
  private earlyDelivered: number[] = [];
  /** Set while the ordered path reaches an entry already delivered early. */
  private skipLocal = false;
  /** Uniform entries (see `uniform`) received and not yet delivered: while any, acknowledge promptly. */
  private uniformHeld = 0;
  private lastAckOrdered = -1;
  private lastAckReceived = -1;

  // Ordering and delivery.
  private order = new OrderLog();
  private nextDeliver = 1;
  // Sequencer state (coordinator only).
  private nextGlobal = 1;
  private ordered: number[] = [];
  private orderOutbox: OrderRun[] = [];

  // What the other members hold (from heartbeats), for stability and repair.
  private peerReceived: number[][] = [];
  private peerDelivered: number[] = [];
  /** Per member: how much of its stream it said it had sent, in its previous heartbeat. */
  private sentByLastHeartbeat: number[] = [];
  /** Members that hold back delivery for a state transfer (Heartbeat.holding). */
  private peerHolding: boolean[] = [];
  /** Highest global seq whose order each member knows (for `safe`). */
  private peerOrdered: number[] = [];

  // Failure detection.
  private lastHeard: number[] = [];
  private lastHeartbeatMs = -Infinity;
  private suspects = new Set<number>();
  private peerSuspects: Array<Set<number>> = [];
  private suspectsChanged = false;

  // View change.
  private highest: Ballot = { counter: 0, proposer: { name: '', incarnation: '' } };
  private proposal: Proposal | undefined;
  private flush: FlushState | undefined;
  private pendingInstall: chorus.IInstall | undefined;
  private lastInstall: chorus.IInstall | undefined;
  /**
   * Installs this daemon installed lately (newest last): a member still in an older view
   * learns the view it missed from any member that installed it (an Install lost on a
   * short cut must not leave it flushing for good).
   */
  private readonly recentInstalls: chorus.IInstall[] = [];
  private readonly installPushedMs = new Map<PeerKey, number>();
  /**
   * The decision (Cut) this daemon accepted in the flush of its current view, with the
   * ballot it was accepted under: reported in acknowledgements so that a later proposer
   * completes it instead of deciding differently (Paxos' rule). Reset at install.
   */
  private accepted: chorus.ICut | undefined;
  /** Our ballot was refused by one whose proposer is gone: propose again above it. */
  private retryPropose = false;
  /** The highest ballot counter seen in any view: new ballots go above it. */
  private maxCounter = 0;
  /** The Install force-primary built (its daemon-view trace says `forced`). */
  private forcedInstall: chorus.IInstall | undefined;
  /** When a conflict between two other members was first seen (it waits for the rest). */
  private conflictSinceMs: number | undefined;
  /** force-primary: the ids collected from the daemons this one reaches, until it founds. */
  private forcing: { startedMs: number; asked: Set<PeerKey>; infos: Map<PeerKey, chorus.IForceInfo>; yieldTo: PeerKey | undefined } | undefined;
  /** What this daemon knew of the groups when it stepped down (so ids never repeat). */
  private lastGroups: chorus.IGroupTable | undefined;
  private lastViewId = 0;
  /** Groups whose local members got `block` when a daemon flush started. */
  private readonly flushBlocked = new Set<string>();
  /** Groups that installed a view at the last daemon view boundary. */
  private readonly boundaryViews = new Set<string>();
  /** Members this coordinator excluded for lagging stability (cause 'expelled'). */
  private readonly laggards = new Set<PeerKey>();
  /** Since when the buffer of unstable entries has been over half its bound. */
  private bufferFullSinceMs: number | undefined;
  private readonly joinQueue = new Map<PeerKey, ViewMember>();
  private readonly leaveQueue = new Set<PeerKey>();
  private leaveRequested = false;
  private readonly futureFrames: Array<{ from: PeerKey; frame: chorus.IPeerFrame }> = [];

  // Joining.
  private readonly seeds = new Map<PeerKey, string>();
  private nextJoinAttemptMs = 0;
  /** After stepping down: addresses of the last view's members, probed on every retry. */
  private probeAddresses: string[] = [];
  /** Joiner: members it heard from lately. Coordinator: per joiner, who heard it. */
  private readonly heardFrom = new Map<PeerKey, number>();
  /** Daemon name → address, of every daemon seen in a view (newest last; bounded). */
  private readonly knownAddresses = new Map<string, string>();
  private readonly joinEvidence = new Map<PeerKey, { heardBy: Map<PeerKey, number>; heard: Set<PeerKey> }>();

  private readonly clients = new Map<string, LocalClient>();
  /** Local joins that failed for want of state, until the leave that undoes them installs. */
  private readonly failedJoins = new Set<string>();
  /** Join requests sent meanwhile, by transferKey(group, client). */
  private readonly deferredJoins = new Map<string, { client: string; request: chorus.IClientRequest }>();
  /** Chunks that came before this daemon installed the view of their transfer, by transferKey(group, joiner). */
  private readonly earlyChunks = new Map<string, { group: string; joiner: string; transfer: number; chunks: chorus.IStateChunk[] }>();
  /** Local joiners installing state, by transferKey(group, joiner). */
  private readonly installing = new Map<string, { group: string; joiner: string; transfer: number; bytes: number; lastChunkMs: number }>();
  private readonly groupFx: GroupEffects;

  constructor(options: DaemonNodeOptions) {
    this.selfId = options.self;
    this.baseIncarnation = options.self.incarnation;
    this.key = peerKey(options.self);
    this.advertise = options.advertise;
    this.maxMessageBytes = options.maxMessageBytes;
    this.heartbeatMs = options.heartbeatMs ?? 250;
    this.suspectMs = options.suspectMs ?? 1500;
    this.maxBufferBytes = options.maxBufferBytes ?? 64 * 1024 * 1024;
    this.joinRetryMs = options.joinRetryMs ?? 1000;
    this.traceSends = options.traceSends ?? false;
    this.expect = options.expect;
    this.fresh = options.join;
    this.nowMs = options.nowMs;
    this.groupFx = {
      deliver: (g, entry, id, seq) => this.onDeliver(g, entry, id, seq),
      changeStarted: (g, hosts) => this.onGroupChangeStarted(g, hosts),
      viewInstalled: (change) => this.onGroupViewInstalled(change),
    };
    this.mode = options.join ? 'joining' : 'normal';
  }

  /** The first output: the founding view, if any. Call once before any step. */
  start(): CoreOutput {
    this.out = emptyOutput();
    if (this.mode === 'normal') {
      this.installView({ id: 1, members: [{ id: this.selfId, key: this.key, advertise: this.advertise, joinedView: 1 }] });
    }
    return this.finish();
  }

  // ------------------------------------------------------------------ introspection

  get self(): DaemonId {
    return this.selfId;
  }
  get selfKey(): PeerKey {
    return this.key;
  }
  get currentView(): DaemonView | undefined {
    return this.view;
  }
  get state(): Mode {
    return this.mode;
  }
  get groups(): GroupTable {
    return this.table;
  }
  get isCoordinator(): boolean {
    return this.view !== undefined && this.myIndex === 0;
  }
  get bufferedBytes(): number {
    return this.retainedBytes;
  }

  // ------------------------------------------------------------------ step

  step(input: CoreInput): CoreOutput {
    this.out = emptyOutput();
    if (this.mode === 'left') return this.out;
    if (input.kind === 'tick') this.nowMs = Math.max(this.nowMs, input.nowMs);
    switch (input.kind) {
      case 'tick':
        break;
      case 'peer-frame':
        this.onFrame(input.from, input.frame);
        break;
      case 'peer-up':
        this.onPeerUp(input.peer, input.advertise);
        break;
      case 'peer-down':
        break; // The link redials by itself; heartbeats then repair what was lost.
      case 'client-connect':
        this.clients.set(input.client, {
          id: input.client,
          name: input.name,
          pendingJoins: new Map(),
          pendingLeaves: new Map(),
          waitDelivered: new Map(),
        });
        break;
      case 'client-request':
        this.onClientRequest(input.client, input.request);
        break;
      case 'client-disconnect':
        this.onClientDisconnect(input.client, input.expelled === true);
        break;
      case 'leave':
        this.onLeave();
        break;
      case 'force-primary':
        this.onForcePrimary();
        break;
    }
    return this.finish();
  }

  /** End of step: run every part until nothing moves, then timers. */
  private finish(): CoreOutput {
    // Each part can enable another (a delivery starts a group change whose marker must
    // go out; an install releases held requests).
    for (let progress = true, rounds = 0; progress && this.mode !== 'left'; rounds++) {
      invariant(rounds < 10_000, 'step does not settle');
      progress = this.pump();
      progress = this.flushOutbox() || progress;
      progress = this.flushOrders() || progress;
      progress = this.deliverReady() || progress;
      progress = this.deliverEarly() || progress;
      progress = this.detectFailures() || progress;
      progress = this.maybePropose() || progress;
      progress = this.proposerProgress() || progress;
      progress = this.memberFlushProgress() || progress;
      progress = this.maybeInstall() || progress;
      progress = this.forceProgress() || progress;
    }
    if (this.mode === 'left') {
      this.out.wakeAtMs = undefined;
      return this.out;
    }
    this.heartbeats();
    if (this.installing.size > 0) {
      this.failStalledTransfers();
      if (this.pendingLocal.length > 0) {
        this.pump();
        this.flushOutbox();
      }
    }
    this.acknowledgeSafe();
    this.collectGarbage();
    this.out.wakeAtMs = this.nextWake();
    return this.out;
  }

  private nextWake(): number {
    if (this.mode === 'joining') {
      if (this.maybeFoundPrimary()) return this.nowMs + 1;
      if (this.nowMs >= this.nextJoinAttemptMs && (this.seeds.size > 0 || this.probeAddresses.length > 0)) {
        for (const peer of this.seeds.keys()) this.sendJoinRequest(peer);
        // Members may have restarted or stepped down too (new incarnations): look again.
        for (const a of this.probeAddresses) this.out.probes.push(a);
        this.nextJoinAttemptMs = this.nowMs + this.joinRetryMs;
      }
      const forceAt = this.forcing === undefined ? Number.POSITIVE_INFINITY : this.forcing.startedMs + this.suspectMs;
      return Math.max(Math.min(this.nextJoinAttemptMs, forceAt), this.nowMs + 1);
    }
    let wake = this.lastHeartbeatMs + this.heartbeatMs;
    const view = this.view!;
    for (let i = 0; i < view.members.length; i++) {
      if (i === this.myIndex || this.suspects.has(i)) continue;
      wake = Math.min(wake, this.lastHeard[i]! + this.suspectMs + 1);
    }
    if (this.proposal !== undefined) wake = Math.min(wake, this.proposal.startedMs + this.flushTimeoutMs() + 1);
    if (this.flush !== undefined) wake = Math.min(wake, this.flush.startedMs + 2 * this.flushTimeoutMs() + 1);
    if (this.conflictSinceMs !== undefined) wake = Math.min(wake, this.conflictSinceMs + 2 * this.heartbeatMs);
    // A hold ends by itself when its transfer stalls.
    for (const t of this.installing.values()) {
      if (t.lastChunkMs + HOLD_GRACE_MS > this.nowMs) wake = Math.min(wake, t.lastChunkMs + HOLD_GRACE_MS);
      wake = Math.min(wake, t.lastChunkMs + STATE_STALL_MS);
    }
    return Math.max(wake, this.nowMs + 1);
  }

  /**
   * Bootstrap: once `expect` fresh daemons (this one included) hear each other, the
   * smallest of them founds view 1 with all of them. Every one of them computes the same
   * founder from the same set, and a set of `expect` is needed, so concurrent start-ups
   * converge to one view (as long as `expect` is more than half of the daemons started).
   */
  private maybeFoundPrimary(): boolean {
    if (!this.fresh || this.expect === undefined || this.view !== undefined) return false;
    const window = 3 * this.joinRetryMs;
    if (this.founding !== undefined) {
      const f = this.founding;
      if (f.acks.size === f.members.length) {
        // Everyone agreed to this founder: install view 1.
        const install: chorus.IInstall = {
          ballot: { counter: this.foundingAttempt, proposer: this.selfId },
          oldViewId: 0,
          newViewId: 1,
          members: f.members.map(memberToProto),
          lastGlobal: 0,
          groups: { groups: [] },
        };
        for (const m of f.members) if (m.key !== this.key) this.send(m.key, { install });
        this.founding = undefined;
        this.pendingInstall = install;
        this.maybeInstall();
        return true;
      }
      if (this.nowMs - f.startedMs < window) return false;
      // Not everyone agreed in time: give up this founding for good (it will never
      // install), release the voters, and look again.
      this.withdrawFounding();
      this.bootstrapVote = undefined;
    }
    // A vote holds until its founder installs or withdraws, or another of its candidates
    // promises never to vote for it (FoundingRelease): a voter that changed its mind on a
    // timer could ack a second founder while the first one's Install is on its way.
    const vote = this.bootstrapVote;
    if (vote !== undefined && vote.founder !== this.key) {
      if (this.nowMs - vote.atMs >= window && this.nowMs - vote.askedMs >= this.joinRetryMs) {
        vote.askedMs = this.nowMs;
        const founder = keyToId(vote.founder);
        for (const k of vote.candidates) if (k !== this.key && k !== vote.founder) this.send(k, { foundingRelease: { founder, attempt: vote.attempt } });
      }
      return false;
    }
    const candidates: ViewMember[] = [{ id: this.selfId, key: this.key, advertise: this.advertise, joinedView: 1 }];
    for (const [key, p] of this.bootstrapPeers) {
      if (p.seenMs < this.nowMs - window) continue;
      candidates.push({ id: keyToId(key) as DaemonId, key, advertise: p.advertise, joinedView: 1 });
    }
    if (candidates.length < this.expect) return false;
    candidates.sort(compareAge);
    if (candidates[0]!.key !== this.key) return false;
    // Ask them: each fresh daemon agrees to one founder at a time, so two founders with
    // overlapping candidate sets cannot both form a view 1.
    this.foundingAttempt += 1;
    this.bootstrapVote = { founder: this.key, attempt: this.foundingAttempt, atMs: this.nowMs, candidates: candidates.map((m) => m.key), askedMs: this.nowMs };
    this.founding = { members: candidates, acks: new Set([this.key]), startedMs: this.nowMs };
    const propose: chorus.IPropose = { ballot: { counter: this.foundingAttempt, proposer: this.selfId }, oldViewId: 0, newViewId: 1, members: candidates.map(memberToProto) };
    for (const m of candidates) if (m.key !== this.key) this.send(m.key, { propose });
    this.out.traces.push({ type: 'view-change-start', ballot: 1, proposer: this.key, members: candidates.map((m) => m.key) });
    return false;
  }

  /** A founder that gives up: it never installs this founding, so its voters are free. */
  private withdrawFounding(): void {
    const f = this.founding;
    if (f === undefined) return;
    this.founding = undefined;
    const withdraw: chorus.IPropose = { ballot: { counter: 1, proposer: this.selfId }, oldViewId: 0, newViewId: 0, members: [] };
    for (const m of f.members) if (m.key !== this.key) this.send(m.key, { propose: withdraw });
  }

  /** Bootstrap: a voter asks us to refuse its silent founder (or we asked, and get the promise). */
  private onFoundingRelease(from: PeerKey, r: chorus.IFoundingRelease): void {
    if (!this.fresh || this.view !== undefined) return;
    const founder = peerKey({ name: r.founder?.name ?? '', incarnation: r.founder?.incarnation ?? '' });
    const attempt = r.attempt ?? 0;
    const vote = this.bootstrapVote;
    if (r.refused === true) {
      if (vote?.founder === founder && vote.attempt <= attempt && vote.candidates.includes(from)) this.bootstrapVote = undefined;
      return;
    }
    // We voted for that attempt (it may still found with us), or we are its founder: no promise.
    if (founder === this.key || (vote?.founder === founder && vote.attempt === attempt)) return;
    this.refusedFounders.set(founder, Math.max(this.refusedFounders.get(founder) ?? 0, attempt));
    this.send(from, { foundingRelease: { founder: r.founder ?? null, refused: true, attempt } });
  }

  /** A fresh daemon asked to join a founding view 1 (or released by a founder that gave up). */
  private onBootstrapPropose(from: PeerKey, p: chorus.IPropose): void {
    if (!this.fresh || this.view !== undefined) return;
    if ((p.newViewId ?? 0) === 0) {
      if (this.bootstrapVote?.founder === from) this.bootstrapVote = undefined;
      return;
    }
    const named = (p.members ?? []).some((m) => m.id?.name === this.selfId.name && m.id?.incarnation === this.selfId.incarnation);
    if (!named) return;
    const vote = this.bootstrapVote;
    if (vote !== undefined && vote.founder !== from && vote.founder !== this.key) return;
    if ((p.ballot?.counter ?? 0) <= (this.refusedFounders.get(from) ?? 0)) return;
    if (this.founding !== undefined && from !== this.key) {
      // Someone else founds with us in it: step back if they are older than us.
      const founder = memberFromProto((p.members ?? []).find((m) => peerKey({ name: m.id?.name ?? '', incarnation: m.id?.incarnation ?? '' }) === from) ?? {});
      if (compareAge(founder, { id: this.selfId, key: this.key, advertise: this.advertise, joinedView: 1 }) > 0) return;
      this.withdrawFounding();
    }
    const candidates = (p.members ?? []).map((m) => peerKey({ name: m.id?.name ?? '', incarnation: m.id?.incarnation ?? '' }));
    this.bootstrapVote = { founder: from, attempt: p.ballot?.counter ?? 0, atMs: this.nowMs, candidates, askedMs: this.nowMs };
    this.send(from, { proposeAck: { ballot: p.ballot ?? null, oldViewId: 0 } });
  }

  private flushTimeoutMs(): number {
    return 2 * this.suspectMs;
  }

  // ------------------------------------------------------------------ peers and frames

  private rememberAddress(name: string, advertise: string): void {
    if (advertise === '') return;
    this.knownAddresses.delete(name);
    this.knownAddresses.set(name, advertise);
    if (this.knownAddresses.size > MAX_KNOWN_ADDRESSES) this.knownAddresses.delete(this.knownAddresses.keys().next().value!);
  }

  private onPeerUp(peer: PeerKey, advertise: string): void {
    if (this.forcing !== undefined && peer !== this.key && !this.forcing.asked.has(peer)) {
      this.forcing.asked.add(peer);
      this.send(peer, { forceQuery: { who: this.selfId } });
    }
    if (this.mode === 'joining') {
      this.seeds.set(peer, advertise);
      // Dial this address again on every join attempt: the daemon behind it may restart
      // or step down (a new incarnation, a new key) before it admits us.
      if (advertise !== '' && !this.probeAddresses.includes(advertise) && this.probeAddresses.length < MAX_KNOWN_ADDRESSES) this.probeAddresses.push(advertise);
      this.sendJoinRequest(peer);
      return;
    }
    // A member's link came back: tell it at once what we hold, so it resends what
    // the broken connection lost (and we do the same on its heartbeat).
    const i = this.memberIndex(peer);
    if (i >= 0) this.sendHeartbeat(i);
  }

  private sendJoinRequest(peer: PeerKey): void {
    const fresh = this.nowMs - 3 * this.joinRetryMs;
    const heard: chorus.IDaemonId[] = [];
    for (const [k, t] of this.heardFrom) if (t >= fresh) heard.push(keyToId(k));
    this.send(peer, { joinRequest: { who: this.selfId, advertise: this.advertise, heard, fresh: this.fresh } });
  }

  private onJoinStatus(status: chorus.IJoinStatus): void {
    if (this.mode !== 'joining') return;
    let learned = false;
    for (const m of (status.members ?? []).map(memberFromProto)) {
      if (m.key === this.key || this.seeds.has(m.key)) continue;
      this.seeds.set(m.key, m.advertise);
      this.out.addresses.push({ peer: m.key, advertise: m.advertise });
      learned = true;
    }
    if (learned) for (const k of this.seeds.keys()) this.sendJoinRequest(k);
  }

  private send(to: PeerKey, frame: chorus.IPeerFrame): void {
    this.out.sends.push({ to, frame });
  }

  private onFrame(from: PeerKey, frame: chorus.IPeerFrame): void {
    // The boundary: a frame the receiver cannot act on safely is dropped (src/core/frame-guard.ts).
    const ctx = { selfKey: this.key, view: this.view, delivered: this.nextDeliver - 1, flush: this.flush, proposal: this.proposal };
    const rejected = checkPeerFrame(ctx, from, frame);
    if (rejected !== undefined) {
      this.out.traces.push({ type: 'frame-rejected', from, reason: rejected });
      return;
    }
    const i = this.memberIndex(from);
    if (i >= 0) this.lastHeard[i] = this.nowMs;
    if (frame.data) this.onData(from, frame.data, frame);
    else if (frame.order) this.onOrder(from, frame.order, frame);
    else if (frame.heartbeat) this.onHeartbeat(from, frame.heartbeat, frame);
    else if (frame.fetch) this.onFetch(from, frame.fetch);
    else if (frame.joinRequest) this.onJoinRequest(from, frame.joinRequest);
    else if (frame.leaveRequest) this.onLeaveRequest(frame.leaveRequest);
    else if (frame.propose) this.onPropose(from, frame.propose);
    else if (frame.proposeAck) this.onProposeAck(from, frame.proposeAck);
    else if (frame.cut) this.onCut(from, frame.cut);
    else if (frame.ready) this.onReady(from, frame.ready);
    else if (frame.install) this.onInstall(from, frame.install);
    else if (frame.joinStatus) this.onJoinStatus(frame.joinStatus);
    else if (frame.stateChunk) this.onStateChunk(frame.stateChunk);
    else if (frame.stateAck) this.onStateAck(frame.stateAck);
    else if (frame.forceQuery) this.onForceQuery(from);
    else if (frame.forceInfo) this.onForceInfo(from, frame.forceInfo);
    else if (frame.foundingRelease) this.onFoundingRelease(from, frame.foundingRelease);
  }

  /** Frames of a view this daemon has not installed yet wait for it. */
  private deferIfFuture(from: PeerKey, viewId: number, frame: chorus.IPeerFrame): boolean {
    if (this.view === undefined || viewId > this.view.id) {
      if (this.futureFrames.length < 100_000) this.futureFrames.push({ from, frame });
      return true;
    }
    return false;
  }

  private memberIndex(key: PeerKey): number {
    const members = this.view?.members;
    if (members === undefined) return -1;
    for (let i = 0; i < members.length; i++) if (members[i]!.key === key) return i;
    return -1;
  }

  private onData(from: PeerKey, batch: chorus.IDataBatch, frame: chorus.IPeerFrame): void {
    const viewId = batch.viewId ?? 0;
    if (this.deferIfFuture(from, viewId, frame)) return;
    if (viewId < this.view!.id) return; // old view: settled by its flush
    const link = this.memberIndex(from);
    if (link < 0) return;
    const s = batch.relayed ? (batch.origin ?? 0) : link;
    if (s >= this.view!.members.length) return;
    if (!batch.relayed && batch.received !== undefined && batch.received !== null) {
      this.notePeerState(link, batch.received, batch.delivered ?? 0, batch.ordered ?? 0);
    }
    const firstSeq = batch.firstSeq ?? 0;
    const entries = batch.entries ?? [];
    if (firstSeq > this.received[s]! + 1) {
      // Frames were lost (a broken connection): ask for the gap and what follows.
      if (!batch.relayed) this.send(from, { fetch: { viewId, origin: s, fromSeq: this.received[s]! + 1, toSeq: firstSeq + entries.length - 1 } });
      return;
    }
    this.receiveEntries(s, firstSeq, entries);
  }

  private receiveEntries(s: number, firstSeq: number, entries: readonly chorus.IEntry[]): void {
    const have = this.received[s]!;
    const log = this.log[s]!;
    const base = this.logBase[s]!;
    let dep = this.lastDep[s]!;
    for (let i = have + 1 - firstSeq; i < entries.length; i++) {
      const e = entries[i]!;
      // Only the first entry of a batch carries its causal barrier: fill it in, so a
      // relayed copy carries it too.
      if ((e.dep ?? 0) > dep) dep = e.dep!;
      e.dep = dep;
      log[firstSeq + i - base] = e;
      this.retainedBytes += entryBytes(e);
      if (uniform(e)) this.uniformHeld += 1;
    }
    this.lastDep[s] = dep;
    const last = firstSeq + entries.length - 1;
    if (last > have) {
      this.received[s] = last;
      if (this.isCoordinator && this.mode === 'normal') this.sequenceAll();
    }
  }

  /** Sequencer: order what can be ordered; a causal entry can unblock another sender. */
  private sequenceAll(): void {
    for (let again = true; again; ) {
      again = false;
      for (let s = 0; s < this.received.length; s++) if (this.sequence(s)) again = true;
    }
  }

  /**
   * Sequencer: give global seqs to what was received from `s` and not yet ordered, up
   * to a causal entry whose causal past is not ordered yet: the order must not put an
   * entry before one that some member delivered before sending it.
   */
  private sequence(s: number): boolean {
    const from = this.ordered[s]! + 1;
    let to = this.received[s]!;
    const base = this.logBase[s]!;
    const log = this.log[s]!;
    for (let seq = from; seq <= to; seq++) {
      const passed = log[seq - base]!.causal?.passed;
      if (passed && !this.allAtLeast(this.ordered, passed, s)) {
        to = seq - 1;
        break;
      }
    }
    if (to < from) return false;
    const count = to - from + 1;
    const last = this.orderOutbox[this.orderOutbox.length - 1];
    if (last !== undefined && last.sender === s && last.firstSeq + last.count === from) {
      this.orderOutbox[this.orderOutbox.length - 1] = { ...last, count: last.count + count };
    } else {
      this.orderOutbox.push({ sender: s, firstSeq: from, count, firstGlobal: this.nextGlobal });
    }
    this.ordered[s] = to;
    this.nextGlobal += count;
    return true;
  }

  /** Whether something was delivered here early that the ordered path has not reached. */
  private deliveredAhead(): boolean {
    for (let t = 0; t < this.earlyDelivered.length; t++) if (this.earlyDelivered[t]! > this.deliveredSeq[t]!) return true;
    return false;
  }

  /** `have[t] >= need[t]` for every member t but `except` (whose own FIFO covers it). */
  private allAtLeast(have: readonly number[], need: readonly number[], except: number): boolean {
    for (let t = 0; t < need.length; t++) if (t !== except && (have[t] ?? 0) < need[t]!) return false;
    return true;
  }

  private flushOrders(): boolean {
    if (this.orderOutbox.length === 0 || this.view === undefined) return false;
    const ranges = this.orderOutbox;
    this.orderOutbox = [];
    const frame: chorus.IPeerFrame = { order: { viewId: this.view.id, ranges } };
    for (const m of this.view.members) if (m.key !== this.key) this.send(m.key, frame);
    for (const r of ranges) this.order.append(r);
    return true;
  }

  private onOrder(from: PeerKey, batch: chorus.IOrderBatch, frame: chorus.IPeerFrame): void {
    const viewId = batch.viewId ?? 0;
    if (this.deferIfFuture(from, viewId, frame)) return;
    if (viewId < this.view!.id) return;
    if (this.memberIndex(from) !== 0) return; // only the view's sequencer orders
    if (this.flush !== undefined) return; // after acknowledging a flush, the cut decides
    for (const r of batch.ranges ?? []) {
      const run = runFromProto(r);
      if (!this.order.fits(run)) {
        this.send(from, { fetch: { viewId, ordersFrom: this.order.known + 1 } });
        return;
      }
      this.order.append(run);
    }
  }

  private onHeartbeat(from: PeerKey, hb: chorus.IHeartbeat, frame: chorus.IPeerFrame): void {
    const viewId = hb.viewId ?? 0;
    if (this.mode === 'joining') {
      // A member answering our join request: the link from it to us works.
      const first = !this.heardFrom.has(from);
      this.heardFrom.set(from, this.nowMs);
      if (first) for (const k of this.seeds.keys()) this.sendJoinRequest(k);
      return;
    }
    if (this.view === undefined || viewId !== this.view.id) {
      if (this.view !== undefined && viewId > this.view.id) this.deferIfFuture(from, viewId, frame);
      // Still in a view we left behind: its Install did not reach it (lost on a cut link,
      // or its proposer crashed midway). Any daemon that installed the view tells it.
      else if (this.view !== undefined) this.pushInstall(from, viewId);
      return;
    }
    const i = this.memberIndex(from);
    if (i < 0) return;
    const theirs = hb.received ?? [];
    this.notePeerState(i, theirs, hb.delivered ?? 0, hb.ordered ?? 0);
    this.peerHolding[i] = hb.holding === true;
    const sus = new Set<number>();
    for (const x of hb.suspects ?? []) sus.add(x);
    this.peerSuspects[i] = sus;
    // What the sender had sent by its previous heartbeat and is still missing here was
    // lost with a broken connection. (Not by this heartbeat: a heartbeat may overtake a
    // large data frame, which the link cuts into pieces with control frames between.)
    const due = Math.min(theirs[i] ?? 0, this.sentByLastHeartbeat[i]!);
    this.sentByLastHeartbeat[i] = theirs[i] ?? 0;
    if (this.flush === undefined && due > this.received[i]!) {
      this.send(from, { fetch: { viewId, origin: i, fromSeq: this.received[i]! + 1, toSeq: due } });
    }
    if (i === 0 && this.flush === undefined && (hb.ordered ?? 0) > this.order.known) {
      this.send(from, { fetch: { viewId, ordersFrom: this.order.known + 1 } });
    }
  }

  /** What member `i` holds and delivered (for stability and garbage collection). */
  private notePeerState(i: number, received: readonly number[], delivered: number, ordered: number): void {
    const row = this.peerReceived[i]!;
    for (let s = 0; s < row.length; s++) row[s] = Math.max(row[s]!, received[s] ?? 0);
    this.peerDelivered[i] = Math.max(this.peerDelivered[i]!, delivered);
    this.peerOrdered[i] = Math.max(this.peerOrdered[i]!, ordered);
  }

  private onFetch(from: PeerKey, f: chorus.IFetch): void {
    if (this.view === undefined || (f.viewId ?? 0) !== this.view.id) return;
    if ((f.ordersFrom ?? 0) > 0) {
      const runs = this.order.from(f.ordersFrom ?? 0);
      if (runs.length > 0) this.send(from, { order: { viewId: this.view.id, ranges: runs } });
      return;
    }
    const s = f.origin ?? 0;
    if (s >= this.view.members.length) return;
    const base = this.logBase[s]!;
    const fromSeq = Math.max(f.fromSeq ?? 0, base);
    const toSeq = Math.min(f.toSeq ?? 0, this.received[s]!);
    if (toSeq < fromSeq) return;
    const entries: chorus.IEntry[] = [];
    for (let seq = fromSeq; seq <= toSeq; seq++) {
      const e = this.log[s]![seq - base];
      if (e === undefined) return; // collected: every member had it
      entries.push(e);
    }
    this.send(from, { data: { viewId: this.view.id, firstSeq: fromSeq, entries, origin: s, relayed: true } });
  }

  /** Deliver, in global order, every entry whose data and place are both known. */
  private deliverReady(): boolean {
    if (this.view === undefined || this.flush !== undefined) return false;
    if (this.installing.size > 0 && this.holding()) return false;
    return this.deliverThrough(Number.POSITIVE_INFINITY, undefined);
  }

  /**
   * Deliver up to `limit` (inclusive). With `cutSeqs` (a flush), a slot whose entry is
   * beyond the cut is skipped: no survivor holds it.
   */
  private deliverThrough(limit: number, cutSeqs: readonly number[] | undefined): boolean {
    const before = this.nextDeliver;
    while (this.nextDeliver <= limit) {
      const slot = this.order.slot(this.nextDeliver);
      if (slot === undefined) break;
      const { sender: s, seq } = slot;
      if (cutSeqs !== undefined && seq > (cutSeqs[s] ?? 0)) {
        this.nextDeliver += 1;
        continue;
      }
      if (this.received[s]! < seq) break; // data not here yet
      const entry = this.log[s]![seq - this.logBase[s]!];
      invariant(entry !== undefined, `entry ${s}/${seq} collected before delivery`);
      const order = entry.order ?? chorus.Order.ORDER_TOTAL;
      // `safe` messages and every group-table entry (joins, leaves, end-of-view markers,
      // transfer outcomes) wait until every member has the entry and its place (uniform
      // delivery): a sequencer that delivered a group view change alone and crashed
      // would otherwise leave a view id that the survivors then use with other members.
      // A flush (cutSeqs) delivers what its install prescribes to every survivor.
      const isUniform = uniform(entry);
      if (isUniform && cutSeqs === undefined && !this.safeStable(s, seq, this.nextDeliver)) break;
      if (isUniform) this.uniformHeld -= 1;
      this.nextDeliver += 1;
      this.deliveredSeq[s] = seq;
      const sender = this.view!.members[s]!;
      const messageId = `${entry.client ?? ''}/${entry.clientSeq ?? 0}`;
      this.skipLocal = seq <= this.early[s]! && (order === chorus.Order.ORDER_FIFO || order === chorus.Order.ORDER_CAUSAL);
      const bad = this.table.apply(entry, sender.id.name, messageId, this.groupFx);
      if (bad !== undefined) this.out.traces.push({ type: 'frame-rejected', from: sender.key, reason: bad });
      this.skipLocal = false;
      if (this.mode === 'left') break;
    }
    return this.nextDeliver !== before;
  }

  /**
   * Whether `safe` entry s/seq may be delivered at place `global`: every member holds it,
   * knows its place, and holds every entry placed before it (Totem's all-received-up-to;
   * those are the entries this daemon delivered, deliveredSeq per sender). Otherwise a
   * flush after crashes could skip an earlier slot and give the safe entry another place.
   */
  private safeStable(s: number, seq: number, global: number): boolean {
    const n = this.view!.members.length;
    for (let m = 0; m < n; m++) {
      if (m === this.myIndex) continue;
      const row = this.peerReceived[m]!;
      if (row[s]! < seq || this.peerOrdered[m]! < global) return false;
      for (let t = 0; t < n; t++) if (row[t]! < this.deliveredSeq[t]!) return false;
    }
    return true;
  }

  /**
   * Early delivery of `fifo` and `causal` entries, without waiting for the sequencer:
   * each sender's stream is passed in order; an entry is delivered once its group is
   * in the view the entry was sent in and (causal) this daemon passed everything the
   * sender had passed when it sent it. The ordered path later applies the entry to the
   * group table without delivering it again. Not during a flush: then the install says
   * what is delivered.
   */
  private deliverEarly(): boolean {
    if (this.view === undefined || this.flush !== undefined || this.mode !== 'normal') return false;
    if (this.installing.size > 0 && this.holding()) return false;
    let progress = false;
    for (let again = true; again; ) {
      again = false;
      for (let t = 0; t < this.early.length; t++) {
        const from = Math.max(this.early[t]!, this.deliveredSeq[t]!);
        const to = this.received[t]!;
        const base = this.logBase[t]!;
        const log = this.log[t]!;
        let k = from;
        while (k < to && this.passEarly(t, k + 1, log[k + 1 - base]!)) k++;
        if (k !== this.early[t]) {
          this.early[t] = k;
          again = true;
          progress = true;
        }
      }
    }
    return progress;
  }

  /** Whether early delivery may pass entry `e` of sender `t` (delivering it if it is due here). */
  private passEarly(t: number, seq: number, e: chorus.IEntry): boolean {
    if ((e.kind ?? chorus.Entry.Kind.DATA) !== chorus.Entry.Kind.DATA) return true; // views change on the ordered path
    const g = this.table.get(e.group ?? '');
    // Sent in a view this daemon has not installed yet (or of a group it has not seen
    // yet): its members may include a local client whose join is still on its way.
    // Wait for the ordered path.
    if (g === undefined || (e.groupView ?? 0) > g.viewId) return false;
    const local = g.members.some((m) => m.daemon === this.selfId.name && this.clients.has(m.client));
    if (!local) return true;
    const order = e.order ?? chorus.Order.ORDER_TOTAL;
    // An undelivered total/safe entry holds back the sender's later entries (FIFO).
    if (order !== chorus.Order.ORDER_FIFO && order !== chorus.Order.ORDER_CAUSAL) return false;
    const passed = e.causal?.passed;
    if (passed && !this.allAtLeast(this.early, passed, t)) return false;
    // Also wait for the ordered prefix the sender had delivered when it sent the entry:
    // a flush never cuts an entry delivered early because a slot it follows was lost
    // (computeCut keeps what was delivered early; this makes that sound).
    if ((e.dep ?? 0) > this.nextDeliver - 1) return false;
    this.onDeliver(g, e, `${e.client ?? ''}/${e.clientSeq ?? 0}`, 0);
    this.earlyDelivered[t] = seq;
    return true;
  }

  /** While uniform entries wait, tell every member at once what this daemon holds and knows. */
  private acknowledgeSafe(): void {
    if (this.uniformHeld <= 0 || this.view === undefined || this.flush !== undefined || this.mode !== 'normal') return;
    let received = 0;
    for (const r of this.received) received += r;
    if (received === this.lastAckReceived && this.order.known === this.lastAckOrdered) return;
    this.lastAckReceived = received;
    this.lastAckOrdered = this.order.known;
    for (let i = 0; i < this.view.members.length; i++) if (i !== this.myIndex) this.sendHeartbeat(i);
  }

  /** Drop entries every member has and this daemon delivered; forget delivered order. */
  private collectGarbage(): void {
    const view = this.view;
    if (view === undefined || this.flush !== undefined || this.proposal !== undefined) return;
    const n = view.members.length;
    for (let s = 0; s < n; s++) {
      let stable = this.received[s]!;
      for (let m = 0; m < n; m++) if (m !== this.myIndex) stable = Math.min(stable, this.peerReceived[m]![s]!);
      const upTo = Math.min(stable, this.deliveredSeq[s]!);
      const base = this.logBase[s]!;
      const log = this.log[s]!;
      // Collect in chunks: slicing the log on every step would copy it on every frame.
      const collectable = upTo - base + 1;
      if (collectable <= 0 || (collectable < 256 && collectable * 2 < log.length)) continue;
      for (let k = 0; k <= upTo - base; k++) {
        const e = log[k];
        if (e !== undefined) this.retainedBytes -= entryBytes(e);
      }
      this.log[s] = log.slice(upTo - base + 1);
      this.logBase[s] = upTo + 1;
    }
    let allDelivered = this.nextDeliver - 1;
    for (let m = 0; m < n; m++) if (m !== this.myIndex) allDelivered = Math.min(allDelivered, this.peerDelivered[m]!);
    this.order.forgetThrough(allDelivered);
  }

  // ------------------------------------------------------------------ failure detection

  private heartbeats(): void {
    if (this.view === undefined) return;
    if (!this.suspectsChanged && this.nowMs < this.lastHeartbeatMs + this.heartbeatMs) return;
    this.suspectsChanged = false;
    this.lastHeartbeatMs = this.nowMs;
    for (let i = 0; i < this.view.members.length; i++) if (i !== this.myIndex) this.sendHeartbeat(i);
  }

  private sendHeartbeat(i: number): void {
    const view = this.view!;
    this.send(view.members[i]!.key, {
      heartbeat: {
        viewId: view.id,
        received: this.received.slice(),
        suspects: [...this.suspects],
        ordered: this.order.known,
        delivered: this.nextDeliver - 1,
        holding: this.installing.size > 0 && this.holding(),
      },
    });
  }

  private detectFailures(): boolean {
    if (this.view === undefined) return false;
    let changed = false;
    for (let i = 0; i < this.view.members.length; i++) {
      if (i === this.myIndex || this.suspects.has(i)) continue;
      if (this.nowMs - this.lastHeard[i]! > this.suspectMs) {
        this.suspects.add(i);
        changed = true;
        this.out.traces.push({ type: 'suspect', member: this.view.members[i]!.key });
      }
    }
    changed = this.excludeLaggard() || changed;
    if (changed) this.suspectsChanged = true;
    return changed;
  }

  /**
   * A member that keeps the buffer of unstable entries over half its bound for longer
   * than twice the suspect timeout (it does not acknowledge what it receives) is
   * excluded like a crashed one: one slow daemon must not stall the cluster. The
   * coordinator decides, so the slow member (not its reporter) is the one dropped.
   */
  private excludeLaggard(): boolean {
    if (this.myIndex !== 0 || this.flush !== undefined || this.proposal !== undefined) {
      this.bufferFullSinceMs = undefined;
      return false;
    }
    if (this.retainedBytes <= this.maxBufferBytes / 2) {
      this.bufferFullSinceMs = undefined;
      return false;
    }
    this.bufferFullSinceMs ??= this.nowMs;
    if (this.nowMs - this.bufferFullSinceMs <= 2 * this.suspectMs) return false;
    const n = this.view!.members.length;
    let laggard = -1;
    let least = Number.POSITIVE_INFINITY;
    for (let m = 1; m < n; m++) {
      if (this.suspects.has(m) || this.peerHolding[m]) continue; // holding for a state transfer: lagging on purpose
      let acked = 0;
      for (let s = 0; s < n; s++) acked += this.received[s]! - this.peerReceived[m]![s]!;
      // Larger backlog = more behind.
      if (-acked < least) {
        least = -acked;
        laggard = m;
      }
    }
    if (laggard < 0) return false;
    this.suspects.add(laggard);
    this.laggards.add(this.view!.members[laggard]!.key);
    this.bufferFullSinceMs = undefined;
    this.out.traces.push({ type: 'suspect', member: this.view!.members[laggard]!.key });
    return true;
  }

  /**
   * The members to keep: the largest set of members this daemon does not suspect that
   * all reach each other (no one suspects another), with this daemon in it; ties go to
   * the oldest. When only some pairs cannot reach each other, the daemon with the broken
   * links is the one dropped, and a connected majority never shrinks to a minority.
   */
  private clique(): ViewMember[] {
    const view = this.view!;
    const candidates: number[] = [];
    for (let i = 0; i < view.members.length; i++) if (i === this.myIndex || !this.suspects.has(i)) candidates.push(i);
    return largestClique(candidates, this.myIndex, (a, b) => this.conflict(a, b)).map((i) => view.members[i]!);
  }

  private conflict(a: number, b: number): boolean {
    const sa = a === this.myIndex ? this.suspects : this.peerSuspects[a]!;
    const sb = b === this.myIndex ? this.suspects : this.peerSuspects[b]!;
    return sa.has(b) || sb.has(a);
  }

  // ------------------------------------------------------------------ group effects

  private localMembers(g: GroupRecord): LocalClient[] {
    const out: LocalClient[] = [];
    for (const m of g.members) {
      if (m.daemon !== this.selfId.name) continue;
      const c = this.clients.get(m.client);
      if (c !== undefined) out.push(c);
    }
    return out;
  }

  private toClient(client: string, event: chorus.IDaemonEvent): void {
    this.out.clientEvents.push({ client, event } satisfies ClientOutput);
  }

  private reply(client: string, req: number, ok: boolean, code?: ChorusErrorCode, message?: string, messageId?: string): void {
    // Only the fields that say something: one reply per multicast, encoded on the hot path.
    const reply: chorus.IReply = { req, ok };
    if (code !== undefined) reply.errorCode = code;
    if (message !== undefined) reply.errorMessage = message;
    if (messageId !== undefined) reply.messageId = messageId;
    this.toClient(client, { reply });
  }

  private onDeliver(g: GroupRecord, entry: chorus.IEntry, id: string, seq: number): void {
    if (this.skipLocal) return; // delivered early
    const d: chorus.IDelivery = { group: g.name, id, sender: entry.client ?? '', viewId: g.viewId, data: entry.data ?? new Uint8Array(0) };
    // Defaults (total, seq 0 for fifo/causal) stay off the wire: 11 bytes per delivery.
    if (entry.order) d.order = entry.order;
    if (seq !== 0) d.seq = seq;
    const delivery: chorus.IDaemonEvent = { delivery: d };
    for (const m of g.members) {
      if (m.daemon !== this.selfId.name || !this.clients.has(m.client)) continue;
      this.toClient(m.client, delivery);
      if (m.awaitingState && this.installing.size > 0) {
        const t = this.installing.get(transferKey(g.name, m.client));
        if (t !== undefined) t.bytes += entry.data?.length ?? 0;
      }
    }
    const sender = this.clients.get(entry.client ?? '');
    if (sender !== undefined) {
      const req = sender.waitDelivered.get(id);
      if (req !== undefined) {
        sender.waitDelivered.delete(id);
        this.reply(sender.id, req, true, undefined, undefined, id);
      }
    }
  }

  private onGroupChangeStarted(g: GroupRecord, hosts: ReadonlySet<string>): void {
    if (!hosts.has(this.selfId.name)) return;
    for (const c of this.localMembers(g)) this.toClient(c.id, { signal: { group: g.name, kind: chorus.GroupSignal.Kind.BLOCK } });
    // The marker follows every entry this daemon stamped with the old view. During a
    // daemon flush it is not needed: the daemon view boundary completes the change.
    if (this.mode === 'normal' && this.flush === undefined) {
      this.outbox.push({ kind: chorus.Entry.Kind.END_OF_VIEW, group: g.name, groupView: g.viewId });
    }
  }

  private onGroupViewInstalled(change: GroupViewChange): void {
    const g = change.group;
    this.boundaryViews.add(g.name);
    const leftIds = change.left.map((l) => l.member.client);
    const event: chorus.IDaemonEvent = {
      view: {
        group: g.name,
        viewId: g.viewId,
        members: g.members.map((m) => m.client),
        joined: change.joined.map((m) => m.client),
        left: leftIds,
        leftCauses: change.left.map((l) => causeToProto(l.cause)),
      },
    };
    this.out.traces.push({
      type: 'group-view',
      group: g.name,
      viewId: g.viewId,
      members: event.view!.members!,
      joined: event.view!.joined!,
      left: leftIds,
    });
    for (const m of g.members) {
      if (m.daemon !== this.selfId.name) continue;
      const c = this.clients.get(m.client);
      if (c === undefined) continue;
      this.toClient(c.id, event);
      const joinReq = c.pendingJoins.get(g.name);
      if (joinReq !== undefined) {
        c.pendingJoins.delete(g.name);
        this.reply(c.id, joinReq, true);
      } else {
        this.toClient(c.id, { signal: { group: g.name, kind: chorus.GroupSignal.Kind.UNBLOCK } });
      }
    }
    for (const l of change.left) this.finishLeave(l.member.client, l.member.daemon, g.name);
    for (const m of change.abortedJoins) this.finishLeave(m.client, m.daemon, g.name);
    for (const l of change.left) {
      const key = transferKey(g.name, l.member.client);
      this.installing.delete(key);
      if (!this.failedJoins.delete(key)) continue;
      const retry = this.deferredJoins.get(key);
      this.deferredJoins.delete(key);
      if (retry !== undefined) this.onClientRequest(retry.client, retry.request);
    }
    for (const [k, early] of this.earlyChunks) {
      // This daemon is now at or past the view those chunks wait for: if the plan here
      // did not start that transfer, they are for one that is over.
      if (early.group !== g.name || early.transfer > g.viewId) continue;
      if (change.transfers.some((p) => p.kind === 'begin' && p.transfer === early.transfer && p.joiner.client === early.joiner)) continue;
      this.earlyChunks.delete(k);
      this.routeAck({ group: g.name, joiner: early.joiner, provider: early.chunks[0]!.provider ?? '', transfer: early.transfer, chunk: ABORTED_CHUNK });
    }
    for (const plan of change.transfers) this.startTransfer(g, plan);
  }

  // ------------------------------------------------------------------ state transfer
  //
  // A transfer is planned in the replicated group table at a view install (everyone
  // picks the same provider); the chunks then travel point to point, provider SDK ->
  // its daemon -> the joiner's daemon -> the joiner SDK, outside the ordered stream, and
  // the joiner's acknowledgements travel back as credit. Only the end of a transfer
  // (STATE_INSTALLED) and a provider's failure (STATE_FAILED) are ordered.

  private startTransfer(g: GroupRecord, plan: TransferPlan): void {
    const joiner = plan.joiner;
    const local = joiner.daemon === this.selfId.name && this.clients.has(joiner.client);
    if (plan.kind === 'none') {
      if (local) this.toClient(joiner.client, { state: { group: g.name, kind: chorus.StateTransfer.Kind.NONE } });
      return;
    }
    if (plan.kind === 'failed') {
      if (!local) return;
      this.installing.delete(transferKey(g.name, joiner.client));
      this.toClient(joiner.client, {
        state: {
          group: g.name,
          kind: chorus.StateTransfer.Kind.FAILED,
          errorCode: 'ERR_NO_STATE_PROVIDER',
          errorMessage: `no member of ${g.name} can provide its state`,
        },
      });
      // The joiner is in the view already: take it out again (others see it leave). A
      // join it sends meanwhile waits for that leave (see onClientRequest).
      this.failedJoins.add(transferKey(g.name, joiner.client));
      this.queueLocal({ kind: chorus.Entry.Kind.GROUP_LEAVE, group: g.name, client: joiner.client }, undefined);
      return;
    }
    const provider = plan.provider;
    if (provider.daemon === this.selfId.name && this.clients.has(provider.client)) {
      // Right after the view event, before any message of the view: the checkpoint.
      this.toClient(provider.client, { checkpoint: { group: g.name, joiner: joiner.client, transfer: plan.transfer } });
    }
    if (local) {
      const key = transferKey(g.name, joiner.client);
      this.installing.set(key, { group: g.name, joiner: joiner.client, transfer: plan.transfer, bytes: 0, lastChunkMs: this.nowMs });
      this.toClient(joiner.client, {
        state: { group: g.name, kind: chorus.StateTransfer.Kind.BEGIN, transfer: plan.transfer, provider: provider.client },
      });
      const early = this.earlyChunks.get(key);
      this.earlyChunks.delete(key);
      if (early !== undefined && early.transfer === plan.transfer) for (const c of early.chunks) this.onStateChunk(c);
    }
  }

  /** The transfer `chunk` belongs to is the current one of its joiner (per the table). */
  private currentTransfer(group: string, joiner: string, provider: string, transfer: number): GroupMember | undefined {
    const m = this.table.get(group)?.members.find((x) => x.client === joiner);
    if (m === undefined || !m.awaitingState || m.provider !== provider || m.transfer !== transfer) return undefined;
    return m;
  }

  private daemonKey(name: string): PeerKey | undefined {
    return this.view?.members.find((m) => m.id.name === name)?.key;
  }

  /** Provider SDK -> here: forward a chunk to the joiner's daemon (or report a failed provide()). */
  private onProviderChunk(c: LocalClient, req: number, chunk: chorus.IStateChunk): void {
    const group = chunk.group ?? '';
    const joinerId = chunk.joiner ?? '';
    const transfer = chunk.transfer ?? 0;
    const joiner = this.currentTransfer(group, joinerId, c.id, transfer);
    if (joiner === undefined || this.mode !== 'normal') {
      this.reply(c.id, req, false, 'ERR_STATE_ABORTED', `the transfer of ${group} to ${joinerId} at view ${transfer} is over`);
      return;
    }
    if ((chunk.errorCode ?? '') !== '') {
      this.queueLocal({ kind: chorus.Entry.Kind.STATE_FAILED, group, client: c.id, joiner: joinerId, groupView: transfer }, undefined);
      this.reply(c.id, req, true);
      return;
    }
    const frame: chorus.IStateChunk = { ...chunk, provider: c.id };
    if (joiner.daemon === this.selfId.name) this.onStateChunk(frame);
    else {
      const key = this.daemonKey(joiner.daemon);
      if (key === undefined) {
        this.reply(c.id, req, false, 'ERR_STATE_ABORTED', `the daemon of ${joinerId} is gone`);
        return;
      }
      this.send(key, { stateChunk: frame });
    }
    this.reply(c.id, req, true);
  }

  /** A chunk for a local joiner. Chunks of a transfer that is over are dropped. */
  private onStateChunk(chunk: chorus.IStateChunk): void {
    const group = chunk.group ?? '';
    const joiner = chunk.joiner ?? '';
    const t = this.installing.get(transferKey(group, joiner));
    const transfer = chunk.transfer ?? 0;
    if (t === undefined && transfer > (this.table.get(group)?.viewId ?? 0) && this.clients.has(joiner)) {
      // The provider's daemon installed the view first: keep the chunk until this daemon
      // installs it too and starts the transfer (the provider's credit window bounds it).
      const key = transferKey(group, joiner);
      const early = this.earlyChunks.get(key);
      if (early !== undefined && early.transfer === transfer) early.chunks.push(chunk);
      else this.earlyChunks.set(key, { group, joiner, transfer, chunks: [chunk] });
      return;
    }
    if (t === undefined || t.transfer !== transfer || !this.clients.has(joiner)) {
      // Tell the provider at once, so it does not wait for credit that never comes.
      this.routeAck({ group, joiner, provider: chunk.provider ?? '', transfer: chunk.transfer ?? 0, chunk: ABORTED_CHUNK });
      return;
    }
    t.lastChunkMs = this.nowMs;
    this.toClient(joiner, {
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

  /** Joiner SDK -> here: credit for the provider, or the end of the transfer. */
  private onJoinerAck(c: LocalClient, req: number, ack: chorus.IStateAck): void {
    const group = ack.group ?? '';
    const key = transferKey(group, c.id);
    const t = this.installing.get(key);
    this.reply(c.id, req, true);
    if (t === undefined || t.transfer !== (ack.transfer ?? 0)) return;
    t.lastChunkMs = this.nowMs;
    if (ack.installed) {
      this.installing.delete(key);
      this.queueLocal({ kind: chorus.Entry.Kind.STATE_INSTALLED, group, client: c.id, groupView: t.transfer }, undefined);
    }
    this.routeAck({ ...ack, joiner: c.id, installed: false });
  }

  private routeAck(ack: chorus.IStateAck): void {
    const provider = this.table.get(ack.group ?? '')?.members.find((m) => m.client === (ack.provider ?? ''));
    if (provider === undefined) return;
    if (provider.daemon === this.selfId.name) this.onStateAck(ack);
    else {
      const key = this.daemonKey(provider.daemon);
      if (key !== undefined) this.send(key, { stateAck: ack });
    }
  }

  /** Credit for a local provider. */
  private onStateAck(ack: chorus.IStateAck): void {
    const provider = ack.provider ?? '';
    if (!this.clients.has(provider)) return;
    this.toClient(provider, { stateAck: { group: ack.group ?? '', joiner: ack.joiner ?? '', transfer: ack.transfer ?? 0, chunk: ack.chunk ?? 0 } });
  }

  /**
   * While a local joiner installs state, its new messages wait in its SDK. Past a bound,
   * this daemon holds back delivery (which slows every sender of the cluster through the
   * bounded buffers) until the install finishes — unless the transfer stalls, so that a
   * provider failure can still be ordered and answered.
   */
  /**
   * A transfer that made no progress (no chunk, no acknowledgement of the joiner) for
   * STATE_STALL_MS: its provider is alive but silent (stuck in provide(), or its SDK
   * lost the checkpoint). Report it as failed, so another member provides.
   */
  private failStalledTransfers(): void {
    if (this.mode !== 'normal' || this.flush !== undefined) return;
    for (const t of this.installing.values()) {
      if (this.nowMs - t.lastChunkMs < STATE_STALL_MS) continue;
      const joiner = t.joiner;
      const m = this.table.get(t.group)?.members.find((x) => x.client === joiner);
      t.lastChunkMs = this.nowMs; // once per stall period
      if (m === undefined || !m.awaitingState || m.transfer !== t.transfer) continue;
      this.out.traces.push({ type: 'state-stalled', group: t.group, joiner, provider: m.provider, transfer: t.transfer });
      this.queueLocal({ kind: chorus.Entry.Kind.STATE_FAILED, group: t.group, client: m.provider, joiner, groupView: t.transfer }, undefined);
    }
  }

  private holding(): boolean {
    for (const t of this.installing.values()) {
      if (t.bytes > this.maxBufferBytes / 4 && this.nowMs - t.lastChunkMs < HOLD_GRACE_MS) return true;
    }
    return false;
  }

  private finishLeave(client: string, daemon: string, group: string): void {
    if (daemon !== this.selfId.name) return;
    const c = this.clients.get(client);
    if (c === undefined) return;
    const leaveReq = c.pendingLeaves.get(group);
    if (leaveReq !== undefined) {
      c.pendingLeaves.delete(group);
      this.reply(c.id, leaveReq, true);
    }
    const joinReq = c.pendingJoins.get(group);
    if (joinReq !== undefined) {
      c.pendingJoins.delete(group);
      this.reply(c.id, joinReq, false, 'ERR_LEFT', `left ${group} before the join completed`);
    }
  }

  // ------------------------------------------------------------------ clients

  private onClientRequest(clientId: string, request: chorus.IClientRequest): void {
    const c = this.clients.get(clientId);
    if (c === undefined) return;
    const req = request.req ?? 0;
    if (this.leaveRequested) {
      this.reply(c.id, req, false, 'ERR_DISCONNECTED', 'the daemon is shutting down');
      return;
    }
    if (request.join) {
      const group = request.join.group ?? '';
      if (group.length === 0 || group.length > MAX_GROUP_NAME_LENGTH) {
        this.reply(c.id, req, false, 'ERR_BAD_GROUP_NAME', `group names have 1 to ${MAX_GROUP_NAME_LENGTH} characters`);
        return;
      }
      if (this.failedJoins.has(transferKey(group, c.id)) && !this.deferredJoins.has(transferKey(group, c.id))) {
        // Its last join failed for want of state, and the leave that undoes it is not
        // installed yet: this join goes on once it is.
        this.deferredJoins.set(transferKey(group, c.id), { client: c.id, request });
        return;
      }
      if (this.table.isMember(group, c.id) || c.pendingJoins.has(group)) {
        this.reply(c.id, req, false, 'ERR_ALREADY_MEMBER', `already a member of ${group}`);
        return;
      }
      c.pendingJoins.set(group, req);
      const entry: chorus.IEntry = { kind: chorus.Entry.Kind.GROUP_JOIN, group, client: c.id, clientSeq: req };
      if (request.join.wantState) entry.wantState = true;
      if (request.join.offerState) entry.offerState = true;
      this.queueLocal(entry, undefined);
    } else if (request.leave) {
      const group = request.leave.group ?? '';
      if (!this.table.isMember(group, c.id) || c.pendingLeaves.has(group)) {
        this.reply(c.id, req, false, 'ERR_NOT_MEMBER', `not a member of ${group}`);
        return;
      }
      c.pendingLeaves.set(group, req);
      this.queueLocal({ kind: chorus.Entry.Kind.GROUP_LEAVE, group, client: c.id, clientSeq: req }, undefined);
    } else if (request.multicast) {
      const mc = request.multicast;
      const group = mc.group ?? '';
      if (!this.table.isMember(group, c.id) || c.pendingLeaves.has(group)) {
        this.reply(c.id, req, false, 'ERR_NOT_MEMBER', `not a member of ${group}`);
        return;
      }
      const data = mc.data ?? new Uint8Array(0);
      if (data.length > this.maxMessageBytes) {
        this.reply(c.id, req, false, 'ERR_MESSAGE_TOO_LARGE', `message of ${data.length} bytes exceeds ${this.maxMessageBytes}`);
        return;
      }
      const order = mc.order ?? chorus.Order.ORDER_TOTAL;
      if (ORDER_NAMES[order] === undefined) {
        this.reply(c.id, req, false, 'ERR_BAD_REQUEST', `unknown order ${order}`);
        return;
      }
      const id = `${c.id}/${req}`;
      const entry: chorus.IEntry = { kind: chorus.Entry.Kind.DATA, group, client: c.id, clientSeq: req, order, data };
      if (mc.waitDelivered) c.waitDelivered.set(id, req);
      // Flow control: while the buffers are full, the multicast is accepted (answered)
      // only when it is sent, so the SDK's multicast() promise slows the sender.
      const full = this.retainedBytes + this.pendingBytes >= this.maxBufferBytes;
      if (!mc.waitDelivered && !full) this.reply(c.id, req, true, undefined, undefined, id);
      this.queueLocal(entry, !mc.waitDelivered && full ? { client: c.id, req, id } : undefined);
    } else if (request.stateChunk) {
      this.onProviderChunk(c, req, request.stateChunk);
    } else if (request.stateAck) {
      this.onJoinerAck(c, req, request.stateAck);
    } else if (request.hello) {
      this.reply(c.id, req, false, 'ERR_BAD_REQUEST', 'hello was already done');
    } else {
      this.reply(c.id, req, false, 'ERR_BAD_REQUEST', 'empty request');
    }
  }

  private queueLocal(entry: chorus.IEntry, replyTo: LocalEntry['replyTo']): void {
    this.pendingLocal.push({ entry, replyTo });
    this.pendingBytes += entryBytes(entry);
  }

  private onClientDisconnect(clientId: string, expelled: boolean): void {
    const c = this.clients.get(clientId);
    if (c === undefined) return;
    this.clients.delete(clientId);
    for (const [k, t] of this.installing) if (t.joiner === clientId) this.installing.delete(k);
    for (const [k, e] of this.earlyChunks) if (e.joiner === clientId) this.earlyChunks.delete(k);
    for (const [k, d] of this.deferredJoins) if (d.client === clientId) this.deferredJoins.delete(k);
    const groups = new Set(c.pendingJoins.keys());
    for (const g of this.table.sorted()) if (g.members.some((m) => m.client === clientId)) groups.add(g.name);
    for (const group of [...groups].sort()) {
      const entry: chorus.IEntry = { kind: chorus.Entry.Kind.CLIENT_GONE, group, client: clientId };
      if (expelled) entry.cause = chorus.Cause.CAUSE_EXPELLED;
      this.queueLocal(entry, undefined);
    }
  }

  /**
   * Move accepted requests into the sending stream, stamped with their group's current
   * view. Data and leaves of a group that is changing wait for its next view (keeps
   * guarantee 2: they are sent, and delivered, in that view). Stops while the buffer
   * of unstable entries is full (flow control).
   */
  private pump(): boolean {
    if (this.mode !== 'normal' || this.flush !== undefined || this.pendingLocal.length === 0) return false;
    const before = this.outbox.length;
    let budget = this.maxBufferBytes - this.retainedBytes;
    let keep = 0;
    let i = 0;
    for (; i < this.pendingLocal.length; i++) {
      if (budget <= 0) break;
      const item = this.pendingLocal[i]!;
      const e = item.entry;
      const g = this.table.get(e.group ?? '');
      if (e.kind !== chorus.Entry.Kind.GROUP_JOIN && g?.change !== undefined) {
        this.pendingLocal[keep++] = item;
        continue;
      }
      this.pendingBytes -= entryBytes(e);
      if (e.kind === chorus.Entry.Kind.DATA) {
        if (g === undefined || !g.members.some((m) => m.client === e.client)) {
          // The sender left (or was expelled) before its message could be sent.
          if (item.replyTo) this.reply(item.replyTo.client, item.replyTo.req, false, 'ERR_NOT_MEMBER', `not a member of ${e.group ?? ''}`);
          continue;
        }
        e.groupView = g.viewId;
        // Causal past: everything passed here so far (what this client can have seen).
        // `fifo` carries it too and is delivered like `causal` (a stronger order is
        // allowed): happened-before runs through fifo messages as well, and a causal or
        // total message sent after one must follow that message's own causal past. A
        // total/safe entry needs it only when something delivered here early is not
        // ordered yet (the sequencer must place the entry after it); otherwise its place
        // in the order already follows everything delivered here.
        if (e.order === chorus.Order.ORDER_CAUSAL || e.order === chorus.Order.ORDER_FIFO || this.deliveredAhead()) {
          e.causal = { passed: this.early.slice() };
        }
        if (this.traceSends) {
          this.out.traces.push({ type: 'send', client: e.client ?? '', group: g.name, id: `${e.client ?? ''}/${e.clientSeq ?? 0}`, viewId: g.viewId, order: e.order ?? 0 });
        }
      } else if (e.kind !== chorus.Entry.Kind.GROUP_JOIN) {
        e.groupView = g?.viewId ?? 0;
      }
      if (item.replyTo) this.reply(item.replyTo.client, item.replyTo.req, true, undefined, undefined, item.replyTo.id);
      this.outbox.push(e);
      budget -= entryBytes(e);
    }
    for (; i < this.pendingLocal.length; i++) this.pendingLocal[keep++] = this.pendingLocal[i]!;
    this.pendingLocal.length = keep;
    return this.outbox.length !== before;
  }

  private flushOutbox(): boolean {
    if (this.outbox.length === 0 || this.view === undefined || this.mode === 'joining') return false;
    const entries = this.outbox;
    this.outbox = [];
    // Causal barrier: everything delivered here so far happened before these entries.
    entries[0]!.dep = this.nextDeliver - 1;
    const firstSeq = this.sentSeq + 1;
    this.sentSeq += entries.length;
    this.receiveEntries(this.myIndex, firstSeq, entries);
    const frame: chorus.IPeerFrame = {
      data: {
        viewId: this.view.id,
        firstSeq,
        entries,
        received: this.received.slice(),
        delivered: this.nextDeliver - 1,
        ordered: this.order.known,
      },
    };
    for (const m of this.view.members) if (m.key !== this.key) this.send(m.key, frame);
    return true;
  }

  // ------------------------------------------------------------------ joins and leaves

  private onJoinRequest(from: PeerKey, req: chorus.IJoinRequest): void {
    const who = req.who;
    if (!who?.name || !who.incarnation) return;
    const key = peerKey({ name: who.name, incarnation: who.incarnation });
    if (this.view === undefined || this.mode === 'joining') {
      // No primary here: another fresh daemon looking for one is a bootstrap candidate.
      if (this.fresh && req.fresh && from === key && key !== this.key) {
        if (!this.seeds.has(key)) {
          this.seeds.set(key, req.advertise ?? '');
          this.out.addresses.push({ peer: key, advertise: req.advertise ?? '' });
          this.sendJoinRequest(key);
        }
        this.bootstrapPeers.set(key, { advertise: req.advertise ?? '', seenMs: this.nowMs });
      }
      return;
    }
    const direct = from === key;
    if (direct) {
      // Answer the joiner straight away: it learns that the link toward it works.
      this.out.addresses.push({ peer: key, advertise: req.advertise ?? '' });
      this.send(key, { heartbeat: { viewId: this.view.id } });
    }
    if (!this.isCoordinator) {
      if (direct) this.send(this.view.members[0]!.key, { joinRequest: req });
      return;
    }
    if (this.memberIndex(key) >= 0 || this.joinQueue.has(key)) return; // a repeat
    if (this.proposal?.newView.members.some((m) => m.key === key)) return; // being added now
    // A name already in the view under another incarnation: that run is gone (a daemon
    // restarted). Exclude it first; the newcomer's retries get it in afterwards.
    const old = this.view.members.findIndex((m) => m.id.name === who.name);
    if (old >= 0) {
      if (old !== this.myIndex && !this.suspects.has(old)) {
        this.suspects.add(old);
        this.suspectsChanged = true;
        this.out.traces.push({ type: 'suspect', member: this.view.members[old]!.key });
      }
      return;
    }
    // Admit a joiner only once every member hears it and it hears every member: a
    // daemon behind a broken link would be dropped again at once (views would flap).
    let ev = this.joinEvidence.get(key);
    if (ev === undefined) {
      ev = { heardBy: new Map(), heard: new Set() };
      this.joinEvidence.set(key, ev);
    }
    ev.heardBy.set(direct ? this.key : from, this.nowMs);
    if (direct) ev.heard = new Set((req.heard ?? []).map((id) => peerKey({ name: id.name ?? '', incarnation: id.incarnation ?? '' })));
    const fresh = this.nowMs - 3 * this.joinRetryMs;
    const heardBy = ev.heardBy;
    const heard = ev.heard;
    const connected = this.view.members.every((m) => (heardBy.get(m.key) ?? -Infinity) >= fresh && heard.has(m.key));
    if (!connected) {
      this.out.addresses.push({ peer: key, advertise: req.advertise ?? '' });
      this.send(key, { joinStatus: { viewId: this.view.id, members: this.view.members.map(memberToProto) } });
      return;
    }
    this.joinEvidence.delete(key);
    this.joinQueue.set(key, { id: { name: who.name, incarnation: who.incarnation }, key, advertise: req.advertise ?? '', joinedView: 0 });
    this.out.addresses.push({ peer: key, advertise: req.advertise ?? '' });
  }

  private onLeaveRequest(req: chorus.ILeaveRequest): void {
    if (this.view === undefined) return;
    const who = req.who;
    if (!who?.name || !who.incarnation) return;
    const key = peerKey({ name: who.name, incarnation: who.incarnation });
    if (this.memberIndex(key) < 0) return;
    if (!this.isCoordinator) {
      this.send(this.view.members[0]!.key, { leaveRequest: req });
      return;
    }
    this.leaveQueue.add(key);
  }

  private onLeave(): void {
    if (this.leaveRequested) return;
    this.leaveRequested = true;
    if (this.view === undefined || this.view.members.length === 1) {
      this.leaveNow();
      return;
    }
    if (this.isCoordinator) this.leaveQueue.add(this.key);
    else this.send(this.view.members[0]!.key, { leaveRequest: { who: this.selfId } });
  }

  private leaveNow(viewId?: number): void {
    this.mode = 'left';
    this.out.left = true;
    this.out.traces.push({ type: 'left', ...(viewId !== undefined ? { viewId } : {}) });
    for (const c of this.clients.keys()) this.out.closeClients.push({ client: c, reason: 'daemon left the cluster' });
    this.clients.clear();
  }

  // ------------------------------------------------------------------ view change: proposer

  /** Should this daemon propose a new view, and with whom? */
  private maybePropose(): boolean {
    const view = this.view;
    if (view === undefined || this.mode === 'joining' || this.proposal !== undefined) return false;
    if (this.flush !== undefined) {
      const f = this.flush;
      const stuck = this.nowMs - f.startedMs > 2 * this.flushTimeoutMs();
      if (f.proposer === this.key) {
        // Our own ballot was refused (a higher one exists): continue above it when its
        // proposer is gone, or when its flush makes no progress.
        if (!this.retryPropose && !stuck) return false;
        this.retryPropose = false;
        return this.propose();
      }
      // A flush we acknowledged is stuck if its proposer is suspected (or it makes no
      // progress for long): the oldest member we do not suspect takes over with a higher
      // ballot, and completes whatever that flush got accepted.
      const p = this.memberIndex(f.proposer);
      if (p >= 0 && !this.suspects.has(p) && !stuck) return false;
      if (!this.isActingCoordinator()) return false;
      return this.propose();
    }
    if (this.myIndex !== 0) {
      // Take over only when every older member has been silent for long (a live
      // coordinator that cannot hear us drops us instead: the younger end goes).
      if (!this.isActingCoordinator()) return false;
      for (let i = 0; i < this.myIndex; i++) if (this.nowMs - this.lastHeard[i]! <= 2 * this.suspectMs) return false;
    }
    // The common case, on every step of a healthy coordinator: nobody suspects anybody.
    if (this.joinQueue.size === 0 && this.leaveQueue.size === 0 && this.suspects.size === 0 && this.peerSuspects.every((x) => x.size === 0)) {
      return false;
    }
    const keep = this.clique();
    const changed =
      keep.length !== view.members.length || this.joinQueue.size > 0 || this.leaveQueue.size > 0;
    if (!changed) {
      this.conflictSinceMs = undefined;
      return false;
    }
    // Only others' suspicions (a link broken between two other members): they reach us
    // one heartbeat at a time, so wait two heartbeats for the rest of them before
    // choosing whom to exclude, or the first report alone would pick the wrong end.
    const onlyConflicts =
      this.joinQueue.size === 0 && this.leaveQueue.size === 0 && view.members.every((m, i) => !this.suspects.has(i) || i === this.myIndex);
    if (onlyConflicts) {
      this.conflictSinceMs ??= this.nowMs;
      if (this.nowMs - this.conflictSinceMs < 2 * this.heartbeatMs) return false;
    }
    this.conflictSinceMs = undefined;
    return this.propose();
  }

  private isActingCoordinator(): boolean {
    for (let i = 0; i < this.myIndex; i++) if (!this.suspects.has(i)) return false;
    return true;
  }

  private propose(): boolean {
    const old = this.view!;
    const keep = this.clique();
    const leaving = new Set([...this.leaveQueue].filter((k) => keep.some((m) => m.key === k)));
    // Tentative: the id is decided once the acknowledgements say which ids exist.
    const newViewId = this.maxViewIdSeen() + 1;
    const members: ViewMember[] = keep.filter((m) => !leaving.has(m.key));
    for (const j of this.joinQueue.values()) members.push({ ...j, joinedView: newViewId });
    members.sort(compareAge);
    const participants = keep.map((m) => m.key);
    // The survivors must be a quorum of the last primary view (keeps guarantee 5); the
    // proposals that may have been installed are checked once the acks are in.
    if (!hasQuorum(participants, old.members.map((m) => m.key))) {
      this.stepDown('no quorum of the last primary view');
      return true;
    }
    const ballot: Ballot = { counter: Math.max(this.highest.counter, this.maxCounter) + 1, proposer: this.selfId };
    this.joinQueue.clear();
    this.leaveQueue.clear();
    const propose: chorus.IPropose = {
      ballot: ballotToProto(ballot),
      oldViewId: old.id,
      newViewId,
      members: members.map(memberToProto),
      leaving: old.members.filter((m) => leaving.has(m.key)).map((m) => m.id),
    };
    this.proposal = {
      ballot,
      oldView: old,
      newView: { id: newViewId, members },
      participants,
      leaving,
      acks: new Map(),
      ready: new Set(),
      startedMs: this.nowMs,
      propose,
      decision: undefined,
      resentMs: this.nowMs,
    };
    this.out.traces.push({ type: 'view-change-start', ballot: ballot.counter, proposer: this.key, members: members.map((m) => m.key) });
    for (const k of participants) if (k !== this.key) this.send(k, { propose });
    this.onPropose(this.key, propose);
    return true;
  }

  /** The highest daemon view id this daemon has seen: installed, accepted or acknowledged. */
  private maxViewIdSeen(): number {
    let id = Math.max(this.view?.id ?? 0, this.lastViewId, this.accepted?.newViewId ?? 0);
    for (const i of this.recentInstalls) id = Math.max(id, i.newViewId ?? 0);
    return id;
  }

  private onProposeAck(from: PeerKey, ack: chorus.IProposeAck): void {
    if ((ack.oldViewId ?? 0) === 0) {
      // Only a vote for this attempt: one for an earlier attempt may have been released since.
      if (this.founding?.members.some((m) => m.key === from) && (ack.ballot?.counter ?? 0) === this.foundingAttempt) this.founding.acks.add(from);
      return;
    }
    const p = this.proposal;
    if (p === undefined || !ballotEquals(ack.ballot, p.ballot) || (ack.oldViewId ?? 0) !== p.oldView.id) return;
    if (!p.participants.includes(from)) return;
    if (ack.refused) {
      // A participant acknowledged a higher ballot: that proposer runs this flush. Give
      // way, and continue above it if that flush does not complete in time.
      const higher = ballotFromProto(ack.highest);
      if (compareBallot(higher, this.highest) > 0) this.highest = higher;
      this.maxCounter = Math.max(this.maxCounter, higher.counter);
      this.proposal = undefined;
      this.out.traces.push({ type: 'flush-restart', ballot: p.ballot.counter });
      // Its proposer runs the flush if it is a member we still hear; otherwise (it crashed,
      // or is an earlier incarnation) go on above it at once. (A live rival is left alone
      // until its flush is stuck: both going on at once could outbid each other forever.)
      const owner = this.memberIndex(peerKey(higher.proposer));
      this.retryPropose = owner < 0 || this.suspects.has(owner);
      return;
    }
    if (!p.acks.has(from)) p.acks.set(from, ack);
  }

  private onReady(from: PeerKey, r: chorus.IReady): void {
    const p = this.proposal;
    if (p === undefined || !ballotEquals(r.ballot, p.ballot)) return;
    p.ready.add(from);
  }

  /**
   * Proposer: restart on failure; once every participant acknowledged, send the
   * decision (the highest one any participant accepted, else a new one); install once
   * every participant accepted it (Ready).
   */
  private proposerProgress(): boolean {
    const p = this.proposal;
    if (p === undefined) return false;
    // A participant failed, or the flush takes too long: restart with a higher ballot.
    const failed = p.participants.some((k) => {
      const i = this.memberIndex(k);
      return i >= 0 && this.suspects.has(i);
    });
    if (failed || this.nowMs - p.startedMs > this.flushTimeoutMs()) {
      if (!failed) {
        // Whoever did not answer in time is treated as failed.
        for (const k of p.participants) {
          if (p.acks.has(k) && (p.decision === undefined || p.ready.has(k))) continue;
          const i = this.memberIndex(k);
          if (i >= 0 && i !== this.myIndex) this.suspects.add(i);
        }
        this.suspectsChanged = true;
      }
      this.proposal = undefined;
      this.out.traces.push({ type: 'flush-restart', ballot: p.ballot.counter });
      return this.propose();
    }
    // Control frames are lost on broken links like data frames: repeat them to whoever
    // has not answered (members answer a repeat with their earlier answer).
    if (this.nowMs - p.resentMs >= this.heartbeatMs) {
      p.resentMs = this.nowMs;
      for (const k of p.participants) {
        if (k === this.key) continue;
        if (!p.acks.has(k)) this.send(k, { propose: p.propose });
        else if (p.decision !== undefined && !p.ready.has(k)) this.send(k, { cut: p.decision });
      }
    }
    // A participant already installed the next view (its Install exists only once every
    // participant of its decision accepted it): complete that view.
    for (const ack of p.acks.values()) {
      if (ack.installed) {
        this.proposal = undefined;
        const install = ack.installed;
        for (const k of p.participants) if (k !== this.key) this.send(k, { install });
        this.pendingInstall = install;
        return true;
      }
    }
    if (p.acks.size < p.participants.length) return false;
    if (p.decision === undefined) {
      p.decision = this.decide(p);
      for (const k of p.participants) if (k !== this.key) this.send(k, { cut: p.decision });
      this.onCut(this.key, p.decision);
      return true;
    }
    if (p.ready.size < p.participants.length) return false;
    this.finishProposal(p);
    return true;
  }

  /**
   * The decision of this ballot. Paxos' rule: when a participant accepted a decision for
   * this old view, the one with the highest ballot is completed unchanged (if any daemon
   * installed a view, every participant of its ballot accepted it, and this proposer's
   * participants, a quorum of the old view too, include one of them). Otherwise a new
   * decision: the cut, and a view id above every id any participant has seen.
   */
  private decide(p: Proposal): chorus.ICut {
    let best: chorus.ICut | undefined;
    for (const ack of p.acks.values()) {
      const a = ack.accepted;
      if (a == null || (a.oldViewId ?? 0) !== p.oldView.id) continue;
      if (best === undefined || compareBallot(ballotFromProto(a.ballot), ballotFromProto(best.ballot)) > 0) best = a;
    }
    if (best !== undefined) {
      this.out.traces.push({ type: 'view-change-complete', ballot: p.ballot.counter, viewId: best.newViewId ?? 0 });
      return { ...best, ballot: ballotToProto(p.ballot), holders: this.holdersFor(p, best.cutSeqs ?? []) };
    }
    const cut = this.computeCut(p);
    let maxId = this.maxViewIdSeen();
    for (const ack of p.acks.values()) maxId = Math.max(maxId, ack.maxViewId ?? 0);
    const newViewId = maxId + 1;
    const oldKeys = new Set(p.oldView.members.map((m) => m.key));
    const members = p.newView.members.map((m) => (oldKeys.has(m.key) ? m : { ...m, joinedView: newViewId }));
    const left: chorus.IDaemonId[] = [];
    const leftCauses: chorus.Cause[] = [];
    const newKeys = new Set(members.map((m) => m.key));
    for (const m of p.oldView.members) {
      if (newKeys.has(m.key)) continue;
      // Why it left, as far as the proposer can tell: on purpose; excluded for lagging;
      // silent to the proposer itself (crashed, or cut off from it); or dropped only
      // because some other member could not reach it (a partial partition).
      const i = this.memberIndex(m.key);
      const cause: LeaveCause = p.leaving.has(m.key)
        ? 'leave'
        : this.laggards.has(m.key)
          ? 'expelled'
          : i >= 0 && !this.suspects.has(i)
            ? 'partition'
            : 'crash';
      left.push(m.id);
      leftCauses.push(causeToProto(cause));
    }
    return { ...cut, newViewId, members: members.map(memberToProto), left, leftCauses };
  }

  /** Per old member, a participant that holds its entries up to `cutSeqs` (this daemon if it does). */
  private holdersFor(p: Proposal, cutSeqs: readonly number[]): number[] {
    const n = p.oldView.members.length;
    const holders = new Array<number>(n).fill(this.myIndex);
    for (let s = 0; s < n; s++) {
      const need = cutSeqs[s] ?? 0;
      if (this.received[s]! >= need) continue;
      for (const [k, ack] of p.acks) {
        if ((ack.received ?? [])[s]! >= need) {
          holders[s] = this.memberIndex(k);
          break;
        }
      }
    }
    return holders;
  }

  /**
   * The cut: the union of what the participants hold, and the final order of the old
   * view's undelivered entries — the longest order any participant knows (a slot no
   * participant holds is skipped), then the rest by sender index and seq, which keeps
   * each sender's FIFO order and puts nothing before what it causally follows.
   */
  private computeCut(p: Proposal): chorus.ICut {
    const n = p.oldView.members.length;
    const cutSeqs = new Array<number>(n).fill(0);
    const holders = new Array<number>(n).fill(this.myIndex);
    let firstGlobal = Number.POSITIVE_INFINITY;
    const acks = p.participants.map((k) => ({ k, ack: p.acks.get(k)! }));
    for (const { k, ack } of acks) {
      const rcv = ack.received ?? [];
      for (let s = 0; s < n; s++) {
        if ((rcv[s] ?? 0) > cutSeqs[s]!) {
          cutSeqs[s] = rcv[s] ?? 0;
          holders[s] = this.memberIndex(k);
        }
      }
      firstGlobal = Math.min(firstGlobal, ack.delivered ?? 0);
    }
    // Fetch from the proposer when it holds the entries by now (they may have arrived
    // after its own acknowledgement): every participant reaches the proposer, but not
    // necessarily the participant that reported the most (a cut link between two members).
    for (let s = 0; s < n; s++) if (this.received[s]! >= cutSeqs[s]!) holders[s] = this.myIndex;
    // Assemble the longest known order from firstGlobal + 1. Every participant's runs
    // are pieces of the one stream its sequencer sent, so overlapping pieces agree.
    const known = new OrderLog(firstGlobal + 1);
    const runs: OrderRun[] = [];
    for (const { ack } of acks) for (const r of ack.orders ?? []) runs.push(runFromProto(r));
    runs.sort((a, b) => a.firstGlobal - b.firstGlobal);
    let end = firstGlobal + 1;
    for (const r of runs) {
      if (r.firstGlobal + r.count <= end) continue;
      if (r.firstGlobal > end) break;
      const skip = end - r.firstGlobal;
      known.append({ sender: r.sender, firstSeq: r.firstSeq + skip, count: r.count - skip, firstGlobal: end });
      end = r.firstGlobal + r.count;
    }
    const orders: OrderRun[] = known.from(firstGlobal + 1);
    const markLists = acks.map((a) => a.ack.depMarks ?? []);
    const depOf = depLookup(markLists, n);
    const causalOf = causalLookup(markLists);
    // Entries some participant delivered early (and its sender's entries before them)
    // are kept: their causal past was delivered there too, so it is kept as well, and
    // their causal barrier was delivered there, so it names no lost slot.
    const keep = new Array<number>(n).fill(0);
    for (const { ack } of acks) {
      const passed = ack.earlyPassed ?? [];
      for (let s = 0; s < n; s++) keep[s] = Math.max(keep[s]!, passed[s] ?? 0);
    }
    // Keep causality when failed senders took part of it with them: walking the known
    // order, a slot whose entry no participant holds is skipped; so is every later
    // entry that depends on a skipped one (its causal barrier reaches it), together with
    // the rest of that sender's stream (FIFO). Survivors' own entries never depend on a
    // skipped slot: they delivered everything they depend on.
    let firstExcluded = Number.POSITIVE_INFINITY;
    const exclude = (s: number, seq: number, global: number) => {
      firstExcluded = Math.min(firstExcluded, global);
      cutSeqs[s] = Math.min(cutSeqs[s]!, seq - 1);
    };
    for (const r of orders) {
      for (let k = 0; k < r.count; k++) {
        const seq = r.firstSeq + k;
        const global = r.firstGlobal + k;
        if (seq > cutSeqs[r.sender]! || (seq > keep[r.sender]! && depOf(r.sender, seq) >= firstExcluded)) exclude(r.sender, seq, global);
      }
    }
    const lastKnown = end - 1;
    // Per sender, the highest seq already placed: by the known order, or delivered
    // somewhere before it (a sender's entries are placed in seq order). The rest of
    // the cut gets new slots after the known order, unless it depends on an order no
    // participant knows or on an excluded entry.
    const placed = new Array<number>(n).fill(0);
    for (const r of orders) placed[r.sender] = Math.max(placed[r.sender]!, r.firstSeq + r.count - 1);
    for (const { ack } of acks) {
      const delivered = ack.deliveredSeqs ?? [];
      for (let s = 0; s < n; s++) placed[s] = Math.max(placed[s]!, delivered[s] ?? 0);
    }
    // Place the rest sender by sender, in rounds: a causal entry waits until its causal
    // past is placed, and is cut (with the rest of its sender's stream) when that past
    // is not in the cut.
    let next = end;
    for (let progress = true; progress; ) {
      progress = false;
      for (let s = 0; s < n; s++) {
        const from = placed[s]! + 1;
        let seq = from;
        for (; seq <= cutSeqs[s]!; seq++) {
          if (seq > keep[s]!) {
            const dep = depOf(s, seq);
            if (dep > lastKnown || dep >= firstExcluded) {
              cutSeqs[s] = seq - 1;
              break;
            }
          }
          const passed = causalOf(s, seq);
          if (passed === undefined) continue;
          if (passed.some((need, t) => t !== s && need > cutSeqs[t]!)) {
            if (seq > keep[s]!) cutSeqs[s] = seq - 1; // its causal past did not survive
            break;
          }
          if (!this.allAtLeast(placed, passed, s)) break; // wait for that past to be placed

        }
        if (seq === from) continue;
        orders.push({ sender: s, firstSeq: from, count: seq - from, firstGlobal: next });
        next += seq - from;
        placed[s] = seq - 1;
        progress = true;
      }
    }
    for (let s = 0; s < n; s++) {
      // Nothing kept can be left unplaced: its causal past is kept and placeable.
      invariant(placed[s]! >= keep[s]!, `cut leaves ${s}/${keep[s]!} unplaced though it may be delivered`);
      cutSeqs[s] = Math.min(cutSeqs[s]!, placed[s]!);
    }
    return {
      ballot: ballotToProto(p.ballot),
      oldViewId: p.oldView.id,
      cutSeqs,
      orders: orders.map((r) => ({ ...r })),
      holders,
    };
  }

  private finishProposal(p: Proposal): void {
    const cut = p.decision!;
    this.proposal = undefined;
    const departed = new Map<string, LeaveCause>();
    const left = cut.left ?? [];
    const leftCauses = cut.leftCauses ?? [];
    left.forEach((id, i) => departed.set(id.name ?? '', causeFromProto(leftCauses[i] ?? chorus.Cause.CAUSE_LEAVE)));
    const newMembers = (cut.members ?? []).map(memberFromProto);
    const targets = new Set<PeerKey>(p.participants);
    for (const m of newMembers) targets.add(m.key);
    targets.delete(this.key);
    if (!newMembers.some((m) => m.key === this.key)) {
      // We complete a decision an earlier ballot got accepted, and it leaves us out: we
      // did not take part in its cut (we may have delivered less than where its order
      // starts), so we do not deliver it. The members deliver it from the Install; a
      // joiner in it waits for a later view (no group table from us).
      const orders = cut.orders ?? [];
      let lastGlobal = 0;
      for (const r of orders) lastGlobal = Math.max(lastGlobal, (r.firstGlobal ?? 0) + (r.count ?? 0) - 1);
      const install: chorus.IInstall = {
        ballot: ballotToProto(p.ballot),
        oldViewId: p.oldView.id,
        newViewId: cut.newViewId ?? 0,
        members: cut.members ?? [],
        lastGlobal,
        left,
        leftCauses,
        cutSeqs: cut.cutSeqs ?? [],
        orders,
        firstGlobal: (orders[0]?.firstGlobal ?? 1) - 1,
      };
      for (const key of targets) this.send(key, { install });
      this.lastInstall = install;
      if (this.leaveRequested) this.leaveNow(install.newViewId ?? 0);
      else this.stepDown('excluded from the view it completed');
      return;
    }
    // Deliver the cut here first: the table a joiner receives is the table after it
    // and after this boundary.
    this.applyCut(cut.orders ?? [], cut.cutSeqs ?? []);
    const lastGlobal = this.nextDeliver - 1;
    const snapshot = this.table.clone();
    snapshot.applyBoundary(departed, NO_EFFECTS);
    const install: chorus.IInstall = {
      ballot: ballotToProto(p.ballot),
      oldViewId: p.oldView.id,
      newViewId: cut.newViewId ?? 0,
      members: cut.members ?? [],
      lastGlobal,
      groups: snapshot.toProto(),
      left,
      leftCauses,
      cutSeqs: cut.cutSeqs ?? [],
      orders: cut.orders ?? [],
      firstGlobal: ((cut.orders ?? [])[0]?.firstGlobal ?? lastGlobal + 1) - 1,
    };
    for (const key of targets) this.send(key, { install });
    for (const m of newMembers) this.out.addresses.push({ peer: m.key, advertise: m.advertise });
    this.pendingInstall = install;
  }

  // ------------------------------------------------------------------ view change: member

  private onPropose(from: PeerKey, p: chorus.IPropose): void {
    const ballot = ballotFromProto(p.ballot);
    const oldViewId = p.oldViewId ?? 0;
    if (oldViewId === 0) {
      this.onBootstrapPropose(from, p);
      return;
    }
    if (this.view === undefined) return;
    if (oldViewId > this.view.id) {
      this.deferIfFuture(from, oldViewId, { propose: p });
      return;
    }
    if (oldViewId < this.view.id) {
      // We already installed a later view: if it is the one this flush is about, say so.
      const install = this.recentInstalls.find((i) => (i.oldViewId ?? 0) === oldViewId);
      if (install !== undefined) this.send(from, { proposeAck: { ballot: p.ballot ?? null, oldViewId, installed: install } });
      return;
    }
    // Promises bind within one flush: a member not flushing made none in this view (it
    // flushes from its first acknowledgement until it installs or steps down), so a ballot
    // it saw in an earlier view does not make it refuse (the proposer would wait for a
    // flush that is long over).
    const order = this.flush === undefined ? 1 : compareBallot(ballot, this.highest);
    if (order < 0) {
      // Members acknowledge only the highest ballot; say which, so its proposer continues
      // above it at once instead of timing out.
      this.send(from, { proposeAck: { ballot: p.ballot ?? null, oldViewId, refused: true, highest: ballotToProto(this.highest) } });
      return;
    }
    if (order === 0) {
      // A repeat (our acknowledgement was lost): answer it again.
      if (this.flush !== undefined && from !== this.key && compareBallot(this.flush.ballot, ballot) === 0) this.send(from, { proposeAck: this.flush.ack });
      return;
    }
    this.highest = ballot;
    this.maxCounter = Math.max(this.maxCounter, ballot.counter);
    if (this.proposal !== undefined && from !== this.key) this.proposal = undefined; // outvoted
    // Stop sending in the old view: everything stamped so far goes out first, so the
    // proposer has it before it has our acknowledgement (links are FIFO).
    if (this.flush === undefined) {
      this.flushOutbox();
      // Sends are held until the new view: tell every local member (block/unblock).
      for (const g of this.table.sorted()) {
        const local = this.localMembers(g);
        if (local.length === 0) continue;
        this.flushBlocked.add(g.name);
        for (const c of local) this.toClient(c.id, { signal: { group: g.name, kind: chorus.GroupSignal.Kind.BLOCK } });
      }
    }
    this.mode = 'flushing';
    const ack: chorus.IProposeAck = {
      ballot: p.ballot ?? null,
      oldViewId,
      sent: this.sentSeq,
      received: this.received.slice(),
      delivered: this.nextDeliver - 1,
      orders: this.order.from(0).map((r) => ({ ...r })),
      deliveredSeqs: this.deliveredSeq.slice(),
      depMarks: this.depMarks(),
      earlyPassed: this.earlyDelivered.slice(),
      // The promise: what this member accepted in this flush, and the ids it has seen.
      accepted: this.accepted ?? null,
      maxViewId: this.maxViewIdSeen(),
    };
    this.flush = { ballot, proposer: from, oldViewId, startedMs: this.nowMs, ack, cut: undefined, readySent: false };
    if (from === this.key) this.onProposeAck(this.key, ack);
    else this.send(from, { proposeAck: ack });
  }

  /** Causal barriers of the entries held here and not delivered, as change points. */
  private depMarks(): chorus.IDepMark[] {
    const marks: chorus.IDepMark[] = [];
    for (let s = 0; s < this.received.length; s++) {
      let last = -1;
      const base = this.logBase[s]!;
      for (let seq = Math.max(this.deliveredSeq[s]! + 1, base); seq <= this.received[s]!; seq++) {
        const e = this.log[s]![seq - base];
        const dep = e?.dep ?? 0;
        if (e?.causal) marks.push({ sender: s, seq, dep, causal: e.causal });
        else if (dep !== last) marks.push({ sender: s, seq, dep });
        last = dep;
      }
    }
    return marks;
  }

  private onCut(from: PeerKey, cut: chorus.ICut): void {
    const f = this.flush;
    if (f === undefined || !ballotEquals(cut.ballot, f.ballot) || from !== f.proposer) return;
    if (f.cut !== undefined && f.readySent) {
      // A repeat: our Ready was lost.
      this.send(from, { ready: { ballot: ballotToProto(f.ballot), oldViewId: f.oldViewId } });
      return;
    }
    // First time, or a repeat while we still miss entries (a fetch or its answer was lost).
    f.cut = cut;
    const view = this.view!;
    const cutSeqs = cut.cutSeqs ?? [];
    const holders = cut.holders ?? [];
    for (let s = 0; s < view.members.length; s++) {
      if (this.received[s]! >= (cutSeqs[s] ?? 0)) continue;
      const holder = view.members[holders[s] ?? 0];
      if (holder === undefined || holder.key === this.key) continue;
      this.send(holder.key, { fetch: { viewId: view.id, origin: s, fromSeq: this.received[s]! + 1, toSeq: cutSeqs[s] ?? 0 } });
    }
  }

  /**
   * Member: accept the decision once every entry of its cut is here (Ready). From then
   * on the decision is reported to every later proposer of this flush.
   */
  private memberFlushProgress(): boolean {
    const f = this.flush;
    if (f === undefined || f.cut === undefined || f.readySent) return false;
    if (!this.holdsCut(f.cut.cutSeqs ?? [])) return false;
    f.readySent = true;
    this.accepted = f.cut;
    const ready: chorus.IReady = { ballot: ballotToProto(f.ballot), oldViewId: f.oldViewId };
    if (f.proposer === this.key) this.onReady(this.key, ready);
    else this.send(f.proposer, { ready });
    return true;
  }

  private holdsCut(cutSeqs: readonly number[]): boolean {
    for (let s = 0; s < this.received.length; s++) if (this.received[s]! < (cutSeqs[s] ?? 0)) return false;
    return true;
  }

  private onInstall(from: PeerKey, install: chorus.IInstall): void {
    if (this.view === undefined) {
      // Joiner: only an Install that names it matters; a founding view 1 only from the
      // founder this daemon agreed to.
      const named = (install.members ?? []).some((m) => m.id?.name === this.selfId.name && m.id?.incarnation === this.selfId.incarnation);
      if ((install.oldViewId ?? 0) === 0 && this.bootstrapVote?.founder !== from) return;
      // Without the group table (a proposer that completed a view leaving itself out had
      // none to give) a joiner cannot install: it waits to be admitted again.
      if (named && this.mode === 'joining' && install.groups != null) this.pendingInstall = install;
      return;
    }
    // An Install exists only once every participant of its ballot accepted its decision,
    // so it is the one successor of this view, whoever forwards it (the proposer, a later
    // proposer completing it, or a member that installed it and hears us still in the old view).
    if ((install.oldViewId ?? 0) !== this.view.id) return;
    this.pendingInstall = install;
  }

  /** Tell a member still in an older view the view it missed (its Install was lost). */
  private pushInstall(to: PeerKey, oldViewId: number): void {
    const install = this.recentInstalls.find((i) => (i.oldViewId ?? 0) === oldViewId);
    if (install === undefined) return;
    const last = this.installPushedMs.get(to) ?? -Infinity;
    if (this.nowMs - last < 2 * this.heartbeatMs) return;
    this.installPushedMs.set(to, this.nowMs);
    this.send(to, { install });
  }

  /** Adopt the final order of the old view and deliver up to the cut. */
  private applyCut(orders: readonly chorus.IOrderRange[], cutSeqs: readonly number[]): void {
    const delivered = this.nextDeliver - 1;
    this.order.truncateAfter(delivered);
    for (const r of orders) {
      const run = runFromProto(r);
      const end = run.firstGlobal + run.count - 1;
      if (end <= delivered) continue;
      this.order.append(run.firstGlobal > delivered ? run : { ...run, firstSeq: run.firstSeq + (delivered + 1 - run.firstGlobal), count: end - delivered, firstGlobal: delivered + 1 });
    }
    this.deliverThrough(Number.POSITIVE_INFINITY, cutSeqs);
  }

  /** Install a pending view once every entry up to its cut is delivered here. */
  private maybeInstall(): boolean {
    const install = this.pendingInstall;
    if (install === undefined) return false;
    this.pendingInstall = undefined;
    const members = (install.members ?? []).map(memberFromProto);
    if (this.view !== undefined && !members.some((m) => m.key === this.key)) {
      // A view without us (we were excluded, or we leave): its cut was computed without
      // us, so we deliver nothing more of the old view.
      this.lastInstall = install;
      if (this.leaveRequested) this.leaveNow(install.newViewId ?? 0);
      else this.stepDown('excluded from the new view');
      return true;
    }
    if (this.view !== undefined && !this.holdsCut(install.cutSeqs ?? [])) {
      // A member of the new view that never accepted its decision (a later proposer
      // completed it without us): we cannot deliver its cut, so we leave and rejoin.
      this.lastInstall = install;
      this.stepDown(`missing entries of the cut of view ${install.newViewId ?? 0}`);
      return true;
    }
    if (this.view !== undefined) {
      this.applyCut(install.orders ?? [], install.cutSeqs ?? []);
      if (this.mode === 'left') return true;
      invariant(
        this.nextDeliver - 1 >= (install.lastGlobal ?? 0),
        `install of view ${install.newViewId ?? 0}: delivered ${this.nextDeliver - 1} of ${install.lastGlobal ?? 0}`,
      );
    }
    this.lastInstall = install;
    if (this.view !== undefined) {
      this.recentInstalls.push(install);
      if (this.recentInstalls.length > 4) this.recentInstalls.shift();
    }
    const inView = members.some((m) => m.key === this.key);
    if (!inView) {
      if (this.leaveRequested) this.leaveNow(install.newViewId ?? 0);
      else this.stepDown('excluded from the new view');
      return true;
    }
    if (this.view === undefined) {
      this.table = GroupTable.fromProto(install.groups);
    } else {
      const departed = new Map<string, LeaveCause>();
      const causes = install.leftCauses ?? [];
      (install.left ?? []).forEach((id, i) => departed.set(id.name ?? '', causeFromProto(causes[i] ?? chorus.Cause.CAUSE_LEAVE)));
      this.boundaryViews.clear();
      this.table.applyBoundary(departed, this.groupFx);
    }
    this.installView({ id: install.newViewId ?? 0, members }, install === this.forcedInstall);
    // Groups blocked by the flush whose view did not change: unblock them now.
    for (const name of this.flushBlocked) {
      if (this.boundaryViews.has(name)) continue;
      const g = this.table.get(name);
      if (g === undefined) continue;
      for (const c of this.localMembers(g)) this.toClient(c.id, { signal: { group: name, kind: chorus.GroupSignal.Kind.UNBLOCK } });
    }
    this.flushBlocked.clear();
    this.boundaryViews.clear();
    // Frames that arrived early for this view.
    const future = this.futureFrames.splice(0);
    for (const f of future) this.onFrame(f.from, f.frame);
    return true;
  }

  private installView(view: DaemonView, forced = false): void {
    this.view = view;
    this.fresh = false;
    this.bootstrapPeers.clear();
    this.bootstrapVote = undefined;
    this.founding = undefined;
    this.myIndex = view.members.findIndex((m) => m.key === this.key);
    invariant(this.myIndex >= 0, 'installing a view without this daemon');
    invariant(new Set(view.members.map((m) => m.key)).size === view.members.length, `view ${view.id} lists a member twice`);
    this.mode = 'normal';
    this.flush = undefined;
    this.proposal = undefined;
    this.accepted = undefined;
    this.retryPropose = false;
    this.conflictSinceMs = undefined;
    this.lastViewId = Math.max(this.lastViewId, view.id);
    const n = view.members.length;
    this.sentSeq = 0;
    this.log = Array.from({ length: n }, () => []);
    this.logBase = new Array<number>(n).fill(1);
    this.received = new Array<number>(n).fill(0);
    this.deliveredSeq = new Array<number>(n).fill(0);
    this.lastDep = new Array<number>(n).fill(0);
    this.early = new Array<number>(n).fill(0);
    this.earlyDelivered = new Array<number>(n).fill(0);
    this.uniformHeld = 0;
    this.lastAckOrdered = -1;
    this.lastAckReceived = -1;
    this.retainedBytes = 0;
    this.ordered = new Array<number>(n).fill(0);
    this.order = new OrderLog();
    this.orderOutbox = [];
    this.nextDeliver = 1;
    this.nextGlobal = 1;
    this.peerReceived = Array.from({ length: n }, () => new Array<number>(n).fill(0));
    this.peerDelivered = new Array<number>(n).fill(0);
    this.peerOrdered = new Array<number>(n).fill(0);
    this.peerHolding = new Array<boolean>(n).fill(false);
    this.sentByLastHeartbeat = new Array<number>(n).fill(0);
    this.lastHeard = new Array<number>(n).fill(this.nowMs);
    this.peerSuspects = Array.from({ length: n }, () => new Set<number>());
    this.suspects = new Set();
    this.laggards.clear();
    this.suspectsChanged = true;
    this.seeds.clear();
    this.probeAddresses = [];
    this.heardFrom.clear();
    // Join requests of members now in the view are done; others stay queued.
    for (const m of view.members) this.joinQueue.delete(m.key);
    for (const k of [...this.leaveQueue]) if (!view.members.some((m) => m.key === k)) this.leaveQueue.delete(k);
    for (const m of view.members) if (m.key !== this.key) this.out.addresses.push({ peer: m.key, advertise: m.advertise });
    for (const m of view.members) this.rememberAddress(m.id.name, m.advertise);
    this.out.traces.push({ type: 'daemon-view', viewId: view.id, members: view.members.map((m) => m.key), ...(forced ? { forced: true } : {}) });
    this.forcedInstall = undefined;
    if (this.leaveRequested) {
      if (n === 1) this.leaveNow();
      else if (this.myIndex === 0) this.leaveQueue.add(this.key);
      else this.send(view.members[0]!.key, { leaveRequest: { who: this.selfId } });
    }
  }

  /**
   * Outside the primary component: stop delivering, expel every local client from
   * its groups ('partitioned'), and rejoin as a new incarnation through the members
   * of the last view (keeps guarantee 5).
   */
  private stepDown(reason: string): void {
    const old = this.view;
    this.out.traces.push({ type: 'step-down', reason });
    this.installing.clear(); // joiners are expelled with everyone else
    this.earlyChunks.clear();
    this.failedJoins.clear();
    for (const { client, request } of this.deferredJoins.values()) {
      this.reply(client, request.req ?? 0, false, 'ERR_NOT_MEMBER', 'expelled: partitioned (join again)');
    }
    this.deferredJoins.clear();
    for (const g of this.table.sorted()) {
      for (const c of this.localMembers(g)) {
        this.toClient(c.id, { signal: { group: g.name, kind: chorus.GroupSignal.Kind.EXPELLED, reason: 'partitioned' } });
        const leaveReq = c.pendingLeaves.get(g.name);
        if (leaveReq !== undefined) {
          c.pendingLeaves.delete(g.name);
          this.reply(c.id, leaveReq, true);
        }
      }
    }
    for (const c of this.clients.values()) {
      for (const [id, req] of c.waitDelivered) this.reply(c.id, req, false, 'ERR_NOT_MEMBER', `expelled before ${id} was delivered`);
      c.waitDelivered.clear();
    }
    // Joins wait for the primary; everything else of the lost membership is dropped.
    const keep = this.pendingLocal.filter((e) => e.entry.kind === chorus.Entry.Kind.GROUP_JOIN);
    // A join already sent in this view (or ordered, its group view not installed yet) is
    // lost with the view, and its client still waits for it: send it again (as new).
    const sent = new Map<string, chorus.IEntry>();
    for (const g of this.table.sorted()) {
      for (const op of g.change?.ops ?? []) {
        if (op.kind === 'join') sent.set(transferKey(g.name, op.member.client), { wantState: op.member.awaitingState, offerState: op.member.offersState });
      }
    }
    for (const e of [...(this.log[this.myIndex] ?? []), ...this.outbox]) {
      if (e?.kind !== chorus.Entry.Kind.GROUP_JOIN || this.clients.get(e.client ?? '')?.pendingJoins.get(e.group ?? '') !== e.clientSeq) continue;
      sent.set(transferKey(e.group ?? '', e.client ?? ''), e);
    }
    for (const c of this.clients.values()) {
      for (const [group, req] of c.pendingJoins) {
        if (keep.some((e) => e.entry.client === c.id && e.entry.group === group)) continue;
        const e = sent.get(transferKey(group, c.id));
        const entry: chorus.IEntry = { kind: chorus.Entry.Kind.GROUP_JOIN, group, client: c.id, clientSeq: req };
        if (e?.wantState) entry.wantState = true;
        if (e?.offerState) entry.offerState = true;
        keep.push({ entry, replyTo: undefined });
      }
    }
    for (const e of this.pendingLocal) {
      if (e.replyTo) this.reply(e.replyTo.client, e.replyTo.req, false, 'ERR_NOT_MEMBER', 'expelled: partitioned');
    }
    this.pendingLocal.length = 0;
    this.pendingLocal.push(...keep);
    this.pendingBytes = keep.reduce((sum, e) => sum + entryBytes(e.entry), 0);
    this.outbox = [];
    // Keep what the groups' view ids and seqs were, emptied of members: a forced primary
    // founded from here continues them instead of starting over (ids never repeat).
    const kept = this.table.clone();
    kept.applyBoundary(new Map(kept.sorted().flatMap((g) => g.members.map((m) => [m.daemon, 'partition'] as const))), NO_EFFECTS);
    this.lastGroups = kept.toProto();
    this.lastViewId = Math.max(this.lastViewId, this.maxViewIdSeen());
    this.table = new GroupTable();
    this.flushBlocked.clear();
    this.view = undefined;
    this.myIndex = -1;
    this.flush = undefined;
    this.proposal = undefined;
    this.pendingInstall = undefined;
    this.accepted = undefined;
    this.recentInstalls.length = 0;
    this.futureFrames.length = 0;
    this.joinQueue.clear();
    this.leaveQueue.clear();
    this.mode = 'joining';
    this.epoch += 1;
    this.selfId = { name: this.selfId.name, incarnation: `${this.baseIncarnation}.${this.epoch}` };
    this.key = peerKey(this.selfId);
    this.out.identity = this.selfId;
    this.probeAddresses = [];
    for (const m of old?.members ?? []) {
      if (m.id.name === this.selfId.name) continue;
      this.seeds.set(m.key, m.advertise);
      if (m.advertise !== '') this.probeAddresses.push(m.advertise);
    }
    // Also every other daemon this one ever shared a view with: the primary may have moved
    // on among daemons of an earlier view (the last view's members may all be gone or
    // stepped down themselves, each knowing only the others).
    for (const [name, advertise] of this.knownAddresses) {
      if (name !== this.selfId.name && advertise !== '' && !this.probeAddresses.includes(advertise)) this.probeAddresses.push(advertise);
    }
    this.nextJoinAttemptMs = this.nowMs;
  }

  /**
   * Operator: make this daemon's side the primary component after the majority was lost
   * for good. Ids never repeat: it first asks every daemon it can reach for the highest
   * daemon view id and the group view ids and seqs they saw (ForceQuery), waits for the
   * answers (at most a suspect timeout), and founds above all of them. It refuses when a
   * daemon it reaches is in a primary view: joining that one is the way back.
   */
  private onForcePrimary(): void {
    const answer = (ok: boolean, message: string) => this.out.traces.push({ type: 'force-primary', ok, message });
    if (this.view !== undefined) {
      answer(false, `already in primary view ${this.view.id}: nothing to force`);
      return;
    }
    if (this.fresh) {
      answer(false, 'this daemon was never in a primary: start one without seeds instead');
      return;
    }
    if (this.forcing !== undefined) return; // already asking: one answer comes for both
    const asked = new Set<PeerKey>([...this.seeds.keys(), ...this.heardFrom.keys()]);
    asked.delete(this.key);
    this.forcing = { startedMs: this.nowMs, asked, infos: new Map(), yieldTo: undefined };
    for (const k of asked) this.send(k, { forceQuery: { who: this.selfId } });
    // The daemons we knew may run under new incarnations by now (they stepped down or
    // restarted): dial their addresses again; each that answers the dial is asked too
    // (onPeerUp), within the same wait.
    for (const a of this.probeAddresses) this.out.probes.push(a);
    this.forceProgress();
  }

  private onForceQuery(from: PeerKey): void {
    const inPrimary = this.view !== undefined;
    // Two operators forcing at once: a query comes only from a forcing daemon, so a
    // smaller one that asks us wins. (It sees us forcing, or not yet: either way it goes
    // on and we refuse; when we ask it, it answers forcing and we refuse too.)
    if (this.forcing !== undefined && from < this.key) this.forcing.yieldTo ??= from;
    this.send(from, {
      forceInfo: {
        maxViewId: Math.max(this.lastViewId, this.maxViewIdSeen()),
        groups: inPrimary ? this.table.toProto() : (this.lastGroups ?? { groups: [] }),
        primaryViewId: inPrimary ? this.view!.id : 0,
        forcing: this.forcing !== undefined,
      },
    });
  }

  private onForceInfo(from: PeerKey, info: chorus.IForceInfo): void {
    if (this.forcing === undefined || !this.forcing.asked.has(from)) return;
    this.forcing.infos.set(from, info);
  }

  /** Found the forced view once every daemon asked answered, or a suspect timeout passed. */
  private forceProgress(): boolean {
    const f = this.forcing;
    if (f === undefined) return false;
    if (this.view !== undefined) {
      // Joined a primary meanwhile (a member answered our join): nothing to force.
      this.forcing = undefined;
      this.out.traces.push({ type: 'force-primary', ok: false, message: `joined primary view ${this.view.id} meanwhile: nothing to force` });
      return true;
    }
    if (f.infos.size < f.asked.size && this.nowMs - f.startedMs < this.suspectMs) return false;
    this.forcing = undefined;
    const answer = (ok: boolean, message: string) => this.out.traces.push({ type: 'force-primary', ok, message });
    for (const [k, info] of f.infos) {
      if ((info.primaryViewId ?? 0) > 0) {
        answer(false, `daemon ${k} is in primary view ${info.primaryViewId ?? 0}: this daemon rejoins it instead`);
        return true;
      }
      if (info.forcing === true && k < this.key) f.yieldTo ??= k;
    }
    if (f.yieldTo !== undefined) {
      answer(false, `daemon ${f.yieldTo} is forcing a primary too (an operator ran force-primary there): this daemon rejoins it instead`);
      return true;
    }
    let maxId = Math.max(this.lastViewId, this.maxViewIdSeen());
    const groups = new Map<string, chorus.IGroupState>();
    const merge = (table: chorus.IGroupTable | null | undefined) => {
      for (const g of table?.groups ?? []) {
        const name = g.name ?? '';
        const had = groups.get(name);
        // The latest view of each group, emptied of members (they rejoin), with the
        // highest seq anyone assigned: group view ids and seqs continue, never repeat.
        const viewId = Math.max(had?.viewId ?? 0, g.viewId ?? 0);
        const totalSeq = Math.max(had?.totalSeq ?? 0, g.totalSeq ?? 0);
        groups.set(name, { name, viewId, totalSeq, members: [] });
      }
    };
    merge(this.lastGroups);
    for (const info of f.infos.values()) {
      maxId = Math.max(maxId, info.maxViewId ?? 0);
      merge(info.groups);
    }
    const id = maxId + 1;
    const install: chorus.IInstall = {
      ballot: { counter: this.highest.counter + 1, proposer: this.selfId },
      oldViewId: 0,
      newViewId: id,
      members: [memberToProto({ id: this.selfId, key: this.key, advertise: this.advertise, joinedView: id })],
      lastGlobal: 0,
      groups: { groups: [...groups.values()].sort((a, b) => ((a.name ?? '') < (b.name ?? '') ? -1 : 1)) },
    };
    this.pendingInstall = install;
    this.forcedInstall = install;
    this.out.traces.push({ type: 'view-change-start', ballot: install.ballot!.counter!, proposer: this.key, members: [this.key] });
    answer(true, `forced primary view ${id} with this daemon (ids above those of ${f.infos.size} of ${f.asked.size} daemons asked); the others rejoin it`);
    return true;
  }

  // ------------------------------------------------------------------ status

  status(): {
    name: string;
    incarnation: string;
    mode: Mode;
    viewId: number | undefined;
    members: Array<{ name: string; incarnation: string; advertise: string; coordinator: boolean; suspected: boolean }>;
    groups: Array<{ name: string; viewId: number; members: string[]; seq: number }>;
    clients: number;
    bufferedBytes: number;
  } {
    return {
      name: this.selfId.name,
      incarnation: this.selfId.incarnation,
      mode: this.mode,
      viewId: this.view?.id,
      members: (this.view?.members ?? []).map((m, i) => ({
        name: m.id.name,
        incarnation: m.id.incarnation,
        advertise: m.advertise,
        coordinator: i === 0,
        suspected: this.suspects.has(i),
      })),
      groups: this.table.sorted().map((g) => ({ name: g.name, viewId: g.viewId, members: g.members.map((m) => m.client), seq: g.totalSeq })),
      clients: this.clients.size,
      bufferedBytes: this.retainedBytes,
    };
  }
}

const NO_EFFECTS: GroupEffects = { deliver() {}, changeStarted() {}, viewInstalled() {} };

/** `depOf(sender, seq)`: the causal barrier of an entry, from participants' marks (0 if unknown). */
function depLookup(markLists: ReadonlyArray<readonly chorus.IDepMark[]>, n: number): (s: number, seq: number) => number {
  const perSender: Array<Array<{ seq: number; dep: number }>> = Array.from({ length: n }, () => []);
  for (const marks of markLists) for (const m of marks) perSender[m.sender ?? 0]?.push({ seq: m.seq ?? 0, dep: m.dep ?? 0 });
  for (const list of perSender) list.sort((a, b) => a.seq - b.seq || a.dep - b.dep);
  return (s, seq) => {
    const list = perSender[s]!;
    let lo = 0;
    let hi = list.length - 1;
    let dep = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]!.seq <= seq) {
        dep = list[mid]!.dep;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return dep;
  };
}

/** `causalOf(sender, seq)`: the causal deps of a causal entry held by some participant. */
function causalLookup(markLists: ReadonlyArray<readonly chorus.IDepMark[]>): (s: number, seq: number) => readonly number[] | undefined {
  const bySender = new Map<number, Map<number, readonly number[]>>();
  for (const marks of markLists) {
    for (const m of marks) {
      const passed = m.causal?.passed;
      if (!passed) continue;
      let perSeq = bySender.get(m.sender ?? 0);
      if (perSeq === undefined) bySender.set(m.sender ?? 0, (perSeq = new Map()));
      perSeq.set(m.seq ?? 0, passed);
    }
  }
  return (s, seq) => bySender.get(s)?.get(seq);
}

/** Whether an entry is delivered uniformly: `safe` messages and every group-table entry. */
function uniform(e: chorus.IEntry): boolean {
  return e.order === chorus.Order.ORDER_SAFE || (e.kind ?? chorus.Entry.Kind.DATA) !== chorus.Entry.Kind.DATA;
}

function entryBytes(e: chorus.IEntry): number {
  return (e.data?.length ?? 0) + ENTRY_OVERHEAD_BYTES;
}

function compareAge(a: ViewMember, b: ViewMember): number {
  if (a.joinedView !== b.joinedView) return a.joinedView - b.joinedView;
  if (a.id.name !== b.id.name) return a.id.name < b.id.name ? -1 : 1;
  return a.id.incarnation < b.id.incarnation ? -1 : a.id.incarnation > b.id.incarnation ? 1 : 0;
}

function compareBallot(a: Ballot, b: Ballot): number {
  if (a.counter !== b.counter) return a.counter - b.counter;
  if (a.proposer.name !== b.proposer.name) return a.proposer.name < b.proposer.name ? 1 : -1;
  if (a.proposer.incarnation !== b.proposer.incarnation) return a.proposer.incarnation < b.proposer.incarnation ? 1 : -1;
  return 0;
}

function ballotFromProto(b: chorus.IBallot | null | undefined): Ballot {
  return { counter: b?.counter ?? 0, proposer: { name: b?.proposer?.name ?? '', incarnation: b?.proposer?.incarnation ?? '' } };
}

function ballotToProto(b: Ballot): chorus.IBallot {
  return { counter: b.counter, proposer: { name: b.proposer.name, incarnation: b.proposer.incarnation } };
}

function ballotEquals(p: chorus.IBallot | null | undefined, b: Ballot): boolean {
  return compareBallot(ballotFromProto(p), b) === 0;
}

function keyToId(key: PeerKey): chorus.IDaemonId {
  const at = key.lastIndexOf('#');
  return { name: key.slice(0, at), incarnation: key.slice(at + 1) };
}


function memberToProto(m: ViewMember): chorus.IMember {
  return { id: { name: m.id.name, incarnation: m.id.incarnation }, advertise: m.advertise, joinedView: m.joinedView };
}

function memberFromProto(m: chorus.IMember): ViewMember {
  const id = { name: m.id?.name ?? '', incarnation: m.id?.incarnation ?? '' };
  return { id, key: peerKey(id), advertise: m.advertise ?? '', joinedView: m.joinedView ?? 0 };
}

function causeFromProto(c: chorus.Cause): LeaveCause {
  switch (c) {
    case chorus.Cause.CAUSE_CRASH:
      return 'crash';
    case chorus.Cause.CAUSE_PARTITION:
      return 'partition';
    case chorus.Cause.CAUSE_EXPELLED:
      return 'expelled';
    default:
      return 'leave';
  }
}
