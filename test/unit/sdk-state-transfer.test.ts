// State transfer in the client SDK (DESIGN.md guarantee 6), against a scripted fake
// daemon over a real WebSocket: what the joiner sends and when join() resolves, what the
// provider sends (chunk sizes, window, failures), and which events each side emits.

import { describe, expect, it } from 'vitest';
import type { WebSocket, WebSocketServer } from 'ws';
import { StateTransferError, type Group, type Message, type StateReader } from '../../client-sdk/index.js';
import { chorus } from '../../src/wire/gen/chorus.js';
import { listenWs, stopWs, useFakeDaemons, wsUrl } from './helpers/fake-daemons.js';
import { rejection } from './helpers/failures.js';
import { waitsFor } from './helpers/wait.js';

type Request = chorus.ClientRequest;
type Event = chorus.DaemonEvent.$Properties;

const KIB = 1024;
const { BEGIN, CHUNK, NONE, FAILED, WAIT } = chorus.StateTransfer.Kind;

/** A daemon stand-in: answers the hello and, by default, joins, leaves and state chunks. */
class FakeDaemon {
  readonly requests: Request[] = [];
  socket: WebSocket | undefined;
  /** First view id a join gets. */
  firstViewId = 5;
  members = ['p1'];
  /** Events sent right after the view and the join reply. */
  afterJoin: Event[] = [];
  /** How a StateChunk request is answered. */
  chunkReply: (req: Request) => Event = (req) => ({ reply: { req: req.req, ok: true } });

  private constructor(readonly server: WebSocketServer) {
    server.on('connection', (socket) => {
      this.socket = socket;
      socket.on('message', (data: Buffer) => {
        for (const req of chorus.ClientFrame.decode(data).requests as Request[]) {
          if (req.body === 'hello') {
            this.send({ helloOk: { clientId: 'c1', daemon: 'd1', protocol: 1, maxMessageBytes: 16 * 1024 * KIB } });
            continue;
          }
          this.requests.push(req);
          if (req.body === 'join') {
            const group = req.join!.group!;
            this.send(
              { view: { group, viewId: this.firstViewId, members: [...this.members, 'c1'], joined: ['c1'] } },
              { reply: { req: req.req, ok: true } },
              ...this.afterJoin,
            );
          } else if (req.body === 'leave' || req.body === 'multicast') {
            this.send({ reply: { req: req.req, ok: true } });
          } else if (req.body === 'stateChunk') {
            this.send(this.chunkReply(req));
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

  send(...events: Event[]): void {
    this.socket!.send(chorus.DaemonFrame.encode({ events }).finish());
  }

  of(body: Request['body']): Request[] {
    return this.requests.filter((r) => r.body === body);
  }

  acks(): chorus.StateAck[] {
    return this.of('stateAck').map((r) => r.stateAck!);
  }

  chunks(): chorus.StateChunk[] {
    return this.of('stateChunk').map((r) => r.stateChunk!);
  }

  async stop(): Promise<void> {
    await stopWs(this.server);
  }
}

const { setup } = useFakeDaemons(() => FakeDaemon.start(), { name: 'kv' });
const until = waitsFor(3_000);

const tick = (ms = 30): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

function begin(transfer: number, provider = 'p1'): Event {
  return { state: { group: 'g', kind: BEGIN, transfer, provider } };
}
function chunk(transfer: number, index: number, data: Uint8Array, last = false): Event {
  return { state: { group: 'g', kind: CHUNK, transfer, chunk: index, data, last } };
}
function delivery(id: string, viewId: number): Event {
  return { delivery: { group: 'g', id, sender: 'p1', order: chorus.Order.ORDER_TOTAL, viewId, seq: 1, data: text(id) } };
}
function view(viewId: number, members: string[], left: string[] = []): Event {
  return { view: { group: 'g', viewId, members, left, leftCauses: left.map(() => chorus.Cause.CAUSE_CRASH) } };
}

/** Records every event of a group, as short strings, from the moment join() resolves. */
function record(group: Group): string[] {
  const seen: string[] = [];
  group.on('view', (v) => seen.push(`view ${v.id}`));
  group.on('message', (m: Message) => seen.push(`msg ${m.id}`));
  group.on('block', () => seen.push('block'));
  group.on('unblock', () => seen.push('unblock'));
  group.on('checkpoint', (req) => seen.push(`checkpoint ${req.joiner}`));
  group.on('expelled', (reason) => seen.push(`expelled ${reason}`));
  return seen;
}

/** An install() that records what it read, and the error its stream threw. */
function recordingInstall(): { install: (state: StateReader) => Promise<void>; calls: Array<{ data: number[]; error?: unknown }> } {
  const calls: Array<{ data: number[]; error?: unknown }> = [];
  return {
    calls,
    install: async (state) => {
      const call: { data: number[]; error?: unknown } = { data: [] };
      calls.push(call);
      try {
        for await (const piece of state) call.data.push(...piece);
      } catch (err) {
        call.error = err;
        throw err;
      }
    },
  };
}

describe('joiner: the join request', () => {
  it('asks for state with install and offers it with provide', async () => {
    const { daemon, client } = await setup((d) => {
      d.afterJoin = [{ state: { group: 'g', kind: NONE } }];
    });
    await client.join('g', { state: { install: () => {}, provide: () => bytes() } });
    await client.join('h', { state: { provide: () => bytes() } });
    const [g, h] = daemon.of('join').map((r) => r.join!);
    expect(g).toMatchObject({ group: 'g', wantState: true, offerState: true });
    expect(h).toMatchObject({ group: 'h', wantState: false, offerState: true });
  });

  it('sends state.waitMs with a join that asks for state, and refuses a bad one', async () => {
    const { daemon, client } = await setup((d) => {
      d.afterJoin = [{ state: { group: 'g', kind: NONE } }];
    });
    await client.join('g', { state: { install: () => {}, waitMs: 2_500 } });
    expect(daemon.of('join')[0]!.join).toMatchObject({ group: 'g', wantState: true, stateWaitMs: 2_500 });
    for (const waitMs of [0, -1, 1.5, 600_001]) {
      await expect(client.join('h', { state: { install: () => {}, waitMs } })).rejects.toMatchObject({ code: 'ERR_BAD_REQUEST' });
    }
  });
});

describe('joiner: waiting for a member that provides (WAIT)', () => {
  it('the provider goes mid-transfer and nobody provides for a while: join() keeps waiting (the retired install() throwing is not its failure)', async () => {
    const { daemon, client } = await setup();
    const { install, calls } = recordingInstall();
    const joining = client.join('g', { state: { install } });
    let outcome: string | undefined;
    joining.then(
      () => (outcome = 'resolved'),
      (err: { code?: string }) => (outcome = `rejected ${err.code}`),
    );
    await until(() => daemon.of('join').length === 1, 'the join');
    daemon.send(begin(5, 'p1'), chunk(5, 0, bytes(1)));
    await until(() => calls[0]?.data.length === 1, 'the first chunk read');
    // The provider leaves; no other member provides: WAIT. A provider comes only later.
    daemon.send(view(6, ['c1', 'w1'], ['p1']), { state: { group: 'g', kind: WAIT } });
    await tick(200);
    // Still waiting: no leave sent, join() not settled.
    expect(outcome).toBeUndefined();
    expect(daemon.of('leave')).toEqual([]);
    daemon.send(view(7, ['c1', 'w1', 'r1']), begin(7, 'r1'), chunk(7, 0, bytes(9), true));
    const group = await joining;
    expect(calls[1]).toEqual({ data: [9] });
    expect(group.view).toMatchObject({ id: 7 });
  });

  it('keeps only the events from the latest view while waiting; a BEGIN at a later view completes the join there', async () => {
    const { daemon, client } = await setup();
    const { install, calls } = recordingInstall();
    const joining = client.join('g', { state: { install } });
    await until(() => daemon.of('join').length === 1, 'the join');
    daemon.send(
      { state: { group: 'g', kind: WAIT } },
      delivery('in-5', 5),
      view(6, ['p1', 'c1', 'w1']),
      delivery('in-6', 6),
      view(7, ['p1', 'c1', 'w1', 'r1']),
      begin(7, 'r1'),
      delivery('in-7', 7),
      chunk(7, 0, bytes(4, 2), true),
    );
    const group = await joining;
    const seen = record(group);
    expect(calls).toEqual([{ data: [4, 2] }]);
    expect(group.view).toMatchObject({ id: 7 });
    await until(() => seen.includes('msg in-7'), 'the message of view 7');
    expect(seen).toEqual(['msg in-7']);
  });

  it('WAIT then FAILED: join() rejects with ERR_NO_STATE_PROVIDER', async () => {
    const { daemon, client } = await setup();
    const joining = client.join('g', { state: { install: () => {}, waitMs: 100 } });
    await until(() => daemon.of('join').length === 1, 'the join');
    daemon.send({ state: { group: 'g', kind: WAIT } }, delivery('in-5', 5));
    await tick();
    daemon.send({ state: { group: 'g', kind: FAILED, errorCode: 'ERR_NO_STATE_PROVIDER', errorMessage: 'no member provided' } });
    const err = await rejection(joining);
    expect(err).toMatchObject({ name: 'StateTransferError', code: 'ERR_NO_STATE_PROVIDER' });
  });

  it('the provider goes mid-transfer and nobody else provides: the stream throws ERR_STATE_RESTARTED, a later BEGIN installs', async () => {
    const { daemon, client } = await setup();
    const { install, calls } = recordingInstall();
    const joining = client.join('g', { state: { install } });
    await until(() => daemon.of('join').length === 1, 'the join');
    daemon.send(begin(5, 'p1'), chunk(5, 0, bytes(1)));
    await until(() => calls[0]?.data.length === 1, 'the first chunk read');
    daemon.send(view(6, ['c1', 'w1'], ['p1']), { state: { group: 'g', kind: WAIT } }, view(7, ['c1', 'w1', 'r1']), begin(7, 'r1'), chunk(7, 0, bytes(9), true));
    const group = await joining;
    expect(calls[0]!.error).toMatchObject({ code: 'ERR_STATE_RESTARTED' });
    expect(calls[1]).toEqual({ data: [9] });
    expect(group.view).toMatchObject({ id: 7 });
  });
});

describe('joiner: outcomes', () => {
  it('NONE (first member): join() resolves with the first view, install() is not called, later events follow', async () => {
    const { client } = await setup((d) => {
      d.members = [];
      d.afterJoin = [{ state: { group: 'g', kind: NONE } }, delivery('m1', 5)];
    });
    let installs = 0;
    const group = await client.join('g', {
      state: {
        install: () => {
          installs++;
        },
      },
    });
    const seen = record(group);
    expect(group.view.id).toBe(5);
    await until(() => seen.length === 1, 'the delivery after NONE');
    expect(seen).toEqual(['msg m1']);
    expect(installs).toBe(0);
  });

  it('FAILED: join() rejects with the daemon’s code, and the group can be joined again', async () => {
    const { daemon, client } = await setup((d) => {
      d.afterJoin = [{ state: { group: 'g', kind: FAILED, errorCode: 'ERR_NO_STATE_PROVIDER', errorMessage: 'no member offers state' } }];
    });
    const err = await rejection(client.join('g', { state: { install: () => {} } }));
    expect(err).toBeInstanceOf(StateTransferError);
    expect(err).toMatchObject({ name: 'StateTransferError', code: 'ERR_NO_STATE_PROVIDER', message: 'no member offers state' });
    // The daemon already removed the joiner: no leave is sent.
    expect(daemon.of('leave')).toHaveLength(0);
    daemon.afterJoin = [{ state: { group: 'g', kind: NONE } }];
    await expect(client.join('g', { state: { install: () => {} } })).resolves.toBeDefined();
  });

  it('BEGIN + chunks: install() gets the bytes, join() resolves with view w, acks reach the provider', async () => {
    const { daemon, client } = await setup((d) => {
      d.afterJoin = [
        begin(5),
        chunk(5, 0, bytes(1, 2)),
        delivery('during', 5), // a message of view w: after the state, emitted after join
        chunk(5, 1, bytes(3)),
        chunk(5, 2, bytes(4, 5), true),
      ];
    });
    let got: Uint8Array | undefined;
    const group = await client.join('g', {
      state: {
        install: async (state) => {
          got = await state.bytes();
        },
      },
    });
    const seen = record(group);
    expect([...got!]).toEqual([1, 2, 3, 4, 5]);
    expect(group.view.id).toBe(5);
    await until(() => seen.length === 1, 'the message of view 5');
    expect(seen).toEqual(['msg during']);
    const acks = daemon.acks();
    expect(acks.at(-1)).toMatchObject({ group: 'g', joiner: 'c1', provider: 'p1', transfer: 5, chunk: 2, installed: true });
    // The last chunk is acknowledged before install is reported, and acks never go back.
    expect(acks.filter((a) => !a.installed).at(-1)).toMatchObject({ chunk: 2 });
    const indexes = acks.map((a) => a.chunk);
    expect([...indexes].sort((a, b) => a - b)).toEqual(indexes);
    // Acks are requests without a reply (req 0).
    expect(daemon.of('stateAck').every((r) => r.req === 0)).toBe(true);
  });

  it('holds no event before join() and emits the buffered events of views >= w in order after it', async () => {
    const { client } = await setup((d) => {
      d.afterJoin = [
        begin(5),
        delivery('a', 5),
        { signal: { group: 'g', kind: chorus.GroupSignal.Kind.BLOCK } },
        view(6, ['p1', 'c1', 'n'], []),
        { signal: { group: 'g', kind: chorus.GroupSignal.Kind.UNBLOCK } },
        delivery('b', 6),
        chunk(5, 0, bytes(9), true),
      ];
    });
    const order: string[] = [];
    const group = await client.join('g', {
      state: {
        install: async (state) => {
          await state.bytes();
          order.push('installed');
        },
      },
    });
    order.push('joined');
    const seen = record(group);
    await until(() => seen.length === 5, 'five buffered events');
    expect(order).toEqual(['installed', 'joined']);
    expect(seen).toEqual(['msg a', 'block', 'view 6', 'unblock', 'msg b']);
    expect(group.view.id).toBe(6);
  });

  it('acknowledges at least every few chunks and whenever its reader waits', async () => {
    const { daemon, client } = await setup();
    const consumed: number[] = [];
    const joining = client.join('g', {
      state: {
        install: async (state) => {
          for await (const piece of state) consumed.push(piece[0]!);
        },
      },
    });
    await until(() => daemon.of('join').length === 1, 'the join');
    daemon.send(begin(5));
    for (let i = 0; i < 10; i++) daemon.send(chunk(5, i, bytes(i)));
    await until(() => consumed.length === 10, 'ten chunks read');
    // Its reader now waits for chunk 10: everything read is acknowledged.
    await until(() => daemon.acks().at(-1)?.chunk === 9, 'an ack of chunk 9');
    let previous = -1;
    for (const ack of daemon.acks()) {
      expect(ack.chunk - previous).toBeLessThanOrEqual(4);
      previous = ack.chunk;
    }
    daemon.send(chunk(5, 10, bytes(), true));
    await joining;
    expect(consumed).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await until(() => daemon.acks().some((a) => a.installed), 'the installed ack');
    expect(daemon.acks().at(-1)).toMatchObject({ transfer: 5, chunk: 10, installed: true });
  });

  it('a chunk past a gap is never read, a copy is dropped: install() gets the bytes in order once the missing one comes', async () => {
    const { client } = await setup((d) => {
      d.afterJoin = [
        begin(5),
        chunk(5, 0, bytes(1)),
        chunk(5, 2, bytes(9), true), // chunk 1 is missing: this one is not read
        chunk(5, 0, bytes(1)), // a copy
        chunk(5, 1, bytes(2)),
        chunk(5, 2, bytes(3), true),
      ];
    });
    let got: Uint8Array | undefined;
    await client.join('g', {
      state: {
        install: async (state) => {
          got = await state.bytes();
        },
      },
    });
    expect([...got!]).toEqual([1, 2, 3]);
  });

  it('a BEGIN replaced before its install() started: install() runs once, for the latest transfer', async () => {
    const { daemon, client } = await setup((d) => {
      d.afterJoin = [begin(5), view(6, ['p2', 'c1'], ['p1']), begin(6, 'p2'), chunk(6, 0, bytes(4), true)];
    });
    const { install, calls } = recordingInstall();
    const group = await client.join('g', { state: { install } });
    expect(calls).toEqual([{ data: [4] }]);
    expect(group.view.id).toBe(6);
    await until(() => daemon.acks().some((a) => a.installed), 'the installed ack');
    expect(daemon.acks().every((a) => a.transfer === 6)).toBe(true);
  });

  it('restart: a second BEGIN makes the first stream throw ERR_STATE_RESTARTED and install() runs again; messages of views < w are dropped', async () => {
    const { daemon, client } = await setup();
    const { install, calls } = recordingInstall();
    const joining = client.join('g', { state: { install } });
    await until(() => daemon.of('join').length === 1, 'the join');
    // Provider p1 sends part of the state of view 5, then crashes: view 6 without it.
    daemon.send(begin(5, 'p1'), chunk(5, 0, bytes(1)));
    await until(() => calls[0]?.data.length === 1, 'the first chunk read');
    daemon.send(
      delivery('in-5', 5), // part of the state taken at view 6: dropped
      { signal: { group: 'g', kind: chorus.GroupSignal.Kind.BLOCK } },
      view(6, ['p2', 'c1'], ['p1']),
      { signal: { group: 'g', kind: chorus.GroupSignal.Kind.UNBLOCK } },
      begin(6, 'p2'),
      chunk(5, 1, bytes(99)), // a late chunk of the replaced transfer: ignored
      chunk(6, 0, bytes(7)),
      delivery('in-6', 6),
      chunk(6, 1, bytes(8), true),
    );
    const group = await joining;
    const seen = record(group);
    expect(calls).toHaveLength(2);
    expect(calls[0]!.error).toBeInstanceOf(StateTransferError);
    expect(calls[0]!.error).toMatchObject({ code: 'ERR_STATE_RESTARTED' });
    expect(calls[1]).toEqual({ data: [7, 8] });
    expect(group.view).toMatchObject({ id: 6, members: ['p2', 'c1'], left: ['p1'] });
    await until(() => seen.includes('msg in-6'), 'the message of view 6');
    expect(seen).toEqual(['unblock', 'msg in-6']);
    expect(daemon.acks().at(-1)).toMatchObject({ provider: 'p2', transfer: 6, chunk: 1, installed: true });
  });

  it('waits for the previous install() to settle before calling install() again', async () => {
    const { daemon, client } = await setup();
    let running = 0;
    let overlapped = false;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let call = 0;
    const joining = client.join('g', {
      state: {
        install: async (state) => {
          running++;
          if (running > 1) overlapped = true;
          const mine = ++call;
          try {
            if (mine === 1) {
              await gate; // still busy when the restart comes
              await state.bytes();
            } else {
              await state.bytes();
            }
          } finally {
            running--;
          }
        },
      },
    });
    await until(() => daemon.of('join').length === 1, 'the join');
    daemon.send(begin(5));
    await until(() => call === 1, 'the first install');
    daemon.send(view(6, ['p2', 'c1'], ['p1']), begin(6, 'p2'), chunk(6, 0, bytes(1), true));
    await tick();
    expect(call).toBe(1);
    release();
    const group = await joining;
    expect(call).toBe(2);
    expect(overlapped).toBe(false);
    expect(group.view.id).toBe(6);
  });

  it('waits for view w when the state is installed before that view arrives', async () => {
    const { daemon, client } = await setup();
    let joined = false;
    const joining = client.join('g', { state: { install: async (s) => void (await s.bytes()) } }).then((g) => {
      joined = true;
      return g;
    });
    await until(() => daemon.of('join').length === 1, 'the join');
    daemon.send(begin(5), view(6, ['p2', 'c1'], ['p1']), begin(6, 'p2'));
    daemon.send(view(7, ['p2', 'c1', 'x']));
    // Transfer 8: installed before view 8 is known here.
    daemon.send(begin(8, 'p2'), chunk(8, 0, bytes(1), true));
    await until(() => daemon.acks().some((a) => a.installed), 'the installed ack');
    await tick();
    expect(joined).toBe(false);
    daemon.send(view(8, ['p2', 'c1', 'x', 'y']), delivery('in-8', 8));
    const group = await joining;
    const seen = record(group);
    expect(group.view.id).toBe(8);
    await until(() => seen.length === 1, 'the message of view 8');
    expect(seen).toEqual(['msg in-8']);
  });

  it('install() throws: join() rejects with ERR_INSTALL_FAILED after leaving the group', async () => {
    const { daemon, client } = await setup((d) => {
      d.afterJoin = [begin(5), chunk(5, 0, bytes(1), true)];
    });
    const boom = new Error('disk full');
    const err = await rejection(
      client.join('g', {
        state: {
          install: async () => {
            throw boom;
          },
        },
      }),
    );
    expect(err).toBeInstanceOf(StateTransferError);
    expect(err).toMatchObject({ code: 'ERR_INSTALL_FAILED', cause: boom });
    expect(daemon.of('leave').map((r) => r.leave!.group)).toEqual(['g']);
    // Out of the group: joining again is allowed at once.
    daemon.afterJoin = [{ state: { group: 'g', kind: NONE } }];
    await expect(client.join('g', { state: { install: () => {} } })).resolves.toBeDefined();
  });

  it('install() that leaves chunks unread: the SDK reads (and acknowledges) the rest before reporting it installed', async () => {
    const { daemon, client } = await setup((d) => {
      d.afterJoin = [begin(5), chunk(5, 0, bytes(1)), chunk(5, 1, bytes(2)), chunk(5, 2, bytes(3), true)];
    });
    await client.join('g', {
      state: {
        install: async (state) => {
          for await (const _ of state) break;
        },
      },
    });
    await until(() => daemon.acks().some((a) => a.installed), 'the installed ack');
    expect(daemon.acks().at(-1)).toMatchObject({ chunk: 2, installed: true });
  });

  it('expelled during the transfer: the stream throws and join() rejects with ERR_STATE_ABORTED', async () => {
    const { daemon, client } = await setup();
    const { install, calls } = recordingInstall();
    const joining = client.join('g', { state: { install } });
    await until(() => daemon.of('join').length === 1, 'the join');
    daemon.send(begin(5), chunk(5, 0, bytes(1)));
    await until(() => calls[0]?.data.length === 1, 'the first chunk read');
    daemon.send({ signal: { group: 'g', kind: chorus.GroupSignal.Kind.EXPELLED, reason: 'partitioned' } });
    const err = await rejection(joining);
    expect(err).toMatchObject({ name: 'StateTransferError', code: 'ERR_STATE_ABORTED' });
    expect(calls[0]!.error).toBe(err);
  });

  it('connection lost during the transfer: join() rejects with ERR_DISCONNECTED', async () => {
    const { daemon, client } = await setup();
    const joining = client.join('g', { state: { install: async (s) => void (await s.bytes()) } });
    await until(() => daemon.of('join').length === 1, 'the join');
    daemon.send(begin(5), chunk(5, 0, bytes(1)));
    await tick();
    daemon.socket!.terminate();
    expect(await rejection(joining)).toMatchObject({ name: 'ConnectionError', code: 'ERR_DISCONNECTED' });
  });
});

describe('provider', () => {
  /** Joins 'g' as a provider and returns the group, its recorded events and the fake daemon. */
  async function provider(
    provide: () => Uint8Array | AsyncIterable<Uint8Array> | Promise<Uint8Array | AsyncIterable<Uint8Array>>,
    configure?: (daemon: FakeDaemon) => void,
  ): Promise<{ daemon: FakeDaemon; group: Group; seen: string[] }> {
    const { daemon, client } = await setup((d) => {
      d.members = [];
      configure?.(d);
    });
    const group = await client.join('g', { state: { provide } });
    return { daemon, group, seen: record(group) };
  }

  const checkpoint = (joiner: string, transfer: number): Event => ({ checkpoint: { group: 'g', joiner, transfer } });

  it('emits checkpoint, holds the group’s later events until provide() returns, then releases them in order', async () => {
    let resolveState!: (state: Uint8Array) => void;
    const { daemon, seen } = await provider(() => new Promise<Uint8Array>((resolve) => (resolveState = resolve)));
    daemon.send(delivery('before', 5), checkpoint('j', 6), delivery('after-1', 6), view(7, ['c1', 'j', 'k']), delivery('after-2', 7));
    await until(() => seen.length === 2, 'the message before and the checkpoint');
    await tick(50);
    expect(seen).toEqual(['msg before', 'checkpoint j']);
    resolveState(text('state'));
    await until(() => seen.length === 5, 'the held events');
    expect(seen).toEqual(['msg before', 'checkpoint j', 'msg after-1', 'view 7', 'msg after-2']);
    await until(() => daemon.chunks().length === 1, 'the state chunk');
    expect(daemon.chunks()[0]).toMatchObject({ group: 'g', joiner: 'j', provider: 'c1', transfer: 6, chunk: 0, last: true });
    expect(new TextDecoder().decode(daemon.chunks()[0]!.data)).toBe('state');
  });

  it('a provide() that returns at once holds nothing; an empty state is one empty last chunk', async () => {
    const { daemon, seen } = await provider(() => new Uint8Array(0));
    daemon.send(checkpoint('j', 6), delivery('after', 6));
    await until(() => seen.length === 2 && daemon.chunks().length === 1, 'checkpoint, message and chunk');
    expect(seen).toEqual(['checkpoint j', 'msg after']);
    expect(daemon.chunks()[0]).toMatchObject({ chunk: 0, last: true });
    expect(daemon.chunks()[0]!.data).toHaveLength(0);
  });

  it('sends chunks of at most 256 KiB, with at most 8 unacknowledged', async () => {
    const state = new Uint8Array(3 * 1024 * KIB + 100);
    for (let i = 0; i < state.length; i++) state[i] = (i * 31) & 0xff;
    const { daemon } = await provider(() => state);
    daemon.send(checkpoint('j', 6));
    await until(() => daemon.chunks().length === 8, 'a full window');
    await tick(50);
    expect(daemon.chunks()).toHaveLength(8); // no credit yet
    daemon.send({ stateAck: { group: 'g', joiner: 'j', transfer: 6, chunk: 2 } });
    await until(() => daemon.chunks().length === 11, 'three more chunks');
    await tick(50);
    expect(daemon.chunks()).toHaveLength(11);
    daemon.send({ stateAck: { group: 'g', joiner: 'j', transfer: 6, chunk: 10 } });
    await until(() => daemon.chunks().some((c) => c.last), 'the last chunk');
    const chunks = daemon.chunks();
    expect(chunks).toHaveLength(13);
    expect(chunks.map((c) => c.chunk)).toEqual([...Array(13).keys()]);
    expect(chunks.every((c) => c.data.length <= 256 * KIB)).toBe(true);
    expect(chunks.filter((c) => c.last).map((c) => c.chunk)).toEqual([12]);
    expect(Buffer.concat(chunks.map((c) => c.data)).equals(Buffer.from(state))).toBe(true);
  });

  it('streams an AsyncIterable snapshot, re-chunking large pieces, then an empty last chunk', async () => {
    async function* snapshot(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(600 * KIB).fill(1);
      yield new Uint8Array(0);
      yield text('tail');
    }
    const { daemon } = await provider(() => snapshot(), (d) => {
      // A joiner that keeps up: credit for every chunk as it arrives.
      d.chunkReply = (req) => {
        const c = req.stateChunk!;
        queueMicrotask(() => d.send({ stateAck: { group: c.group, joiner: c.joiner, transfer: c.transfer, chunk: c.chunk } }));
        return { reply: { req: req.req, ok: true } };
      };
    });
    daemon.send(checkpoint('j', 6));
    await until(() => daemon.chunks().some((c) => c.last), 'the last chunk');
    const sizes = daemon.chunks().map((c) => c.data.length);
    expect(sizes).toEqual([256 * KIB, 256 * KIB, 88 * KIB, 4, 0]);
    expect(daemon.chunks().map((c) => c.last)).toEqual([false, false, false, false, true]);
  });

  it('provide() throws: a failure chunk with ERR_PROVIDE_FAILED and no data, events released, nothing else emitted', async () => {
    const { daemon, seen } = await provider(async () => {
      throw new Error('no snapshot today');
    });
    daemon.send(checkpoint('j', 6), delivery('after', 6));
    await until(() => daemon.chunks().length === 1 && seen.length === 2, 'the failure chunk and the message');
    expect(seen).toEqual(['checkpoint j', 'msg after']);
    const failure = daemon.chunks()[0]!;
    expect(failure).toMatchObject({ group: 'g', joiner: 'j', provider: 'c1', transfer: 6, errorCode: 'ERR_PROVIDE_FAILED', last: false });
    expect(failure.errorMessage).toContain('no snapshot today');
    expect(failure.data).toHaveLength(0);
  });

  it('a snapshot that throws mid-way ends with a failure chunk', async () => {
    async function* snapshot(): AsyncGenerator<Uint8Array> {
      yield text('part');
      throw new Error('cursor lost');
    }
    const { daemon } = await provider(() => snapshot());
    daemon.send(checkpoint('j', 6));
    await until(() => daemon.chunks().some((c) => c.errorCode), 'the failure chunk');
    expect(daemon.chunks().map((c) => [c.chunk, c.errorCode])).toEqual([
      [0, ''],
      [1, 'ERR_PROVIDE_FAILED'],
    ]);
  });

  it('a refused chunk (ERR_STATE_ABORTED) stops the transfer quietly and closes the snapshot', async () => {
    let closed = false;
    let produced = 0;
    async function* snapshot(): AsyncGenerator<Uint8Array> {
      try {
        for (;;) {
          produced++;
          yield new Uint8Array(KIB);
        }
      } finally {
        closed = true;
      }
    }
    const { daemon } = await provider(() => snapshot(), (d) => {
      d.chunkReply = (req) => ({ reply: { req: req.req, ok: false, errorCode: 'ERR_STATE_ABORTED', errorMessage: 'joiner left' } });
    });
    daemon.send(checkpoint('j', 6));
    await until(() => closed, 'the snapshot to be closed');
    const sent = daemon.chunks().length;
    expect(sent).toBeLessThanOrEqual(9);
    await tick(50);
    expect(daemon.chunks()).toHaveLength(sent);
    expect(daemon.chunks().every((c) => !c.errorCode)).toBe(true);
    expect(produced).toBeLessThanOrEqual(sent + 1);
  });

  it('an ack with chunk 0xffffffff (the transfer is over at the joiner’s end) stops the transfer', async () => {
    const { daemon } = await provider(() => new Uint8Array(20 * 256 * KIB));
    daemon.send(checkpoint('j', 6));
    await until(() => daemon.chunks().length === 8, 'a full window');
    daemon.send({ stateAck: { group: 'g', joiner: 'j', transfer: 6, chunk: 0xffffffff } });
    await tick(50);
    expect(daemon.chunks()).toHaveLength(8);
  });

  it('two joiners at once: independent transfers, each with its own window', async () => {
    const { daemon, seen } = await provider(() => new Uint8Array(10 * 256 * KIB));
    daemon.send(checkpoint('j1', 6), checkpoint('j2', 7));
    await until(() => daemon.chunks().length === 16, 'two full windows');
    expect(seen).toEqual(['checkpoint j1', 'checkpoint j2']);
    daemon.send({ stateAck: { group: 'g', joiner: 'j2', transfer: 7, chunk: 9 } });
    await until(() => daemon.chunks().filter((c) => c.joiner === 'j2').length === 10, 'the rest for j2');
    await tick(50);
    expect(daemon.chunks().filter((c) => c.joiner === 'j1')).toHaveLength(8);
    expect(daemon.chunks().find((c) => c.joiner === 'j2' && c.last)?.chunk).toBe(9);
  });

  it('a member without provide() declines a checkpoint without emitting it', async () => {
    const { daemon, client } = await setup((d) => {
      d.members = [];
    });
    const group = await client.join('g');
    const seen = record(group);
    daemon.send(checkpoint('j', 6), delivery('after', 6));
    await until(() => daemon.chunks().length === 1 && seen.length === 1, 'the refusal');
    expect(seen).toEqual(['msg after']);
    expect(daemon.chunks()[0]).toMatchObject({ joiner: 'j', transfer: 6, errorCode: 'ERR_PROVIDE_FAILED' });
  });
});
