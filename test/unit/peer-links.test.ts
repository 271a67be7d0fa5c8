import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

import { describe, expect, it } from 'vitest';

import { MAX_FAILED_DIALS, MAX_HANDSHAKING_PEERS_PER_SOURCE, MAX_QUEUE_BYTES, PeerLinks } from '../../daemon/peer-links.js';
import { parseHostPort } from '../../daemon/config.js';
import {
  DEFAULT_MAX_FRAME_BYTES,
  FrameDecoder,
  PEER_PROTOCOL_MAX as PROTOCOL_MAX,
  encodeLengthPrefixed,
  encodePeerFrame,
  decodePeerFrame,
  type DecodedPeerFrame,
} from '../../src/wire/index.js';
import { capture } from './helpers/log-capture.js';
import { usePeerLinks } from './helpers/peer-links.js';
import { sleep, until } from './helpers/wait.js';

const { open, sockets, servers, makeLinks, rawConnect } = usePeerLinks();

function heartbeat(n: number): { heartbeat: { viewId: number; received: number[] } } {
  return { heartbeat: { viewId: n, received: [n, n + 1] } };
}

/** Resolves when the daemon has closed `s` (reading what it sent, so 'end' can fire). */
function closed(s: Socket): Promise<void> {
  s.resume();
  return new Promise((resolve) => {
    if (s.destroyed || s.closed) resolve();
    else s.once('close', () => resolve());
  });
}

describe('PeerLinks', () => {
  it('completes the handshake with a seed and reports peer-up with its identity', async () => {
    const a = await makeLinks('a');
    const b = await makeLinks('b');
    const ups: [string, unknown, string][] = [];
    a.links.on('peer-up', (peer, id, adv) => ups.push([peer, id, adv]));
    a.links.dialSeed(b.address);
    await until(() => ups.length === 1);
    expect(ups[0]).toEqual([b.key, { name: 'b', incarnation: '1' }, b.address]);
    expect(a.links.isUp(b.key)).toBe(true);
    expect(a.links.advertise).toBe(a.address);
  });

  it('delivers 10,000 frames in order, batched into few writes', async () => {
    const a = await makeLinks('a');
    const b = await makeLinks('b');
    const got: [string, DecodedPeerFrame][] = [];
    b.links.on('frame', (peer, frame) => got.push([peer, frame]));
    a.links.setAddress(b.key, b.address);
    const N = 10_000;
    for (let i = 0; i < N; i++) expect(a.links.send(b.key, heartbeat(i))).toBe(true);
    await until(() => got.length === N);
    for (let i = 0; i < N; i++) {
      const [peer, frame] = got[i]!;
      expect(peer).toBe(a.key);
      expect(frame.body).toBe('heartbeat');
      expect(frame.heartbeat?.viewId).toBe(i);
    }
    const stats = a.links.stats;
    expect(stats.framesSent).toBe(N);
    // One tick's frames go out in one write (up to 1 MiB each): a handful, not 10,000.
    expect(stats.batchesWritten).toBeLessThan(10);
    expect(b.links.stats.framesReceived).toBe(N);
  });

  it('keeps FIFO order across frames sent in many ticks, and both directions work', async () => {
    const a = await makeLinks('a');
    const b = await makeLinks('b');
    const atB: number[] = [];
    const atA: number[] = [];
    b.links.on('frame', (_p, f) => atB.push(f.heartbeat!.viewId!));
    a.links.on('frame', (_p, f) => atA.push(f.heartbeat!.viewId!));
    a.links.setAddress(b.key, b.address);
    b.links.setAddress(a.key, a.address);
    for (let tick = 0; tick < 20; tick++) {
      for (let i = 0; i < 50; i++) {
        a.links.send(b.key, heartbeat(tick * 50 + i));
        b.links.send(a.key, heartbeat(tick * 50 + i));
      }
      await new Promise((r) => setImmediate(r));
    }
    await until(() => atB.length === 1000 && atA.length === 1000);
    expect(atB).toEqual([...Array(1000).keys()]);
    expect(atA).toEqual([...Array(1000).keys()]);
  });

  it('refuses a daemon of another cluster with ERR_CLUSTER_MISMATCH and delivers nothing', async () => {
    const a = await makeLinks('a', { cluster: 'red' });
    const b = await makeLinks('b', { cluster: 'blue' });
    const frames: unknown[] = [];
    const ups: unknown[] = [];
    b.links.on('frame', (...args) => frames.push(args));
    a.links.on('peer-up', (...args) => ups.push(args));
    a.links.dialSeed(b.address);
    a.links.setAddress(b.key, b.address);
    a.links.send(b.key, heartbeat(1));
    await until(() => b.log.lines.some((l) => l.msg === 'refused peer connection'));
    await until(() => a.log.lines.some((l) => l.code === 'ERR_CLUSTER_MISMATCH' && l.level === 50));
    await sleep(700); // a few retries happen meanwhile
    expect(frames).toEqual([]);
    expect(ups).toEqual([]);
    const refusal = b.log.lines.find((l) => l.msg === 'refused peer connection')!;
    expect(refusal.code).toBe('ERR_CLUSTER_MISMATCH');
    expect(refusal.level).toBe(40);
    expect(String(refusal.remote)).toMatch(/^127\.0\.0\.1:\d+$/);
    // Retries with backoff, logging the error once per target, not once per attempt.
    expect(b.links.stats.handshakesRefused).toBeGreaterThanOrEqual(2);
    const errors = a.log.lines.filter((l) => l.level === 50 && l.code === 'ERR_CLUSTER_MISMATCH');
    expect(errors.length).toBe(2); // the seed, and the link to b#1
  });

  it('refuses a wrong or missing cluster secret with ERR_AUTH', async () => {
    const b = await makeLinks('b', { secret: 'right' });
    const wrong = await makeLinks('a', { secret: 'wrong' });
    const none = await makeLinks('c');
    const good = await makeLinks('d', { secret: 'right' });
    const frames: string[] = [];
    b.links.on('frame', (peer) => frames.push(peer));
    const ups: string[] = [];
    good.links.on('peer-up', (peer) => ups.push(peer));
    for (const x of [wrong, none, good]) {
      x.links.setAddress(b.key, b.address);
      x.links.send(b.key, heartbeat(7));
    }
    await until(() => frames.length === 1);
    await until(() => b.links.stats.handshakesRefused >= 2);
    await sleep(300);
    expect(frames).toEqual([good.key]);
    expect(ups).toEqual([b.key]);
    const refused = b.log.lines.filter((l) => l.msg === 'refused peer connection').map((l) => l.code);
    expect(new Set(refused)).toEqual(new Set(['ERR_AUTH']));
    expect(wrong.log.lines.some((l) => l.level === 50 && l.code === 'ERR_AUTH')).toBe(true);
    expect(none.log.lines.some((l) => l.level === 50 && l.code === 'ERR_AUTH')).toBe(true);
  });

  it('closes a raw socket that sends garbage or an oversized length, and keeps the links working', async () => {
    const a = await makeLinks('a');
    const b = await makeLinks('b');
    const got: number[] = [];
    b.links.on('frame', (_p, f) => got.push(f.heartbeat!.viewId!));
    a.links.setAddress(b.key, b.address);
    a.links.send(b.key, heartbeat(1));
    await until(() => got.length === 1);

    // Oversized length prefix before any hello.
    const huge = await rawConnect(b.address);
    huge.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
    await closed(huge);

    // A well-sized frame that is not a protobuf PeerFrame.
    const junk = await rawConnect(b.address);
    junk.write(encodeLengthPrefixed([Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff])]));
    await closed(junk);

    // A valid frame that is not a hello.
    const early = await rawConnect(b.address);
    early.write(encodeLengthPrefixed([encodePeerFrame(heartbeat(9))]));
    await closed(early);

    const codes = b.log.lines.filter((l) => l.level === 40).map((l) => l.code);
    expect(codes).toContain('ERR_FRAME_TOO_LARGE');
    expect(codes).toContain('ERR_MALFORMED_FRAME');
    expect(codes).toContain('ERR_HANDSHAKE');

    a.links.send(b.key, heartbeat(2));
    await until(() => got.length === 2);
    expect(got).toEqual([1, 2]);
  });

  it('reports peer-down when the peer goes away and redials while frames are queued', async () => {
    const a = await makeLinks('a');
    const b = await makeLinks('b');
    const events: string[] = [];
    a.links.on('peer-up', (p) => events.push(`up ${p}`));
    a.links.on('peer-down', (p) => events.push(`down ${p}`));
    a.links.setAddress(b.key, b.address);
    a.links.send(b.key, heartbeat(1));
    await until(() => events.length === 1);
    const port = parseHostPort(b.address).port;
    await b.links.close();
    await until(() => events.length === 2);
    expect(events).toEqual([`up ${b.key}`, `down ${b.key}`]);

    // Same address, same identity, new process: the queued frame gets through.
    const log = capture('b2');
    const b2 = new PeerLinks({
      cluster: 'test',
      self: { name: 'b', incarnation: '1' },
      listen: `127.0.0.1:${port}`,
      maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
      logger: log.logger,
    });
    open.push(b2);
    const got: number[] = [];
    b2.on('frame', (_p, f) => got.push(f.heartbeat!.viewId!));
    a.links.send(b.key, heartbeat(2));
    await b2.listen();
    await until(() => got.includes(2));
    expect(events).toEqual([`up ${b.key}`, `down ${b.key}`, `up ${b.key}`]);
  });

  it('keeps an existing link when a seed dial reaches a daemon already linked', async () => {
    const a = await makeLinks('a');
    const b = await makeLinks('b');
    const events: string[] = [];
    a.links.on('peer-up', (p) => events.push(`up ${p}`));
    a.links.on('peer-down', (p) => events.push(`down ${p}`));
    b.links.on('inbound-down', (p) => events.push(`b inbound-down ${p}`));
    const got: number[] = [];
    b.links.on('frame', (_p, f) => got.push(f.heartbeat!.viewId!));
    a.links.setAddress(b.key, b.address);
    a.links.send(b.key, heartbeat(1));
    await until(() => got.length === 1);
    a.links.dialSeed(b.address);
    await until(() => a.log.lines.some((l) => l.msg === 'seed is a peer already linked'));
    await sleep(100);
    a.links.send(b.key, heartbeat(2));
    await until(() => got.length === 2);
    expect(got).toEqual([1, 2]);
    expect(events).toEqual([`up ${b.key}`]);
  });

  it('drops a seed that turns out to be this daemon', async () => {
    const a = await makeLinks('a');
    const ups: string[] = [];
    a.links.on('peer-up', (p) => ups.push(p));
    a.links.dialSeed(a.address);
    await until(() => a.log.lines.some((l) => l.msg === 'seed is this daemon; not dialling it'));
    await sleep(400);
    expect(ups).toEqual([]);
    expect(a.log.lines.filter((l) => l.msg === 'refused peer connection')).toHaveLength(1);
  });

  it(`caps connections in their handshake from one address (${MAX_HANDSHAKING_PEERS_PER_SOURCE}): more are dropped at once, and a daemon from elsewhere still links`, async () => {
    const a = await makeLinks('a');
    const b = await makeLinks('b');
    const { host, port } = parseHostPort(b.address, 'b');
    const fromOther = (): Promise<Socket> =>
      new Promise((resolve, reject) => {
        const s = connect({ host, port, localAddress: '127.0.0.2' });
        sockets.push(s);
        s.once('connect', () => resolve(s));
        s.once('error', reject);
      });
    const idle: Socket[] = [];
    for (let i = 0; i < MAX_HANDSHAKING_PEERS_PER_SOURCE; i++) idle.push(await fromOther());
    await until(() => (b.links as unknown as { inbound: Set<unknown> }).inbound.size === MAX_HANDSHAKING_PEERS_PER_SOURCE);
    const extra = await fromOther();
    await closed(extra);
    expect(b.links.stats.connectionsRefused).toBe(1);
    expect(b.log.lines.some((l) => l.code === 'ERR_CONNECTION_LIMIT')).toBe(true);
    for (const s of idle) expect(s.destroyed).toBe(false);
    // A real daemon from 127.0.0.1 is not held up by the stranger on 127.0.0.2.
    const got: number[] = [];
    b.links.on('frame', (_p, f) => got.push(f.heartbeat!.viewId!));
    a.links.setAddress(b.key, b.address);
    a.links.send(b.key, heartbeat(1));
    await until(() => got.length === 1);
  });

  it(`gives up on a peer no dial reaches after ${MAX_FAILED_DIALS} tries: its queue is dropped and nothing is redialled`, async () => {
    const a = await makeLinks('a');
    // A stranger's join request names an address nobody answers on.
    const closedPort = await new Promise<number>((resolve) => {
      const srv = createServer();
      srv.listen(0, '127.0.0.1', () => {
        const port = (srv.address() as AddressInfo).port;
        srv.close(() => resolve(port));
      });
    });
    a.links.setAddress('ghost#1', `127.0.0.1:${closedPort}`);
    a.links.send('ghost#1', heartbeat(1));
    a.links.send('ghost#1', heartbeat(2));
    await until(() => a.links.stats.peersGivenUp === 1, 20_000);
    expect(a.links.linkedPeers).not.toContain('ghost#1');
    expect(a.links.stats.framesDropped).toBe(2);
    expect(a.log.lines.some((l) => l.msg === 'giving up on a peer no dial reaches: its queued frames are dropped')).toBe(true);
  }, 30_000);

  it('closes a connection that never says hello within 5 s', async () => {
    const b = await makeLinks('b');
    const raw = await rawConnect(b.address);
    const started = Date.now();
    await closed(raw);
    expect(Date.now() - started).toBeGreaterThan(4_000);
    expect(b.log.lines.some((l) => l.msg === 'no peer hello within 5 s; closing')).toBe(true);
  }, 10_000);

  it('disconnect closes both directions without events', async () => {
    const a = await makeLinks('a');
    const b = await makeLinks('b');
    const events: string[] = [];
    a.links.on('peer-down', (p) => events.push(`down ${p}`));
    a.links.on('inbound-down', (p) => events.push(`inbound-down ${p}`));
    b.links.on('inbound-down', (p) => events.push(`b inbound-down ${p}`));
    b.links.on('peer-down', (p) => events.push(`b down ${p}`));
    a.links.setAddress(b.key, b.address);
    b.links.setAddress(a.key, a.address);
    a.links.send(b.key, heartbeat(1));
    b.links.send(a.key, heartbeat(1));
    await until(() => a.links.isUp(b.key) && b.links.isUp(a.key));
    a.links.disconnect(b.key);
    await until(() => events.length === 2);
    await sleep(100);
    // a said nothing; b saw both of its connections to a close.
    expect(events.sort()).toEqual([`b down ${a.key}`, `b inbound-down ${a.key}`]);
    expect(a.links.isUp(b.key)).toBe(false);
  });

  it('a new incarnation dials its seeds again: a hello held in flight with the old identity never opens a link', async () => {
    // A seed whose hello answer is held (a proxy or a slow network holding the connection
    // while the peer restarts): it records each hello and answers only the later ones.
    const hellos: string[] = [];
    const held: Socket[] = [];
    let answer = false;
    const server = createServer((socket) => {
      sockets.push(socket);
      const decoder = new FrameDecoder(1 << 16);
      socket.on('data', (chunk: Buffer) => {
        for (const bytes of decoder.push(chunk)) {
          const frame = decodePeerFrame(bytes);
          if (frame.body !== 'hello') continue;
          hellos.push(`${frame.hello.from?.name}#${frame.hello.from?.incarnation}`);
          if (!answer) {
            held.push(socket);
            continue;
          }
          socket.write(encodeLengthPrefixed([encodePeerFrame({ helloReply: { ok: true, protocol: PROTOCOL_MAX, from: { name: 'seed', incarnation: '1' } } })]));
        }
      });
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;

    const a = await makeLinks('a', { incarnation: 'old' });
    a.links.dialSeed(address);
    await until(() => hellos.length === 1);
    expect(hellos).toEqual(['a#old']);
    // Stepped down: a new incarnation, while the first hello is still unanswered.
    answer = true;
    a.links.setIdentity({ name: 'a', incarnation: 'old.1' });
    await until(() => hellos.length === 2);
    expect(hellos).toEqual(['a#old', 'a#old.1']);
    await until(() => a.links.isUp('seed#1'));
    // The dial of the old identity is gone: its connection closed, nothing else answered.
    await until(() => held.every((h) => h.destroyed || h.readableEnded));
    expect(hellos).toEqual(['a#old', 'a#old.1']);
  });

  it('waits for drain on a slow peer, and beyond the queue bound (64 MiB + 2 frames) drops the queue and breaks the link', async () => {
    // A peer that answers the hello and then never reads.
    const stalled: Socket[] = [];
    const server = createServer((socket) => {
      sockets.push(socket);
      const decoder = new FrameDecoder(1 << 16);
      const onData = (chunk: Buffer): void => {
        if (decoder.push(chunk).length === 0) return;
        socket.off('data', onData);
        socket.pause();
        stalled.push(socket);
        socket.write(
          encodeLengthPrefixed([
            encodePeerFrame({ helloReply: { ok: true, protocol: PROTOCOL_MAX, from: { name: 'slow', incarnation: '1' } } }),
          ]),
        );
      };
      socket.on('data', onData);
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;

    const a = await makeLinks('a');
    const events: string[] = [];
    a.links.on('peer-up', (p) => events.push(`up ${p}`));
    a.links.on('peer-down', (p) => events.push(`down ${p}`));
    a.links.setAddress('slow#1', address);
    a.links.send('slow#1', heartbeat(0));
    await until(() => a.links.isUp('slow#1'));

    const mib = new Uint8Array(1 << 20);
    const frame = { data: { viewId: 1, firstSeq: 1, entries: [{ data: mib }] } };
    let maxBuffered = 0;
    let refusedAt = -1;
    for (let i = 0; i < 200 && refusedAt < 0; i++) {
      if (!a.links.send('slow#1', frame)) refusedAt = i;
      maxBuffered = Math.max(maxBuffered, a.links.bufferedBytes('slow#1'));
      await new Promise((r) => setImmediate(r));
    }
    // The socket stopped taking data (kernel buffers full) and the queue grew to the bound.
    expect(refusedAt).toBeGreaterThan(0);
    expect(maxBuffered).toBeGreaterThan(MAX_QUEUE_BYTES + 2 * DEFAULT_MAX_FRAME_BYTES - (2 << 20));
    await until(() => events.length === 2);
    expect(events).toEqual(['up slow#1', 'down slow#1']);
    expect(a.links.bufferedBytes('slow#1')).toBe(0);
    expect(a.log.lines.some((l) => l.level === 50 && l.msg === 'peer link queue overflow: dropping its queue and breaking the link')).toBe(true);
    expect(a.links.stats.framesDropped).toBeGreaterThan(0);
    expect(stalled.length).toBe(1);
  });
});
