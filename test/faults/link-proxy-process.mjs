// The link proxy of the fault tests, run as a child process (test/faults/link-proxy.ts
// starts and drives it over IPC). It is plain JavaScript because it runs outside vitest;
// it decodes frames with the compiled wire code (dist/, built by `npm test`).
//
// One TCP listener per daemon: the daemon advertises it (`--advertise`), so every peer
// that sends to the daemon dials it, and it forwards to the daemon's real peer port.
// Links are one direction per TCP connection (docs/decisions.md #3): a connection
// accepted by the proxy of daemon `to` carries frames from its dialer to `to` only. The
// dialer's first frame is its PeerHello, which names it; so each connection belongs to
// one ordered pair (from → to), and a cut of one pair leaves every other link alone.
//
// A cut of (from → to) has two modes:
//   blackhole — stop reading the connection (bytes wait in the proxy's socket and the
//     kernel; TCP flow control then stops the sender) and hold new connections after
//     their hello, unanswered. Like a network that drops every packet: nothing breaks,
//     frames just stop arriving. On restore the held bytes flow again, late, in order.
//   reset — destroy the pair's connections and every new one after its hello: the
//     dialer sees the link break and redials with backoff.
//
// Living in its own process keeps the links flowing at their own pace whatever the test
// process does (GC of large histories, the checker, a busy SDK client).
import { createServer, connect } from 'node:net';

import { FrameDecoder, decodePeerFrame } from '../../dist/src/wire/index.js';

/** Hellos are small (peer-links caps them at 64 KiB). */
const HELLO_MAX_BYTES = 64 * 1024;

/** name → { server, address, target, conns } */
const proxies = new Map();
/** `${from}>${to}` → 'blackhole' | 'reset' */
const cuts = new Map();
const stats = { accepted: 0, forwardedBytes: 0, reset: 0, held: 0 };

const pairKey = (from, to) => `${from}>${to}`;

function splitHostPort(address) {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(address.slice(at + 1)) };
}

function destroy(conn) {
  if (conn.state === 'closed') return;
  conn.state = 'closed';
  conn.proxy.conns.delete(conn);
  conn.down.destroy();
  conn.up?.destroy();
}

/** Whether the conn's downstream (dialer → proxy) side may be read now. */
function refreshReading(conn) {
  if (conn.state !== 'open') return;
  if (conn.blocked || conn.waitingDrain) conn.down.pause();
  else conn.down.resume();
}

function connectUp(conn) {
  const target = conn.proxy.target;
  if (target === undefined) {
    conn.state = 'held'; // the daemon is not (re)started yet: wait for its address
    return;
  }
  conn.state = 'connecting';
  const { host, port } = splitHostPort(target);
  const up = connect({ host, port, noDelay: true });
  conn.up = up;
  up.on('connect', () => {
    if (conn.state !== 'connecting') return;
    conn.state = 'open';
    for (const chunk of conn.head) up.write(chunk);
    conn.head = [];
    refreshReading(conn);
  });
  up.on('data', (chunk) => {
    // Only the hello reply travels this way; keep it simple but correct.
    if (!conn.down.write(chunk)) {
      up.pause();
      conn.down.once('drain', () => up.resume());
    }
  });
  up.on('error', () => destroy(conn));
  up.on('close', () => destroy(conn));
}

function route(conn) {
  const mode = cuts.get(pairKey(conn.from, conn.proxy.name));
  if (mode === 'reset') {
    stats.reset++;
    destroy(conn);
    return;
  }
  if (mode === 'blackhole') {
    stats.held++;
    conn.blocked = true;
    conn.state = 'held';
    conn.down.pause();
    return;
  }
  connectUp(conn);
}

function onAccept(proxy, down) {
  stats.accepted++;
  down.setNoDelay(true);
  const conn = {
    proxy,
    down,
    up: undefined,
    from: undefined,
    head: [],
    decoder: new FrameDecoder(HELLO_MAX_BYTES),
    state: 'hello',
    blocked: false,
    waitingDrain: false,
  };
  proxy.conns.add(conn);
  down.on('data', (chunk) => {
    if (conn.state === 'hello') {
      conn.head.push(chunk);
      let frames;
      try {
        frames = conn.decoder.push(chunk);
      } catch {
        frames = [new Uint8Array(0)];
      }
      if (frames.length === 0) return;
      try {
        const frame = decodePeerFrame(frames[0]);
        conn.from = frame.body === 'hello' ? (frame.hello.from?.name ?? '?') : '?';
      } catch {
        conn.from = '?'; // not a peer hello: forward it, the daemon refuses it itself
      }
      conn.decoder = undefined;
      route(conn);
      return;
    }
    if (conn.state !== 'open') {
      conn.head.push(chunk); // held or connecting: keep order
      if (conn.state === 'held') down.pause();
      return;
    }
    stats.forwardedBytes += chunk.length;
    if (!conn.up.write(chunk)) {
      conn.waitingDrain = true;
      refreshReading(conn);
      conn.up.once('drain', () => {
        conn.waitingDrain = false;
        refreshReading(conn);
      });
    }
  });
  down.on('error', () => destroy(conn));
  down.on('close', () => destroy(conn));
}

function addProxy(name) {
  return new Promise((resolve, reject) => {
    const proxy = { name, server: undefined, address: '', target: undefined, conns: new Set() };
    const server = createServer({ noDelay: true }, (socket) => onAccept(proxy, socket));
    proxy.server = server;
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      proxy.address = `127.0.0.1:${server.address().port}`;
      proxies.set(name, proxy);
      resolve(proxy.address);
    });
  });
}

function setTarget(name, address) {
  const proxy = proxies.get(name);
  if (proxy === undefined) throw new Error(`no proxy for ${name}`);
  proxy.target = address ?? undefined;
  if (proxy.target === undefined) return;
  for (const conn of proxy.conns) if (conn.state === 'held' && !conn.blocked) connectUp(conn);
}

function cut(from, to, mode) {
  if (mode !== 'blackhole' && mode !== 'reset') throw new Error(`unknown cut mode ${mode}`);
  cuts.set(pairKey(from, to), mode);
  const proxy = proxies.get(to);
  if (proxy === undefined) return;
  for (const conn of [...proxy.conns]) {
    if (conn.from !== from) continue;
    if (mode === 'reset') {
      stats.reset++;
      destroy(conn);
    } else {
      conn.blocked = true;
      if (conn.state === 'open') refreshReading(conn);
      else if (conn.state === 'hello' || conn.state === 'connecting') conn.down.pause();
    }
  }
}

function restore(from, to) {
  cuts.delete(pairKey(from, to));
  const proxy = proxies.get(to);
  if (proxy === undefined) return;
  for (const conn of [...proxy.conns]) {
    if (conn.from !== from || !conn.blocked) continue;
    conn.blocked = false;
    if (conn.state === 'held') connectUp(conn);
    else if (conn.state === 'open') refreshReading(conn);
    else if (conn.state === 'connecting') conn.down.resume();
  }
}

function restoreAll() {
  for (const key of [...cuts.keys()]) {
    const [from, to] = key.split('>');
    restore(from, to);
  }
}

async function closeAll() {
  for (const proxy of proxies.values()) {
    for (const conn of [...proxy.conns]) destroy(conn);
    await new Promise((resolve) => proxy.server.close(() => resolve()));
  }
  proxies.clear();
}

async function handle(msg) {
  switch (msg.op) {
    case 'add':
      return addProxy(msg.name);
    case 'target':
      return setTarget(msg.name, msg.address);
    case 'cut':
      return cut(msg.from, msg.to, msg.mode);
    case 'restore':
      return restore(msg.from, msg.to);
    case 'restore-all':
      return restoreAll();
    case 'stats': {
      const conns = {};
      for (const proxy of proxies.values()) {
        for (const c of proxy.conns) {
          const k = `${c.from ?? '?'}>${proxy.name}:${c.state}${c.blocked ? ':blocked' : ''}`;
          conns[k] = (conns[k] ?? 0) + 1;
        }
      }
      return { ...stats, cuts: Object.fromEntries(cuts), conns };
    }
    case 'close':
      await closeAll();
      return undefined;
    default:
      throw new Error(`unknown op ${msg.op}`);
  }
}

process.on('message', (msg) => {
  handle(msg).then(
    (result) => process.send({ id: msg.id, ok: true, result }),
    (err) => process.send({ id: msg.id, ok: false, error: String(err?.stack ?? err) }),
  );
});
// The test process is gone (or closed the channel): nothing to proxy for.
process.on('disconnect', () => process.exit(0));
process.send({ ready: true });
