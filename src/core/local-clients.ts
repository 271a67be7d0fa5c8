// LocalClients: the clients connected to this daemon, their requests and the answers
// owed to them.
//
// A request is validated here (what a client sends is never an invariant: it is refused
// with an error code) and queued; `pump` moves queued entries into the sending stream
// when their group is not changing and the buffer has room (flow control). Everything
// for the clients (replies, deliveries, views, signals) is queued as events the node
// hands out once per step, in the order they were made.
import { chorus } from '../wire/gen/chorus.js';
import type { ChorusErrorCode } from '../errors.js';
import { type GroupRecord, type GroupTable, type GroupViewChange, MAX_GROUPS, MAX_GROUPS_PER_CLIENT, MAX_GROUP_NAME_LENGTH, MAX_MEMBERSHIPS, causeToProto } from './group-table.js';
import { entryBytes } from './receive-log.js';
import type { ClientOutput, TraceEvent } from './types.js';
import { ORDER_NAMES } from './types.js';

/** A client request accepted by this daemon, not yet stamped into the sending stream. */
export interface LocalEntry {
  readonly entry: chorus.IEntry;
  /** Reply owed when the entry is sent (its multicast waited for buffer space). */
  readonly replyTo: { client: string; req: number; id: string } | undefined;
}

export interface LocalClient {
  readonly id: string;
  readonly name: string;
  /** The client protocol version agreed in its hello (2 knows StateTransfer WAIT). */
  readonly protocol: number;
  /** group → req of the client's pending join. */
  readonly pendingJoins: Map<string, number>;
  readonly pendingLeaves: Map<string, number>;
  /** message id → req, for multicasts with wait: 'delivered'. */
  readonly waitDelivered: Map<string, number>;
  /** group → how long a join that wants state waits for a member that provides (ms). */
  readonly stateWaitMs: Map<string, number>;
}

/** A join that wants state waits this long for a provider unless it says otherwise. */
export const DEFAULT_STATE_WAIT_MS = 10_000;
/** The longest wait a join may ask for. */
export const MAX_STATE_WAIT_MS = 600_000;

/** A request for the state transfer, which the node routes. */
export type StateRequest =
  | { readonly kind: 'chunk'; readonly client: LocalClient; readonly req: number; readonly chunk: chorus.IStateChunk }
  | { readonly kind: 'ack'; readonly client: LocalClient; readonly req: number; readonly ack: chorus.IStateAck };

/** Why joining `group` would take the table past a bound (group-table.ts), or undefined. */
function joinLimit(table: GroupTable, group: string, c: LocalClient): string | undefined {
  if (table.get(group) === undefined && table.size >= MAX_GROUPS) return `the cluster has ${MAX_GROUPS} groups, the most it holds`;
  if (table.groupsOf(c.id) + c.pendingJoins.size >= MAX_GROUPS_PER_CLIENT) return `a client may be in at most ${MAX_GROUPS_PER_CLIENT} groups`;
  if (table.membershipCount() >= MAX_MEMBERSHIPS) return `the cluster has ${MAX_MEMBERSHIPS} group memberships, the most it holds`;
  return undefined;
}

/** What the sending side reads of early delivery (the current view's): the causal past it stamps. */
export interface CausalPast {
  readonly passed: readonly number[];
  deliveredAhead(): boolean;
}

/** A client's credit beyond one largest message (see LocalClients.updateFlow). */
const CREDIT_EXTRA_BYTES = 1024 * 1024;

export function transferKey(group: string, joiner: string): string {
  return `${group}\u0000${joiner}`;
}

export interface LocalClientsOptions {
  /** This daemon's name (the same in every incarnation). */
  readonly self: string;
  readonly maxMessageBytes: number;
  readonly maxBufferBytes: number;
  /** Emit a `send` trace for every message. */
  readonly traceSends: boolean;
}

export class LocalClients {
  private readonly clients = new Map<string, LocalClient>();
  /** Accepted requests not yet in the sending stream, in arrival order. */
  readonly pending: LocalEntry[] = [];
  /** Bytes of `pending` per local client, `pending`'s length when they were last right, and the paused clients. */
  private readonly queuedBy = new Map<string, number>();
  private pendingKnown = 0;
  private readonly paused = new Set<string>();
  /** Bytes of `pending` (they count against the buffer bound for flow control). */
  pendingBytes = 0;
  /** Local joins that failed for want of state, until the leave that undoes them installs. */
  readonly failedJoins = new Set<string>();
  /** Join requests sent meanwhile, by transferKey(group, client). */
  readonly deferredJoins = new Map<string, { client: string; request: chorus.IClientRequest }>();
  private events: ClientOutput[] = [];

  /** Early delivery is read (never changed): the causal past stamped on what is sent. */
  constructor(
    private readonly options: LocalClientsOptions,
    private readonly early: () => CausalPast,
  ) {}

  /** Every client, by id. */
  get all(): ReadonlyMap<string, LocalClient> {
    return this.clients;
  }
  get size(): number {
    return this.clients.size;
  }
  get(id: string): LocalClient | undefined {
    return this.clients.get(id);
  }
  has(id: string): boolean {
    return this.clients.has(id);
  }

  connect(id: string, name: string, protocol: number): void {
    this.clients.set(id, { id, name, protocol, pendingJoins: new Map(), pendingLeaves: new Map(), waitDelivered: new Map(), stateWaitMs: new Map() });
  }

  /** The events for clients made since the last call, in order. */
  takeEvents(): ClientOutput[] {
    this.updateFlow();
    const events = this.events;
    this.events = [];
    return events;
  }

  /**
   * Per-client credit: a client whose requests accepted here and not yet in the sending
   * stream pass `creditBytes` is paused (its socket is not read) until they fall to half
   * of it. The daemon's buffer bound alone let one client queue without bound while a
   * member was frozen. The per-client sums are kept by `queue` and `pump`, and counted
   * again from `pending` whenever it was changed elsewhere (a step-down keeps the joins).
   */
  private updateFlow(): void {
    if (this.pending.length !== this.pendingKnown) {
      this.queuedBy.clear();
      for (const item of this.pending) this.addQueued(item.entry, entryBytes(item.entry));
      this.pendingKnown = this.pending.length;
    }
    const credit = this.creditBytes;
    for (const [client, bytes] of this.queuedBy) {
      if (!this.clients.has(client)) {
        this.queuedBy.delete(client); // gone: its leftovers (a disconnect's entries) pause nobody
        continue;
      }
      if (bytes > credit && !this.paused.has(client)) {
        this.paused.add(client);
        this.events.push({ client, flow: 'pause' });
      }
    }
    for (const client of this.paused) {
      if ((this.queuedBy.get(client) ?? 0) <= credit / 2 || !this.clients.has(client)) {
        this.paused.delete(client);
        if (this.clients.has(client)) this.events.push({ client, flow: 'resume' });
      }
    }
  }

  private addQueued(entry: chorus.IEntry, bytes: number): void {
    const client = entry.client ?? '';
    const sum = (this.queuedBy.get(client) ?? 0) + bytes;
    if (sum <= 0) this.queuedBy.delete(client);
    else this.queuedBy.set(client, sum);
  }

  /** Clients paused by the credit rule (for tests and status). */
  get pausedClients(): ReadonlySet<string> {
    return this.paused;
  }

  toClient(client: string, event: chorus.IDaemonEvent): void {
    this.events.push({ client, event } satisfies ClientOutput);
  }

  reply(client: string, req: number, ok: boolean, code?: ChorusErrorCode, message?: string, messageId?: string): void {
    // Only the fields that say something: one reply per multicast, encoded on the hot path.
    const reply: chorus.IReply = { req, ok };
    if (code !== undefined) reply.errorCode = code;
    if (message !== undefined) reply.errorMessage = message;
    if (messageId !== undefined) reply.messageId = messageId;
    this.toClient(client, { reply });
  }

  /** The members of `g` that are clients of this daemon. */
  localMembers(g: GroupRecord): LocalClient[] {
    const out: LocalClient[] = [];
    for (const m of g.members) {
      if (m.daemon !== this.options.self) continue;
      const c = this.clients.get(m.client);
      if (c !== undefined) out.push(c);
    }
    return out;
  }

  /** Whether a client of this daemon is a member of `g`. */
  hasLocalMember(g: GroupRecord): boolean {
    return g.members.some((m) => m.daemon === this.options.self && this.clients.has(m.client));
  }

  queue(entry: chorus.IEntry, replyTo: LocalEntry['replyTo']): void {
    this.pending.push({ entry, replyTo });
    const bytes = entryBytes(entry);
    this.pendingBytes += bytes;
    if (this.pendingKnown === this.pending.length - 1) {
      this.pendingKnown += 1;
      this.addQueued(entry, bytes);
    }
  }

  /** A client's credit: one message of the largest size plus 1 MiB of smaller ones. */
  private get creditBytes(): number {
    return this.options.maxMessageBytes + CREDIT_EXTRA_BYTES;
  }

  /**
   * A request of client `clientId`, against the group table as it is here. `retainedBytes`:
   * the buffer of unstable entries; `shuttingDown`: the daemon leaves. Returns the
   * requests of the state transfer for the node to route.
   */
  request(clientId: string, request: chorus.IClientRequest, table: GroupTable, retainedBytes: number, shuttingDown: boolean): StateRequest | undefined {
    const c = this.clients.get(clientId);
    if (c === undefined) return undefined;
    const req = request.req ?? 0;
    if (shuttingDown) {
      this.reply(c.id, req, false, 'ERR_DISCONNECTED', 'the daemon is shutting down');
      return undefined;
    }
    if (request.join) {
      const group = request.join.group ?? '';
      if (group.length === 0 || group.length > MAX_GROUP_NAME_LENGTH) {
        this.reply(c.id, req, false, 'ERR_BAD_GROUP_NAME', `group names have 1 to ${MAX_GROUP_NAME_LENGTH} characters`);
        return undefined;
      }
      if (this.failedJoins.has(transferKey(group, c.id)) && !this.deferredJoins.has(transferKey(group, c.id))) {
        // Its last join failed for want of state, and the leave that undoes it is not
        // installed yet: this join goes on once it is.
        this.deferredJoins.set(transferKey(group, c.id), { client: c.id, request });
        return undefined;
      }
      if (table.isMember(group, c.id) || c.pendingJoins.has(group)) {
        this.reply(c.id, req, false, 'ERR_ALREADY_MEMBER', `already a member of ${group}`);
        return undefined;
      }
      const limit = joinLimit(table, group, c);
      if (limit !== undefined) {
        this.reply(c.id, req, false, 'ERR_LIMIT', limit);
        return undefined;
      }
      c.pendingJoins.set(group, req);
      const entry: chorus.IEntry = { kind: chorus.Entry.Kind.GROUP_JOIN, group, client: c.id, clientSeq: req };
      if (request.join.wantState) {
        entry.wantState = true;
        const wait = request.join.stateWaitMs ?? 0;
        c.stateWaitMs.set(group, wait > 0 ? Math.min(wait, MAX_STATE_WAIT_MS) : DEFAULT_STATE_WAIT_MS);
      }
      if (request.join.offerState) entry.offerState = true;
      this.queue(entry, undefined);
    } else if (request.leave) {
      const group = request.leave.group ?? '';
      if (!table.isMember(group, c.id) || c.pendingLeaves.has(group)) {
        this.reply(c.id, req, false, 'ERR_NOT_MEMBER', `not a member of ${group}`);
        return undefined;
      }
      c.pendingLeaves.set(group, req);
      this.queue({ kind: chorus.Entry.Kind.GROUP_LEAVE, group, client: c.id, clientSeq: req }, undefined);
    } else if (request.multicast) {
      const mc = request.multicast;
      const group = mc.group ?? '';
      if (!table.isMember(group, c.id) || c.pendingLeaves.has(group)) {
        this.reply(c.id, req, false, 'ERR_NOT_MEMBER', `not a member of ${group}`);
        return undefined;
      }
      const data = mc.data ?? new Uint8Array(0);
      if (data.length > this.options.maxMessageBytes) {
        this.reply(c.id, req, false, 'ERR_MESSAGE_TOO_LARGE', `message of ${data.length} bytes exceeds ${this.options.maxMessageBytes}`);
        return undefined;
      }
      const order = mc.order ?? chorus.Order.ORDER_TOTAL;
      if (ORDER_NAMES[order] === undefined) {
        this.reply(c.id, req, false, 'ERR_BAD_REQUEST', `unknown order ${order}`);
        return undefined;
      }
      const id = `${c.id}/${req}`;
      const entry: chorus.IEntry = { kind: chorus.Entry.Kind.DATA, group, client: c.id, clientSeq: req, order, data };
      if (mc.waitDelivered) c.waitDelivered.set(id, req);
      // Flow control: while the buffers are full, the multicast is accepted (answered)
      // only when it is sent, so the SDK's multicast() promise slows the sender.
      const full = retainedBytes + this.pendingBytes >= this.options.maxBufferBytes;
      if (!mc.waitDelivered && !full) this.reply(c.id, req, true, undefined, undefined, id);
      this.queue(entry, !mc.waitDelivered && full ? { client: c.id, req, id } : undefined);
    } else if (request.stateChunk) {
      return { kind: 'chunk', client: c, req, chunk: request.stateChunk };
    } else if (request.stateAck) {
      return { kind: 'ack', client: c, req, ack: request.stateAck };
    } else if (request.hello) {
      this.reply(c.id, req, false, 'ERR_BAD_REQUEST', 'hello was already done');
    } else {
      this.reply(c.id, req, false, 'ERR_BAD_REQUEST', 'empty request');
    }
    return undefined;
  }

  /**
   * Client `clientId` is gone: it leaves every group it is in or joining (cause
   * 'expelled' when this daemon expelled it). Returns false if it was not connected.
   */
  disconnect(clientId: string, expelled: boolean, table: GroupTable): boolean {
    const c = this.clients.get(clientId);
    if (c === undefined) return false;
    this.clients.delete(clientId);
    for (const [k, d] of this.deferredJoins) if (d.client === clientId) this.deferredJoins.delete(k);
    const groups = new Set(c.pendingJoins.keys());
    for (const g of table.sorted()) if (g.members.some((m) => m.client === clientId)) groups.add(g.name);
    for (const group of [...groups].sort()) {
      const entry: chorus.IEntry = { kind: chorus.Entry.Kind.CLIENT_GONE, group, client: clientId };
      if (expelled) entry.cause = chorus.Cause.CAUSE_EXPELLED;
      this.queue(entry, undefined);
    }
    return true;
  }

  /**
   * Move accepted requests into the sending stream, stamped with their group's current
   * view. Data and leaves of a group that is changing wait for its next view (keeps
   * guarantee 2: they are sent, and delivered, in that view). Stops once `budget` bytes
   * are sent (flow control: the room left in the buffer of unstable entries). Returns
   * the entries to send, in order, and their `send` traces.
   */
  pump(table: GroupTable, budget: number): { entries: chorus.IEntry[]; traces: TraceEvent[] } {
    const entries: chorus.IEntry[] = [];
    const traces: TraceEvent[] = [];
    const pending = this.pending;
    let keep = 0;
    let i = 0;
    for (; i < pending.length; i++) {
      if (budget <= 0) break;
      const item = pending[i]!;
      const e = item.entry;
      const g = table.get(e.group ?? '');
      if (e.kind !== chorus.Entry.Kind.GROUP_JOIN && g?.change !== undefined) {
        pending[keep++] = item;
        continue;
      }
      this.pendingBytes -= entryBytes(e);
      this.addQueued(e, -entryBytes(e));
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
        if (e.order === chorus.Order.ORDER_CAUSAL || e.order === chorus.Order.ORDER_FIFO || this.early().deliveredAhead()) {
          e.causal = { passed: this.early().passed.slice() };
        }
        if (this.options.traceSends) {
          traces.push({ type: 'send', client: e.client ?? '', group: g.name, id: `${e.client ?? ''}/${e.clientSeq ?? 0}`, viewId: g.viewId, order: e.order ?? 0 });
        }
      } else if (e.kind !== chorus.Entry.Kind.GROUP_JOIN && e.kind !== chorus.Entry.Kind.STATE_INSTALLED && e.kind !== chorus.Entry.Kind.STATE_FAILED) {
        // (STATE_INSTALLED and STATE_FAILED name their transfer's view, not the current one:
        // stamped with a later view, the table took them for another transfer's.)
        e.groupView = g?.viewId ?? 0;
      }
      if (item.replyTo) this.reply(item.replyTo.client, item.replyTo.req, true, undefined, undefined, item.replyTo.id);
      entries.push(e);
      budget -= entryBytes(e);
    }
    for (; i < pending.length; i++) pending[keep++] = pending[i]!;
    if (this.pendingKnown === pending.length) this.pendingKnown = keep;
    pending.length = keep;
    return { entries, traces };
  }

  /** Entry `id` of group `g` (at `seq` of its total order; 0 for fifo/causal) for the local members. */
  deliver(g: GroupRecord, entry: chorus.IEntry, id: string, seq: number): void {
    const d: chorus.IDelivery = { group: g.name, id, sender: entry.client ?? '', viewId: g.viewId, data: entry.data ?? new Uint8Array(0) };
    // Defaults (total, seq 0 for fifo/causal) stay off the wire: 11 bytes per delivery.
    if (entry.order) d.order = entry.order;
    if (seq !== 0) d.seq = seq;
    const delivery: chorus.IDaemonEvent = { delivery: d };
    for (const m of g.members) {
      if (m.daemon !== this.options.self || !this.clients.has(m.client)) continue;
      this.toClient(m.client, delivery);
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

  /** Tell every local member of `g` (block, unblock). */
  signal(g: GroupRecord, kind: chorus.GroupSignal.Kind): void {
    for (const c of this.localMembers(g)) this.toClient(c.id, { signal: { group: g.name, kind } });
  }

  /**
   * A new view of a group: the local members get it (a joiner as the answer to its
   * join, the others after an unblock), and the pending leaves and joins of those who
   * left are answered. Returns the view event.
   */
  groupViewInstalled(change: GroupViewChange): chorus.IViewEvent {
    const g = change.group;
    const view: chorus.IViewEvent = {
      group: g.name,
      viewId: g.viewId,
      members: g.members.map((m) => m.client),
      joined: change.joined.map((m) => m.client),
      left: change.left.map((l) => l.member.client),
      leftCauses: change.left.map((l) => causeToProto(l.cause)),
    };
    const event: chorus.IDaemonEvent = { view };
    for (const m of g.members) {
      if (m.daemon !== this.options.self) continue;
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
    return view;
  }

  /** A group view without the local client `client` installed: answer its pending leave or join. */
  private finishLeave(client: string, daemon: string, group: string): void {
    if (daemon !== this.options.self) return;
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

  /** The daemon leaves: every client is to be closed. Returns their ids. */
  closeAll(): string[] {
    const ids = [...this.clients.keys()];
    this.clients.clear();
    return ids;
  }
}
