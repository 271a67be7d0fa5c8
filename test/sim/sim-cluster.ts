// A deterministic in-memory cluster: DaemonNodes from src/core wired by a fake network
// with FIFO links and seeded delays, fake time, and simulated clients that record
// every event. Faults: crash, restart, freeze (pause), cut links one way or both,
// short cuts that heal themselves, partitions, heal, and a crash at the instant a
// daemon installs a view (before that step's frames go out). Same seed → same run. Every run records a history for the
// virtual-synchrony checker (test/checker).
import { chorus } from '../../src/wire/gen/chorus.js';
import { encodePeerFrame, decodePeerFrame } from '../../src/wire/codec.js';
import { DaemonNode } from '../../src/core/daemon-node.js';
import { ORDER_NAMES, type CoreInput, type CoreOutput, type PeerKey, type TraceEvent } from '../../src/core/types.js';
import type { ChangeCause, HistoryEvent } from '../checker/history.js';
import { Random } from './random.js';

export interface SimClientEvent {
  readonly at: number;
  readonly event: chorus.IDaemonEvent;
}

const CAUSE_NAMES: readonly ChangeCause[] = ['crash', 'join', 'leave', 'crash', 'partition', 'expelled'];

/** How a simulated client takes part in state transfer for a group (like `join(g, { state })`). */
export interface SimStateOptions {
  /** Asks for state (has an install()). */
  readonly install: boolean;
  /** Offers state (has a provide()). */
  readonly provide: boolean;
  /** Whether this provide() call fails (throws), decided per checkpoint. */
  readonly provideFails?: () => boolean;
  /** Delay before the state is sent, so a provider can fail mid-transfer. */
  readonly provideDelayMs?: () => number;
  /** How long the join waits for a member that provides (ms; the daemon's default when absent). */
  readonly waitMs?: number;
}

/**
 * A simulated member's replicated state: the ids of the messages it holds, in its
 * delivery order (what a state machine would fold them into). A joiner with state
 * transfer starts from the provider's copy at the checkpoint.
 */
export class SimClient {
  private reqSeq = 0;
  readonly events: SimClientEvent[] = [];
  readonly replies = new Map<number, chorus.IReply>();
  /** Flow-control signals for this client, in order ('pause': chorusd stops reading its socket). */
  readonly flow: Array<'pause' | 'resume'> = [];
  private readonly leaveReqs = new Map<number, string>();
  private readonly stateOptions = new Map<string, SimStateOptions>();
  /** Per group: the replicated state (message ids). */
  readonly contents = new Map<string, string[]>();
  /** Per group: events held back while waiting for state (the SDK buffers them). */
  private readonly held = new Map<string, { transfer: number; waiting: boolean; events: chorus.IDaemonEvent[] }>();
  /** Groups whose join failed for want of a state provider. */
  readonly stateFailed = new Set<string>();
  dead = false;
  constructor(
    readonly sim: SimCluster,
    readonly daemon: string,
    readonly id: string,
  ) {}

  private request(body: Omit<chorus.IClientRequest, 'req'>): number {
    const req = ++this.reqSeq;
    this.sim.input(this.daemon, { kind: 'client-request', client: this.id, request: { req, ...body } });
    return req;
  }
  join(group: string, state?: SimStateOptions): number {
    if (state === undefined) {
      this.stateOptions.delete(group);
      this.stateFailed.delete(group);
      return this.request({ join: { group } });
    }
    this.stateOptions.set(group, state);
    this.stateFailed.delete(group);
    return this.request({
      join: { group, wantState: state.install, offerState: state.provide, ...(state.waitMs !== undefined ? { stateWaitMs: state.waitMs } : {}) },
    });
  }
  leave(group: string): number {
    const req = this.request({ leave: { group } });
    this.leaveReqs.set(req, group);
    return req;
  }
  multicast(group: string, text: string, order: chorus.Order = chorus.Order.ORDER_TOTAL): number {
    return this.request({ multicast: { group, data: new TextEncoder().encode(text), order } });
  }
  disconnect(): void {
    this.sim.input(this.daemon, { kind: 'client-disconnect', client: this.id });
    this.die();
  }
  die(): void {
    if (this.dead) return;
    this.dead = true;
    this.sim.record({ type: 'crash', t: this.sim.nowMs, member: this.id });
  }

  /** Called by the sim for every event the daemon sends this client. */
  receive(event: chorus.IDaemonEvent): void {
    if (this.dead) return;
    const t = this.sim.nowMs;
    this.events.push({ at: t, event });
    if (event.state) return this.onState(event.state);
    if (event.checkpoint) return this.onCheckpoint(event.checkpoint);
    const group = event.view?.group ?? event.delivery?.group ?? event.signal?.group;
    if (group !== undefined && group !== null) {
      if (this.stateFailed.has(group)) return; // join() rejected: the group's events are dropped
      const held = this.held.get(group);
      if (held !== undefined) {
        // Waiting for a provider (as the SDK does): a transfer comes with this view or a
        // later one, whose state holds everything before.
        if (held.waiting && event.view) held.events = [];
        held.events.push(event);
        return;
      }
      // The first view of a join with state: hold the group's events until the state is in.
      if (event.view && this.stateOptions.get(group)?.install && !this.contents.has(group)) {
        this.held.set(group, { transfer: 0, waiting: false, events: [event] });
        return;
      }
    }
    this.handle(event);
  }

  private onState(st: chorus.IStateTransfer): void {
    const group = st.group ?? '';
    const held = this.held.get(group);
    if (held === undefined) return;
    switch (st.kind ?? chorus.StateTransfer.Kind.BEGIN) {
      case chorus.StateTransfer.Kind.NONE:
        this.held.delete(group);
        this.contents.set(group, []);
        for (const e of held.events) this.handle(e);
        return;
      case chorus.StateTransfer.Kind.FAILED:
        // join() rejects; the daemon takes the member out of the group again.
        this.held.delete(group);
        this.stateFailed.add(group);
        return;
      case chorus.StateTransfer.Kind.WAIT: {
        // No member provides now: a transfer under way is over; keep the latest view on.
        held.waiting = true;
        held.transfer = 0;
        let last = held.events.length - 1;
        while (last > 0 && !held.events[last]!.view) last--;
        if (last > 0) held.events = held.events.slice(last);
        return;
      }
      case chorus.StateTransfer.Kind.BEGIN:
        held.waiting = false;
        held.transfer = st.transfer ?? 0; // a later BEGIN replaces an unfinished transfer
        return;
      case chorus.StateTransfer.Kind.CHUNK: {
        if ((st.transfer ?? 0) !== held.transfer || !st.last) return;
        const w = held.transfer;
        const contents = JSON.parse(new TextDecoder().decode(st.data ?? new Uint8Array())) as string[];
        this.held.delete(group);
        this.contents.set(group, [...contents]);
        this.sim.record({ type: 'transfer', t: this.sim.nowMs, member: this.id, group, viewId: w, contents });
        this.later({ stateAck: { group, joiner: this.id, provider: st.provider ?? '', transfer: w, chunk: st.chunk ?? 0, installed: true } });
        // What the state already holds is dropped: views and messages before view w.
        for (const e of held.events) {
          if (e.view && (e.view.viewId ?? 0) < w) continue;
          if (e.delivery && (e.delivery.viewId ?? 0) < w) continue;
          this.handle(e);
        }
        return;
      }
    }
  }

  private onCheckpoint(cp: chorus.ICheckpoint): void {
    const group = cp.group ?? '';
    const options = this.stateOptions.get(group);
    // The state exactly at the checkpoint: this client handles events one at a time.
    const snapshot = JSON.stringify(this.contents.get(group) ?? []);
    const fails = options?.provideFails?.() ?? false;
    const chunk: chorus.IStateChunk = fails
      ? { group, joiner: cp.joiner ?? '', transfer: cp.transfer ?? 0, errorCode: 'ERR_PROVIDE_FAILED', errorMessage: 'provide() threw' }
      : { group, joiner: cp.joiner ?? '', transfer: cp.transfer ?? 0, chunk: 0, data: new TextEncoder().encode(snapshot), last: true };
    this.later({ stateChunk: chunk }, options?.provideDelayMs?.() ?? 0);
  }

  /** A request sent from inside an event handler goes out after the daemon's current step. */
  private later(body: Omit<chorus.IClientRequest, 'req'>, afterMs = 0): void {
    this.sim.schedule(afterMs, () => {
      if (!this.dead) this.request(body);
    });
  }

  private handle(event: chorus.IDaemonEvent): void {
    const t = this.sim.nowMs;
    const r = event.reply;
    if (r) {
      this.replies.set(r.req ?? 0, r);
      const group = this.leaveReqs.get(r.req ?? 0);
      if (group !== undefined && r.ok) this.sim.record({ type: 'leave', t, member: this.id, group });
    }
    const v = event.view;
    if (v && !this.contents.has(v.group ?? '')) this.contents.set(v.group ?? '', []);
    if (v) {
      const causes: Record<string, ChangeCause> = {};
      for (const j of v.joined ?? []) causes[j] = 'join';
      (v.left ?? []).forEach((l, i) => (causes[l] = CAUSE_NAMES[v.leftCauses?.[i] ?? 0] ?? 'crash'));
      this.sim.record({
        type: 'group-view',
        t,
        member: this.id,
        group: v.group ?? '',
        viewId: v.viewId ?? 0,
        members: v.members ?? [],
        joined: v.joined ?? [],
        left: v.left ?? [],
        causes,
      });
    }
    const d = event.delivery;
    if (d) {
      this.contents.get(d.group ?? '')?.push(d.id ?? '');
      this.sim.record({
        type: 'deliver',
        t,
        member: this.id,
        group: d.group ?? '',
        id: d.id ?? '',
        sender: d.sender ?? '',
        order: ORDER_NAMES[d.order ?? 0] ?? 'total',
        viewId: d.viewId ?? 0,
        seq: d.seq ?? 0,
      });
    }
    const s = event.signal;
    if (s && s.kind === chorus.GroupSignal.Kind.EXPELLED) {
      this.contents.delete(s.group ?? ''); // an expelled member discards its state
      this.sim.record({ type: 'expelled', t, member: this.id, group: s.group ?? '', reason: s.reason ?? '' });
    }
  }

  /** Deliveries as `sender:text` in the order this client saw them. */
  deliveries(group: string): string[] {
    const out: string[] = [];
    for (const e of this.events) {
      const d = e.event.delivery;
      if (d && d.group === group) out.push(`${d.sender}:${new TextDecoder().decode(d.data ?? new Uint8Array())}`);
    }
    return out;
  }
  views(group: string): Array<{ id: number; members: string[] }> {
    const out: Array<{ id: number; members: string[] }> = [];
    for (const e of this.events) {
      const v = e.event.view;
      if (v && v.group === group) out.push({ id: v.viewId ?? 0, members: v.members ?? [] });
    }
    return out;
  }
  /** Whether the member's join has completed (state installed, if it asked for state): an SDK user could multicast now. */
  ready(group: string): boolean {
    return this.contents.has(group) && !this.held.has(group);
  }
  expelled(group: string): boolean {
    if (this.stateFailed.has(group)) return true;
    return this.events.some((e) => e.event.signal?.kind === chorus.GroupSignal.Kind.EXPELLED && e.event.signal.group === group);
  }
}

/** A crash armed for the next daemon-view install (see `SimCluster.crashAtInstall`). */
export interface InstallTrap {
  readonly match?: (daemon: string, viewId: number) => boolean;
  readonly keepFrame?: () => boolean;
  /** Set when it fired: the daemon that crashed, at the view it installed. */
  fired: { daemon: string; viewId: number } | undefined;
  /** Disarm (no-op once fired). */
  readonly cancel: () => void;
}

interface Pending {
  readonly at: number;
  readonly order: number;
  readonly run: () => void;
}

export interface SimOptions {
  readonly seed: number;
  /** Link delay range in ms. */
  readonly minDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Encode and decode every frame, as the real links do. */
  readonly encodeFrames?: boolean;
  readonly heartbeatMs?: number;
  readonly suspectMs?: number;
  readonly maxBufferBytes?: number;
}

export class SimCluster {
  readonly random: Random;
  nowMs = 0;
  private seq = 0;
  private queue: Pending[] = [];
  readonly nodes = new Map<string, DaemonNode>();
  private readonly keys = new Map<PeerKey, string>();
  private readonly linkClock = new Map<string, number>();
  /** Directed links `a>b` whose frames are dropped. */
  private readonly cutLinks = new Set<string>();
  private readonly frozenUntil = new Map<string, number>();
  /** Extra delay of every frame to a daemon (a slow consumer of its links). */
  private readonly slowTo = new Map<string, number>();
  private readonly timers = new Map<string, number>();
  private readonly lastTick = new Map<string, number>();
  readonly clients = new Map<string, SimClient>();
  readonly traces: Array<{ at: number; daemon: string; trace: TraceEvent }> = [];
  readonly history: HistoryEvent[] = [];
  readonly left = new Set<string>();
  readonly crashed = new Set<string>();
  private clientSeq = 0;
  private readonly options: SimOptions;
  private readonly minDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly encodeFrames: boolean;
  /** Incremented on restart, so a daemon's frames from an earlier run are told apart. */
  private readonly runs = new Map<string, number>();
  /** Daemons whose current run has installed a daemon view (no longer fresh). */
  private readonly installedRun = new Set<string>();
  private installTrap: InstallTrap | undefined;

  constructor(options: SimOptions) {
    this.options = options;
    this.random = new Random(options.seed);
    this.minDelayMs = options.minDelayMs ?? 0.05;
    this.maxDelayMs = options.maxDelayMs ?? 2;
    this.encodeFrames = options.encodeFrames ?? true;
  }

  record(e: HistoryEvent): void {
    this.history.push(e);
  }

  /**
   * Start a daemon; with `seed` (one name or several), it joins through them; with
   * `expect`, fresh daemons that find each other form the first primary (bootstrap).
   */
  addDaemon(name: string, seed?: string | readonly string[], expect?: number): DaemonNode {
    const seeds = seed === undefined ? [] : typeof seed === 'string' ? [seed] : seed;
    const incarnation = `i${this.random.int(0, 1e9).toString(36)}`;
    const node = new DaemonNode({
      self: { name, incarnation },
      advertise: `${name}:7500`,
      join: seeds.length > 0,
      ...(expect !== undefined ? { expect } : {}),
      maxMessageBytes: 1 << 20,
      nowMs: this.nowMs,
      traceSends: true,
      ...(this.options.heartbeatMs !== undefined ? { heartbeatMs: this.options.heartbeatMs } : {}),
      ...(this.options.suspectMs !== undefined ? { suspectMs: this.options.suspectMs } : {}),
      ...(this.options.maxBufferBytes !== undefined ? { maxBufferBytes: this.options.maxBufferBytes } : {}),
    });
    this.nodes.set(name, node);
    this.crashed.delete(name);
    this.left.delete(name);
    this.runs.set(name, (this.runs.get(name) ?? 0) + 1);
    this.installedRun.delete(name);
    this.keys.set(node.selfKey, name);
    this.apply(name, node.start());
    for (const sd of seeds) this.introduce(name, sd);
    return node;
  }

  /**
   * Tell `name` (joining) about `seed`, as a successful seed dial does. Like the real
   * seed dialer, it retries while the seed is not up yet.
   */
  introduce(name: string, seed: string, afterMs = this.delay()): void {
    const run = this.runs.get(name);
    this.schedule(afterMs, () => {
      if (this.runs.get(name) !== run) return;
      const s = this.nodes.get(seed);
      if (s === undefined || this.crashed.has(seed) || this.left.has(seed)) {
        if (this.nodes.get(name)?.state === 'joining') this.introduce(name, seed, 250);
        return;
      }
      this.input(name, { kind: 'peer-up', peer: s.selfKey, id: s.self, advertise: `${seed}:7500` });
    });
  }

  /** A client of `daemon`; `protocol`: the client protocol it agreed in its hello. */
  addClient(daemon: string, protocol = 2): SimClient {
    const id = `${daemon}.c${++this.clientSeq}`;
    const c = new SimClient(this, daemon, id);
    this.clients.set(id, c);
    this.input(daemon, { kind: 'client-connect', client: id, name: id, protocol });
    return c;
  }

  input(daemon: string, input: CoreInput): void {
    const node = this.nodes.get(daemon);
    if (node === undefined || this.left.has(daemon) || this.crashed.has(daemon)) return;
    const thaw = this.frozenUntil.get(daemon);
    if (thaw !== undefined && thaw > this.nowMs) {
      // A paused process handles its input when it resumes, in arrival order.
      const run = this.runs.get(daemon);
      this.schedule(thaw - this.nowMs, () => {
        if (this.runs.get(daemon) === run) this.input(daemon, input);
      });
      return;
    }
    // Like chorusd: the core learns the time before each input.
    if (input.kind !== 'tick' && (this.lastTick.get(daemon) ?? -1) < this.nowMs) {
      this.lastTick.set(daemon, this.nowMs);
      this.apply(daemon, node.step({ kind: 'tick', nowMs: this.nowMs }));
    }
    this.apply(daemon, node.step(input));
  }

  // ------------------------------------------------------------------ faults

  /** The process dies: its clients die with it, its frames in flight are lost. */
  crash(name: string): void {
    if (this.crashed.has(name) || !this.nodes.has(name)) return;
    this.crashed.add(name);
    this.record({ type: 'daemon-crash', t: this.nowMs, daemon: this.nodes.get(name)!.selfKey });
    for (const c of this.clients.values()) if (c.daemon === name) c.die();
    this.runs.set(name, (this.runs.get(name) ?? 0) + 1);
  }

  /** Restart a crashed daemon under the same name (a new incarnation), joining via `seed`. */
  restart(name: string, seed: string): DaemonNode {
    return this.addDaemon(name, seed);
  }

  /** Pause a daemon (SIGSTOP) for `ms`: it handles nothing until then. */
  freeze(name: string, ms: number): void {
    this.frozenUntil.set(name, Math.max(this.frozenUntil.get(name) ?? 0, this.nowMs + ms));
  }

  /** Every frame to `name` takes `extraMs` longer (a slow daemon that still answers). */
  slow(name: string, extraMs: number): void {
    this.slowTo.set(name, extraMs);
  }

  /** Drop frames from `a` to `b` (and back unless `oneWay`). */
  cut(a: string, b: string, oneWay = false): void {
    this.cutLinks.add(`${a}>${b}`);
    if (!oneWay) this.cutLinks.add(`${b}>${a}`);
  }

  /** Restore links; the sending side sees its link come back (peer-up) and repairs. */
  heal(a: string, b: string): void {
    for (const [x, y] of [
      [a, b],
      [b, a],
    ] as const) {
      if (!this.cutLinks.delete(`${x}>${y}`)) continue;
      const peer = this.nodes.get(y);
      if (peer === undefined) continue;
      this.schedule(this.delay(), () => this.input(x, { kind: 'peer-up', peer: peer.selfKey, id: peer.self, advertise: `${y}:7500` }));
    }
  }

  partition(sideA: readonly string[], sideB: readonly string[]): void {
    for (const a of sideA) for (const b of sideB) this.cut(a, b);
  }

  healAll(): void {
    const pairs = [...this.cutLinks].map((l) => l.split('>') as [string, string]);
    for (const [a, b] of pairs) this.heal(a, b);
    this.frozenUntil.clear();
  }

  /** Cut the link(s) between `a` and `b` and heal them after `ms` (a short cut, e.g. below the suspect timeout). */
  shortCut(a: string, b: string, ms: number, oneWay = false): void {
    const links = oneWay ? [`${a}>${b}`] : [`${a}>${b}`, `${b}>${a}`];
    const fresh = links.filter((l) => !this.cutLinks.has(l));
    this.cut(a, b, oneWay);
    this.schedule(ms, () => {
      // Heal only the links this cut made that are still cut.
      for (const l of fresh) {
        if (!this.cutLinks.has(l)) continue;
        const [x, y] = l.split('>') as [string, string];
        this.cutLinks.delete(l);
        const peer = this.nodes.get(y);
        if (peer !== undefined) this.schedule(this.delay(), () => this.input(x, { kind: 'peer-up', peer: peer.selfKey, id: peer.self, advertise: `${y}:7500` }));
      }
    });
  }

  /**
   * Arm a one-shot trap: the first daemon that installs a daemon view (for which `match`
   * holds) crashes in that very step, after recording the install and before its frames
   * of that step go out; `keepFrame` (asked once per frame, in order) lets some of them
   * through, e.g. the Install to one member. `fired` tells who crashed at which view.
   */
  crashAtInstall(options: { match?: (daemon: string, viewId: number) => boolean; keepFrame?: () => boolean } = {}): InstallTrap {
    const trap: InstallTrap = { ...options, fired: undefined, cancel: () => {
      if (this.installTrap === trap) this.installTrap = undefined;
    } };
    this.installTrap = trap;
    return trap;
  }

  /** Whether `name`'s current run has installed a daemon view (so it can force a primary). */
  hasInstalled(name: string): boolean {
    return this.installedRun.has(name);
  }

  /** Any link cut, or any daemon paused, right now. */
  hasCuts(): boolean {
    if (this.cutLinks.size > 0) return true;
    for (const t of this.frozenUntil.values()) if (t > this.nowMs) return true;
    return false;
  }

  isCut(a: string, b: string): boolean {
    return this.cutLinks.has(`${a}>${b}`);
  }

  // ------------------------------------------------------------------ the loop

  private delay(): number {
    return this.minDelayMs + this.random.next() * (this.maxDelayMs - this.minDelayMs);
  }

  private apply(daemon: string, out: CoreOutput): void {
    const node = this.nodes.get(daemon)!;
    if (out.identity !== undefined) this.keys.set(node.selfKey, daemon);
    let sprung: InstallTrap | undefined;
    for (const t of out.traces) {
      this.traces.push({ at: this.nowMs, daemon, trace: t });
      if (t.type === 'daemon-view') {
        this.record({ type: 'daemon-view', t: this.nowMs, daemon: node.selfKey, viewId: t.viewId, members: t.members, ...(t.forced ? { forced: true } : {}) });
        this.installedRun.add(daemon);
        const trap = this.installTrap;
        if (sprung === undefined && trap !== undefined && (trap.match?.(daemon, t.viewId) ?? true)) {
          this.installTrap = undefined;
          trap.fired = { daemon, viewId: t.viewId };
          sprung = trap;
        }
      } else if (t.type === 'left' && t.viewId !== undefined) {
        this.record({ type: 'daemon-left', t: this.nowMs, daemon: node.selfKey, viewId: t.viewId });
      } else if (t.type === 'send') {
        this.record({ type: 'send', t: this.nowMs, member: t.client, group: t.group, id: t.id, order: ORDER_NAMES[t.order] ?? 'total', viewId: t.viewId });
      }
    }
    const run = this.runs.get(daemon);
    if (sprung !== undefined) {
      // Crash at the install: the frames of this step are lost, except those let through.
      for (const s of out.sends) if (sprung.keepFrame?.() ?? false) this.transmit(daemon, node.selfKey, undefined, s);
      this.crash(daemon);
      return;
    }
    for (const s of out.sends) this.transmit(daemon, node.selfKey, run, s);
    for (const address of out.probes) {
      const target = address.split(':')[0]!;
      if (this.nodes.has(target) && target !== daemon) this.introduce(daemon, target);
    }
    for (const ce of out.clientEvents) {
      if (ce.flow !== undefined) this.clients.get(ce.client)?.flow.push(ce.flow);
      else this.clients.get(ce.client)?.receive(ce.event);
    }
    if (out.left) this.left.add(daemon);
    if (out.wakeAtMs !== undefined) {
      const prev = this.timers.get(daemon);
      if (prev === undefined || out.wakeAtMs < prev || prev <= this.nowMs) {
        this.timers.set(daemon, out.wakeAtMs);
        const at = out.wakeAtMs;
        this.schedule(Math.max(0, at - this.nowMs), () => {
          if (this.runs.get(daemon) !== run) return;
          if (this.timers.get(daemon) === at) this.timers.delete(daemon);
          this.input(daemon, { kind: 'tick', nowMs: this.nowMs });
        });
      }
    }
  }

  /** Put a frame on the link; `run`: the sender's run it dies with (undefined: already written, it survives the sender). */
  private transmit(daemon: string, from: PeerKey, run: number | undefined, s: { to: PeerKey; frame: chorus.IPeerFrame }): void {
    const to = this.keys.get(s.to);
    if (to === undefined) return;
    const link = `${daemon}>${to}`;
    if (this.cutLinks.has(link)) return;
    const at = Math.max(this.nowMs + this.delay() + (this.slowTo.get(to) ?? 0), this.linkClock.get(link) ?? 0);
    this.linkClock.set(link, at);
    const frame = this.encodeFrames ? decodePeerFrame(encodePeerFrame(s.frame)) : s.frame;
    const toRun = this.runs.get(to);
    this.schedule(at - this.nowMs, () => {
      // Frames die with either end's process and with a cut link.
      if ((run !== undefined && this.runs.get(daemon) !== run) || this.runs.get(to) !== toRun || this.cutLinks.has(link)) return;
      if (this.nodes.get(to)!.selfKey !== s.to) return; // sent to an earlier incarnation
      this.input(to, { kind: 'peer-frame', from, frame });
    });
  }

  schedule(afterMs: number, run: () => void): void {
    const p: Pending = { at: this.nowMs + afterMs, order: this.seq++, run };
    // Binary insertion keeps the queue sorted by (time, insertion order).
    let lo = 0;
    let hi = this.queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const q = this.queue[mid]!;
      if (q.at < p.at || (q.at === p.at && q.order < p.order)) lo = mid + 1;
      else hi = mid;
    }
    this.queue.splice(lo, 0, p);
  }

  /** Run events until `untilMs` (simulated). */
  run(untilMs: number): void {
    while (this.queue.length > 0 && this.queue[0]!.at <= untilMs) {
      const p = this.queue.shift()!;
      this.nowMs = Math.max(this.nowMs, p.at);
      p.run();
    }
    this.nowMs = Math.max(this.nowMs, untilMs);
  }

  /** Run until `done()` holds; fails after `limitMs` of simulated time. */
  runUntil(done: () => boolean, limitMs = 60_000): void {
    const end = this.nowMs + limitMs;
    while (!done()) {
      if (this.queue.length === 0 || this.queue[0]!.at > end) {
        throw new Error(`simulation (seed ${this.random.seed}) did not reach its goal by ${end.toFixed(0)} ms`);
      }
      const p = this.queue.shift()!;
      this.nowMs = Math.max(this.nowMs, p.at);
      p.run();
    }
  }

  /** Live daemons, in name order. */
  live(): string[] {
    return [...this.nodes.keys()].filter((n) => !this.crashed.has(n) && !this.left.has(n)).sort();
  }
}
