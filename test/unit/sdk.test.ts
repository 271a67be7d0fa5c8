// The client SDK's protocol handling, against a scripted fake daemon: a WebSocket server
// that decodes the SDK's ClientFrames with the generated classes and answers with
// DaemonFrames. No real daemon: this proves what the SDK sends and how it reacts.

import { describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import type { AddressInfo } from 'node:net';
import {
  connect,
  ConnectionError,
  HandshakeError,
  RequestError,
  type Group,
  type Message,
  type View,
  type WebSocketConstructor,
} from '../../client-sdk/index.js';
import { chorus } from '../../src/wire/gen/chorus.js';
import { Outbox } from '../../client-sdk/outbox.js';
import { listenWs, stopWs, useFakeDaemons, wsUrl } from './helpers/fake-daemons.js';
import { rejection } from './helpers/failures.js';
import { waitsFor } from './helpers/wait.js';

type Request = chorus.ClientRequest;
type Event = chorus.DaemonEvent.$Properties;

/** What the fake daemon does with one request; the default answers like a daemon would. */
type Script = (req: Request, peer: Peer) => void;

class Peer {
  readonly frames: chorus.ClientFrame[] = [];
  constructor(
    readonly socket: WebSocket,
    readonly clientId: string,
  ) {}

  send(...events: Event[]): void {
    this.socket.send(chorus.DaemonFrame.encode({ events }).finish());
  }

  /** Every request received so far (excluding the hello), in order. */
  requests(): Request[] {
    return this.frames.flatMap((f) => f.requests as Request[]).filter((r) => r.body !== 'hello');
  }
}

class FakeDaemon {
  readonly peers: Peer[] = [];
  maxMessageBytes = 1024 * 1024;
  script: Script = defaultScript;
  #nextId = 1;

  private constructor(readonly server: WebSocketServer) {
    server.on('connection', (socket) => {
      const peer = new Peer(socket, `c${this.#nextId++}`);
      this.peers.push(peer);
      socket.on('message', (data: Buffer) => {
        const frame = chorus.ClientFrame.decode(data);
        peer.frames.push(frame);
        for (const req of frame.requests as Request[]) {
          if (req.body === 'hello') {
            peer.send({ helloOk: { clientId: peer.clientId, daemon: 'd1', protocol: 1, maxMessageBytes: this.maxMessageBytes } });
          } else {
            this.script(req, peer);
          }
        }
      });
    });
  }

  static async start(): Promise<FakeDaemon> {
    return new FakeDaemon(await listenWs());
  }

  get url(): string {
    return wsUrl(this.server);
  }

  get peer(): Peer {
    const peer = this.peers.at(-1);
    if (!peer) throw new Error('no client connected');
    return peer;
  }

  async stop(): Promise<void> {
    await stopWs(this.server);
  }
}

let messageSeq = 0;
function defaultScript(req: Request, peer: Peer): void {
  if (req.body === 'join') {
    peer.send(
      { view: { group: req.join!.group, viewId: 7, members: ['old', peer.clientId], joined: [peer.clientId] } },
      { reply: { req: req.req, ok: true } },
    );
  } else if (req.body === 'multicast') {
    peer.send({ reply: { req: req.req, ok: true, messageId: `m${++messageSeq}` } });
  } else if (req.body === 'leave') {
    peer.send({ reply: { req: req.req, ok: true } });
  }
}

const { daemons, clients, setup } = useFakeDaemons(() => FakeDaemon.start(), { name: 'billing', token: 'secret' });
const until = waitsFor(2_000);

describe('connect', () => {
  it('sends a versioned hello as request 1 and exposes the HelloOk identity', async () => {
    const { daemon, client } = await setup();
    expect(client.id).toBe('c1');
    expect(client.daemon).toBe('d1');
    expect(client.maxMessageBytes).toBe(1024 * 1024);
    const first = daemon.peer.frames[0]!;
    expect(first.requests).toHaveLength(1);
    const hello = first.requests[0] as Request;
    expect(hello.req).toBe(1);
    expect(hello.body).toBe('hello');
    expect(hello.hello).toMatchObject({ protocolMin: 1, protocolMax: 2, name: 'billing', token: 'secret' });
  });

  it('rejects with a typed HandshakeError when the daemon refuses the hello', async () => {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => server.once('listening', resolve));
    server.on('connection', (socket) => {
      socket.on('message', (data: Buffer) => {
        const req = chorus.ClientFrame.decode(data).requests[0]!;
        const refusal = { reply: { req: req.req, ok: false, errorCode: 'ERR_AUTH', errorMessage: 'bad token' } };
        socket.send(chorus.DaemonFrame.encode({ events: [refusal] }).finish());
        socket.close();
      });
    });
    try {
      const port = (server.address() as AddressInfo).port;
      const err = await rejection(connect({ url: `ws://127.0.0.1:${port}`, name: 'x', token: 'wrong' }));
      expect(err).toBeInstanceOf(HandshakeError);
      expect(err).toMatchObject({ name: 'HandshakeError', code: 'ERR_AUTH', message: 'bad token' });
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('rejects with ConnectionError ERR_CONNECT when nothing listens', async () => {
    const daemon = await FakeDaemon.start();
    const url = daemon.url;
    await daemon.stop();
    const err = await rejection(connect({ url, name: 'x' }));
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err).toMatchObject({ name: 'ConnectionError', code: 'ERR_CONNECT' });
  });

  it('rejects with ERR_CONNECT when the daemon never answers the hello', async () => {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => server.once('listening', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const err = await rejection(connect({ url: `ws://127.0.0.1:${port}`, name: 'x', connectTimeoutMs: 100 }));
      expect(err).toMatchObject({ name: 'ConnectionError', code: 'ERR_CONNECT' });
    } finally {
      for (const c of server.clients) c.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('uses the WebSocket constructor given in the options (ArrayBuffer frames)', async () => {
    const daemon = await FakeDaemon.start();
    daemons.push(daemon);
    let constructed = 0;
    const Counting = class extends WebSocket {
      constructor(url: string) {
        super(url);
        constructed++;
      }
    };
    const client = await connect({ url: daemon.url, name: 'x', WebSocket: Counting as WebSocketConstructor });
    clients.push(client);
    expect(constructed).toBe(1);
    const group = await client.join('g');
    const got: Message[] = [];
    group.on('message', (m) => got.push(m));
    daemon.peer.send({ delivery: { group: 'g', id: 'x1', sender: 'c1', order: 0, viewId: 7, seq: 1, data: new Uint8Array([9]) } });
    await until(() => got.length === 1, 'the delivery');
    expect([...got[0]!.data]).toEqual([9]);
  });
});

describe('join', () => {
  it('resolves with the first view, converted to the public View shape', async () => {
    const { daemon, client } = await setup((d) => {
      d.script = (req, peer) => {
        if (req.body !== 'join') return defaultScript(req, peer);
        peer.send(
          {
            view: {
              group: 'orders',
              viewId: 3,
              members: ['a', peer.clientId],
              joined: [peer.clientId],
              left: ['b', 'z'],
              leftCauses: [chorus.Cause.CAUSE_CRASH, chorus.Cause.CAUSE_PARTITION],
            },
          },
          { reply: { req: req.req, ok: true } },
        );
      };
    });
    const group = await client.join('orders');
    expect(group.name).toBe('orders');
    expect(group.view).toEqual<View>({
      id: 3,
      members: ['a', 'c1'],
      joined: ['c1'],
      left: ['b', 'z'],
      causes: { c1: 'join', b: 'crash', z: 'partition' },
    });
    const join = daemon.peer.requests()[0]!;
    expect(join.body).toBe('join');
    expect(join.join).toMatchObject({ group: 'orders', wantState: false, offerState: false });
  });

  it('fires no group event before join() resolved, and none is lost after it', async () => {
    const { client } = await setup((d) => {
      d.script = (req, peer) => {
        if (req.body !== 'join') return defaultScript(req, peer);
        // Reply and the first delivery in one frame: the listener is attached only
        // after `await join()` resumes.
        peer.send(
          { view: { group: 'g', viewId: 1, members: [peer.clientId], joined: [peer.clientId] } },
          { reply: { req: req.req, ok: true } },
          { delivery: { group: 'g', id: 'first', sender: peer.clientId, order: 0, viewId: 1, seq: 1, data: new Uint8Array([1]) } },
        );
      };
    });
    const group = await client.join('g');
    const got: string[] = [];
    group.on('message', (m) => got.push(m.id));
    await until(() => got.length === 1, 'the delivery sent with the join reply');
    expect(got).toEqual(['first']);
  });

  it('rejects a second join of the same group locally with ERR_ALREADY_MEMBER', async () => {
    const { daemon, client } = await setup();
    await client.join('g');
    const err = await rejection(client.join('g'));
    expect(err).toBeInstanceOf(RequestError);
    expect(err).toMatchObject({ code: 'ERR_ALREADY_MEMBER' });
    expect(daemon.peer.requests().filter((r) => r.body === 'join')).toHaveLength(1);
  });

  it('refuses a state option that is not made of functions, without sending anything', async () => {
    const { daemon, client } = await setup();
    const bad = { install: 'yes' } as unknown as { install: () => void };
    const err = await rejection(client.join('g', { state: bad }));
    expect(err).toMatchObject({ name: 'RequestError', code: 'ERR_BAD_REQUEST' });
    expect(daemon.peer.requests()).toHaveLength(0);
  });

  it('rejects with the daemon’s typed error when it refuses the join', async () => {
    const { client } = await setup((d) => {
      d.script = (req, peer) => peer.send({ reply: { req: req.req, ok: false, errorCode: 'ERR_BAD_GROUP_NAME', errorMessage: 'bad name' } });
    });
    const err = await rejection(client.join('bad/name'));
    expect(err).toMatchObject({ name: 'RequestError', code: 'ERR_BAD_GROUP_NAME', message: 'bad name' });
    // Refused joins leave no trace: the name can be joined again.
    expect(await rejection(client.join('bad/name'))).toMatchObject({ code: 'ERR_BAD_GROUP_NAME' });
  });
});

describe('group events', () => {
  it('decodes deliveries into Message with every field', async () => {
    const { daemon, client } = await setup();
    const group = await client.join('g');
    const got: Message[] = [];
    group.on('message', (m) => got.push(m));
    daemon.peer.send(
      { delivery: { group: 'g', id: 'm-1', sender: 'old', order: chorus.Order.ORDER_FIFO, viewId: 7, seq: 0, data: new Uint8Array([1, 2, 3]) } },
      { delivery: { group: 'g', id: 'm-2', sender: 'c1', order: chorus.Order.ORDER_SAFE, viewId: 7, seq: 2 ** 40, data: new TextEncoder().encode('héllo') } },
      { delivery: { group: 'other', id: 'ignored', sender: 'x', order: 0, viewId: 1, seq: 1, data: new Uint8Array([0]) } },
    );
    await until(() => got.length === 2, 'two deliveries');
    const [a, b] = got as [Message, Message];
    expect(a).toMatchObject({ id: 'm-1', sender: 'old', order: 'fifo', viewId: 7, seq: 0 });
    expect(a.data).toBeInstanceOf(Uint8Array);
    expect(a.data.constructor).toBe(Uint8Array); // not a Node Buffer
    expect([...a.data]).toEqual([1, 2, 3]);
    expect(b).toMatchObject({ id: 'm-2', sender: 'c1', order: 'safe', viewId: 7, seq: 2 ** 40 });
    expect(new TextDecoder().decode(b.data)).toBe('héllo');
  });

  it('emits view, block and unblock in order, and updates group.view', async () => {
    const { daemon, client } = await setup();
    const group = await client.join('g');
    const seen: string[] = [];
    group.on('block', () => seen.push('block'));
    group.on('view', (v) => seen.push(`view ${v.id} ${JSON.stringify(v.causes)}`));
    group.on('unblock', () => seen.push('unblock'));
    daemon.peer.send(
      { signal: { group: 'g', kind: chorus.GroupSignal.Kind.BLOCK } },
      { view: { group: 'g', viewId: 8, members: ['c1', 'n'], joined: ['n'], left: ['old'], leftCauses: [chorus.Cause.CAUSE_LEAVE] } },
      { signal: { group: 'g', kind: chorus.GroupSignal.Kind.UNBLOCK } },
    );
    await until(() => seen.length === 3, 'block, view, unblock');
    expect(seen).toEqual(['block', 'view 8 {"n":"join","old":"leave"}', 'unblock']);
    expect(group.view.id).toBe(8);
    expect(group.view.members).toEqual(['c1', 'n']);
  });

  it('after expelled: the handle is dead, the client stays usable and may join again', async () => {
    const { daemon, client } = await setup();
    const group = await client.join('g');
    const reasons: string[] = [];
    group.on('expelled', (r) => reasons.push(r));
    daemon.peer.send({ signal: { group: 'g', kind: chorus.GroupSignal.Kind.EXPELLED, reason: 'partitioned' } });
    await until(() => reasons.length === 1, 'expelled');
    expect(reasons).toEqual(['partitioned']);
    expect(await rejection(group.multicast('x'))).toMatchObject({ name: 'RequestError', code: 'ERR_NOT_MEMBER' });
    const again = await client.join('g');
    expect(again).not.toBe(group);
  });
});

describe('multicast', () => {
  it('resolves with the daemon’s message id and sends order, data and wait', async () => {
    const { daemon, client } = await setup();
    const group = await client.join('g');
    const a = await group.multicast('héllo');
    const b = await group.multicast(new Uint8Array([1, 2]), { order: 'causal', wait: 'delivered' });
    expect(a.id).toMatch(/^m\d+$/);
    expect(b.id).toMatch(/^m\d+$/);
    expect(b.id).not.toBe(a.id);
    const [ma, mb] = daemon.peer.requests().filter((r) => r.body === 'multicast') as [Request, Request];
    expect(ma.multicast).toMatchObject({ group: 'g', order: chorus.Order.ORDER_TOTAL, waitDelivered: false });
    expect(new TextDecoder().decode(ma.multicast!.data!)).toBe('héllo');
    expect(mb.multicast).toMatchObject({ order: chorus.Order.ORDER_CAUSAL, waitDelivered: true });
    expect([...mb.multicast!.data!]).toEqual([1, 2]);
  });

  it('sends requests issued in one tick in one ClientFrame, with increasing req ids', async () => {
    const { daemon, client } = await setup();
    const group = await client.join('g');
    const framesBefore = daemon.peer.frames.length;
    const buffer = new Uint8Array([0]);
    const sends: Array<Promise<{ id: string }>> = [];
    for (let i = 0; i < 5; i++) {
      buffer[0] = i; // reused buffer: each request must carry what it had when issued
      sends.push(group.multicast(buffer, { order: 'fifo' }));
    }
    const ids = await Promise.all(sends);
    expect(new Set(ids.map((r) => r.id)).size).toBe(5);
    const frames = daemon.peer.frames.slice(framesBefore);
    expect(frames).toHaveLength(1);
    const requests = frames[0]!.requests as Request[];
    expect(requests.map((r) => r.multicast!.data![0])).toEqual([0, 1, 2, 3, 4]);
    const reqs = requests.map((r) => r.req);
    expect(reqs).toEqual([...reqs].sort((x, y) => x - y));
    expect(new Set(reqs).size).toBe(5);
  });

  it('rejects an oversized message before sending anything', async () => {
    const { daemon, client } = await setup((d) => {
      d.maxMessageBytes = 1024;
    });
    const group = await client.join('g');
    const framesBefore = daemon.peer.frames.length;
    const err = await rejection(group.multicast(new Uint8Array(1025)));
    expect(err).toBeInstanceOf(RequestError);
    expect(err).toMatchObject({ name: 'RequestError', code: 'ERR_MESSAGE_TOO_LARGE' });
    await group.multicast(new Uint8Array(1024)); // the limit itself is fine
    const frames = daemon.peer.frames.slice(framesBefore);
    expect(frames.flatMap((f) => f.requests)).toHaveLength(1);
    expect(frames[0]!.requests[0]!.multicast!.data!.byteLength).toBe(1024);
  });

  it('rejects with the daemon’s typed error when it refuses the message', async () => {
    const { client } = await setup((d) => {
      d.script = (req, peer) =>
        req.body === 'multicast'
          ? peer.send({ reply: { req: req.req, ok: false, errorCode: 'ERR_NOT_MEMBER', errorMessage: 'no' } })
          : defaultScript(req, peer);
    });
    const group = await client.join('g');
    expect(await rejection(group.multicast('x'))).toMatchObject({ name: 'RequestError', code: 'ERR_NOT_MEMBER', message: 'no' });
  });

  it('rejects bad options without sending', async () => {
    const { client } = await setup();
    const group = await client.join('g');
    const bad = { order: 'random' } as unknown as { order: 'total' };
    expect(await rejection(group.multicast('x', bad))).toMatchObject({ code: 'ERR_BAD_REQUEST' });
  });
});

describe('leave', () => {
  it('resolves on the daemon’s reply; afterwards multicast rejects ERR_NOT_MEMBER and no event fires', async () => {
    const { daemon, client } = await setup();
    const group = await client.join('g');
    const got: string[] = [];
    group.on('message', (m) => got.push(m.id));
    await group.leave();
    expect(daemon.peer.requests().at(-1)).toMatchObject({ body: 'leave', leave: { group: 'g' } });
    expect(await rejection(group.multicast('x'))).toMatchObject({ name: 'RequestError', code: 'ERR_NOT_MEMBER' });
    daemon.peer.send({ delivery: { group: 'g', id: 'late', sender: 'x', order: 0, viewId: 7, seq: 1, data: new Uint8Array() } });
    await group.leave(); // idempotent
    // A round trip after the late delivery: had it been routed, it would have fired by now.
    const other = await client.join('h');
    await other.multicast('y');
    expect(got).toEqual([]);
  });
});

describe('connection loss', () => {
  it('rejects pending requests with ERR_DISCONNECTED, emits close, and silences groups', async () => {
    const { daemon, client } = await setup((d) => {
      d.script = (req, peer) => (req.body === 'multicast' ? undefined : defaultScript(req, peer)); // never answers
    });
    const group = await client.join('g');
    const events: string[] = [];
    group.on('message', () => events.push('message'));
    group.on('view', () => events.push('view'));
    const closed = new Promise<Error | undefined>((resolve) => client.on('close', resolve));
    const pending = group.multicast('never answered');
    await until(() => daemon.peer.requests().some((r) => r.body === 'multicast'), 'the multicast to arrive');
    daemon.peer.socket.terminate();

    const err = await rejection(pending);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err).toMatchObject({ name: 'ConnectionError', code: 'ERR_DISCONNECTED' });
    const closeErr = await closed;
    expect(closeErr).toBeInstanceOf(ConnectionError);
    expect(closeErr).toMatchObject({ code: 'ERR_DISCONNECTED' });
    expect(client.closed).toBe(true);
    expect(await rejection(group.multicast('after'))).toMatchObject({ code: 'ERR_DISCONNECTED' });
    expect(await rejection(client.join('h'))).toMatchObject({ code: 'ERR_DISCONNECTED' });
    expect(events).toEqual([]);
  });

  it('closes the connection on a malformed frame, failing pending requests', async () => {
    const { daemon, client } = await setup((d) => {
      d.script = (req, peer) => (req.body === 'multicast' ? peer.socket.send(Buffer.from([0xff, 0xff])) : defaultScript(req, peer));
    });
    const group = await client.join('g');
    const closed = new Promise<Error | undefined>((resolve) => client.on('close', resolve));
    const err = await rejection(group.multicast('x'));
    expect(err).toMatchObject({ name: 'ConnectionError', code: 'ERR_DISCONNECTED' });
    expect((err as Error).cause).toMatchObject({ code: 'ERR_MALFORMED_FRAME' });
    expect(await closed).toBe(err);
    void daemon;
  });

  it('close(): sends what was issued, rejects unanswered requests with ERR_CLOSED, emits close without error', async () => {
    const { daemon, client } = await setup((d) => {
      d.script = (req, peer) => (req.body === 'multicast' ? undefined : defaultScript(req, peer));
    });
    const group: Group = await client.join('g');
    const closeArgs: unknown[][] = [];
    client.on('close', (...args) => closeArgs.push(args));
    const pending = rejection(group.multicast('last words'));
    await client.close();
    expect(await pending).toMatchObject({ name: 'ConnectionError', code: 'ERR_CLOSED' });
    expect(closeArgs).toEqual([[]]);
    await until(() => daemon.peer.requests().some((r) => r.body === 'multicast'), 'the flushed multicast');
    await client.close(); // idempotent
    expect(closeArgs).toHaveLength(1);
  });
});

describe('outbox (batching and backpressure)', () => {
  function fakeTransport() {
    const sent: Uint8Array[] = [];
    return { sent, bufferedAmount: 0, send: (f: Uint8Array) => void sent.push(f), close: () => {} };
  }
  const frameOf = (req: number, bytes: number) =>
    chorus.ClientFrame.encode({ requests: [{ req, multicast: { group: 'g', data: new Uint8Array(bytes) } }] }).finish();

  it('concatenated single-request frames decode as one frame with every request', async () => {
    const transport = fakeTransport();
    const outbox = new Outbox(transport, { frameBudgetBytes: 1 << 20, highWaterBytes: 1 << 20 });
    for (let req = 1; req <= 3; req++) outbox.push(frameOf(req, 10));
    expect(transport.sent).toHaveLength(0); // not before the end of the tick
    await Promise.resolve();
    expect(transport.sent).toHaveLength(1);
    expect(chorus.ClientFrame.decode(transport.sent[0]!).requests.map((r) => r.req)).toEqual([1, 2, 3]);
  });

  it('splits a batch at the frame budget, never a single request', async () => {
    const transport = fakeTransport();
    const outbox = new Outbox(transport, { frameBudgetBytes: 100, highWaterBytes: 1 << 20 });
    outbox.push(frameOf(1, 60));
    outbox.push(frameOf(2, 60));
    outbox.push(frameOf(3, 500)); // alone over the budget: goes alone
    await Promise.resolve();
    expect(transport.sent.map((f) => chorus.ClientFrame.decode(f).requests.map((r) => r.req))).toEqual([[1], [2], [3]]);
  });

  it('holds flushes while the socket buffers more than the high-water mark', async () => {
    const transport = fakeTransport();
    const outbox = new Outbox(transport, { frameBudgetBytes: 1 << 20, highWaterBytes: 1000 });
    transport.bufferedAmount = 5000;
    outbox.push(frameOf(1, 10));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(transport.sent).toHaveLength(0);
    outbox.push(frameOf(2, 10));
    transport.bufferedAmount = 0;
    await until(() => transport.sent.length > 0, 'the drained flush');
    expect(transport.sent).toHaveLength(1);
    expect(chorus.ClientFrame.decode(transport.sent[0]!).requests.map((r) => r.req)).toEqual([1, 2]);
    outbox.stop();
  });
});
