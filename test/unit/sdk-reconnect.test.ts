// `connect({ reconnect: true })` against a scripted fake daemon that can go down and come
// back on the same port: what the application sees (events, rejections, the same Group
// handles) and what the SDK sends to the new connection. The same over real daemons,
// with state transfer: test/multi/sdk-reconnect.test.ts.

import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import { connect, ConnectionError, HandshakeError, type ChorusError, type Client, type ExpelReason, type View } from '../../client-sdk/index.js';
import { Backoff, BACKOFF_MAX_MS } from '../../client-sdk/backoff.js';
import { chorus } from '../../src/wire/gen/chorus.js';

type Request = chorus.ClientRequest;
type Event = chorus.DaemonEvent.$Properties;

/** One connection to the fake daemon. */
class Peer {
  readonly requests: Request[] = [];
  constructor(
    readonly socket: WebSocket,
    readonly clientId: string,
  ) {}

  send(...events: Event[]): void {
    this.socket.send(chorus.DaemonFrame.encode({ events }).finish());
  }
}

/**
 * Answers hellos, joins (a view of the members so far, then ok), multicasts and leaves;
 * `refuse` makes it answer the next requests of that kind with an error instead.
 */
class FakeDaemon {
  readonly peers: Peer[] = [];
  /** Members per group, as the fake's views list them. */
  readonly members = new Map<string, string[]>();
  refuse: { hello?: string; join?: string } = {};
  /** When set, leave requests are never answered (to break the connection under them). */
  stallLeaves = false;
  #server: WebSocketServer | undefined;
  #port = 0;
  #nextId = 1;

  static async start(): Promise<FakeDaemon> {
    const daemon = new FakeDaemon();
    await daemon.up();
    return daemon;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.#port}`;
  }

  get peer(): Peer {
    const peer = this.peers.at(-1);
    if (!peer) throw new Error('no client connected');
    return peer;
  }

  /** Listens again, on the port it had before (a restarted daemon). */
  async up(): Promise<void> {
    const server = new WebSocketServer({ host: '127.0.0.1', port: this.#port });
    await new Promise<void>((resolve) => server.once('listening', resolve));
    this.#port = (server.address() as AddressInfo).port;
    this.#server = server;
    server.on('connection', (socket) => {
      const peer = new Peer(socket, `c${this.#nextId++}`);
      this.peers.push(peer);
      socket.on('message', (data: Buffer) => {
        for (const req of chorus.ClientFrame.decode(data).requests as Request[]) this.#answer(peer, req);
      });
    });
  }

  /** Drops every connection and stops listening (a killed daemon). */
  async down(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    for (const socket of server.clients) socket.terminate();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    this.members.clear();
  }

  #answer(peer: Peer, req: Request): void {
    peer.requests.push(req);
    const fail = (code: string) => peer.send({ reply: { req: req.req, ok: false, errorCode: code, errorMessage: `refused: ${code}` } });
    switch (req.body) {
      case 'hello':
        if (this.refuse.hello) fail(this.refuse.hello);
        else peer.send({ helloOk: { clientId: peer.clientId, daemon: 'd1', protocol: 1, maxMessageBytes: 1024 } });
        return;
      case 'join': {
        if (this.refuse.join) {
          fail(this.refuse.join);
          return;
        }
        const group = req.join!.group!;
        const members = [...(this.members.get(group) ?? []), peer.clientId];
        this.members.set(group, members);
        peer.send({ view: { group, viewId: members.length, members, joined: [peer.clientId] } }, { reply: { req: req.req, ok: true } });
        return;
      }
      case 'multicast':
        peer.send({ reply: { req: req.req, ok: true, messageId: `m${req.req}` } });
        return;
      case 'leave':
        if (!this.stallLeaves) peer.send({ reply: { req: req.req, ok: true } });
        return;
    }
  }
}

const daemons: FakeDaemon[] = [];
const clients: Client[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) await client.close();
  for (const daemon of daemons.splice(0)) await daemon.down();
});

async function setup(): Promise<{ daemon: FakeDaemon; client: Client }> {
  const daemon = await FakeDaemon.start();
  daemons.push(daemon);
  const client = await connect({ url: daemon.url, name: 'app', reconnect: true, connectTimeoutMs: 1_000 });
  clients.push(client);
  return { daemon, client };
}

async function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
}

describe('connect', () => {
  it('refuses an empty client name with HandshakeError ERR_BAD_CLIENT_NAME, before any IO', async () => {
    // Nothing listens on port 9: a dial would fail with ERR_CONNECT instead.
    for (const name of ['', '   ']) {
      const err = await rejection(connect({ url: 'ws://127.0.0.1:9', name }));
      expect(err).toBeInstanceOf(HandshakeError);
      expect(err).toMatchObject({ name: 'HandshakeError', code: 'ERR_BAD_CLIENT_NAME' });
    }
  });
});

describe('reconnect: true', () => {
  it('a daemon restart: disconnect, calls reject ERR_DISCONNECTED at once, then the same handle rejoins (view) and reconnect fires', async () => {
    const { daemon, client } = await setup();
    const group = await client.join('orders', { state: { provide: () => new Uint8Array(0) } });
    const firstId = client.id;
    const seen: string[] = [];
    const views: View[] = [];
    let disconnectErr: ChorusError | undefined;
    client.on('disconnect', (err) => {
      disconnectErr = err;
      seen.push('disconnect');
    });
    client.on('reconnect', () => seen.push('reconnect'));
    client.on('close', () => seen.push('close'));
    group.on('view', (v) => {
      views.push(v);
      seen.push('view');
    });

    await daemon.down();
    await until(() => seen.includes('disconnect'), 'disconnect');
    expect(disconnectErr).toBeInstanceOf(ConnectionError);
    expect(disconnectErr).toMatchObject({ code: 'ERR_DISCONNECTED' });
    expect(client.connected).toBe(false);
    expect(client.closed).toBe(false);
    for (const call of [group.multicast('while down'), group.leave(), client.join('other')]) {
      expect(await rejection(call)).toMatchObject({ name: 'ConnectionError', code: 'ERR_DISCONNECTED' });
    }

    await daemon.up();
    await until(() => seen.includes('reconnect'), 'reconnect');
    expect(seen).toEqual(['disconnect', 'view', 'reconnect']);
    expect(client.connected).toBe(true);
    expect(client.id).not.toBe(firstId);
    // The rejoin asked for what the first join asked for (offerState from provide()).
    const rejoin = daemon.peer.requests.find((r) => r.body === 'join')!;
    expect(rejoin.join).toMatchObject({ group: 'orders', offerState: true, wantState: false });
    expect(views).toHaveLength(1);
    expect(views[0]!.members).toEqual([client.id]);
    expect(group.view).toBe(views[0]);
    expect(await group.multicast('after')).toEqual({ id: expect.any(String) });
    expect(daemon.peer.requests.some((r) => r.body === 'multicast')).toBe(true);
  });

  it('redials with backoff while the daemon stays down, and close() stops it', async () => {
    const { daemon, client } = await setup();
    await client.join('g');
    const closed = new Promise<ChorusError | undefined>((resolve) => client.on('close', resolve));
    await daemon.down();
    await until(() => !client.connected, 'the break');
    await new Promise((resolve) => setTimeout(resolve, 400));
    await client.close();
    expect(await closed).toBeUndefined();
    expect(client.closed).toBe(true);
    const peers = daemon.peers.length;
    await daemon.up();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(daemon.peers.length).toBe(peers); // nobody dialled after close()
  });

  it('gives up when the daemon refuses the redial’s hello: close with that HandshakeError', async () => {
    const { daemon, client } = await setup();
    const closed = new Promise<ChorusError | undefined>((resolve) => client.on('close', resolve));
    await daemon.down();
    daemon.refuse.hello = 'ERR_AUTH';
    await daemon.up();
    const err = await closed;
    expect(err).toBeInstanceOf(HandshakeError);
    expect(err).toMatchObject({ code: 'ERR_AUTH' });
    expect(client.closed).toBe(true);
  });

  it('a leave under way when the connection breaks resolves, and that group is not rejoined', async () => {
    const { daemon, client } = await setup();
    const kept = await client.join('kept');
    const leaving = await client.join('leaving');
    daemon.stallLeaves = true;
    const left = leaving.leave();
    await until(() => daemon.peer.requests.some((r) => r.body === 'leave'), 'the leave to arrive');
    const reconnected = new Promise<void>((resolve) => client.once('reconnect', resolve));
    await daemon.down();
    await expect(left).resolves.toBeUndefined();
    await daemon.up();
    await reconnected;
    expect(daemon.peer.requests.filter((r) => r.body === 'join').map((r) => r.join!.group)).toEqual(['kept']);
    expect(kept.view.members).toEqual([client.id]);
    expect(await rejection(leaving.multicast('x'))).toMatchObject({ code: 'ERR_NOT_MEMBER' });
  });

  it('a rejoin the daemon refuses expels the handle with rejoin-failed and the error; reconnect still fires', async () => {
    const { daemon, client } = await setup();
    const group = await client.join('g');
    const expelled: Array<[ExpelReason, ChorusError | undefined]> = [];
    group.on('expelled', (reason, err) => expelled.push([reason, err]));
    const reconnected = new Promise<void>((resolve) => client.once('reconnect', resolve));
    await daemon.down();
    daemon.refuse.join = 'ERR_LIMIT';
    await daemon.up();
    await reconnected;
    expect(expelled).toEqual([['rejoin-failed', expect.objectContaining({ name: 'RequestError', code: 'ERR_LIMIT' })]]);
    expect(await rejection(group.multicast('x'))).toMatchObject({ code: 'ERR_NOT_MEMBER' });
    daemon.refuse.join = undefined;
    await expect(client.join('g')).resolves.not.toBe(group);
  });

  it('a daemon EXPELLED reason is typed; one this SDK does not know becomes expelled', async () => {
    const { daemon, client } = await setup();
    const a = await client.join('a');
    const b = await client.join('b');
    const reasons: string[] = [];
    a.on('expelled', (r) => reasons.push(`a ${r}`));
    b.on('expelled', (r) => reasons.push(`b ${r}`));
    daemon.peer.send(
      { signal: { group: 'a', kind: chorus.GroupSignal.Kind.EXPELLED, reason: 'partitioned' } },
      { signal: { group: 'b', kind: chorus.GroupSignal.Kind.EXPELLED, reason: 'from-the-future' } },
    );
    await until(() => reasons.length === 2, 'both expulsions');
    expect(reasons).toEqual(['a partitioned', 'b expelled']);
  });
});

describe('Backoff', () => {
  it('doubles from the first delay up to the bound, each scaled by a jitter in [0.5, 1.5)', () => {
    const low = new Backoff({ random: () => 0 });
    const high = new Backoff({ random: () => 0.999 });
    const lows = Array.from({ length: 10 }, () => low.next());
    const highs = Array.from({ length: 10 }, () => high.next());
    expect(lows.slice(0, 4)).toEqual([50, 100, 200, 400]);
    expect(Math.max(...lows)).toBe(BACKOFF_MAX_MS / 2);
    expect(Math.max(...highs)).toBeLessThan(BACKOFF_MAX_MS * 1.5);
    expect(highs.at(-1)).toBeGreaterThan(BACKOFF_MAX_MS * 1.49);
  });
});
