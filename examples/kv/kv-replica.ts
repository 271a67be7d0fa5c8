// One replica of the key-value store: a member of a Chorus group that applies set and
// delete commands in the group's total order, takes the group's state when it joins
// (state transfer), and provides it to later joiners.
//
// Reads are local. A write is multicast as a command; the caller is answered once this
// replica has applied that command, so a write followed by a read here sees the write.
//
// A replica that loses its daemon connection or is expelled (its daemon lost the primary
// component, or it read too slowly) may have applied commands the group never delivers:
// it discards its state until it is a member again with the group's state. A lost
// connection is the SDK's to repair (`reconnect: true`: it redials and rejoins the same
// group handle, running install() again); an expulsion is the replica's: it joins again
// with state transfer, retrying with backoff until it succeeds.

import { connect, type Client, type Group, type JoinOptions, type View } from '../../client-sdk/index.js';
import { decodeCommand, encodeCommand, type KvCommand } from './kv-command.js';
import { KvStore, type ApplyResult } from './kv-store.js';

export type ReplicaErrorCode = 'ERR_NOT_READY' | 'ERR_STOPPED';

/** The replica cannot serve the request now (not a member yet, rejoining, or stopped). */
export class ReplicaError extends Error {
  readonly code: ReplicaErrorCode;
  constructor(code: ReplicaErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = 'ReplicaError';
  }
}

export type ReplicaStatus = 'joining' | 'ready' | 'stopped';

export interface ReplicaOptions {
  /** The local daemon's client gateway, e.g. ws://127.0.0.1:7400. */
  url: string;
  group: string;
  /** Client name shown by the daemon. Default 'kv'. */
  name?: string;
  /**
   * Join with state transfer (default). `false` only suits replicas that all start
   * before the group's first write (and cannot recover from an expulsion): it exists to
   * run the store against daemons without state transfer.
   */
  stateTransfer?: boolean;
  /**
   * How long a join waits for a replica that provides the map while the members present
   * do not (e.g. a `chorus tail`); then the map is taken as gone and this replica starts
   * with an empty one. Default: the SDK's (10 s).
   */
  stateWaitMs?: number;
  /** Structured log lines (default: none). */
  log?: (record: Record<string, unknown>) => void;
}

interface Waiter {
  resolve(result: ApplyResult): void;
  reject(err: Error): void;
}

const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 5_000;

export class KvReplica {
  readonly #options: Required<Omit<ReplicaOptions, 'log' | 'stateWaitMs'>> & Pick<ReplicaOptions, 'log' | 'stateWaitMs'>;
  readonly #store = new KvStore();
  #client: Client | undefined;
  #group: Group | undefined;
  #status: ReplicaStatus = 'joining';
  /** The join loop under way, if any (first join, or after an expulsion). */
  #joining: Promise<void> | undefined;
  /** Writes of this replica waiting to be applied here, by command tag. */
  readonly #waiters = new Map<number, Waiter>();
  #nextTag = 1;
  #applied = 0;
  #joins = 0;

  /** Called when the replica cannot go on (an expulsion without state transfer). */
  onFatal: (err: Error) => void = () => {};

  constructor(options: ReplicaOptions) {
    this.#options = { name: 'kv', stateTransfer: true, ...options };
  }

  get status(): ReplicaStatus {
    return this.#status;
  }

  /** What /health shows. */
  info(): { status: ReplicaStatus; member: string | undefined; view: View | undefined; size: number; applied: number; joins: number } {
    return {
      status: this.#status,
      member: this.#group ? this.#client?.id : undefined,
      view: this.#group?.view,
      size: this.#store.size,
      applied: this.#applied,
      joins: this.#joins,
    };
  }

  /** Connects and joins; resolves once this replica is a member with the group's state. */
  start(): Promise<void> {
    return this.#rejoin();
  }

  get(key: string): string | undefined {
    this.#check();
    return this.#store.get(key);
  }

  entries(): Array<[string, string]> {
    this.#check();
    return this.#store.entries();
  }

  digest(): string {
    this.#check();
    return this.#store.digest();
  }

  /** Sets `key`; resolves once this replica applied the command (in the group's order). */
  set(key: string, value: string): Promise<ApplyResult> {
    return this.#submit((from, tag) => ({ op: 'set', key, value, from, tag }));
  }

  /** Deletes `key`; `existed` says whether it held a value when the command was applied. */
  delete(key: string): Promise<ApplyResult> {
    return this.#submit((from, tag) => ({ op: 'delete', key, from, tag }));
  }

  /** Leaves the group and closes the connection. */
  async stop(): Promise<void> {
    if (this.#status === 'stopped') return;
    this.#status = 'stopped';
    this.#failWaiters(new ReplicaError('ERR_STOPPED', 'the replica stopped'));
    const group = this.#group;
    this.#group = undefined;
    await group?.leave().catch(() => {});
    await this.#client?.close();
  }

  // ---------------------------------------------------------------- writes

  async #submit(make: (from: string, tag: number) => KvCommand): Promise<ApplyResult> {
    this.#check();
    const group = this.#group!;
    const tag = this.#nextTag++;
    const applied = new Promise<ApplyResult>((resolve, reject) => this.#waiters.set(tag, { resolve, reject }));
    // Settled by #failWaiters possibly before anyone awaits it: not an unhandled rejection.
    applied.catch(() => {});
    try {
      // Total order: every replica applies the commands in the same sequence.
      await group.multicast(encodeCommand(make(this.#client!.id, tag)), { order: 'total', wait: 'delivered' });
    } catch (err) {
      this.#waiters.delete(tag);
      throw err;
    }
    return applied;
  }

  // A method, not a field test: the compiler would narrow the field across the awaits.
  #isStopped(): boolean {
    return this.#status === 'stopped';
  }

  #check(): void {
    if (this.#status === 'stopped') throw new ReplicaError('ERR_STOPPED', 'the replica stopped');
    if (this.#status !== 'ready') throw new ReplicaError('ERR_NOT_READY', 'the replica is joining the group');
  }

  #failWaiters(err: Error): void {
    const waiters = [...this.#waiters.values()];
    this.#waiters.clear();
    for (const w of waiters) w.reject(err);
  }

  // ---------------------------------------------------------------- membership

  /**
   * The last join found no replica to take the map from (ERR_NO_STATE_PROVIDER: the
   * members present, e.g. a `chorus tail`, do not provide): the map is gone with the
   * replicas that held it, so the next join starts with an empty one and provides it.
   */
  #startEmpty = false;

  #joinOptions(): JoinOptions {
    const store = this.#store;
    return {
      state: {
        // Synchronous serialization: the map exactly at the checkpoint (the SDK holds
        // the group's later events back while provide() runs).
        provide: () => store.snapshot(),
        ...(this.#options.stateTransfer && !this.#startEmpty
          ? {
              // Replaces the map (install may run again if its provider fails).
              install: async (state) => store.restore(await state.bytes()),
              ...(this.#options.stateWaitMs !== undefined ? { waitMs: this.#options.stateWaitMs } : {}),
            }
          : {}),
      },
    };
  }

  /** Joins (again), retrying with backoff until it works or the replica stops. */
  #rejoin(): Promise<void> {
    this.#joining ??= this.#joinLoop().finally(() => {
      this.#joining = undefined;
    });
    return this.#joining;
  }

  async #joinLoop(): Promise<void> {
    let delayMs = BACKOFF_FIRST_MS;
    while (this.#status !== 'stopped') {
      try {
        let client = this.#client;
        if (!client || client.closed) {
          // The SDK retries connections that break, not the first one: this loop does.
          client = await connect({ url: this.#options.url, name: this.#options.name, reconnect: true });
          this.#client = client;
          this.#watch(client);
        }
        const group = await client.join(this.#options.group, this.#joinOptions());
        if (this.#isStopped()) {
          // stop() ran while the join was under way.
          await group.leave().catch(() => {});
          return;
        }
        this.#startEmpty = false;
        this.#attach(group);
        return;
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (code === 'ERR_NO_STATE_PROVIDER') {
          // Waited (the SDK's state.waitMs) and no replica came: start over empty, at once.
          this.#startEmpty = true;
          this.#store.clear();
          this.#options.log?.({ msg: 'no replica holds the map: starting with an empty one', code });
          continue;
        }
        const retryInMs = Math.round(delayMs * (0.5 + Math.random()));
        this.#options.log?.({ msg: 'join failed', code, err: err instanceof Error ? err.message : String(err), retryInMs });
        await new Promise((resolve) => setTimeout(resolve, retryInMs));
        delayMs = Math.min(delayMs * 2, BACKOFF_MAX_MS);
      }
    }
  }

  #attach(group: Group): void {
    this.#group = group;
    this.#status = 'ready';
    this.#joins++;
    this.#options.log?.({ msg: 'joined', group: group.name, member: this.#client?.id, view: group.view.id, members: group.view.members.length, size: this.#store.size });
    group.on('message', (msg) => {
      const command = decodeCommand(msg.data);
      if (!command) return;
      const result = this.#store.apply(command);
      this.#applied++;
      if (command.from !== this.#client?.id) return;
      const waiter = this.#waiters.get(command.tag);
      if (!waiter) return;
      this.#waiters.delete(command.tag);
      waiter.resolve(result);
    });
    // Also 'rejoin-failed': the SDK reconnected but could not rejoin (e.g. install() threw).
    group.on('expelled', (reason, err) => this.#lost(`expelled (${reason}${err ? `: ${err.message}` : ''})`));
  }

  #watch(client: Client): void {
    client.on('disconnect', (err) => {
      if (client === this.#client) this.#disconnected(err.message);
    });
    client.on('reconnect', () => {
      if (client === this.#client) this.#reconnected();
    });
    // With reconnect, `close` with an error means the SDK gave up (the daemon refused the
    // redial, e.g. a new client token): start over with a new client. Without one, it is stop().
    client.on('close', (err) => {
      if (client === this.#client && err) this.#lost(`connection closed: ${err.message}`);
    });
  }

  /**
   * The connection broke; the SDK redials and rejoins the group handle, and install()
   * replaces the map. Until then the map may hold commands the group never delivers:
   * discard it and refuse reads and writes.
   */
  #disconnected(why: string): void {
    if (this.#status !== 'ready') return; // stopped, or the join loop is on it
    if (!this.#forget(`connection to the daemon lost: ${why}`)) return;
    this.#options.log?.({ msg: 'disconnected; the SDK reconnects and rejoins with state transfer', why });
  }

  /** Reconnected: the group handle rejoined (its install() ran), unless it was expelled meanwhile. */
  #reconnected(): void {
    if (this.#status !== 'joining' || this.#joining || !this.#group) return;
    this.#status = 'ready';
    this.#joins++;
    this.#options.log?.({ msg: 'rejoined', group: this.#group.name, member: this.#client?.id, view: this.#group.view.id, size: this.#store.size });
  }

  /** Out of the group for good (expelled, or the client closed): discard the state and join again. */
  #lost(why: string): void {
    if (this.#status === 'stopped' || this.#joining) return; // the join loop is already on it
    this.#group = undefined;
    if (!this.#forget(`the replica left the group: ${why}`)) return;
    this.#options.log?.({ msg: 'left the group; rejoining with state transfer', why });
    void this.#rejoin();
  }

  /**
   * Drops the map (it may hold commands the group never delivers) and fails the writes
   * waiting for it. False when the replica cannot go on: it runs without state transfer.
   */
  #forget(why: string): boolean {
    this.#status = 'joining';
    this.#store.clear();
    this.#failWaiters(new ReplicaError('ERR_NOT_READY', why));
    if (this.#options.stateTransfer) return true;
    this.#status = 'stopped';
    void this.#client?.close();
    this.onFatal(new Error(`${why}, and this replica runs without state transfer: it cannot rejoin safely`));
    return false;
  }
}
