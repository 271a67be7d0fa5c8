// A deterministic in-memory cluster: DaemonNodes from src/core wired by a fake network
// with FIFO links and seeded delays, fake time, and simulated clients that record
// every event. Same seed → same run.
import { chorus } from '../../src/wire/gen/chorus.js';
import { encodePeerFrame, decodePeerFrame } from '../../src/wire/codec.js';
import { DaemonNode } from '../../src/core/daemon-node.js';
import type { CoreInput, CoreOutput, PeerKey, TraceEvent } from '../../src/core/types.js';
import { Random } from './random.js';

export interface SimClientEvent {
  readonly at: number;
  readonly event: chorus.IDaemonEvent;
}

export class SimClient {
  private reqSeq = 0;
  readonly events: SimClientEvent[] = [];
  readonly replies = new Map<number, chorus.IReply>();
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
  join(group: string): number {
    return this.request({ join: { group } });
  }
  leave(group: string): number {
    return this.request({ leave: { group } });
  }
  multicast(group: string, text: string, order: chorus.Order = chorus.Order.ORDER_TOTAL): number {
    return this.request({ multicast: { group, data: new TextEncoder().encode(text), order } });
  }
  disconnect(): void {
    this.sim.input(this.daemon, { kind: 'client-disconnect', client: this.id });
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
}

export class SimCluster {
  readonly random: Random;
  nowMs = 0;
  private seq = 0;
  private queue: Pending[] = [];
  readonly nodes = new Map<string, DaemonNode>();
  private readonly keys = new Map<PeerKey, string>();
  private readonly linkClock = new Map<string, number>();
  private readonly timers = new Map<string, number>();
  readonly clients = new Map<string, SimClient>();
  readonly traces: Array<{ at: number; daemon: string; trace: TraceEvent }> = [];
  readonly left = new Set<string>();
  private clientSeq = 0;
  private readonly minDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly encodeFrames: boolean;

  constructor(options: SimOptions) {
    this.random = new Random(options.seed);
    this.minDelayMs = options.minDelayMs ?? 0.05;
    this.maxDelayMs = options.maxDelayMs ?? 2;
    this.encodeFrames = options.encodeFrames ?? true;
  }

  /** Start a daemon; with `seed`, it joins through that daemon. */
  addDaemon(name: string, seed?: string): DaemonNode {
    const incarnation = `i${this.random.int(0, 1e9).toString(36)}`;
    const node = new DaemonNode({
      self: { name, incarnation },
      advertise: `${name}:7500`,
      join: seed !== undefined,
      maxMessageBytes: 1 << 20,
      nowMs: this.nowMs,
    });
    this.nodes.set(name, node);
    this.keys.set(node.selfKey, name);
    this.apply(name, node.start());
    if (seed !== undefined) {
      const s = this.nodes.get(seed)!;
      this.schedule(this.delay(), () => this.input(name, { kind: 'peer-up', peer: s.selfKey, id: s.self, advertise: `${seed}:7500` }));
    }
    return node;
  }

  addClient(daemon: string): SimClient {
    const id = `${daemon}.c${++this.clientSeq}`;
    const c = new SimClient(this, daemon, id);
    this.clients.set(id, c);
    this.input(daemon, { kind: 'client-connect', client: id, name: id });
    return c;
  }

  input(daemon: string, input: CoreInput): void {
    const node = this.nodes.get(daemon);
    if (node === undefined || this.left.has(daemon)) return;
    this.apply(daemon, node.step(input));
  }

  private delay(): number {
    return this.minDelayMs + this.random.next() * (this.maxDelayMs - this.minDelayMs);
  }

  private apply(daemon: string, out: CoreOutput): void {
    for (const t of out.traces) this.traces.push({ at: this.nowMs, daemon, trace: t });
    for (const s of out.sends) {
      const to = this.keys.get(s.to);
      if (to === undefined) continue;
      const link = `${daemon}>${to}`;
      const at = Math.max(this.nowMs + this.delay(), this.linkClock.get(link) ?? 0);
      this.linkClock.set(link, at);
      const from = this.nodes.get(daemon)!.selfKey;
      const frame = this.encodeFrames ? decodePeerFrame(encodePeerFrame(s.frame)) : s.frame;
      this.schedule(at - this.nowMs, () => this.input(to, { kind: 'peer-frame', from, frame }));
    }
    for (const ce of out.clientEvents) {
      const c = this.clients.get(ce.client);
      if (c === undefined) continue;
      c.events.push({ at: this.nowMs, event: ce.event });
      if (ce.event.reply) c.replies.set(ce.event.reply.req ?? 0, ce.event.reply);
    }
    if (out.left) this.left.add(daemon);
    if (out.wakeAtMs !== undefined) {
      const prev = this.timers.get(daemon);
      if (prev === undefined || out.wakeAtMs < prev || prev <= this.nowMs) {
        this.timers.set(daemon, out.wakeAtMs);
        const at = out.wakeAtMs;
        this.schedule(Math.max(0, at - this.nowMs), () => {
          if (this.timers.get(daemon) === at) this.timers.delete(daemon);
          this.input(daemon, { kind: 'tick', nowMs: this.nowMs });
        });
      }
    }
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

  /** Run events until the queue is empty or `untilMs` is reached. */
  run(untilMs = Number.POSITIVE_INFINITY): void {
    while (this.queue.length > 0 && this.queue[0]!.at <= untilMs) {
      const p = this.queue.shift()!;
      this.nowMs = Math.max(this.nowMs, p.at);
      p.run();
    }
    if (untilMs !== Number.POSITIVE_INFINITY) this.nowMs = Math.max(this.nowMs, untilMs);
  }

  /** Run until `done()` holds; fails after `limitMs` of simulated time. */
  runUntil(done: () => boolean, limitMs = 60_000): void {
    const end = this.nowMs + limitMs;
    while (!done()) {
      if (this.queue.length === 0 || this.queue[0]!.at > end) {
        throw new Error(`simulation (seed ${this.random.seed}) did not reach its goal by ${end} ms`);
      }
      const p = this.queue.shift()!;
      this.nowMs = Math.max(this.nowMs, p.at);
      p.run();
    }
  }
}
