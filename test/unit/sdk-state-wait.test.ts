// The SDK joiner's side of WAIT (no member provides now) after a transfer began: the
// stream of the run that WAIT ended throws ERR_STATE_RESTARTED, and that install()'s
// rejection is not the join's failure: the join keeps waiting for the next BEGIN (or
// fails only with the daemon's FAILED). Against a scripted fake daemon over a real
// WebSocket, as sdk-state-transfer.test.ts.

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


describe('WAIT after a BEGIN, with real time between WAIT and the next BEGIN', () => {
  it('the provider goes mid-transfer, nobody provides for a while: join() must keep waiting, not fail with ERR_INSTALL_FAILED', async () => {
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
});
