// One process of the plain-TCP full mesh: the bench's "distance to the limit". Three of
// these each send the same messages to the other two over loopback TCP — length-prefixed
// frames packed into ~64 KiB writes, no protocol, no ordering, no acknowledgements — and
// count what arrives. Each member "delivers" its own messages plus the other two's, as a
// Chorus member does, so the delivered rates compare one to one.
import { once } from 'node:events';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { HEADER_BYTES, now, writeHeader, type PeerCmd, type PeerReply } from './protocol.js';

const BATCH_BYTES = 64 * 1024;

let server: Server | undefined;
const accepted: Socket[] = [];
const dialed: Socket[] = [];
let index = 0;
let received = 0;
let lastReceiveAt = 0;
let acceptedWaiter: (() => void) | undefined;

function onAccepted(socket: Socket): void {
  socket.setNoDelay(true);
  accepted.push(socket);
  // Frame parser: a 4-byte little-endian length, then that many bytes.
  const len = Buffer.alloc(4);
  let lenHave = 0;
  let remaining = 0;
  socket.on('data', (chunk: Buffer) => {
    let i = 0;
    let frames = 0;
    const n = chunk.length;
    while (i < n) {
      if (remaining > 0) {
        const take = Math.min(remaining, n - i);
        remaining -= take;
        i += take;
        if (remaining === 0) frames++;
      } else if (lenHave === 0 && n - i >= 4) {
        remaining = chunk.readUInt32LE(i);
        i += 4;
        if (remaining === 0) frames++;
      } else {
        len[lenHave++] = chunk[i++]!;
        if (lenHave === 4) {
          lenHave = 0;
          remaining = len.readUInt32LE(0);
          if (remaining === 0) frames++;
        }
      }
    }
    if (frames > 0) {
      received += frames;
      lastReceiveAt = now();
    }
  });
  socket.on('error', () => undefined);
  if (accepted.length >= 2) acceptedWaiter?.();
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

async function run(phase: number, size: number, startAt: number, durationMs: number): Promise<PeerReply> {
  received = 0;
  lastReceiveAt = 0;
  const frame = 4 + size;
  const perBatch = Math.max(1, Math.floor(BATCH_BYTES / frame));
  const template = Buffer.alloc(perBatch * frame);
  for (let k = 0; k < perBatch; k++) {
    template.writeUInt32LE(size, k * frame);
    for (let i = HEADER_BYTES; i < size; i++) template[k * frame + 4 + i] = (i * 31) & 0xff;
  }
  const wait = startAt - now();
  if (wait > 0) await sleep(wait);
  const end = now() + durationMs;
  let sent = 0;
  let lastSendAt = 0;
  while (now() < end) {
    const batch = Buffer.allocUnsafe(template.length);
    template.copy(batch);
    const t = now();
    for (let k = 0; k < perBatch; k++) writeHeader(batch, k * frame + 4, phase, sent + k, index, t);
    sent += perBatch;
    lastSendAt = t;
    const blocked = dialed.filter((s) => !s.write(batch));
    if (blocked.length > 0) {
      const left = end - now();
      if (left > 0) await Promise.race([Promise.all(blocked.map((s) => once(s, 'drain'))), sleep(left)]);
    } else {
      await yieldToLoop(); // let the receiving side run
    }
  }
  return { t: 'sent', sent, lastSendAt, rid: 0 };
}

async function drain(expected: number, timeoutMs: number): Promise<PeerReply> {
  const deadline = now() + timeoutMs;
  while (received < expected && now() < deadline) await sleep(5);
  return { t: 'drained', received, lastReceiveAt, rid: 0 };
}

async function handle(cmd: PeerCmd): Promise<PeerReply> {
  switch (cmd.t) {
    case 'listen': {
      server = createServer(onAccepted);
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const addr = server.address();
      return { t: 'listening', port: typeof addr === 'object' && addr ? addr.port : 0, rid: 0 };
    }
    case 'connect': {
      index = cmd.index;
      for (const port of cmd.ports) {
        const s = createConnection({ host: '127.0.0.1', port });
        s.setNoDelay(true);
        s.on('error', () => undefined);
        await once(s, 'connect');
        dialed.push(s);
      }
      if (accepted.length < 2) await new Promise<void>((r) => (acceptedWaiter = r));
      return { t: 'connected', rid: 0 };
    }
    case 'run':
      return run(cmd.phase, cmd.size, cmd.startAt, cmd.durationMs);
    case 'drain':
      return drain(cmd.expected, cmd.timeoutMs);
    case 'stop':
      for (const s of [...dialed, ...accepted]) s.destroy();
      server?.close();
      return { t: 'stopped', rid: 0 };
  }
}

if (!process.send) {
  process.stderr.write('tcp-peer: run by the bench harness (chorus bench) only\n');
  process.exit(2);
}
process.on('message', (cmd: PeerCmd) => {
  handle(cmd).then(
    (reply) => {
      if (process.connected) process.send!({ ...reply, rid: cmd.rid });
      if (cmd.t === 'stop') {
        process.disconnect();
        setTimeout(() => process.exit(0), 50).unref();
      }
    },
    (err: unknown) => {
      if (process.connected) process.send!({ t: 'error', message: err instanceof Error ? err.message : String(err), rid: cmd.rid });
    },
  );
});
process.on('SIGINT', () => undefined);
process.on('disconnect', () => process.exit(0));
