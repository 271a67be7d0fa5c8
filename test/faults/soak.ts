// The fault soak behind `npm run test:faults -- --duration 10m`: a cluster of real
// daemons under continuous traffic in all four orders, hit by one random fault per
// round (kills — of the coordinator, of two daemons at once or one after the other —,
// pauses longer and shorter than the suspect timeout, SIGTERM restarts, partitions,
// one-way and two-way link cuts, client kills), healed, and checked: each round uses
// its own group, and its history (the daemons' event logs since the round began plus
// what the clients saw) goes through the checker with liveness and nothing-lost. Half
// the rounds join with state transfer (replicas that must end equal).
//
// Loaded by scripts/test-faults.mjs through vite (TypeScript, like the tests).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join as joinPath } from 'node:path';

import { FaultCluster, sleep } from './harness.js';
import { FaultRecorder } from './fault-recorder.js';
import { JoinTimeoutError, Member, Replica, Traffic, settle } from './members.js';
import { EventLogReader, checkRun } from './verify.js';
import {
  formatViewChange,
  measureViewChanges,
  proposalsFrom,
  summarizeViewChanges,
  type ViewChangeTime,
} from './view-change-times.js';
import type { HistoryEvent } from '../checker/index.js';

export interface SoakOptions {
  readonly durationMs: number;
  readonly daemons?: number;
  readonly seed?: number;
  /** Progress and summary lines. */
  readonly log?: (line: string) => void;
  /** Stops after the current round (Ctrl-C). */
  readonly signal?: AbortSignal;
}

export interface SoakSummary {
  readonly lines: string[];
  readonly violations: number;
}

/** A seeded generator (mulberry32): the fault schedule of a seed is the same every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FAULTS = [
  'kill',
  'kill coordinator',
  'kill two at once',
  'kill two in a row',
  'pause',
  'short pause',
  'restart (SIGTERM)',
  'partition',
  'cut one-way',
  'cut two-way',
  'kill client',
] as const;
type FaultKind = (typeof FAULTS)[number];

const CONVERGE_MS = 60_000;

export async function runSoak(options: SoakOptions): Promise<SoakSummary> {
  const log = options.log ?? ((line: string) => console.log(line));
  /** CHORUS_SOAK_DUMP=dir: the history of every round with violations goes to dir/soak-<seed>-round-<n>.jsonl. */
  const dumpDir = process.env.CHORUS_SOAK_DUMP || undefined;
  if (dumpDir !== undefined) mkdirSync(dumpDir, { recursive: true });
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const rand = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
  const shuffled = <T>(items: readonly T[]): T[] => [...items].map((x) => ({ x, k: rand() })).sort((a, b) => a.k - b.k).map((p) => p.x);
  const names = Array.from({ length: options.daemons ?? 5 }, (_, i) => String.fromCharCode(97 + i));
  const started = Date.now();
  const deadline = started + options.durationMs;
  const elapsed = () => `${Math.round((Date.now() - started) / 1000)}s`;

  log(`soak: ${names.length} daemons, ${Math.round(options.durationMs / 1000)} s, seed ${seed}`);
  const cluster = await FaultCluster.start({ names, label: 'soak' });
  const recorder = new FaultRecorder();
  const reader = new EventLogReader();
  const members: Member[] = [];
  const faultCounts = new Map<string, number>();
  const times: ViewChangeTime[] = [];
  let clientSeq = 0;
  let sent = 0;
  let delivered = 0;
  let groupViews = 0;
  let daemonViews = 0;
  let violations = 0;
  let rounds = 0;
  let aborted: string | undefined;

  /** Liveness failures of this round that are not in the history: joins or leaves that never completed. */
  let stuck: string[] = [];
  const alive = () => members.filter((m) => m.alive);
  /** join(); one that never completes is a liveness failure: counted, and the client is killed so the soak goes on. */
  const join = async (m: Member, group: string, withState: boolean): Promise<void> => {
    try {
      await m.join(group, withState ? { replica: new Replica() } : {});
    } catch (err) {
      if (!(err instanceof JoinTimeoutError)) return; // its connection ended meanwhile
      const providers = members.filter((x) => x !== m && (x.replica(group)?.provides ?? 0) > 0).map((x) => `${x.id} ${x.replica(group)!.provides}x`);
      stuck.push(
        `${err.message}; provide() ran this round at ${providers.join(', ') || 'nobody'}; the view adding it was installed at ${cluster.joinViewTimes(group, m.id)}`,
      );
      m.kill();
    }
  };
  const addMember = async (daemon: string, group: string, withState: boolean): Promise<void> => {
    const m = await Member.connect(recorder, daemon, cluster.url(daemon), `soak${++clientSeq}-${daemon}`);
    members.push(m);
    await join(m, group, withState);
  };
  /** One live member per running daemon (replacing those that died), all in `group`. */
  const staff = async (group: string, withState: boolean): Promise<void> => {
    for (const d of cluster.upNames) {
      if (alive().some((m) => m.daemon === d)) continue;
      try {
        await addMember(d, group, withState);
      } catch (err) {
        log(`  (could not add a member on ${d}: ${(err as Error).message})`);
      }
    }
  };
  const converge = async (): Promise<void> => {
    for (const n of names) if (cluster.stateOf(n) === 'paused') await cluster.resume(n);
    await cluster.heal();
    for (const n of names) if (cluster.stateOf(n) === 'dead') await cluster.restart(n);
    await cluster.waitForView(names, CONVERGE_MS);
  };

  try {
    // Skip the daemon views of the start: rounds check what follows.
    reader.read(cluster.eventLogs);
    while (Date.now() < deadline && options.signal?.aborted !== true) {
      rounds += 1;
      const group = `soak-${rounds}`;
      const withState = rand() < 0.5;
      recorder.clear();
      stuck = [];
      for (const m of alive()) await join(m, group, withState);
      await staff(group, withState);
      const traffic: Traffic[] = [];
      /** Every live member multicasts, the ones that joined mid-round too. */
      const sendAll = () => {
        for (const m of alive()) if (!traffic.some((t) => t.member === m)) traffic.push(new Traffic(m, group, recorder, { window: 4, pauseMs: 10 }));
      };
      sendAll();
      await sleep(500 + rand() * 1_000);

      const faultsBefore = cluster.faults.length;
      const kind: FaultKind = pick(FAULTS);
      faultCounts.set(kind, (faultCounts.get(kind) ?? 0) + 1);
      const described = await inject(kind);
      // Traffic goes on through the fault, the heal and the rejoins.
      await converge();
      await staff(group, withState);
      sendAll();
      await waitForGroup(group);
      await sleep(500 + rand() * 500);

      await Promise.all(traffic.map((t) => t.stop()));
      const settled = await settle(members, group, recorder);
      const live = alive();
      const daemonLogs = reader.read(cluster.eventLogs, (e) => e.type === 'daemon-view' || e.type === 'daemon-left' || (e.type === 'send' && e.group === group));
      const clientEvents = recorder.events.filter((e: HistoryEvent) => !('group' in e) || e.group === group);
      const check = checkRun({ daemonLogs, clientEvents, live: live.map((m) => m.id), accepted: recorder.accepted });
      const roundTimes = measureViewChanges(cluster.faults.slice(faultsBefore), daemonLogs, proposalsFrom(cluster.processes));
      times.push(...roundTimes);
      const replicas = live.map((m) => m.replica(group)).filter((r) => r !== undefined);
      const digests = new Set(replicas.map((r) => r.digest()));
      const stateViolation = withState && digests.size > 1 ? 1 : 0;

      const roundSent = traffic.reduce((n, t) => n + t.sent, 0);
      sent += roundSent;
      delivered += check.stats.deliveries;
      groupViews += check.stats.groupViews;
      daemonViews += check.stats.daemonViews;
      for (const m of live) {
        try {
          await within(`${m.id}: leave(${JSON.stringify(group)})`, m.leave(group), 20_000);
        } catch (err) {
          stuck.push((err as Error).message);
          m.kill();
        }
      }
      const roundViolations = check.violations.length + stateViolation + stuck.length;
      violations += roundViolations;
      log(
        `[${elapsed()}] round ${rounds} ${described}${withState ? ' (state transfer)' : ''}: ${roundSent} sent, ` +
          `${check.stats.deliveries} delivered, ${check.stats.groupViews} group views, ${check.stats.daemonViews} daemon views, ` +
          `${roundViolations} violations${settled ? '' : ' (did not settle)'}`,
      );
      for (const t of roundTimes) log(`    ${formatViewChange(t)}`);
      if (check.violations.length > 0) log(check.report.split('\n').map((l) => `    ${l}`).join('\n'));
      if (check.violations.length > 0 && dumpDir !== undefined) {
        const file = joinPath(dumpDir, `soak-${seed}-round-${rounds}.jsonl`);
        writeFileSync(file, check.history.map((e) => JSON.stringify(e)).join('\n') + '\n');
        log(`    history: ${file}`);
      }
      if (stateViolation > 0) log(`    G6 replicas differ at the end: ${[...digests].join(' | ')}`);
      for (const s of stuck) log(`    G7 never completed: ${s}`);
    }
  } catch (err) {
    // The cluster did not come back (guarantee 7) or the harness failed: that ends the soak.
    aborted = (err as Error).message;
    violations += 1;
    log(`[${elapsed()}] round ${rounds} aborted: ${aborted}`);
    for (const p of cluster.processes) {
      const lines = p.output.filter((l) => /"level":(40|50|60)|view installed|view change started|link (up|down)|step|ready/.test(l));
      log(`--- ${p.name} (pid ${p.proc.pid}) ---\n${lines.slice(-25).join('\n')}`);
    }
    // What admission waits for at each daemon (a daemon stuck joining: who heard whom).
    for (const n of cluster.upNames) {
      const st = await cluster.status(n);
      log(`--- ${n} /status: mode ${st?.daemon.mode ?? '?'}, admission ${JSON.stringify(st?.admission)}`);
    }
  } finally {
    await cluster.close();
    await Promise.allSettled(members.map((m) => m.close()));
  }

  const lines = [
    '',
    `soak summary: ${rounds} rounds in ${elapsed()}, ${names.length} daemons, suspect ${cluster.suspectMs} ms, seed ${seed}${aborted === undefined ? '' : ' (aborted)'}`,
    `messages: ${sent} sent (accepted), ${delivered} delivered`,
    `views: ${groupViews} group views, ${daemonViews} daemon views`,
    `faults: ${[...faultCounts].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${k} ${n}`).join(', ')}`,
    `view changes, from the fault to the new view at every member of it:`,
    ...summarizeViewChanges(times).map((l) => `  ${l}`),
    `${violations} violations`,
  ];
  for (const l of lines) log(l);
  return { lines, violations };

  /** Injects one fault and undoes it after a while (restarts come in converge()). */
  async function inject(kind: FaultKind): Promise<string> {
    const up = cluster.upNames;
    const hold = (k: number) => sleep(cluster.suspectMs * k);
    switch (kind) {
      case 'kill': {
        const d = pick(up);
        await cluster.kill(d);
        await hold(1.5 + rand());
        return `kill ${d}`;
      }
      case 'kill coordinator': {
        const d = await cluster.coordinator();
        await cluster.kill(d);
        await hold(2.5);
        return `kill coordinator ${d}`;
      }
      case 'kill two at once': {
        const [x, y] = shuffled(up);
        await cluster.kill(x!, y!);
        await hold(2.5);
        return `kill ${x} and ${y} at once`;
      }
      case 'kill two in a row': {
        // The second often lands in the flush of the first.
        const [x, y] = shuffled(up);
        await cluster.kill(x!);
        await hold(0.5 + rand() * 1.5);
        await cluster.kill(y!);
        await hold(2.5);
        return `kill ${x}, then ${y}`;
      }
      case 'pause': {
        const d = pick(up);
        await cluster.pause(d);
        await hold(2 + 2 * rand());
        await cluster.resume(d);
        return `pause ${d} (longer than suspect)`;
      }
      case 'short pause': {
        const d = pick(up);
        const ms = Math.round(cluster.suspectMs * (0.2 + 0.5 * rand()));
        await cluster.pause(d);
        await sleep(ms);
        await cluster.resume(d);
        cluster.faults.pop(); // nothing need change: no view change to measure
        return `pause ${d} for ${ms} ms (shorter than suspect)`;
      }
      case 'restart (SIGTERM)': {
        const d = pick(up);
        await cluster.stop(d);
        return `stop ${d} (SIGTERM) and restart`;
      }
      case 'partition': {
        const order = shuffled(names);
        const minority = rand() < 0.5 ? 2 : 1;
        const sides = [order.slice(minority), order.slice(0, minority)];
        const mode = rand() < 0.7 ? 'blackhole' : 'reset';
        await cluster.partition(sides, mode);
        await hold(3 + 2 * rand());
        return `partition ${sides.map((s) => s.join('')).join('|')} (${mode})`;
      }
      case 'cut one-way': {
        const [x, y] = shuffled(up);
        const mode = rand() < 0.7 ? 'blackhole' : 'reset';
        await cluster.cut(x!, y!, mode);
        await hold(3 + 2 * rand());
        return `cut ${x}→${y} (${mode})`;
      }
      case 'cut two-way': {
        const [x, y] = shuffled(up);
        const mode = rand() < 0.7 ? 'blackhole' : 'reset';
        await cluster.cutBoth(x!, y!, mode);
        await hold(3 + 2 * rand());
        return `cut ${x}↔${y} (${mode})`;
      }
      case 'kill client': {
        const m = pick(alive());
        m.kill();
        await sleep(500);
        return `kill client ${m.id}`;
      }
    }
  }

  /** `work`, or an error after `timeoutMs`. */
  async function within<T>(what: string, work: Promise<T>, timeoutMs: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not complete within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async function waitForGroup(group: string): Promise<void> {
    const end = Date.now() + CONVERGE_MS;
    for (;;) {
      const live = alive().filter((m) => m.sessions(group) > 0);
      const ids = live.map((m) => m.id).sort().join(',');
      if (live.every((m) => [...(m.handle(group)?.view.members ?? [])].sort().join(',') === ids)) return;
      if (Date.now() > end) throw new Error(`group ${group} did not converge to ${ids}`);
      await sleep(50);
    }
  }
}
