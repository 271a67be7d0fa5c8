// `chorus bench` / `npm run bench`: the benchmark harness of issue 4.
//
// 1. A plain Node TCP full mesh (3 processes, tcp-peer.ts) measures, per message size,
//    the delivered msgs/s per member that loopback TCP between Node processes allows.
// 2. Three real chorusd processes and three SDK client processes (client-worker.ts, one
//    per daemon) join one group. For every size × order: a max phase (every client
//    multicasts as fast as its multicast() promises allow) gives the delivered rate per
//    member; then two paced phases at 10 % and 50 % of it measure multicast-to-delivery
//    latency (HDR-style histogram). Only messages every member delivered are counted.
// 3. State transfer (issue 5), on the same daemons: a provider member (daemon 1) whose
//    provide() streams a generated state, a sender member (daemon 2) that keeps
//    multicasting, and per state size a fresh joiner process (daemon 3) that installs it
//    into a running hash: transfer time, MB/s, the joiner's and its daemon's peak RSS,
//    and the multicasts delivered meanwhile (state-worker.ts).
// 4. The tables (stdout), the DESIGN.md targets marked met/missed, and `--json FILE`.
//
// Progress goes to stderr, one line per phase. Every child process is stopped on the
// way out — normal end, error, Ctrl-C — and every wait is bounded.
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import { parseArgs } from 'node:util';
import type { Order } from '../../client-sdk/index.js';
import { LatencyHistogram } from './histogram.js';
import { cpuSeconds, IpcChild, Processes, RssMonitor, sleep, within, type DaemonHandle } from './procs.js';
import {
  HEADER_BYTES,
  now,
  type DrainReply,
  type JoinedReply,
  type PeerReply,
  type ProbeReply,
  type SentReply,
  type StateCounted,
  type StateInstalled,
  type StateSendStopped,
} from './protocol.js';
import {
  checkStateTargets,
  checkTargets,
  emptyRow,
  emptyStateRow,
  formatStateTable,
  formatTable,
  formatTargets,
  formatTlsCost,
  sizeLabel,
  type BenchRow,
  type LatencyResult,
  type StateTransferRow,
} from './report.js';
import { throwawayTls, tlsFromFiles, type TlsFiles } from './tls-material.js';

export interface BenchIo {
  out(text: string): void;
  err(text: string): void;
}

const ORDERS: readonly Order[] = ['total', 'fifo', 'causal', 'safe'];
const DEFAULT_SIZES = [100, 1024, 64 * 1024];
const MAX_SIZE = 16 * 1024 * 1024;
const GROUP = 'bench';
const MEMBERS = 3;
/** Multicasts (and bytes) a client may have waiting for its daemon's accept. */
const WINDOW_MSGS = 1000;
const WINDOW_BYTES = 4 * 1024 * 1024;
const MiB = 1024 * 1024;
const STATE_GROUP = 'st';
const MAX_STATE_SIZE = 64 * 1024 * MiB;
/** The sender of the state-transfer phase: 1 KiB multicasts at a steady rate. */
const STATE_SENDER_BYTES = 1024;
const STATE_SENDER_RATE = 1000;

export const BENCH_USAGE = `Usage: chorus bench [--quick | --smoke] [--json FILE] [--sizes 100,1KiB,64KiB]
                    [--orders total,fifo,causal,safe] [--max-ms N] [--latency-ms N]
                    [--ceiling-ms N] [--window N] [--cpu-prof DIR]
                    [--only messaging|state] [--state-sizes 100M,1G] [--state-rate N]
                    [--tls [--tls-cert F --tls-key F --tls-ca F]]

Starts 3 chorusd daemons and 3 client processes on 127.0.0.1 (plus, first, a plain TCP
full mesh of 3 processes as the ceiling) and measures, per size and order, delivered
msgs/s and MB/s per member, the ratio to the TCP mesh, p50/p99/p99.9 latency at 10% and
50% of that rate, and the daemons' peak RSS.

Then, on the same daemons, state transfer: per state size, a fresh joiner (daemon 3)
joins group '${STATE_GROUP}' and installs a state streamed by a provider (daemon 1) while a
third member (daemon 2) keeps multicasting; it reports the transfer time (join() call to
join() resolved), MB/s, the joiner's and its daemon's peak RSS, and the multicasts
delivered during the transfer.

  --quick          short phases: the whole run takes under a minute
  --smoke          tiny phases (seconds): checks that the harness works, not speed
  --json FILE      write the rows as a JSON array
  --sizes LIST     message sizes (bytes, or with KiB/MiB), default 100,1KiB,64KiB
  --orders LIST    default total,fifo,causal,safe
  --max-ms N       duration of each max-throughput phase
  --latency-ms N   duration of each paced latency phase
  --ceiling-ms N   duration of each TCP mesh phase
  --window N       max-throughput senders keep at most N multicasts (and 4 MiB)
                   awaiting their daemon's accept (default ${WINDOW_MSGS})
  --cpu-prof DIR   run the daemons under node --cpu-prof (profiles written to DIR)
  --only WHAT      messaging (no state transfer) or state (no TCP mesh, no messaging)
  --state-sizes L  state sizes (bytes, or with K/M/G = KiB/MiB/GiB), or none; default
                   100M,1G (--quick 100M, --smoke 4M)
  --state-rate N   msgs/s of 1 KiB the sender multicasts during the transfer (default
                   ${STATE_SENDER_RATE}; 0: none)
  --tls            then run the messaging rows again on a fresh cluster under mutual TLS
                   (peer links and wss:// clients) and print what TLS costs side by side;
                   certificates from --tls-cert/--tls-key/--tls-ca (as chorusd takes
                   them: one certificate for 127.0.0.1 shared by the three daemons), or
                   a throwaway CA made with the system's openssl

Targets from DESIGN.md are shown as met/missed; they never change the exit code.
Exit codes: 0 the run completed, 1 a phase failed, 2 usage, 130 interrupted.
`;

interface Profile {
  name: string;
  ceilingMs: number;
  maxMs: number;
  latencyMs: number;
  /** An unreported max phase first, so that the first row does not pay for the JIT. */
  warmupMs: number;
  /** Idle time before each phase, so that one phase's garbage collection and backlog do not land in the next. */
  pauseMs: number;
  /** Bound on waiting for outstanding accepts / for deliveries after a phase. */
  settleMs: number;
  drainMs: number;
  /** The whole run is aborted after this long. */
  deadlineMs: number;
  /** State sizes transferred by default. */
  stateSizes: number[];
  /** The sender multicasts this long before a joiner joins (steady state), and after. */
  stateLeadMs: number;
}

const PROFILES: Record<'full' | 'quick' | 'smoke', Profile> = {
  full: { name: 'full', ceilingMs: 3000, maxMs: 5000, latencyMs: 3000, warmupMs: 2000, pauseMs: 500, settleMs: 15_000, drainMs: 15_000, deadlineMs: 30 * 60_000, stateSizes: [100 * MiB, 1024 * MiB], stateLeadMs: 500 },
  quick: { name: 'quick', ceilingMs: 700, maxMs: 1000, latencyMs: 600, warmupMs: 500, pauseMs: 150, settleMs: 5000, drainMs: 5000, deadlineMs: 5 * 60_000, stateSizes: [100 * MiB], stateLeadMs: 300 },
  smoke: { name: 'smoke', ceilingMs: 150, maxMs: 250, latencyMs: 150, warmupMs: 150, pauseMs: 20, settleMs: 3000, drainMs: 3000, deadlineMs: 2 * 60_000, stateSizes: [4 * MiB], stateLeadMs: 100 },
};


class UsageError extends Error {}

function parseSize(text: string): number {
  const m = /^(\d+)\s*(b|k|kb|kib|m|mb|mib)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`bad size ${JSON.stringify(text)}`);
  const unit = (m[2] ?? 'b').toLowerCase();
  const n = Number(m[1]) * (unit.startsWith('k') ? 1024 : unit.startsWith('m') ? 1024 * 1024 : 1);
  if (n < HEADER_BYTES || n > MAX_SIZE) throw new UsageError(`size ${n} out of range: ${HEADER_BYTES}..${MAX_SIZE} bytes`);
  return n;
}

function parseStateSize(text: string): number {
  const m = /^(\d+)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`bad state size ${JSON.stringify(text)}`);
  const unit = (m[2] ?? 'b').toLowerCase()[0]!;
  const n = Number(m[1]) * (unit === 'k' ? 1024 : unit === 'm' ? MiB : unit === 'g' ? 1024 * MiB : 1);
  if (n < 1 || n > MAX_STATE_SIZE) throw new UsageError(`state size ${n} out of range: 1..${MAX_STATE_SIZE} bytes`);
  return n;
}

function parseMs(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 50 || n > 600_000) throw new UsageError(`bad duration ${JSON.stringify(text)}: 50..600000 ms`);
  return n;
}

interface Options {
  profile: Profile;
  sizes: number[];
  orders: Order[];
  json: string | undefined;
  cpuProfDir: string | undefined;
  windowMsgs: number;
  messaging: boolean;
  stateSizes: number[];
  stateRate: number;
  /** `--tls`: a second messaging pass under mutual TLS. */
  tls: TlsFiles | undefined;
}

function parseOptions(argv: string[]): Options | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      smoke: { type: 'boolean', default: false },
      json: { type: 'string' },
      sizes: { type: 'string' },
      orders: { type: 'string' },
      'max-ms': { type: 'string' },
      'latency-ms': { type: 'string' },
      'ceiling-ms': { type: 'string' },
      'cpu-prof': { type: 'string' },
      window: { type: 'string' },
      only: { type: 'string' },
      'state-sizes': { type: 'string' },
      'state-rate': { type: 'string' },
      tls: { type: 'boolean', default: false },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'tls-ca': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  if (values.quick && values.smoke) throw new UsageError('--quick and --smoke exclude each other');
  const base = PROFILES[values.smoke ? 'smoke' : values.quick ? 'quick' : 'full'];
  const profile: Profile = {
    ...base,
    maxMs: parseMs(values['max-ms'], base.maxMs),
    latencyMs: parseMs(values['latency-ms'], base.latencyMs),
    ceilingMs: parseMs(values['ceiling-ms'], base.ceilingMs),
  };
  const sizes = values.sizes !== undefined ? values.sizes.split(',').map(parseSize) : DEFAULT_SIZES;
  const orders = values.orders !== undefined ? values.orders.split(',').map((o) => o.trim()) : [...ORDERS];
  for (const o of orders) if (!(ORDERS as readonly string[]).includes(o)) throw new UsageError(`unknown order ${JSON.stringify(o)}`);
  // npm runs scripts in the package root: a relative --json names a file where npm was run.
  const json = values.json !== undefined ? resolvePath(process.env.INIT_CWD ?? process.cwd(), values.json) : undefined;
  const cpuProfDir = values['cpu-prof'] !== undefined ? resolvePath(process.env.INIT_CWD ?? process.cwd(), values['cpu-prof']) : undefined;
  const windowMsgs = values.window !== undefined ? Number(values.window) : WINDOW_MSGS;
  if (!Number.isInteger(windowMsgs) || windowMsgs < 1 || windowMsgs > 100_000) throw new UsageError(`bad --window ${JSON.stringify(values.window)}: 1..100000`);
  const only = values.only;
  if (only !== undefined && only !== 'messaging' && only !== 'state') throw new UsageError(`bad --only ${JSON.stringify(only)}: messaging or state`);
  const stateText = values['state-sizes'];
  let stateSizes =
    stateText === undefined ? profile.stateSizes : /^\s*none\s*$/i.test(stateText) ? [] : stateText.split(',').map(parseStateSize);
  if (only === 'messaging') stateSizes = [];
  if (only === 'state' && stateSizes.length === 0) throw new UsageError('--only state with no state size');
  const stateRate = values['state-rate'] !== undefined ? Number(values['state-rate']) : STATE_SENDER_RATE;
  if (!Number.isInteger(stateRate) || stateRate < 0 || stateRate > 100_000) throw new UsageError(`bad --state-rate ${JSON.stringify(values['state-rate'])}: 0..100000`);
  const tlsFiles = [values['tls-cert'], values['tls-key'], values['tls-ca']];
  const given = tlsFiles.filter((f) => f !== undefined).length;
  if (given > 0 && given < 3) throw new UsageError('--tls-cert, --tls-key and --tls-ca go together');
  if (given === 3 && !values.tls) throw new UsageError('--tls-cert/--tls-key/--tls-ca need --tls');
  if (values.tls && only === 'state') throw new UsageError('--tls measures messaging: not with --only state');
  const here = (f: string) => resolvePath(process.env.INIT_CWD ?? process.cwd(), f);
  let tls: TlsFiles | undefined;
  if (values.tls) {
    try {
      tls = given === 3 ? tlsFromFiles(here(tlsFiles[0]!), here(tlsFiles[1]!), here(tlsFiles[2]!)) : throwawayTls();
    } catch (err) {
      throw new UsageError(err instanceof Error ? err.message : String(err));
    }
  }
  return {
    tls,
    profile,
    sizes: [...new Set(sizes)],
    orders: [...new Set(orders)] as Order[],
    json,
    cpuProfDir,
    windowMsgs,
    messaging: only !== 'state',
    stateSizes: [...new Set(stateSizes)],
    stateRate,
  };
}

// ---------------------------------------------------------------- bitmaps

const POPCOUNT = Uint8Array.from({ length: 256 }, (_, i) => {
  let n = 0;
  for (let v = i; v; v >>= 1) n += v & 1;
  return n;
});

/** How many sequence numbers every member's bitmap holds. */
function countInAll(bitmaps: Buffer[]): number {
  const len = Math.min(...bitmaps.map((b) => b.length));
  let n = 0;
  for (let i = 0; i < len; i++) {
    let v = 0xff;
    for (const b of bitmaps) v &= b[i]!;
    n += POPCOUNT[v]!;
  }
  return n;
}

// ---------------------------------------------------------------- the run

interface StateClients {
  provider: IpcChild;
  sender: IpcChild;
  /** The first joiner, connected to daemon 3 (the next ones are started per size). */
  joiner: IpcChild;
}

interface PhaseResult {
  /** Delivered msgs/s per member (messages every member delivered / elapsed). */
  msgsPerSec: number;
  reachedAll: number;
  accepted: number;
  refused: number;
  firstError: string | undefined;
  complete: boolean;
  latency: LatencyHistogram;
  maxLagMs: number;
}

class Bench {
  readonly #io: BenchIo;
  readonly #opt: Options;
  readonly #procs = new Processes();
  readonly #abort = new AbortController();
  readonly #t0 = now();
  #phase = 0;
  #workers: IpcChild[] = [];
  #daemons: DaemonHandle[] = [];
  readonly #ceilings = new Map<number, { msgsPerSec: number; mbPerSec: number }>();
  readonly rows: BenchRow[] = [];
  /** `--tls`: the same rows on the cluster under mutual TLS. */
  readonly tlsRows: BenchRow[] = [];
  readonly stateRows: StateTransferRow[] = [];
  /** The cluster running now uses TLS. */
  #underTls = false;

  constructor(io: BenchIo, opt: Options) {
    this.#io = io;
    this.#opt = opt;
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  abort(reason: Error): void {
    if (!this.#abort.signal.aborted) this.#abort.abort(reason);
  }

  killNow(): void {
    this.#procs.killAllNow();
  }

  #progress(text: string): void {
    const t = ((now() - this.#t0) / 1000).toFixed(1).padStart(5);
    this.#io.err(`[bench ${t}s] ${text}\n`);
  }

  async run(): Promise<void> {
    const p = this.#opt.profile;
    const deadline = setTimeout(() => this.abort(new Error(`the run exceeded its time limit of ${p.deadlineMs / 1000} s`)), p.deadlineMs);
    deadline.unref();
    try {
      if (this.#opt.messaging) {
        await this.#ceilingRuns();
        await this.#startDaemons();
        // The state-transfer clients start beside the messaging clients (they stay idle
        // until the state-transfer phase): less waiting at that phase.
        const stateSetup = this.#opt.stateSizes.length > 0 ? this.#startStateClients() : undefined;
        await this.#startClients();
        if (stateSetup) await stateSetup;
        await this.#warmUp();
        for (const size of this.#opt.sizes) {
          for (const order of this.#opt.orders) {
            this.#signalCheck();
            this.rows.push(await this.#row(size, order));
          }
        }
      } else {
        await this.#startDaemons();
      }
      if (this.#opt.stateSizes.length > 0) await this.#stateRuns(await (this.#stateSetup ?? this.#startStateClients()));
      await this.#daemonHistograms();
      if (this.#opt.tls !== undefined && this.#opt.messaging) await this.#tlsRuns();
    } finally {
      clearTimeout(deadline);
    }
  }

  async shutdown(): Promise<void> {
    const t = now();
    this.#progress('stopping clients and daemons');
    await this.#procs.stopAll();
    this.#progress(`stopped every child process (${((now() - t) / 1000).toFixed(1)} s)`);
  }

  #signalCheck(): void {
    if (this.signal.aborted) throw this.signal.reason as Error;
  }

  // ---- 1. the plain TCP full mesh

  async #ceilingRuns(): Promise<void> {
    const p = this.#opt.profile;
    this.#progress(`TCP full mesh: starting ${MEMBERS} processes`);
    const peers = Array.from({ length: MEMBERS }, (_, i) => this.#procs.fork(`tcp-peer-${i}`, new URL('./tcp-peer.js', import.meta.url).href));
    const ports = await Promise.all(peers.map((peer) => peer.request<{ port: number }>({ t: 'listen' }, 10_000, this.signal).then((r) => r.port)));
    await Promise.all(peers.map((peer, i) => peer.request({ t: 'connect', index: i, ports: ports.filter((_, k) => k !== i) }, 10_000, this.signal)));
    for (const size of this.#opt.sizes) {
      const phase = ++this.#phase;
      const startAt = now() + 50;
      const sent = await Promise.all(
        peers.map((peer) =>
          peer.request<Extract<PeerReply, { t: 'sent' }>>({ t: 'run', phase, size, startAt, durationMs: p.ceilingMs }, p.ceilingMs + 10_000, this.signal),
        ),
      );
      const total = sent.reduce((a, s) => a + s.sent, 0);
      const drained = await Promise.all(
        peers.map((peer, i) =>
          peer.request<Extract<PeerReply, { t: 'drained' }>>(
            { t: 'drain', phase, expected: total - sent[i]!.sent, timeoutMs: p.drainMs },
            p.drainMs + 5000,
            this.signal,
          ),
        ),
      );
      // Per member: its own messages plus what it received, over the time to the last byte.
      const rates = drained.map((d, i) => {
        const end = Math.max(d.lastReceiveAt, sent[i]!.lastSendAt);
        return ((sent[i]!.sent + d.received) * 1000) / Math.max(1, end - startAt);
      });
      const msgsPerSec = rates.reduce((a, r) => a + r, 0) / rates.length;
      const mbPerSec = (msgsPerSec * size) / 1e6;
      this.#ceilings.set(size, { msgsPerSec: Math.round(msgsPerSec), mbPerSec: round2(mbPerSec) });
      const lost = drained.some((d, i) => d.received < total - sent[i]!.sent);
      this.#progress(
        `TCP full mesh ${sizeLabel(size)}: ${Math.round(msgsPerSec).toLocaleString('en-US')} msgs/s, ${mbPerSec.toFixed(1)} MB/s per member${lost ? ' (drain timed out)' : ''}`,
      );
    }
    await Promise.all(peers.map((peer) => this.#procs.stopChild(peer, this.signal)));
  }

  // ---- 2. the Chorus cluster

  /** `--tls`: the same rows on fresh daemons under mutual TLS, clients over wss://. */
  async #tlsRuns(): Promise<void> {
    this.#progress('stopping the plain cluster: the TLS pass starts fresh daemons');
    this.#procs.onDaemonExit = undefined;
    await this.#procs.stopCluster();
    this.#underTls = true;
    await this.#startDaemons();
    await this.#startClients();
    await this.#warmUp();
    for (const size of this.#opt.sizes) {
      for (const order of this.#opt.orders) {
        this.#signalCheck();
        this.tlsRows.push({ ...(await this.#row(size, order)), tls: true });
      }
    }
  }

  /** chorusd flags of the cluster running now. */
  #daemonArgs(): string[] {
    const t = this.#opt.tls;
    return this.#underTls && t !== undefined ? ['--tls-cert', t.cert, '--tls-key', t.key, '--tls-ca', t.ca] : [];
  }

  async #startDaemons(): Promise<void> {
    const nodeArgs = this.#opt.cpuProfDir !== undefined ? ['--cpu-prof', '--cpu-prof-dir', this.#opt.cpuProfDir] : [];
    this.#progress(`starting ${MEMBERS} chorusd daemons${this.#underTls ? ' under mutual TLS' : ''}`);
    this.#procs.onDaemonExit = (d, code, sig) =>
      this.abort(new Error(`chorusd ${d.name} (pid ${d.pid}) exited unexpectedly (${sig ?? code})${d.output.toString()}`));
    const daemonArgs = this.#daemonArgs();
    const first = await this.#procs.startDaemon('b1', [], nodeArgs, this.signal, daemonArgs);
    const rest = await Promise.all(
      Array.from({ length: MEMBERS - 1 }, (_, i) => this.#procs.startDaemon(`b${i + 2}`, [first.listen], nodeArgs, this.signal, daemonArgs)),
    );
    this.#daemons = [first, ...rest];
    await within(this.#waitForDaemonView(), 20_000, `a daemon view of ${MEMBERS} at every daemon`, this.signal);
    this.#progress(`daemon view of ${MEMBERS}: ${this.#daemons.map((d) => `${d.name} pid ${d.pid} client ${d.client}`).join(', ')}`);
  }

  async #startClients(): Promise<void> {
    const views = new Array<number>(MEMBERS).fill(0);
    this.#workers = this.#daemons.map((d, i) => {
      const w = this.#procs.fork(`client-${i + 1}`, new URL('./client-worker.js', import.meta.url).href);
      w.onEvent = (msg) => {
        if (msg.t === 'view' && typeof msg.members === 'number') views[i] = msg.members;
        if (msg.t === 'fatal') this.abort(new Error(`client-${i + 1}: ${String(msg.message)}`));
      };
      return w;
    });
    await Promise.all(
      this.#workers.map(async (w, i) => {
        const d = this.#daemons[i]!;
        const r = await w.request<JoinedReply>(
          {
            t: 'init',
            url: `${this.#underTls ? 'wss' : 'ws'}://${d.client}`,
            ...(this.#underTls ? { ca: this.#opt.tls!.caPem } : {}),
            name: `bench-${i + 1}`,
            group: GROUP,
            index: i,
            daemonPid: d.pid,
          },
          20_000,
          this.signal,
        );
        views[i] = Math.max(views[i]!, r.members);
      }),
    );
    await within(
      (async () => {
        while (!views.every((n) => n === MEMBERS)) await sleep(20);
      })(),
      20_000,
      `every client to see ${MEMBERS} members in group ${GROUP}`,
      this.signal,
    );
    this.#progress(`${MEMBERS} client processes joined group ${GROUP}`);
  }

  async #warmUp(): Promise<void> {
    const warm = await this.#chorusPhase(1024, 'total', 'max', 0, this.#opt.profile.warmupMs);
    this.#progress(`warm-up (1 KiB total, not reported): ${fmt(warm.msgsPerSec)} msgs/s per member`);
  }

  /**
   * What the daemons' own histograms (GET /metrics) saw during the run, one progress line
   * each: the delivery latency at the sender (sampled), and the state transfers installed.
   * A cross-check of the harness's figures, and proof the operators' histograms move.
   */
  async #daemonHistograms(): Promise<void> {
    for (const d of this.#daemons) {
      try {
        const text = await (await fetch(`http://${d.admin}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
        const value = (name: string): number => {
          const line = text.split('\n').find((l) => l.startsWith(`${name} `));
          return line === undefined ? 0 : Number(line.slice(name.length + 1));
        };
        const n = value('chorus_delivery_latency_seconds_count');
        const mean = n > 0 ? (value('chorus_delivery_latency_seconds_sum') / n) * 1000 : 0;
        const transfers = value('chorus_state_transfer_seconds_count');
        this.#progress(
          `${d.name} /metrics: chorus_delivery_latency_seconds ${fmt(n)} samples, mean ${mean.toFixed(2)} ms; ` +
            `chorus_state_transfer_seconds ${transfers} transfer(s)${transfers > 0 ? `, mean ${((value('chorus_state_transfer_seconds_sum') / transfers) * 1000).toFixed(0)} ms` : ''}`,
        );
      } catch (err) {
        this.#progress(`${d.name} /metrics: not read (${err instanceof Error ? err.message : String(err)})`);
      }
    }
  }

  async #waitForDaemonView(): Promise<void> {
    for (;;) {
      const sizes = await Promise.all(
        this.#daemons.map(async (d) => {
          try {
            const res = await fetch(`http://${d.admin}/status`, { signal: AbortSignal.timeout(2000) });
            const st = (await res.json()) as { daemonView?: { members?: unknown[] } };
            return st.daemonView?.members?.length ?? 0;
          } catch {
            return 0;
          }
        }),
      );
      if (sizes.every((n) => n === MEMBERS)) return;
      this.#signalCheck();
      await sleep(50);
    }
  }

  // ---- one row: size × order

  async #row(size: number, order: Order): Promise<BenchRow> {
    const p = this.#opt.profile;
    const label = `${sizeLabel(size)} ${order}`;
    const row = emptyRow(size, order, this.#ceilings.get(size));
    const probe = await this.#workers[0]!.request<ProbeReply>({ t: 'probe', order, size }, 10_000, this.signal);
    if (!probe.ok) {
      row.supported = false;
      row.note = `${probe.code ?? 'ERR'}: ${probe.message ?? ''}`.trim();
      this.#progress(`${label}: not supported (${probe.code ?? 'refused'})`);
      return row;
    }
    const rss = new RssMonitor(this.#daemons.map((d) => d.pid));
    rss.begin();
    try {
      const max = await this.#chorusPhase(size, order, 'max', 0, p.maxMs);
      row.max = {
        durationMs: p.maxMs,
        accepted: max.accepted,
        refused: max.refused,
        reachedAll: max.reachedAll,
        complete: max.complete,
        p50Ms: round3(max.latency.percentileMs(50)),
        p99Ms: round3(max.latency.percentileMs(99)),
      };
      row.msgsPerSec = Math.round(max.msgsPerSec);
      row.mbPerSec = round2((max.msgsPerSec * size) / 1e6);
      const ceiling = this.#ceilings.get(size);
      row.ratio = ceiling && ceiling.msgsPerSec > 0 ? round4(max.msgsPerSec / ceiling.msgsPerSec) : null;
      this.#progress(
        `${label}: max ${fmt(max.msgsPerSec)} msgs/s per member (${row.mbPerSec} MB/s), ${fmt(max.reachedAll)} reached all${max.complete ? '' : ', drain timed out'}` +
          (max.firstError ? `; ${max.refused} refused: ${max.firstError}` : ''),
      );
      if (max.msgsPerSec <= 0) {
        row.error = max.firstError ?? 'no message reached every member';
        return row;
      }
      row.load10 = await this.#latencyPhase(size, order, max.msgsPerSec, 0.1, label);
      row.load50 = await this.#latencyPhase(size, order, max.msgsPerSec, 0.5, label);
      row.p50Ms = row.load10.p50Ms;
      row.p99Ms = row.load10.p99Ms;
      row.p999Ms = row.load10.p999Ms;
      row.p50Ms50 = row.load50.p50Ms;
      row.p99Ms50 = row.load50.p99Ms;
      row.p999Ms50 = row.load50.p999Ms;
    } catch (err) {
      if (this.signal.aborted) throw err;
      row.error = err instanceof Error ? err.message : String(err);
      this.#progress(`${label}: error: ${row.error}`);
    } finally {
      const peaks = rss.end();
      if (peaks) {
        row.rssMiBPerDaemon = peaks.map((m) => Math.round(m * 10) / 10);
        row.rssMiB = Math.max(...row.rssMiBPerDaemon);
      }
    }
    return row;
  }

  async #latencyPhase(size: number, order: Order, maxRate: number, fraction: number, label: string): Promise<LatencyResult> {
    const target = maxRate * fraction;
    const r = await this.#chorusPhase(size, order, 'paced', target / MEMBERS, this.#opt.profile.latencyMs);
    const result: LatencyResult = {
      targetMsgsPerSec: Math.round(target),
      msgsPerSec: Math.round(r.msgsPerSec),
      p50Ms: round3(r.latency.percentileMs(50)),
      p99Ms: round3(r.latency.percentileMs(99)),
      p999Ms: round3(r.latency.percentileMs(99.9)),
      maxMs: r.latency.count > 0 ? round3(r.latency.maxMs) : null,
      samples: r.latency.count,
      complete: r.complete,
    };
    this.#progress(
      `${label}: ${Math.round(fraction * 100)}% load (${fmt(target)} msgs/s): p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, p99.9 ${result.p999Ms} ms over ${fmt(result.samples)} deliveries` +
        (r.maxLagMs > 50 ? `; senders fell ${fmt(r.maxLagMs)} ms behind schedule` : '') +
        (r.complete ? '' : ', drain timed out'),
    );
    return result;
  }

  /** One phase at every client at once; counts what reached every member. */
  async #chorusPhase(size: number, order: Order, mode: 'max' | 'paced', ratePerSender: number, durationMs: number): Promise<PhaseResult> {
    const p = this.#opt.profile;
    const phase = ++this.#phase;
    const startAt = now() + p.pauseMs;
    const sent = await Promise.all(
      this.#workers.map((w) =>
        w.request<SentReply>(
          {
            t: 'phase',
            phase,
            order,
            size,
            mode,
            ratePerSender,
            startAt,
            durationMs,
            windowMsgs: this.#opt.windowMsgs,
            windowBytes: WINDOW_BYTES,
            settleTimeoutMs: p.settleMs,
          },
          durationMs + p.settleMs + 10_000,
          this.signal,
        ),
      ),
    );
    const expected = sent.map((s) => s.accepted);
    const drained = await Promise.all(
      this.#workers.map((w) => w.request<DrainReply>({ t: 'drain', phase, expected, timeoutMs: p.drainMs }, p.drainMs + 10_000, this.signal)),
    );
    let reachedAll = 0;
    for (let s = 0; s < MEMBERS; s++) reachedAll += countInAll(drained.map((d) => Buffer.from(d.perSender[s]!.bitmap, 'base64')));
    const firstSend = Math.min(...sent.map((s) => s.firstSendAt).filter((t) => t > 0));
    const lastDelivery = Math.max(...drained.map((d) => d.lastDeliveryAt));
    const elapsed = Number.isFinite(firstSend) && lastDelivery > firstSend ? lastDelivery - firstSend : 0;
    const latency = new LatencyHistogram();
    for (const d of drained) latency.merge(LatencyHistogram.fromJSON(d.latency));
    return {
      msgsPerSec: elapsed > 0 ? (reachedAll * 1000) / elapsed : 0,
      reachedAll,
      accepted: expected.reduce((a, n) => a + n, 0),
      refused: sent.reduce((a, s) => a + s.refused, 0),
      firstError: sent.find((s) => s.firstError !== undefined)?.firstError,
      complete: drained.every((d) => d.complete),
      latency,
      maxLagMs: Math.max(...sent.map((s) => s.maxLagMs)),
    };
  }

  // ---- 3. state transfer

  #stateFork(name: string): IpcChild {
    const w = this.#procs.fork(name, new URL('./state-worker.js', import.meta.url).href);
    w.onEvent = (msg) => {
      if (msg.t === 'fatal') this.abort(new Error(`${name}: ${String(msg.message)}`));
    };
    return w;
  }

  async #stateConnect(w: IpcChild, daemon: number): Promise<void> {
    const d = this.#daemons[daemon]!;
    await w.request({ t: 'connect', url: `ws://${d.client}`, name: w.name, index: daemon, daemonPid: d.pid }, 20_000, this.signal);
  }

  #stateSetup: Promise<StateClients> | undefined;

  /**
   * Starts the provider and the sender, members of the state group, and the first
   * joiner, connected but not joined. Rejections surface where it is awaited.
   */
  #startStateClients(): Promise<StateClients> {
    const setup = (async () => {
      const provider = this.#stateFork('st-provider');
      const sender = this.#stateFork('st-sender');
      const joiner = this.#stateFork('st-joiner-1');
      await Promise.all([this.#stateConnect(provider, 0), this.#stateConnect(sender, 1), this.#stateConnect(joiner, 2)]);
      // The provider first: the first member gets no transfer; the sender offers no state.
      await provider.request({ t: 'member', group: STATE_GROUP, provide: true }, 20_000, this.signal);
      await sender.request({ t: 'member', group: STATE_GROUP, provide: false }, 20_000, this.signal);
      return { provider, sender, joiner };
    })();
    setup.catch(() => undefined); // not unhandled while the messaging rows run
    this.#stateSetup = setup;
    return setup;
  }

  async #stateRuns({ provider, sender, joiner: first }: StateClients): Promise<void> {
    const p = this.#opt.profile;
    this.#progress(`state transfer: provider on ${this.#daemons[0]!.name}, sender on ${this.#daemons[1]!.name}, joiners on ${this.#daemons[2]!.name}`);
    await sleep(p.pauseMs);
    let k = 0;
    for (const size of this.#opt.stateSizes) {
      this.#signalCheck();
      // A fresh joiner process for every size: its peak RSS is that transfer's.
      const joiner = k === 0 ? first : undefined;
      this.stateRows.push(await this.#stateRow(provider, sender, joiner, size, ++k));
      await sleep(p.pauseMs);
    }
    await Promise.all([provider, sender].map((w) => this.#procs.stopChild(w, this.signal)));
  }

  async #stateRow(provider: IpcChild, sender: IpcChild, connected: IpcChild | undefined, size: number, k: number): Promise<StateTransferRow> {
    const p = this.#opt.profile;
    const label = `state ${sizeLabel(size)}`;
    const rate = this.#opt.stateRate;
    const row = emptyStateRow(size, rate, STATE_SENDER_BYTES);
    const seed = (0x5eed0000 + k) | 0;
    const phase = 0x5700_0000 + k;
    // Generous: a transfer slower than 1 MB/s is reported as a failure, not awaited.
    const installTimeoutMs = 30_000 + size / 1000;
    const joiner = connected ?? this.#stateFork(`st-joiner-${k}`);
    let sending = false;
    let from = 0;
    let to = 0;
    try {
      // The sender starts first: it reaches its steady rate while the joiner gets ready.
      const sendingSince = now();
      if (rate > 0) {
        await sender.request({ t: 'send', phase, size: STATE_SENDER_BYTES, rate, windowMsgs: WINDOW_MSGS }, 5000, this.signal);
        sending = true;
      }
      if (!connected) await this.#stateConnect(joiner, 2);
      await provider.request({ t: 'arm', size, seed }, 5000, this.signal);
      const exp = await joiner.request<{ ms: number }>({ t: 'expect', size, seed }, 30_000 + size / 20_000, this.signal);
      this.#progress(`${label}: joiner ready (expected hash computed in ${exp.ms} ms, untimed)`);
      if (rate > 0) await sleep(Math.max(0, sendingSince + p.stateLeadMs - now()));
      const rss = new RssMonitor([joiner.proc.pid!, ...this.#daemons.map((d) => d.pid)]);
      // provider, its daemon, the sender's daemon, the joiner's daemon, the joiner, the sender
      const cpuPids = [provider.proc.pid!, ...this.#daemons.map((d) => d.pid), joiner.proc.pid!, sender.proc.pid!];
      const cpuBefore = cpuPids.map(cpuSeconds);
      rss.begin();
      let installed: StateInstalled;
      try {
        installed = await joiner.request<StateInstalled>({ t: 'install', group: STATE_GROUP }, installTimeoutMs, this.signal);
        const cpu = cpuPids.map((pid, i) => {
          const after = cpuSeconds(pid);
          const before = cpuBefore[i];
          return after === null || before === null || before === undefined ? null : round2(after - before);
        });
        if (cpu.some((c) => c !== null)) {
          row.cpuSeconds = {
            provider: cpu[0]!,
            providerDaemon: cpu[1]!,
            senderDaemon: cpu[2]!,
            joinerDaemon: cpu[3]!,
            joiner: cpu[4]!,
            sender: cpu[5]!,
          };
        }
      } finally {
        const peaks = rss.end();
        if (peaks) {
          row.joinerRssMiB = round1(peaks[0]!);
          row.rssMiBPerDaemon = peaks.slice(1).map(round1);
          row.rssMiB = row.rssMiBPerDaemon[2]!;
        }
      }
      from = installed.joinCalledAt;
      to = installed.joinResolvedAt;
      const seconds = (to - from) / 1000;
      row.seconds = round3(seconds);
      row.secondsToInstall = installed.installStartedAt > 0 ? round3((installed.installStartedAt - from) / 1000) : null;
      row.mbPerSec = round2(size / 1e6 / seconds);
      row.joinerMemory = { heapUsedMiB: installed.heapUsedMiB, externalMiB: installed.externalMiB, arrayBuffersMiB: installed.arrayBuffersMiB };
      row.bytesInstalled = installed.bytes;
      row.chunks = installed.chunks;
      row.maxChunkBytes = installed.maxChunk;
      row.installCalls = installed.installCalls;
      row.verified = installed.bytes === size && installed.sha256 === installed.expectedSha256;
      if (!row.verified) {
        row.error = `the installed state is wrong: ${installed.bytes} bytes (expected ${size}), sha256 ${installed.sha256.slice(0, 16)}… (expected ${installed.expectedSha256.slice(0, 16)}…)`;
      }
      if (rate > 0) {
        await sleep(p.stateLeadMs);
        sending = false;
        const stopped = await sender.request<StateSendStopped>({ t: 'send-stop', from, to, settleTimeoutMs: p.settleMs }, p.settleMs + 5000, this.signal);
        row.multicastsSentDuringTransfer = stopped.issuedInWindow;
        row.senderMaxLagMs = stopped.maxLagMs;
        if (stopped.firstError !== undefined) row.error ??= `sender: ${stopped.refused} multicast(s) refused: ${stopped.firstError}`;
        await sleep(100); // the last deliveries
        const [atProvider, atSender] = await Promise.all(
          [provider, sender].map((w) => w.request<StateCounted>({ t: 'count', phase, from, to }, 5000, this.signal)),
        );
        row.multicastsDuringTransfer = atProvider!.inWindow;
        row.multicastsAtSenderDuringTransfer = atSender!.inWindow;
        row.maxDeliveryGapMs = atProvider!.maxGapMs;
        row.multicastP50Ms = atProvider!.p50Ms;
        row.multicastP99Ms = atProvider!.p99Ms;
        row.multicastMaxMs = atProvider!.maxMs;
      }
      const flowing = rate === 0 || (row.multicastsDuringTransfer ?? 0) > 0;
      if (row.targetSeconds !== null) row.targetMet = row.verified && flowing && seconds <= row.targetSeconds;
      this.#progress(
        `${label}: ${row.seconds} s (${row.secondsToInstall ?? '-'} s to install()), ${row.mbPerSec} MB/s, ${installed.chunks} chunks, ` +
          `${row.verified ? 'sha256 verified' : 'VERIFICATION FAILED'}; peak RSS joiner ${row.joinerRssMiB ?? '-'} MiB ` +
          `(heap ${installed.heapUsedMiB}, external ${installed.externalMiB}, ArrayBuffers ${installed.arrayBuffersMiB} MiB), ` +
          `daemons ${row.rssMiBPerDaemon.map((m) => m.toFixed(0)).join('/') || '-'} MiB` +
          (row.cpuSeconds
            ? `; CPU s: provider ${row.cpuSeconds.provider}, daemons ${row.cpuSeconds.providerDaemon}/${row.cpuSeconds.senderDaemon}/${row.cpuSeconds.joinerDaemon}, ` +
              `joiner ${row.cpuSeconds.joiner}, sender ${row.cpuSeconds.sender}`
            : '') +
          (rate > 0
            ? `; multicasts during the transfer: ${row.multicastsSentDuringTransfer} sent, ${row.multicastsDuringTransfer} delivered at the provider ` +
              `(longest gap ${row.maxDeliveryGapMs} ms, p99 ${row.multicastP99Ms ?? '-'} ms), sender at worst ${fmt(row.senderMaxLagMs ?? 0)} ms behind`
            : ''),
      );
      await joiner.request({ t: 'leave', group: STATE_GROUP }, 5000, this.signal).catch(() => undefined);
    } catch (err) {
      if (this.signal.aborted) throw err;
      row.error = err instanceof Error ? err.message : String(err);
      this.#progress(`${label}: error: ${row.error}`);
      if (sending) {
        await sender.request({ t: 'send-stop', from, to, settleTimeoutMs: p.settleMs }, p.settleMs + 5000, this.signal).catch(() => undefined);
      }
    } finally {
      await this.#procs.stopChild(joiner, this.signal).catch(() => undefined);
    }
    return row;
  }

  header(): string {
    const p = this.#opt.profile;
    const cpu = cpus()[0]?.model?.trim() ?? 'unknown CPU';
    return (
      `Chorus bench (${p.name}): ${MEMBERS} chorusd + ${MEMBERS} client processes on 127.0.0.1; ` +
      `${availableParallelism()} CPU(s) (${cpu}), Node ${process.version}\n` +
      (this.#opt.messaging
        ? `phases: TCP mesh ${p.ceilingMs} ms, max ${p.maxMs} ms, latency ${p.latencyMs} ms each. ` +
          `Rates: delivered per member, counting only messages every member delivered; MB = 10^6 payload bytes.\n`
        : `state transfer only (--only state); MB = 10^6 bytes.\n`)
    );
  }

  /** What stdout gets at the end: the messaging table, the state-transfer table, the targets. */
  report(): string {
    if (this.rows.length === 0 && this.stateRows.length === 0) return '';
    let text = `\n${this.header()}\n`;
    if (this.rows.length > 0) text += formatTable(this.rows);
    if (this.stateRows.length > 0) {
      text += `${this.rows.length > 0 ? '\n' : ''}state transfer (group '${STATE_GROUP}': provider on daemon 1, multicasting member on daemon 2, joiner on daemon 3)\n`;
      text += formatStateTable(this.stateRows);
    }
    if (this.tlsRows.length > 0) {
      text += `\nunder mutual TLS (${this.#opt.tls!.origin}): peer links and wss:// clients, fresh daemons\n`;
      text += formatTable(this.tlsRows);
      text += `\nwhat TLS costs (same size and order, plain run above vs TLS run)\n`;
      text += formatTlsCost(this.rows, this.tlsRows);
    }
    const checks = [...checkTargets(this.rows), ...checkStateTargets(this.stateRows)];
    return `${text}\n${formatTargets(checks)}`;
  }

  /** The JSON rows: the messaging rows, then the state-transfer rows. */
  get allRows(): Array<BenchRow | StateTransferRow> {
    return [...this.rows, ...this.tlsRows, ...this.stateRows];
  }
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const round2 = (n: number) => Math.round(n * 100) / 100;
const round3 = (n: number | null) => (n === null ? null : Math.round(n * 1000) / 1000);
const round4 = (n: number) => Math.round(n * 10000) / 10000;
const round1 = (n: number) => Math.round(n * 10) / 10;

/** Runs the bench; returns the exit code (0 completed, 1 failed, 2 usage, 130 interrupted). */
export async function runBench(argv: string[], io: BenchIo): Promise<number> {
  let opt: Options | 'help';
  try {
    opt = parseOptions(argv);
  } catch (err) {
    io.err(`chorus bench: ${err instanceof Error ? err.message : String(err)}\n\n${BENCH_USAGE}`);
    return 2;
  }
  if (opt === 'help') {
    io.out(BENCH_USAGE);
    return 0;
  }
  const bench = new Bench(io, opt);
  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) {
      // A second Ctrl-C: no more waiting.
      bench.killNow();
      process.exit(130);
    }
    interrupted = true;
    io.err(`\n[bench] ${sig}: stopping every child process\n`);
    bench.abort(new Error(`interrupted by ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let failure: Error | undefined;
  try {
    await bench.run();
  } catch (err) {
    failure = err instanceof Error ? err : new Error(String(err));
  } finally {
    await bench.shutdown().catch(() => bench.killNow());
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const report = bench.report();
  if (report !== '') io.out(report);
  const rows = bench.allRows;
  if (opt.json !== undefined && (rows.length > 0 || !interrupted)) {
    writeFileSync(opt.json, `${JSON.stringify(rows, null, 2)}\n`);
    io.err(`[bench] wrote ${rows.length} row(s) to ${opt.json}\n`);
  }
  if (interrupted) return 130;
  if (failure) {
    io.err(`chorus bench: ${failure.message}\n`);
    return 1;
  }
  return rows.some((r) => r.error !== undefined) ? 1 : 0;
}
