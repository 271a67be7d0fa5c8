// One client of the bench's state-transfer phase, a child process of the bench driven
// over IPC (protocol.ts, StateCmd). It plays one of three parts:
//
// - provider: a member whose provide() returns a snapshot generated on the fly
//   (state-content.ts: 256 KiB pieces of deterministic pseudo-random bytes, never the
//   whole state in memory);
// - sender: a member that keeps multicasting at a steady rate during the transfer;
// - joiner: joins with install(), which folds the stream chunk by chunk into a running
//   SHA-256 (never concatenating), timed from the join() call to its resolution.
//
// Members record when each multicast of a phase was delivered, so that the bench can
// tell how many kept flowing during the transfer window.
import { createHash, type Hash } from 'node:crypto';
import { connect, type Client, type Group, type Message, type StateReader } from '../../client-sdk/index.js';
import { HEADER_BYTES, now, readPhase, readSentAt, writeHeader, type StateCmd, type StateReply } from './protocol.js';
import { expectedStateHash, generateState } from './state-content.js';
import { runWorkerProcess, sendToOrchestrator } from './worker-process.js';

let client: Client | undefined;
const groups = new Map<string, Group>();
let index = 0;
let daemonPid = 0;

function send(msg: StateReply): void {
  sendToOrchestrator(msg);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const errorText = (err: unknown) =>
  err instanceof Error ? `${'code' in err ? String(err.code) : err.name}: ${err.message}` : String(err);

// ---------------------------------------------------------------- members: deliveries

/** Per phase: delivery times and multicast-to-delivery latencies. */
const deliveries = new Map<number, { at: number[]; latency: number[] }>();

function onMessage(msg: Message): void {
  const data = msg.data;
  if (data.byteLength < HEADER_BYTES) return;
  const phase = readPhase(data);
  if (phase === 0) return;
  const t = now();
  let rec = deliveries.get(phase);
  if (!rec) deliveries.set(phase, (rec = { at: [], latency: [] }));
  rec.at.push(t);
  rec.latency.push(t - readSentAt(data));
}

function count(cmd: Extract<StateCmd, { t: 'count' }>): StateReply {
  const rec = deliveries.get(cmd.phase) ?? { at: [], latency: [] };
  deliveries.delete(cmd.phase);
  let inWindow = 0;
  let maxGapMs = 0;
  let prev = cmd.from;
  const lat: number[] = [];
  for (let i = 0; i < rec.at.length; i++) {
    const t = rec.at[i]!;
    if (t < cmd.from || t > cmd.to) continue;
    inWindow++;
    lat.push(rec.latency[i]!);
    // Deliveries come in order of arrival: `at` is ascending.
    maxGapMs = Math.max(maxGapMs, t - prev);
    prev = t;
  }
  maxGapMs = Math.max(maxGapMs, cmd.to - prev);
  lat.sort((a, b) => a - b);
  const pct = (p: number) => (lat.length === 0 ? null : round3(lat[Math.min(lat.length - 1, Math.ceil((p / 100) * lat.length) - 1)]!));
  return {
    t: 'counted',
    delivered: rec.at.length,
    inWindow,
    maxGapMs: round3(maxGapMs)!,
    p50Ms: pct(50),
    p99Ms: pct(99),
    maxMs: lat.length === 0 ? null : round3(lat[lat.length - 1]!),
    provides,
    rid: 0,
  };
}

const mib = (bytes: number) => Math.round((bytes / (1024 * 1024)) * 10) / 10;
const round3 = (n: number | undefined) => (n === undefined ? null : Math.round(n * 1000) / 1000);

// ---------------------------------------------------------------- provider

let armed: { size: number; seed: number } | undefined;
let provides = 0;

function provide(): Uint8Array | AsyncIterable<Uint8Array> {
  provides++;
  // A snapshot: what was armed when provide() ran, whatever is armed later.
  if (!armed) return new Uint8Array(0);
  return generateState(armed.size, armed.seed);
}

// ---------------------------------------------------------------- sender

let sender:
  | {
      stop: boolean;
      done: Promise<void>;
      issuedAt: number[];
      issued: number;
      accepted: number;
      refused: number;
      outstanding: number;
      firstError: string | undefined;
      maxLagMs: number;
    }
  | undefined;

function startSending(cmd: Extract<StateCmd, { t: 'send' }>): void {
  const g = groups.values().next().value as Group | undefined;
  if (!g) throw new Error('the sender is not a member of any group');
  const buf = new Uint8Array(Math.max(cmd.size, HEADER_BYTES));
  for (let i = HEADER_BYTES; i < buf.length; i++) buf[i] = (i * 31) & 0xff;
  const s = {
    stop: false,
    done: Promise.resolve(),
    issuedAt: [] as number[],
    issued: 0,
    accepted: 0,
    refused: 0,
    outstanding: 0,
    firstError: undefined as string | undefined,
    maxLagMs: 0,
  };
  const perMs = cmd.rate / 1000;
  const loop = async () => {
    const start = now();
    while (!s.stop) {
      const t = now();
      const due = Math.floor((t - start) * perMs) + 1 - s.issued;
      if (due > 0) {
        const lag = t - start - s.issued / perMs;
        if (lag > s.maxLagMs) s.maxLagMs = lag;
        // The SDK copies the payload when a multicast is issued: `buf` is reused.
        for (let k = 0; k < due && s.outstanding < cmd.windowMsgs; k++) {
          const at = now();
          writeHeader(buf, 0, cmd.phase, s.issued, index, at);
          s.issued++;
          s.outstanding++;
          s.issuedAt.push(at);
          g.multicast(buf).then(
            () => {
              s.outstanding--;
              s.accepted++;
            },
            (err: unknown) => {
              s.outstanding--;
              s.refused++;
              s.firstError ??= errorText(err);
            },
          );
        }
      }
      // A steady rate needs no finer tick: a few messages every 5 ms cost less CPU.
      await sleep(5);
    }
  };
  s.done = loop();
  sender = s;
}

async function stopSending(cmd: Extract<StateCmd, { t: 'send-stop' }>): Promise<StateReply> {
  const s = sender;
  if (!s) throw new Error('not sending');
  s.stop = true;
  await s.done;
  const deadline = now() + cmd.settleTimeoutMs;
  while (s.outstanding > 0 && now() < deadline) await sleep(5);
  if (s.outstanding > 0) s.firstError ??= `${s.outstanding} multicast(s) still unanswered ${cmd.settleTimeoutMs} ms after the end`;
  sender = undefined;
  return {
    t: 'send-stopped',
    issued: s.issued,
    accepted: s.accepted,
    refused: s.refused,
    ...(s.firstError !== undefined ? { firstError: s.firstError } : {}),
    issuedInWindow: s.issuedAt.filter((t) => t >= cmd.from && t <= cmd.to).length,
    maxLagMs: round3(s.maxLagMs)!,
    rid: 0,
  };
}

// ---------------------------------------------------------------- joiner

let expected: { size: number; seed: number; sha256: string } | undefined;

async function install(cmd: Extract<StateCmd, { t: 'install' }>): Promise<StateReply> {
  if (!expected) throw new Error('install before expect');
  let hash: Hash = createHash('sha256');
  let bytes = 0;
  let chunks = 0;
  let maxChunk = 0;
  let installCalls = 0;
  let installStartedAt = 0;
  // Where the joiner's memory goes (V8 heap vs buffers outside it), sampled every 100 ms.
  const peak = { heapUsed: 0, external: 0, arrayBuffers: 0 };
  const sample = () => {
    const m = process.memoryUsage();
    peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed);
    peak.external = Math.max(peak.external, m.external);
    peak.arrayBuffers = Math.max(peak.arrayBuffers, m.arrayBuffers);
  };
  sample();
  const sampler = setInterval(sample, 100);
  const joinCalledAt = now();
  const joining = client!.join(cmd.group, {
    state: {
      // Replaces, never merges: a restarted transfer starts the hash over.
      install: async (state: StateReader) => {
        installCalls++;
        if (installStartedAt === 0) installStartedAt = now();
        hash = createHash('sha256');
        bytes = 0;
        chunks = 0;
        maxChunk = 0;
        for await (const chunk of state) {
          hash.update(chunk);
          bytes += chunk.byteLength;
          chunks++;
          if (chunk.byteLength > maxChunk) maxChunk = chunk.byteLength;
        }
      },
    },
  });
  let group: Group;
  try {
    group = await joining;
  } finally {
    clearInterval(sampler);
  }
  const joinResolvedAt = now();
  sample();
  addGroup(cmd.group, group);
  return {
    t: 'installed',
    joinCalledAt,
    installStartedAt,
    joinResolvedAt,
    bytes,
    chunks,
    maxChunk,
    installCalls,
    sha256: hash.digest('hex'),
    expectedSha256: expected.sha256,
    members: group.view.members.length,
    heapUsedMiB: mib(peak.heapUsed),
    externalMiB: mib(peak.external),
    arrayBuffersMiB: mib(peak.arrayBuffers),
    rid: 0,
  };
}

// ---------------------------------------------------------------- commands

function addGroup(name: string, group: Group): void {
  groups.set(name, group);
  group.on('message', onMessage);
  group.on('view', (v) => send({ t: 'view', members: v.members.length }));
  group.on('expelled', (reason) => send({ t: 'fatal', message: `expelled from ${name}: ${reason}` }));
}

async function stop(): Promise<StateReply> {
  if (sender) sender.stop = true;
  for (const g of groups.values()) {
    try {
      await Promise.race([g.leave(), sleep(2000)]);
    } catch {
      // best effort: the daemons are stopped next anyway
    }
  }
  await Promise.race([client?.close(), sleep(1000)]).catch(() => undefined);
  return { t: 'stopped', rid: 0 };
}

async function handle(cmd: StateCmd): Promise<void> {
  let reply: StateReply;
  try {
    switch (cmd.t) {
      case 'connect':
        index = cmd.index;
        daemonPid = cmd.daemonPid;
        client = await connect({ url: cmd.url, name: cmd.name });
        client.on('close', (err?: Error) => {
          if (err) send({ t: 'fatal', message: `connection to the daemon closed: ${err.message}` });
        });
        reply = { t: 'connected', clientId: client.id, rid: 0 };
        break;
      case 'member': {
        const group = await client!.join(cmd.group, cmd.provide ? { state: { provide } } : {});
        addGroup(cmd.group, group);
        reply = { t: 'joined', members: group.view.members.length, rid: 0 };
        break;
      }
      case 'arm':
        armed = { size: cmd.size, seed: cmd.seed };
        reply = { t: 'armed', rid: 0 };
        break;
      case 'send':
        startSending(cmd);
        reply = { t: 'sending', rid: 0 };
        break;
      case 'send-stop':
        reply = await stopSending(cmd);
        break;
      case 'count':
        reply = count(cmd);
        break;
      case 'expect': {
        const t = now();
        expected = { size: cmd.size, seed: cmd.seed, sha256: expectedStateHash(cmd.size, cmd.seed) };
        reply = { t: 'expected', sha256: expected.sha256, ms: Math.round(now() - t), rid: 0 };
        break;
      }
      case 'install':
        reply = await install(cmd);
        break;
      case 'leave': {
        const g = groups.get(cmd.group);
        groups.delete(cmd.group);
        if (g) await Promise.race([g.leave(), sleep(3000)]);
        reply = { t: 'left', rid: 0 };
        break;
      }
      case 'stop':
        daemonPid = 0; // the orchestrator stops the daemons itself
        reply = await stop();
        send({ ...reply, rid: cmd.rid } as StateReply);
        process.disconnect();
        setTimeout(() => process.exit(0), 100).unref();
        return;
    }
  } catch (err) {
    reply = { t: 'error', message: errorText(err), rid: 0 };
  }
  send({ ...reply, rid: cmd.rid } as StateReply);
}

// Daemons go youngest first, as client-worker.ts does.
runWorkerProcess<StateCmd>({
  worker: 'state-worker',
  handle,
  onOrphaned: () => ({ close: () => client?.close(), daemonPid, delayMs: (2 - Math.min(2, index)) * 300 }),
});
