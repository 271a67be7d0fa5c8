// One benchmark client: a child process of the bench (so that the three clients load
// the machine as real applications would), connected to one daemon, member of the
// bench group. The orchestrator drives it over IPC (protocol.ts): it multicasts at the
// rate asked, and for every delivered message of the current phase records which
// sender/sequence arrived and the latency now() − send time carried in the payload.
import { connect, type Client, type Group, type Message } from '../../client-sdk/index.js';
import { LatencyHistogram } from './histogram.js';
import {
  HEADER_BYTES,
  now,
  readPhase,
  readSender,
  readSentAt,
  readSeq,
  writeHeader,
  type DrainCmd,
  type InitCmd,
  type PhaseCmd,
  type ProbeCmd,
  type WorkerCmd,
  type WorkerReply,
} from './protocol.js';
import { runWorkerProcess, sendToOrchestrator } from './worker-process.js';

const SENDERS = 3;

let client: Client | undefined;
let group: Group | undefined;
let index = 0;
let daemonPid = 0;

// ---- per-phase delivery record
let phase = 0;
let bitmaps: Uint8Array[] = [];
let counts: number[] = [];
let duplicates: number[] = [];
let maxSeq: number[] = [];
let firstDeliveryAt = 0;
let lastDeliveryAt = 0;
const latency = new LatencyHistogram();
/** Woken on every delivery of the phase while a drain waits. */
let onDelivery: (() => void) | undefined;

function resetPhase(next: number): void {
  phase = next;
  bitmaps = Array.from({ length: SENDERS }, () => new Uint8Array(8192));
  counts = new Array<number>(SENDERS).fill(0);
  duplicates = new Array<number>(SENDERS).fill(0);
  maxSeq = new Array<number>(SENDERS).fill(-1);
  firstDeliveryAt = 0;
  lastDeliveryAt = 0;
  latency.reset();
}

function onMessage(msg: Message): void {
  const data = msg.data;
  if (data.byteLength < HEADER_BYTES || phase === 0 || readPhase(data) !== phase) return;
  const t = now();
  const sender = readSender(data);
  if (sender >= SENDERS) return;
  const seq = readSeq(data);
  let bits = bitmaps[sender]!;
  const byte = seq >>> 3;
  if (byte >= bits.length) {
    const grown = new Uint8Array(Math.max(bits.length * 2, byte + 1));
    grown.set(bits);
    bitmaps[sender] = bits = grown;
  }
  const mask = 1 << (seq & 7);
  if (bits[byte]! & mask) {
    duplicates[sender]!++;
    return;
  }
  bits[byte]! |= mask;
  counts[sender]!++;
  if (seq > maxSeq[sender]!) maxSeq[sender] = seq;
  if (firstDeliveryAt === 0) firstDeliveryAt = t;
  lastDeliveryAt = t;
  latency.recordMs(t - readSentAt(data));
  onDelivery?.();
}

function send(msg: WorkerReply): void {
  sendToOrchestrator(msg);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- commands

async function init(cmd: InitCmd): Promise<WorkerReply> {
  index = cmd.index;
  daemonPid = cmd.daemonPid;
  client = await connect({ url: cmd.url, name: cmd.name, ...(cmd.ca !== undefined ? { ca: cmd.ca } : {}) });
  client.on('close', (err?: Error) => {
    if (err) send({ t: 'fatal', message: `connection to the daemon closed: ${err.message}` });
  });
  group = await client.join(cmd.group);
  group.on('message', onMessage);
  group.on('view', (v) => send({ t: 'view', members: v.members.length }));
  group.on('expelled', (reason) => send({ t: 'fatal', message: `expelled from the bench group: ${reason}` }));
  return { t: 'joined', clientId: client.id, members: group.view.members.length, rid: 0 };
}

async function probe(cmd: ProbeCmd): Promise<WorkerReply> {
  const buf = new Uint8Array(Math.max(cmd.size, HEADER_BYTES)); // phase 0: ignored by receivers
  try {
    await group!.multicast(buf, { order: cmd.order });
    return { t: 'probed', ok: true, rid: 0 };
  } catch (err) {
    const code = err && typeof err === 'object' && 'code' in err ? String(err.code) : 'ERR_UNEXPECTED';
    return { t: 'probed', ok: false, code, message: err instanceof Error ? err.message : String(err), rid: 0 };
  }
}

async function runPhase(cmd: PhaseCmd): Promise<WorkerReply> {
  resetPhase(cmd.phase);
  const g = group!;
  const buf = new Uint8Array(cmd.size);
  for (let i = HEADER_BYTES; i < buf.length; i++) buf[i] = (i * 31) & 0xff;
  const options = { order: cmd.order };
  let issued = 0;
  let accepted = 0;
  let refused = 0;
  let firstError: string | undefined;
  let outstanding = 0;
  let firstSendAt = 0;
  let lastSendAt = 0;
  let maxLagMs = 0;
  const windowMsgs = Math.max(1, Math.min(cmd.windowMsgs, Math.floor(cmd.windowBytes / cmd.size)));
  let wake: (() => void) | undefined;
  const settled = (ok: boolean, err?: unknown) => {
    outstanding--;
    if (ok) accepted++;
    else {
      refused++;
      firstError ??= err instanceof Error ? `${'code' in err ? String(err.code) : err.name}: ${err.message}` : String(err);
    }
    if (wake && outstanding <= windowMsgs / 2) {
      const w = wake;
      wake = undefined;
      w();
    }
  };
  const issue = (): void => {
    const t = now();
    if (firstSendAt === 0) firstSendAt = t;
    lastSendAt = t;
    writeHeader(buf, 0, cmd.phase, issued, index, t);
    issued++;
    outstanding++;
    g.multicast(buf, options).then(
      () => settled(true),
      (err: unknown) => settled(false, err),
    );
  };

  const wait = cmd.startAt - now();
  if (wait > 0) await sleep(wait);
  const start = now();
  const end = start + cmd.durationMs;

  if (cmd.mode === 'max') {
    // Open loop, bounded by the window: issue until the window is full (one WebSocket
    // frame per burst, the SDK batches a tick), then wait until half of it was accepted.
    while (now() < end) {
      while (outstanding < windowMsgs) issue();
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((r) => {
        wake = r;
        // Do not overstay the phase if the daemon stops accepting.
        timer = setTimeout(r, Math.max(1, end - now()));
      });
      clearTimeout(timer);
      wake = undefined;
      if (refused > 0 && accepted === 0) break;
    }
  } else {
    // Paced: every ~1 ms send what the schedule says is due, stamped when actually sent.
    const perMs = cmd.ratePerSender / 1000;
    for (;;) {
      const t = now();
      if (t >= end) break;
      const due = Math.floor((t - start) * perMs) + 1 - issued;
      if (due > 0) {
        const lag = t - start - issued / perMs;
        if (lag > maxLagMs) maxLagMs = lag;
        for (let k = 0; k < due && outstanding < windowMsgs; k++) issue();
      }
      if (refused > 0 && accepted === 0) break;
      await sleep(1);
    }
  }

  // Wait for the daemon's answer to everything issued (bounded).
  const deadline = now() + cmd.settleTimeoutMs;
  while (outstanding > 0 && now() < deadline) await sleep(5);
  if (outstanding > 0) {
    firstError ??= `${outstanding} multicast(s) still unanswered ${cmd.settleTimeoutMs} ms after the end of the phase`;
  }
  return { t: 'sent', issued, accepted, refused, ...(firstError !== undefined ? { firstError } : {}), firstSendAt, lastSendAt, maxLagMs, rid: 0 };
}

async function drain(cmd: DrainCmd): Promise<WorkerReply> {
  const done = () => cmd.expected.every((n, s) => (counts[s] ?? 0) >= n);
  const deadline = now() + cmd.timeoutMs;
  while (!done() && now() < deadline) {
    await new Promise<void>((r) => {
      onDelivery = () => {
        if (done()) r();
      };
      setTimeout(r, 20);
    });
    onDelivery = undefined;
  }
  const complete = done();
  const perSender = bitmaps.map((bits, s) => ({
    count: counts[s]!,
    bitmap: Buffer.from(bits.buffer, bits.byteOffset, maxSeq[s]! < 0 ? 0 : (maxSeq[s]! >>> 3) + 1).toString('base64'),
    duplicates: duplicates[s]!,
  }));
  const reply: WorkerReply = { t: 'drained', perSender, complete, firstDeliveryAt, lastDeliveryAt, latency: latency.toJSON(), rid: 0 };
  // Stop recording: late messages of this phase must not count in the next one.
  phase = 0;
  return reply;
}

async function stop(): Promise<WorkerReply> {
  try {
    await Promise.race([group?.leave(), sleep(2000)]);
  } catch {
    // leaving is best effort: the daemons are stopped next anyway
  }
  await Promise.race([client?.close(), sleep(1000)]).catch(() => undefined);
  return { t: 'stopped', rid: 0 };
}

async function handle(cmd: WorkerCmd): Promise<void> {
  let reply: WorkerReply;
  try {
    switch (cmd.t) {
      case 'init':
        reply = await init(cmd);
        break;
      case 'probe':
        reply = await probe(cmd);
        break;
      case 'phase':
        reply = await runPhase(cmd);
        break;
      case 'drain':
        reply = await drain(cmd);
        break;
      case 'stop':
        daemonPid = 0; // the orchestrator stops the daemons itself
        reply = await stop();
        send({ ...reply, rid: cmd.rid } as WorkerReply);
        process.disconnect();
        setTimeout(() => process.exit(0), 100).unref();
        return;
    }
  } catch (err) {
    reply = { t: 'error', message: err instanceof Error ? `${err.name}: ${err.message}` : String(err), rid: 0 };
  }
  send({ ...reply, rid: cmd.rid } as WorkerReply);
}

// The daemons go youngest first, 300 ms apart, so that each leaves while the coordinator is
// still there (all at once, they would wait for their leave timeout).
runWorkerProcess<WorkerCmd>({
  worker: 'client-worker',
  handle,
  onOrphaned: () => ({ close: () => client?.close(), daemonPid, delayMs: (SENDERS - 1 - index) * 300 }),
});
