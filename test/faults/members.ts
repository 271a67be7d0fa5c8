// Real SDK clients for the fault tests: each `Member` is one connection to one daemon,
// records every event through the FaultRecorder, rejoins a group after an expulsion
// (`partitioned`: its daemon left the primary), and can be killed (its socket is cut
// without a close handshake, as when the process dies). `Traffic` multicasts in all four
// orders; `Replica` is a state machine folded from deliveries, handed to joiners by
// state transfer. `settle` waits until what the live members sent has arrived.
import { createHash } from 'node:crypto';

import WebSocket from 'ws';

import { connect, type Client, type Group, type Message, type Order, type StateTransfer } from '../../client-sdk/index.js';
import type { FaultRecorder } from './fault-recorder.js';

export const ORDERS: readonly Order[] = ['fifo', 'causal', 'total', 'safe'];

/** A join (with its state transfer) that takes longer is reported as hung: a liveness failure (guarantee 7). */
export const JOIN_TIMEOUT_MS = 30_000;

export class JoinTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JoinTimeoutError';
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A replicated state: every delivered message id in delivery order, and a hash chain over
 * the `total` and `safe` ones (the same order at every member). `fifo` and `causal`
 * messages may be delivered in different orders at different members, so they are
 * compared as a set.
 */
export class Replica {
  ids: string[] = [];
  chain = '';
  /** What the last install() received: the ids the transferred state holds. */
  installed: string[] | undefined;
  /** How often provide() and install() ran (for reports when a join hangs). */
  provides = 0;
  installs = 0;
  /** Size of the last state provided, and what the last install() has read so far. */
  providedBytes = 0;
  installedChunks = 0;
  installedBytes = 0;

  apply(m: Message): void {
    this.ids.push(m.id);
    if (m.order === 'total' || m.order === 'safe') this.chain = createHash('sha256').update(this.chain).update(m.id).digest('hex');
  }

  /** Comparable summary: equal at two members iff they hold the same state. */
  digest(): string {
    return `${this.chain}/${createHash('sha256').update([...this.ids].sort().join(',')).digest('hex')}/${this.ids.length}`;
  }

  stateTransfer(): StateTransfer {
    return {
      provide: () => {
        this.provides++;
        const bytes = new TextEncoder().encode(JSON.stringify({ ids: this.ids, chain: this.chain }));
        this.providedBytes = bytes.length;
        return bytes;
      },
      install: async (state) => {
        this.installs++;
        this.installedChunks = 0;
        this.installedBytes = 0;
        const chunks: Uint8Array[] = [];
        for await (const chunk of state) {
          chunks.push(chunk.slice()); // a view into the received frame: copy it
          this.installedChunks++;
          this.installedBytes += chunk.length;
        }
        const { ids, chain } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { ids: string[]; chain: string };
        // Replace, never merge: install() may run again after a failed provider.
        this.ids = ids;
        this.chain = chain;
        this.installed = [...ids];
      },
    };
  }
}

interface Membership {
  handle: Group | undefined;
  readonly replica: Replica | undefined;
  /** Rejoin after an expulsion. */
  readonly rejoin: boolean;
  rejoining: Promise<void> | undefined;
  /** Sessions of this group so far (1 + rejoins). */
  sessions: number;
}

export class Member {
  readonly client: Client;
  readonly id: string;
  readonly daemon: string;
  readonly #recorder: FaultRecorder;
  readonly #socket: () => WebSocket | undefined;
  readonly #groups = new Map<string, Membership>();
  #dead = false;
  /** Groups whose join() has not resolved yet (for reports when one hangs). */
  readonly joining = new Set<string>();
  /** Expulsions seen, by reason. */
  readonly expulsions: string[] = [];

  private constructor(client: Client, daemon: string, recorder: FaultRecorder, socket: () => WebSocket | undefined) {
    this.client = client;
    this.id = client.id;
    this.daemon = daemon;
    this.#recorder = recorder;
    this.#socket = socket;
    // The session ends with the connection: events the daemon sent before it died have
    // arrived by now (they are deliveries like any other), nothing comes after.
    client.on('close', () => {
      this.#dead = true;
      recorder.crash(this.id);
    });
  }

  static async connect(recorder: FaultRecorder, daemon: string, url: string, name: string): Promise<Member> {
    let socket: WebSocket | undefined;
    // The SDK accepts a WebSocket class: keep the instance, to cut it like a dying process would.
    class TrackedWebSocket extends WebSocket {
      constructor(address: string) {
        super(address);
        socket = this;
      }
    }
    const client = await connect({ url, name, WebSocket: TrackedWebSocket });
    return new Member(client, daemon, recorder, () => socket);
  }

  get alive(): boolean {
    return !this.#dead && !this.client.closed;
  }

  /** The current handle of `group` (undefined while expelled and rejoining). */
  handle(group: string): Group | undefined {
    return this.#groups.get(group)?.handle;
  }

  replica(group: string): Replica | undefined {
    return this.#groups.get(group)?.replica;
  }

  sessions(group: string): number {
    return this.#groups.get(group)?.sessions ?? 0;
  }

  /**
   * Joins `group` and records it. `replica`: join with state transfer (install at the
   * joiner, provide to later joiners). `rejoin` (default true): join again after an
   * expulsion, as an application would.
   */
  async join(group: string, options: { replica?: Replica; rejoin?: boolean; timeoutMs?: number } = {}): Promise<Group> {
    const m: Membership = { handle: undefined, replica: options.replica, rejoin: options.rejoin ?? true, rejoining: undefined, sessions: 0 };
    this.#groups.set(group, m);
    const timeoutMs = options.timeoutMs ?? JOIN_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new JoinTimeoutError(this.#describeJoin(group, timeoutMs))), timeoutMs);
    });
    try {
      await Promise.race([this.#join(group, m), timeout]);
    } finally {
      clearTimeout(timer);
    }
    return m.handle!;
  }

  #describeJoin(group: string, timeoutMs: number): string {
    const r = this.#groups.get(group)?.replica;
    const progress =
      r === undefined
        ? ''
        : r.installs === 0
          ? ' (no state transfer began)'
          : ` (state transfer began: install() called ${r.installs}x, ${r.installedChunks} chunk(s), ${r.installedBytes} B read so far)`;
    return `${this.id} on daemon ${this.daemon}: join(${JSON.stringify(group)}) did not complete within ${timeoutMs} ms${progress}`;
  }

  async #join(group: string, m: Membership): Promise<void> {
    const replica = m.replica;
    if (replica !== undefined) replica.installed = undefined;
    this.joining.add(group);
    let handle: Group;
    try {
      handle = await this.client.join(group, replica === undefined ? {} : { state: replica.stateTransfer() });
    } finally {
      this.joining.delete(group);
    }
    m.sessions += 1;
    m.handle = handle;
    // Listeners attached in the same macrotask as join() resolving: nothing is missed.
    this.#recorder.attach(this.id, handle, replica?.installed);
    if (replica !== undefined) handle.on('message', (msg) => replica.apply(msg));
    handle.on('expelled', (reason) => {
      this.expulsions.push(reason);
      if (m.handle === handle) m.handle = undefined;
      if (m.rejoin && this.alive) m.rejoining = this.#rejoin(group, m);
    });
  }

  /** join() again until it works or the client is gone (it waits while the daemon is outside the primary). */
  async #rejoin(group: string, m: Membership): Promise<void> {
    while (this.alive && this.#groups.get(group) === m && m.handle === undefined) {
      try {
        await this.#join(group, m);
      } catch {
        await sleep(100);
      }
    }
    m.rejoining = undefined;
  }

  /** Leaves `group` on purpose (recorded once the daemon confirmed). */
  async leave(group: string): Promise<void> {
    const m = this.#groups.get(group);
    this.#groups.delete(group);
    const handle = m?.handle;
    if (handle === undefined || !this.alive) return;
    try {
      await handle.leave();
      this.#recorder.leave(this.id, group);
    } catch {
      // the connection ended meanwhile: recorded as a crash
    }
  }

  /** The client process dies: its connection is cut with no close handshake. */
  kill(): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#recorder.crash(this.id);
    this.#socket()?.terminate();
  }

  async close(): Promise<void> {
    this.#dead = true;
    await this.client.close().catch(() => undefined);
  }
}

export interface TrafficOptions {
  /** Multicasts issued together before waiting for their acceptance (default 8). */
  readonly window?: number;
  /** Pause after each window, ms (default 5): bounds the rate on a shared 2-core machine. */
  readonly pauseMs?: number;
  /** Orders to cycle through (default all four). */
  readonly orders?: readonly Order[];
  /** Every `largeEvery`-th message carries `largeBytes` (default 50 and 4 KiB). */
  readonly largeEvery?: number;
  readonly largeBytes?: number;
}

/** One member multicasting to one group in a loop until stopped or dead. */
export class Traffic {
  sent = 0;
  refused = 0;
  #running = true;
  readonly #loop: Promise<void>;

  constructor(
    readonly member: Member,
    readonly group: string,
    recorder: FaultRecorder,
    options: TrafficOptions = {},
  ) {
    this.#loop = this.#run(recorder, options);
  }

  async #run(recorder: FaultRecorder, options: TrafficOptions): Promise<void> {
    const window = options.window ?? 8;
    const pauseMs = options.pauseMs ?? 5;
    const orders = options.orders ?? ORDERS;
    const largeEvery = options.largeEvery ?? 50;
    const large = 'x'.repeat(options.largeBytes ?? 4096);
    let k = 0;
    while (this.#running && this.member.alive) {
      const g = this.member.handle(this.group);
      if (g === undefined) {
        await sleep(20); // expelled: rejoining
        continue;
      }
      const batch: Array<Promise<void>> = [];
      for (let i = 0; i < window; i++, k++) {
        const order = orders[k % orders.length]!;
        const body = `${this.member.id}:${k}${k % largeEvery === largeEvery - 1 ? `:${large}` : ''}`;
        batch.push(
          g.multicast(body, { order }).then(
            ({ id }) => {
              this.sent++;
              recorder.multicastAccepted(this.member.id, this.group, id);
            },
            () => {
              this.refused++;
            },
          ),
        );
      }
      await Promise.all(batch);
      await sleep(pauseMs);
    }
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }
}

/**
 * Waits until every live member of `group` delivered a `safe` marker from every live
 * member: then whatever they sent before has arrived (FIFO per sender, and the
 * sending-view barrier). Rounds repeat when membership changed meanwhile. Returns
 * false on timeout (the checker then says what is missing).
 */
export async function settle(members: readonly Member[], group: string, recorder: FaultRecorder, timeoutMs = 20_000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const live = members.filter((m) => m.alive);
    // Wait for rejoins in progress (a member expelled by a false suspicion).
    if (live.some((m) => m.handle(group) === undefined && m.sessions(group) > 0)) {
      await sleep(50);
      continue;
    }
    const inGroup = live.filter((m) => m.handle(group) !== undefined);
    const sessions = inGroup.map((m) => m.sessions(group));
    const markers: string[] = [];
    await Promise.all(
      inGroup.map(async (m) => {
        try {
          const { id } = await m.handle(group)!.multicast(`marker:${m.id}`, { order: 'safe' });
          recorder.multicastAccepted(m.id, group, id);
          markers.push(id);
        } catch {
          // expelled or dead meanwhile: the next round
        }
      }),
    );
    const roundEnd = Math.min(end, Date.now() + 8_000);
    while (Date.now() < roundEnd) {
      const changed = inGroup.some((m, i) => !m.alive || m.handle(group) === undefined || m.sessions(group) !== sessions[i]);
      if (changed) break;
      if (markers.length === inGroup.length && inGroup.every((m) => markers.every((id) => recorder.deliveredIn(m.id, group).has(id)))) {
        return true;
      }
      await sleep(50);
    }
  }
  return false;
}
