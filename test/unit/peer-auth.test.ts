// Peer authentication (issue 10, must-have 5): the challenge–response hello and the
// per-frame MACs of daemon/peer-auth.ts, run through PeerLinks on loopback, with raw
// sockets playing a replaying, forging or injecting attacker.
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

import { describe, expect, it } from 'vitest';

import { createLogger } from '../../daemon/logger.js';
import { RecordSealer, newNonce, proveHandshake, sessionKey, type HandshakeTranscript } from '../../daemon/peer-auth.js';
import { PeerLinks, peerKeyOf } from '../../daemon/peer-links.js';
import { makeCa } from '../multi/certs.js';
import {
  DEFAULT_MAX_FRAME_BYTES,
  FrameDecoder,
  decodePeerFrame,
  encodeLengthPrefixed,
  encodePeerFrame,
  type DecodedPeerFrame,
} from '../../src/wire/index.js';
import { usePeerLinks } from './helpers/peer-links.js';
import { sleep, until } from './helpers/wait.js';

const { open, sockets, servers, makeLinks, rawConnect } = usePeerLinks();
const heartbeat = (n: number) => ({ heartbeat: { viewId: n, received: [n] } });

/** Frames from a raw socket, one at a time; `closed` resolves when the peer closes. */
function reader(s: Socket): { next(): Promise<DecodedPeerFrame>; closed: Promise<void> } {
  const decoder = new FrameDecoder(1 << 16);
  const frames: DecodedPeerFrame[] = [];
  const waiting: Array<(f: DecodedPeerFrame) => void> = [];
  s.on('data', (chunk: Buffer) => {
    for (const f of decoder.push(chunk)) {
      const frame = decodePeerFrame(f);
      const w = waiting.shift();
      if (w) w(frame);
      else frames.push(frame);
    }
  });
  const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
  return {
    next: () => {
      const f = frames.shift();
      return f ? Promise.resolve(f) : new Promise((resolve) => waiting.push(resolve));
    },
    closed,
  };
}

const frameBytes = (frame: Parameters<typeof encodePeerFrame>[0]) => encodeLengthPrefixed([encodePeerFrame(frame)]);
const RAW = { name: 'raw', incarnation: 'x' };
// Raw hellos offer every version: the acceptor picks its newest (and names it in the challenge).

/** A raw dialer that runs the handshake honestly with `secret`; returns the session. */
async function rawSession(address: string, secret: string) {
  const s = await rawConnect(address);
  const r = reader(s);
  const dialerNonce = newNonce();
  s.write(frameBytes({
    hello: { protocolMin: 1, protocolMax: 1000, cluster: 'test', from: RAW, advertise: '127.0.0.1:1', nonce: dialerNonce, hasSecret: true },
  }));
  const challenge = (await r.next()).helloReply!;
  expect(challenge).toMatchObject({ ok: true, challenge: true });
  const t: HandshakeTranscript = {
    cluster: 'test',
    dialer: RAW,
    advertise: '127.0.0.1:1',
    acceptor: { name: challenge.from!.name!, incarnation: challenge.from!.incarnation! },
    protocol: challenge.protocol!,
    dialerNonce,
    acceptorNonce: challenge.nonce!,
  };
  s.write(frameBytes({ hello: { from: RAW, proof: proveHandshake(secret, 'dialer', t) } }));
  const final = (await r.next()).helloReply!;
  expect(final).toMatchObject({ ok: true });
  const sealer = new RecordSealer(sessionKey(secret, t));
  const record = (frame: Parameters<typeof encodePeerFrame>[0]): Buffer => {
    const body = frameBytes(frame);
    const { header, tag } = sealer.seal([body]);
    return Buffer.concat([header, body, tag]);
  };
  return { s, r, t, challenge, record };
}

describe('peer authentication: challenge–response hello', () => {
  it('links two daemons with the same secret, both ways, and authenticates every frame', async () => {
    const a = await makeLinks('a', { secrets: ['s'] });
    const b = await makeLinks('b', { secrets: ['s'] });
    const got: string[] = [];
    a.links.on('frame', (p, f) => got.push(`${p}:${f.heartbeat!.viewId}`));
    b.links.on('frame', (p, f) => got.push(`${p}:${f.heartbeat!.viewId}`));
    a.links.setAddress(b.key, b.address);
    b.links.setAddress(a.key, a.address);
    a.links.send(b.key, heartbeat(1));
    b.links.send(a.key, heartbeat(2));
    a.links.send(b.key, heartbeat(3));
    await until(() => got.length === 3);
    expect(got.sort()).toEqual(['a#1:1', 'a#1:3', 'b#1:2']);
    expect(b.links.stats.authFailures + a.links.stats.authFailures).toBe(0);
  });

  it('refuses a replayed hello recorded from a real session (ERR_AUTH), and delivers nothing of it', async () => {
    const b = await makeLinks('b', { secrets: ['s'] });
    // A recording proxy between a and b: everything a sends, chunk by chunk.
    const recorded: Buffer[] = [];
    const proxy = createServer((down) => {
      const up = connect(Number(b.address.split(':')[1]), '127.0.0.1');
      sockets.push(down, up);
      down.on('data', (c: Buffer) => {
        recorded.push(Buffer.from(c));
        up.write(c);
      });
      up.on('data', (c: Buffer) => down.write(c));
      up.on('close', () => down.destroy());
      down.on('close', () => up.destroy());
    });
    servers.push(proxy);
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const proxyAddress = `127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const a = await makeLinks('a', { secrets: ['s'] });
    const frames: number[] = [];
    b.links.on('frame', (_p, f) => frames.push(f.heartbeat!.viewId!));
    a.links.setAddress(b.key, proxyAddress);
    a.links.send(b.key, heartbeat(1));
    await until(() => frames.length === 1);
    expect(recorded.length).toBeGreaterThanOrEqual(3); // hello, proof, a record
    await a.links.close();

    // Replay a's bytes to b, each after b's answer as a's were: hello, proof, records.
    const raw = await rawConnect(b.address);
    const r = reader(raw);
    raw.write(recorded[0]!);
    const challenge = (await r.next()).helloReply!;
    expect(challenge.challenge).toBe(true); // a fresh challenge, with a fresh nonce
    raw.write(recorded[1]!);
    const refusal = (await r.next()).helloReply!;
    expect(refusal).toMatchObject({ ok: false, errorCode: 'ERR_AUTH' });
    for (const c of recorded.slice(2)) raw.write(c);
    await r.closed;
    await sleep(50);
    expect(frames).toEqual([1]);
    expect(b.links.stats.authFailures).toBe(1);
    expect(b.log.lines.some((l) => l.msg === 'refused peer connection' && l.code === 'ERR_AUTH')).toBe(true);
  });

  it('refuses a wrong secret at both ends, and a secret on one side only', async () => {
    const b = await makeLinks('b', { secrets: ['right'] });
    const wrong = await makeLinks('w', { secrets: ['wrong'] });
    const none = await makeLinks('n', { secrets: [] });
    const ups: string[] = [];
    const frames: string[] = [];
    b.links.on('frame', (p) => frames.push(p));
    for (const x of [wrong, none]) {
      x.links.on('peer-up', (p) => ups.push(p));
      x.links.setAddress(b.key, b.address);
      x.links.send(b.key, heartbeat(1));
    }
    // b dials the daemon without a secret: refused there too (it cannot prove itself).
    b.links.on('peer-up', (p) => ups.push(p));
    b.links.setAddress(none.key, none.address);
    b.links.send(none.key, heartbeat(2));
    await until(() => b.links.stats.authFailures >= 2 && none.links.stats.authFailures >= 1);
    await sleep(200);
    expect(ups).toEqual([]);
    expect(frames).toEqual([]);
    for (const x of [wrong, none, b]) expect(x.log.lines.some((l) => l.level === 50 && l.code === 'ERR_AUTH')).toBe(true);

    // A raw dialer that proves with the wrong secret is refused with ERR_AUTH.
    await expect(rawSession(b.address, 'wrong')).rejects.toThrow();
    await until(() => b.links.stats.authFailures >= 3);
  });

  it('does not accept the acceptor\'s own proof sent back as the dialer\'s (reflection)', async () => {
    const b = await makeLinks('b', { secrets: ['s'] });
    const raw = await rawConnect(b.address);
    const r = reader(raw);
    raw.write(frameBytes({
      hello: { protocolMin: 1, protocolMax: 1000, cluster: 'test', from: RAW, advertise: '', nonce: newNonce(), hasSecret: true },
    }));
    const challenge = (await r.next()).helloReply!;
    raw.write(frameBytes({ hello: { from: RAW, proof: challenge.proofs![0]! } }));
    expect((await r.next()).helloReply).toMatchObject({ ok: false, errorCode: 'ERR_AUTH' });
    expect(b.links.stats.authFailures).toBe(1);
  });

  it('a dialer refuses an acceptor that cannot prove the secret, and proves nothing to it', async () => {
    const seen: DecodedPeerFrame[] = [];
    const fake = createServer((s) => {
      sockets.push(s);
      const r = reader(s);
      void r.next().then((hello) => {
        seen.push(hello);
        s.write(frameBytes({
          helloReply: { ok: true, challenge: true, protocol: hello.hello!.protocolMax!, from: { name: 'b', incarnation: '1' }, nonce: newNonce(), proofs: [Buffer.alloc(32, 7)] },
        }));
        void r.next().then((f) => seen.push(f));
      });
    });
    servers.push(fake);
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    const a = await makeLinks('a', { secrets: ['s'] });
    const ups: string[] = [];
    a.links.on('peer-up', (p) => ups.push(p));
    a.links.setAddress('b#1', `127.0.0.1:${(fake.address() as AddressInfo).port}`);
    a.links.send('b#1', heartbeat(1));
    await until(() => a.log.lines.some((l) => l.level === 50 && l.code === 'ERR_AUTH'));
    await sleep(100);
    expect(ups).toEqual([]);
    expect(seen.every((f) => f.body === 'hello' && (f.hello.proof?.length ?? 0) === 0)).toBe(true);
  });

  it('rotation: [new, old] links with [old] both ways, and with [new, old]; [new] does not link with [old]', async () => {
    const a = await makeLinks('a', { secrets: ['new', 'old'] });
    const b = await makeLinks('b', { secrets: ['old'] });
    const c = await makeLinks('c', { secrets: ['new', 'old'] });
    const d = await makeLinks('d', { secrets: ['new'] });
    const got: string[] = [];
    for (const x of [a, b, c]) x.links.on('frame', (p) => got.push(`${p}>${x.key}`));
    const pairs: Array<[typeof a, typeof a]> = [[a, b], [b, a], [a, c], [c, a]];
    for (const [from, to] of pairs) {
      from.links.setAddress(to.key, to.address);
      from.links.send(to.key, heartbeat(1));
    }
    await until(() => got.length === 4);
    expect(got.sort()).toEqual(['a#1>b#1', 'a#1>c#1', 'b#1>a#1', 'c#1>a#1']);
    d.links.setAddress(b.key, b.address);
    d.links.send(b.key, heartbeat(1));
    await until(() => b.links.stats.authFailures >= 1);
    expect(got.length).toBe(4);
  });
});

describe('peer authentication with TLS', () => {
  it('runs the challenge–response inside mutual TLS (no record MACs there); a plain dialer is refused', async () => {
    const ca = makeCa('unit CA');
    const leaf = ca.issue('d');
    const tls = { cert: Buffer.from(leaf.certPem), key: Buffer.from(leaf.keyPem), ca: Buffer.from(ca.certPem), files: { cert: '', key: '', ca: '' } };
    const logger = createLogger({ name: 'tls', level: 'silent', pretty: false });
    const mk = async (name: string, withTls: boolean) => {
      const self = { name, incarnation: '1' };
      const links = new PeerLinks({ cluster: 'test', self, listen: '127.0.0.1:0', maxFrameBytes: DEFAULT_MAX_FRAME_BYTES, secrets: ['s'], ...(withTls ? { tls } : {}), logger });
      open.push(links);
      return { links, key: peerKeyOf(self), address: await links.listen() };
    };
    const a = await mk('a', true);
    const b = await mk('b', true);
    const plain = await mk('p', false);
    const got: number[] = [];
    b.links.on('frame', (_p, f) => got.push(f.heartbeat!.viewId!));
    a.links.setAddress(b.key, b.address);
    plain.links.setAddress(b.key, b.address);
    for (let i = 1; i <= 3; i++) a.links.send(b.key, heartbeat(i));
    plain.links.send(b.key, heartbeat(99));
    await until(() => got.length === 3 && b.links.stats.tlsFailures >= 1);
    await sleep(100);
    expect(got).toEqual([1, 2, 3]);
    expect(b.links.stats.authFailures).toBe(0);
  });
});

describe('peer authentication: per-frame MACs', () => {
  it('refuses a frame injected into an authenticated session, and a replayed record', async () => {
    const b = await makeLinks('b', { secrets: ['s'] });
    const frames: number[] = [];
    const downs: string[] = [];
    b.links.on('frame', (_p, f) => frames.push(f.heartbeat!.viewId!));
    b.links.on('inbound-down', (p) => downs.push(p));

    const one = await rawSession(b.address, 's');
    const first = one.record(heartbeat(1));
    one.s.write(first);
    await until(() => frames.length === 1);
    // A plain frame injected into the stream (an attacker without the session key),
    // followed by the dialer's next record: the bytes no longer form a valid record.
    one.s.write(Buffer.concat([frameBytes(heartbeat(66)), one.record(heartbeat(67))]));
    await one.r.closed;
    await until(() => downs.length === 1);

    // The same record twice on another session: the second copy has the wrong counter.
    const two = await rawSession(b.address, 's');
    const rec = two.record(heartbeat(2));
    two.s.write(rec);
    await until(() => frames.length === 2);
    two.s.write(rec);
    await two.r.closed;
    // A record of the first session replayed into a third: wrong key.
    const three = await rawSession(b.address, 's');
    three.s.write(first);
    await three.r.closed;
    // A record with one payload bit flipped.
    const four = await rawSession(b.address, 's');
    const bad = four.record(heartbeat(4));
    bad[8] = bad[8]! ^ 1;
    four.s.write(bad);
    await four.r.closed;

    await until(() => downs.length === 4);
    expect(frames).toEqual([1, 2]);
    expect(b.links.stats.authFailures).toBe(4);
    const lines = b.log.lines.filter((l) => l.code === 'ERR_AUTH' && l.msg === 'bad frame from peer; closing that connection');
    expect(lines.length).toBe(4);
  });

  it('carries large (fragmented) and batched frames intact over an authenticated session', async () => {
    const a = await makeLinks('a', { secrets: ['s'] });
    const b = await makeLinks('b', { secrets: ['s'] });
    const got: Uint8Array[] = [];
    b.links.on('frame', (_p, f) => {
      if (f.data) for (const e of f.data.entries ?? []) got.push(e.data!);
    });
    a.links.setAddress(b.key, b.address);
    const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 31) & 0xff);
    a.links.send(b.key, { data: { viewId: 1, firstSeq: 1, entries: [{ data: big }] } });
    for (let i = 0; i < 200; i++) a.links.send(b.key, { data: { viewId: 1, firstSeq: i + 2, entries: [{ data: new Uint8Array([i]) }] } });
    await until(() => got.length === 201);
    expect(Buffer.from(got[0]!).equals(Buffer.from(big))).toBe(true);
    expect(got.slice(1).map((d) => d[0])).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(a.links.stats.framesFragmented).toBe(1);
    expect(b.links.stats.authFailures).toBe(0);
  });

  it('closes an authenticated session whose record announces more than the limit, with inbound-down', async () => {
    const b = await makeLinks('b', { secrets: ['s'] });
    const downs: string[] = [];
    b.links.on('inbound-down', (p) => downs.push(p));
    const session = await rawSession(b.address, 's');
    const header = Buffer.alloc(4);
    header.writeUInt32BE(0xffffffff);
    session.s.write(header);
    await session.r.closed;
    await until(() => downs.length === 1);
    expect(downs).toEqual(['raw#x']);
    expect(b.log.lines.some((l) => l.code === 'ERR_FRAME_TOO_LARGE' && l.peer === 'raw#x')).toBe(true);
  });

  it('rate-limits the log lines of failed authentications, and counts every one', async () => {
    const b = await makeLinks('b', { secrets: ['s'] });
    for (let i = 0; i < 12; i++) await expect(rawSession(b.address, 'wrong')).rejects.toThrow();
    await until(() => b.links.stats.authFailures === 12);
    const lines = b.log.lines.filter((l) => l.code === 'ERR_AUTH');
    expect(lines.length).toBe(5);
  });
});
