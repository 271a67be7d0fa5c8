// The bench's results: the JSON row (API.md: `npm run bench -- --json FILE`), the table
// printed at the end, and the DESIGN.md performance targets shown beside the numbers.
import type { Order } from '../../client-sdk/index.js';

/** Latency of one paced phase (all members' deliveries merged). */
export interface LatencyResult {
  /** The delivered rate per member asked for (a fraction of the row's maximum). */
  targetMsgsPerSec: number;
  /** The delivered rate per member achieved. */
  msgsPerSec: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  p999Ms: number | null;
  maxMs: number | null;
  /** Deliveries measured (every member's, so about 3 × the messages). */
  samples: number;
  /** Every accepted message reached every member before the drain timeout. */
  complete: boolean;
}

/** One row of `--json FILE`: one message size × one order. */
export interface BenchRow {
  size: number;
  order: Order;
  /** Measured on the cluster running under mutual TLS (`--tls`). */
  tls?: boolean;
  /** False when the daemons refuse the order (e.g. `safe` today): numbers are null. */
  supported: boolean;
  /** Delivered messages/s per member, counting only messages every member delivered. */
  msgsPerSec: number | null;
  /** The same in MB/s of payload (10^6 bytes). */
  mbPerSec: number | null;
  /** The plain TCP full-mesh fan-out of the same size: delivered msgs/s per member. */
  ceilingMsgsPerSec: number | null;
  ceilingMbPerSec: number | null;
  /** msgsPerSec / ceilingMsgsPerSec. */
  ratio: number | null;
  /** Multicast-to-delivery latency at 10 % of msgsPerSec. */
  p50Ms: number | null;
  p99Ms: number | null;
  p999Ms: number | null;
  /** The same at 50 % of msgsPerSec. */
  p50Ms50: number | null;
  p99Ms50: number | null;
  p999Ms50: number | null;
  /** Peak RSS of the busiest daemon during this row (MiB), and of each daemon. */
  rssMiB: number | null;
  rssMiBPerDaemon: number[];
  load10: LatencyResult | null;
  load50: LatencyResult | null;
  /** The max-throughput phase in detail. */
  max: {
    durationMs: number;
    accepted: number;
    refused: number;
    reachedAll: number;
    complete: boolean;
    p50Ms: number | null;
    p99Ms: number | null;
  } | null;
  /** Why the order is not supported, or what went wrong in this row. */
  note?: string;
  error?: string;
}

export function emptyRow(size: number, order: Order, ceiling: { msgsPerSec: number; mbPerSec: number } | undefined): BenchRow {
  return {
    size,
    order,
    supported: true,
    msgsPerSec: null,
    mbPerSec: null,
    ceilingMsgsPerSec: ceiling?.msgsPerSec ?? null,
    ceilingMbPerSec: ceiling?.mbPerSec ?? null,
    ratio: null,
    p50Ms: null,
    p99Ms: null,
    p999Ms: null,
    p50Ms50: null,
    p99Ms50: null,
    p999Ms50: null,
    rssMiB: null,
    rssMiBPerDaemon: [],
    load10: null,
    load50: null,
    max: null,
  };
}

// ---------------------------------------------------------------- formatting

export function sizeLabel(size: number): string {
  if (size >= 1024 * 1024 && size % (1024 * 1024) === 0) return `${size / (1024 * 1024)} MiB`;
  if (size >= 1024 && size % 1024 === 0) return `${size / 1024} KiB`;
  return `${size} B`;
}

const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

function count(n: number | null): string {
  return n === null ? '-' : int.format(n);
}

function mb(n: number | null): string {
  if (n === null) return '-';
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

function ms(n: number | null): string {
  if (n === null) return '-';
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

function pct(n: number | null): string {
  return n === null ? '-' : `${(n * 100).toFixed(n < 0.1 ? 1 : 0)}%`;
}

const pad = (s: string, w: number) => s.padStart(w);
const padEnd = (s: string, w: number) => s.padEnd(w);

function latencyCells(l: LatencyResult | null): string {
  if (l === null) return [pad('-', 9), pad('-', 6), pad('-', 6), pad('-', 6)].join(' ');
  const flag = l.complete ? ' ' : '*';
  return [pad(count(l.msgsPerSec), 9), pad(ms(l.p50Ms), 6), pad(ms(l.p99Ms), 6), pad(ms(l.p999Ms), 6)].join(' ') + flag;
}

export function formatTable(rows: readonly BenchRow[]): string {
  const lines: string[] = [];
  const head1 = `${padEnd('size', 7)} ${padEnd('order', 6)} ${pad('msgs/s', 10)} ${pad('MB/s', 7)} ${pad('TCP mesh', 10)} ${pad('ratio', 6)} | ${padEnd('latency at 10% load (ms)', 32)}| ${padEnd('latency at 50% load (ms)', 32)}| ${'peak RSS MiB'}`;
  const head2 = `${padEnd('', 7)} ${padEnd('', 6)} ${pad('/member', 10)} ${pad('/member', 7)} ${pad('msgs/s', 10)} ${pad('', 6)} | ${pad('msgs/s', 9)} ${pad('p50', 6)} ${pad('p99', 6)} ${pad('p99.9', 6)}  | ${pad('msgs/s', 9)} ${pad('p50', 6)} ${pad('p99', 6)} ${pad('p99.9', 6)}  | ${'per daemon'}`;
  lines.push(head1, head2, '-'.repeat(head2.length));
  for (const r of rows) {
    const left = `${padEnd(sizeLabel(r.size), 7)} ${padEnd(r.order, 6)}`;
    if (!r.supported) {
      lines.push(`${left} not supported${r.note ? ` (${r.note})` : ''}`);
      continue;
    }
    const maxFlag = r.max && !r.max.complete ? '*' : ' ';
    const cells = [
      pad(count(r.msgsPerSec), 10),
      pad(mb(r.mbPerSec), 7),
      pad(count(r.ceilingMsgsPerSec), 10),
      pad(pct(r.ratio), 6),
    ].join(' ');
    lines.push(`${left} ${cells}${maxFlag}| ${latencyCells(r.load10)} | ${latencyCells(r.load50)} | ${r.rssMiBPerDaemon.length > 0 ? r.rssMiBPerDaemon.map((m) => m.toFixed(0)).join('/') : '-'}`);
    if (r.error) lines.push(`${' '.repeat(15)}error: ${r.error}`);
  }
  if (rows.some((r) => (r.max && !r.max.complete) || (r.load10 && !r.load10.complete) || (r.load50 && !r.load50.complete))) {
    lines.push('* some accepted messages had not reached every member when the drain timed out (they are not counted)');
  }
  return `${lines.join('\n')}\n`;
}

/** What TLS costs: the same size and order without and with TLS, side by side. */
export function formatTlsCost(plain: readonly BenchRow[], tls: readonly BenchRow[]): string {
  const lines: string[] = [];
  const head = `${padEnd('size', 7)} ${padEnd('order', 6)} ${pad('msgs/s plain', 13)} ${pad('msgs/s TLS', 11)} ${pad('TLS/plain', 9)} | ${pad('p99 plain', 9)} ${pad('p99 TLS', 8)} (ms, 10% load) | ${pad('RSS plain', 9)} ${pad('RSS TLS', 8)} (MiB, busiest daemon)`;
  lines.push(head, '-'.repeat(head.length));
  for (const t of tls) {
    const p = plain.find((r) => r.size === t.size && r.order === t.order);
    if (p === undefined || !p.supported || !t.supported) continue;
    const ratio = p.msgsPerSec !== null && t.msgsPerSec !== null && p.msgsPerSec > 0 ? t.msgsPerSec / p.msgsPerSec : null;
    lines.push(
      `${padEnd(sizeLabel(t.size), 7)} ${padEnd(t.order, 6)} ${pad(count(p.msgsPerSec), 13)} ${pad(count(t.msgsPerSec), 11)} ${pad(pct(ratio), 9)} | ` +
        `${pad(ms(p.p99Ms), 9)} ${pad(ms(t.p99Ms), 8)}                | ${pad(p.rssMiB === null ? '-' : p.rssMiB.toFixed(0), 9)} ${pad(t.rssMiB === null ? '-' : t.rssMiB.toFixed(0), 8)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------- DESIGN.md targets

export interface TargetCheck {
  what: string;
  target: string;
  measured: string;
  met: boolean | null;
}

/** The Performance targets of DESIGN.md, for the rows that were run. */
export function checkTargets(rows: readonly BenchRow[]): TargetCheck[] {
  const total = (size: number) => rows.find((r) => r.order === 'total' && r.size === size && r.supported);
  const checks: TargetCheck[] = [];
  const throughput = (size: number, min: number) => {
    const r = total(size);
    if (!r) return;
    checks.push({
      what: `total ${sizeLabel(size)} throughput per member`,
      target: `>= ${count(min)} msgs/s`,
      measured: r.msgsPerSec === null ? 'n/a' : `${count(r.msgsPerSec)} msgs/s`,
      met: r.msgsPerSec === null ? null : r.msgsPerSec >= min,
    });
  };
  throughput(100, 100_000);
  throughput(1024, 80_000);
  const big = total(64 * 1024);
  if (big) {
    checks.push({
      what: `total 64 KiB throughput per member`,
      target: '>= 250 MB/s',
      measured: big.mbPerSec === null ? 'n/a' : `${mb(big.mbPerSec)} MB/s`,
      met: big.mbPerSec === null ? null : big.mbPerSec >= 250,
    });
  }
  for (const r of rows) {
    if (r.order !== 'total' || !r.supported) continue;
    checks.push({
      what: `total ${sizeLabel(r.size)} p99 latency at 10% load`,
      target: '<= 1 ms',
      measured: r.p99Ms === null ? 'n/a' : `${ms(r.p99Ms)} ms`,
      met: r.p99Ms === null ? null : r.p99Ms <= 1,
    });
  }
  const rss = rows.map((r) => r.rssMiB).filter((v): v is number => v !== null);
  if (rss.length > 0) {
    const peak = Math.max(...rss);
    checks.push({ what: 'peak RSS of any daemon, any row', target: '<= 200 MiB', measured: `${peak.toFixed(0)} MiB`, met: peak <= 200 });
  }
  return checks;
}

export function formatTargets(checks: readonly TargetCheck[]): string {
  if (checks.length === 0) return '';
  const w1 = Math.max(...checks.map((c) => c.what.length));
  const w2 = Math.max(...checks.map((c) => c.target.length));
  const w3 = Math.max(...checks.map((c) => c.measured.length));
  const lines = ['DESIGN.md performance targets (information only: they never change the exit code):'];
  for (const c of checks) {
    const verdict = c.met === null ? 'n/a' : c.met ? 'met' : 'MISSED';
    lines.push(`  ${c.what.padEnd(w1)}  target ${c.target.padEnd(w2)}  measured ${c.measured.padStart(w3)}  ${verdict}`);
  }
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------- state transfer

/** DESIGN.md: a 100 MiB state transfers in ≤ 2 s, with multicasts still flowing. */
export const STATE_TARGET_SIZE = 100 * 1024 * 1024;
export const STATE_TARGET_SECONDS = 2;

/**
 * One state-transfer row of `--json FILE` (`order: "state-transfer"`, `size` = the state's
 * bytes). The messaging fields of API.md are present, null where they make no sense;
 * `mbPerSec` is the transfer rate and `rssMiB` the joiner's daemon's peak RSS.
 */
export interface StateTransferRow {
  size: number;
  order: 'state-transfer';
  supported: boolean;
  msgsPerSec: null;
  /** State bytes / seconds, in MB/s (10^6 bytes). */
  mbPerSec: number | null;
  ceilingMsgsPerSec: null;
  ceilingMbPerSec: null;
  ratio: null;
  p50Ms: null;
  p99Ms: null;
  p999Ms: null;
  p50Ms50: null;
  p99Ms50: null;
  p999Ms50: null;
  /** Peak RSS of the joiner's daemon during the transfer (MiB). */
  rssMiB: number | null;
  /** Peak RSS of each daemon during the transfer: provider's, sender's, joiner's. */
  rssMiBPerDaemon: number[];
  load10: null;
  load50: null;
  max: null;
  /** join() call → join() resolved, at the joiner (s). */
  seconds: number | null;
  /** join() call → first install() call: view change and checkpoint (s). */
  secondsToInstall: number | null;
  /** Peak RSS of the joiner's client process during the transfer (MiB). */
  joinerRssMiB: number | null;
  /** Peaks of the joiner's process.memoryUsage() during the transfer (MiB): V8 heap, external, ArrayBuffers. */
  joinerMemory: { heapUsedMiB: number; externalMiB: number; arrayBuffersMiB: number } | null;
  /**
   * CPU seconds (user + system) each process used from the join() call to its resolution
   * (Linux): where the transfer's cost goes.
   */
  cpuSeconds: {
    provider: number | null;
    providerDaemon: number | null;
    senderDaemon: number | null;
    joinerDaemon: number | null;
    joiner: number | null;
    sender: number | null;
  } | null;
  /** Bytes the joiner installed, chunks, the largest chunk; the SHA-256 matched the provider's content. */
  bytesInstalled: number | null;
  chunks: number | null;
  maxChunkBytes: number | null;
  installCalls: number | null;
  verified: boolean | null;
  /** The sender's steady rate (msgs/s) and message size during the transfer. */
  senderMsgsPerSec: number;
  senderMessageBytes: number;
  /** Multicasts issued by the sender, and delivered at the provider, during the transfer window. */
  multicastsSentDuringTransfer: number | null;
  multicastsDuringTransfer: number | null;
  /** The same delivered at the sender itself. */
  multicastsAtSenderDuringTransfer: number | null;
  /** Longest time without a delivery at the provider during the transfer window (ms). */
  maxDeliveryGapMs: number | null;
  /** Multicast-to-delivery latency at the provider during the transfer window (ms). */
  multicastP50Ms: number | null;
  multicastP99Ms: number | null;
  multicastMaxMs: number | null;
  /** How far behind its schedule the sender fell (its sends were held back), ms. */
  senderMaxLagMs: number | null;
  /** ≤ STATE_TARGET_SECONDS for the 100 MiB row; null for other sizes. */
  targetSeconds: number | null;
  targetMet: boolean | null;
  error?: string;
}

export function emptyStateRow(size: number, senderMsgsPerSec: number, senderMessageBytes: number): StateTransferRow {
  return {
    size,
    order: 'state-transfer',
    supported: true,
    msgsPerSec: null,
    mbPerSec: null,
    ceilingMsgsPerSec: null,
    ceilingMbPerSec: null,
    ratio: null,
    p50Ms: null,
    p99Ms: null,
    p999Ms: null,
    p50Ms50: null,
    p99Ms50: null,
    p999Ms50: null,
    rssMiB: null,
    rssMiBPerDaemon: [],
    load10: null,
    load50: null,
    max: null,
    seconds: null,
    secondsToInstall: null,
    joinerRssMiB: null,
    joinerMemory: null,
    cpuSeconds: null,
    bytesInstalled: null,
    chunks: null,
    maxChunkBytes: null,
    installCalls: null,
    verified: null,
    senderMsgsPerSec,
    senderMessageBytes,
    multicastsSentDuringTransfer: null,
    multicastsDuringTransfer: null,
    multicastsAtSenderDuringTransfer: null,
    maxDeliveryGapMs: null,
    multicastP50Ms: null,
    multicastP99Ms: null,
    multicastMaxMs: null,
    senderMaxLagMs: null,
    targetSeconds: size === STATE_TARGET_SIZE ? STATE_TARGET_SECONDS : null,
    targetMet: null,
  };
}

function secs(n: number | null): string {
  return n === null ? '-' : n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

export function formatStateTable(rows: readonly StateTransferRow[]): string {
  const head1 = `${padEnd('state', 8)} ${pad('seconds', 8)} ${pad('MB/s', 7)} ${pad('joiner', 8)} ${pad('joiner', 8)} | ${padEnd('multicasts during transfer', 34)} | ${padEnd('verified', 8)} ${'target'}`;
  const head2 = `${padEnd('', 8)} ${pad('', 8)} ${pad('', 7)} ${pad('RSS MiB', 8)} ${pad('daemon', 8)} | ${pad('sent', 7)} ${pad('deliv.', 7)} ${pad('max gap', 8)} ${pad('p99 ms', 8)} | ${padEnd('', 8)} ${'(100 MiB <= 2 s)'}`;
  const lines = [head1, head2, '-'.repeat(head2.length)];
  for (const r of rows) {
    const target = r.targetSeconds === null ? '-' : r.targetMet === null ? 'n/a' : r.targetMet ? 'met' : 'MISSED';
    const verified = r.verified === null ? '-' : r.verified ? 'sha ok' : 'BAD';
    lines.push(
      [
        padEnd(sizeLabel(r.size), 8),
        pad(secs(r.seconds), 8),
        pad(mb(r.mbPerSec), 7),
        pad(r.joinerRssMiB === null ? '-' : r.joinerRssMiB.toFixed(0), 8),
        pad(r.rssMiB === null ? '-' : r.rssMiB.toFixed(0), 8),
        '|',
        pad(count(r.multicastsSentDuringTransfer), 7),
        pad(count(r.multicastsDuringTransfer), 7),
        pad(r.maxDeliveryGapMs === null ? '-' : `${ms(r.maxDeliveryGapMs)}ms`, 8),
        pad(ms(r.multicastP99Ms), 8),
        '|',
        padEnd(verified, 8),
        target,
      ].join(' '),
    );
    if (r.error) lines.push(`${' '.repeat(9)}error: ${r.error}`);
  }
  const r0 = rows[0];
  if (r0) {
    lines.push(
      `joiner RSS: the joiner's client process; joiner daemon: its daemon (peak during the transfer). ` +
        `Multicasts: ${count(r0.senderMsgsPerSec)} msgs/s of ${sizeLabel(r0.senderMessageBytes)} from a member on another daemon, ` +
        `counted at the provider between the join() call and its resolution; max gap: the longest time without a delivery there.`,
    );
  }
  return `${lines.join('\n')}\n`;
}

export function checkStateTargets(rows: readonly StateTransferRow[]): TargetCheck[] {
  return rows
    .filter((r) => r.targetSeconds !== null)
    .map((r) => ({
      what: `state transfer of ${sizeLabel(r.size)} with multicasts flowing`,
      target: `<= ${r.targetSeconds} s`,
      measured: r.seconds === null ? 'n/a' : `${secs(r.seconds)} s`,
      met: r.targetMet,
    }));
}
