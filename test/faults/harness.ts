// A cluster of real chorusd processes for fault tests, with the faults themselves:
// SIGKILL, SIGSTOP/SIGCONT, SIGTERM, restart under the same name, and link cuts between
// any ordered pair of daemons (one way or both, partitions). Every daemon writes its
// event log (CHORUS_EVENT_LOG) for the checker, and every fault is recorded with the
// daemon view it hit, so view-change times can be measured from the daemons' logs.
//
// Links: each daemon advertises a listener of the link proxy (link-proxy.ts), so every
// frame between daemons passes the proxy, which can stop one direction of one pair.
// The advertised address outlives the daemon: a restarted daemon (new process, new
// ports) advertises the same proxy address, and peers redial it as before.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { startChorusd, type DaemonProcess } from '../multi/harness.js';
import { wallClockMs } from './fault-recorder.js';
import { LinkProxy, type CutMode } from './link-proxy.js';

export { wallClockMs } from './fault-recorder.js';
export type { CutMode } from './link-proxy.js';

export const HEARTBEAT_MS = 100;
export const SUSPECT_MS = 600;

export interface FaultClusterOptions {
  readonly names: readonly string[];
  readonly heartbeatMs?: number;
  readonly suspectMs?: number;
  /** Names the temporary directory (event logs) and the cluster. */
  readonly label?: string;
}

export interface StatusMember {
  readonly name: string;
  readonly incarnation: string;
  readonly coordinator: boolean;
  readonly suspected: boolean;
}

export interface Status {
  readonly daemon: { readonly name: string; readonly incarnation: string; readonly mode: string };
  readonly daemonView: { readonly id: number | null; readonly members: readonly StatusMember[] };
  readonly groups: ReadonlyArray<{ readonly name: string; readonly viewId: number; readonly members: readonly string[] }>;
  /** What admission waits for (see AdmissionStatus in src/core/admission.ts). */
  readonly admission?: unknown;
}

/** A fault the harness injected, with what it hit: the input of view-change measurement. */
export interface FaultRecord {
  readonly kind: string;
  /** Wall-clock ms (the clock of the event logs). */
  readonly t: number;
  /** Daemon names the fault acts on. */
  readonly daemons: readonly string[];
  /**
   * Daemons (`name#incarnation`) the fault must remove from the daemon view; undefined
   * when the protocol chooses (a cut link: one end goes) or nothing need change.
   */
  readonly excluded?: readonly string[];
  /** The daemon view the fault hit, as a survivor saw it just before. */
  readonly viewId?: number;
  readonly members?: readonly string[];
}

type SlotState = 'up' | 'paused' | 'dead';

interface Slot {
  readonly name: string;
  /** The proxy listener this daemon advertises (stable across restarts). */
  readonly advertise: string;
  proc: DaemonProcess | undefined;
  state: SlotState;
  starts: number;
}

let clusterCounter = 0;

/**
 * Daemons of every cluster not closed yet: killed when this process exits, whatever the
 * reason (a test runner killed on timeout, a soak interrupted), so none outlives it.
 */
const running = new Set<DaemonProcess>();
process.once('exit', () => {
  for (const p of running) if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
});

export class FaultCluster {
  readonly dir: string;
  readonly cluster: string;
  readonly proxy: LinkProxy;
  readonly heartbeatMs: number;
  readonly suspectMs: number;
  readonly faults: FaultRecord[] = [];
  /** Every daemon process started, in order (their output holds the logs). */
  readonly processes: DaemonProcess[] = [];
  /** Every event log file written (one per daemon process). */
  readonly eventLogs: string[] = [];
  readonly #slots = new Map<string, Slot>();
  #closed = false;

  private constructor(dir: string, cluster: string, proxy: LinkProxy, options: FaultClusterOptions) {
    this.dir = dir;
    this.cluster = cluster;
    this.proxy = proxy;
    this.heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS;
    this.suspectMs = options.suspectMs ?? SUSPECT_MS;
  }

  /** Starts the daemons together (each seeds the others, `--expect` all) and waits for one view of all. */
  static async start(options: FaultClusterOptions): Promise<FaultCluster> {
    const label = options.label ?? 'faults';
    const dir = mkdtempSync(join(tmpdir(), `chorus-${label}-`));
    const proxy = await LinkProxy.start();
    const cluster = new FaultCluster(dir, `${label}-${process.pid}-${++clusterCounter}`, proxy, options);
    try {
      for (const name of options.names) {
        cluster.#slots.set(name, { name, advertise: await proxy.add(name), proc: undefined, state: 'dead', starts: 0 });
      }
      await Promise.all(options.names.map((name) => cluster.#launch(name, options.names.length)));
      await cluster.waitForView(options.names, 30_000);
    } catch (err) {
      await cluster.close();
      throw err;
    }
    return cluster;
  }

  get names(): string[] {
    return [...this.#slots.keys()];
  }

  /** Daemons whose process runs and is not stopped. */
  get upNames(): string[] {
    return [...this.#slots.values()].filter((s) => s.state === 'up').map((s) => s.name);
  }

  stateOf(name: string): SlotState {
    return this.#slot(name).state;
  }

  daemon(name: string): DaemonProcess {
    const proc = this.#slot(name).proc;
    if (proc === undefined) throw new Error(`daemon ${name} is not running`);
    return proc;
  }

  url(name: string): string {
    return this.daemon(name).url;
  }

  advertise(name: string): string {
    return this.#slot(name).advertise;
  }

  async #launch(name: string, expect: number): Promise<DaemonProcess> {
    const slot = this.#slot(name);
    slot.starts += 1;
    const eventLog = join(this.dir, `${name}.${slot.starts}.jsonl`);
    this.eventLogs.push(eventLog);
    const seeds = [...this.#slots.values()].filter((s) => s.name !== name).map((s) => s.advertise);
    const proc = await startChorusd(name, {
      seeds,
      args: [
        '--cluster', this.cluster,
        '--advertise', slot.advertise,
        '--heartbeat-ms', String(this.heartbeatMs),
        '--suspect-ms', String(this.suspectMs),
        '--expect', String(expect),
      ],
      env: { CHORUS_EVENT_LOG: eventLog },
      readyTimeoutMs: 30_000,
    });
    this.processes.push(proc);
    running.add(proc);
    void proc.exited.then(() => running.delete(proc));
    slot.proc = proc;
    slot.state = 'up';
    void proc.exited.then(() => {
      if (slot.proc === proc) slot.state = 'dead';
    });
    await this.proxy.target(name, proc.listen);
    return proc;
  }

  /** GET /status of one daemon; undefined when it does not answer in time (stopped, dead). */
  async status(name: string, timeoutMs = 2_000): Promise<Status | undefined> {
    const slot = this.#slot(name);
    if (slot.proc === undefined || slot.state !== 'up') return undefined;
    try {
      const res = await fetch(`http://${slot.proc.admin}/status`, { signal: AbortSignal.timeout(timeoutMs) });
      return (await res.json()) as Status;
    } catch {
      return undefined;
    }
  }

  /** `name#incarnation` of the daemon now (it changes when the daemon steps down and rejoins). */
  async key(name: string): Promise<string | undefined> {
    const st = await this.status(name);
    return st === undefined ? undefined : `${st.daemon.name}#${st.daemon.incarnation}`;
  }

  /** The daemon view as one of `from` sees it (the first that answers). */
  async view(from: readonly string[] = this.upNames): Promise<{ id: number; members: string[] } | undefined> {
    for (const name of from) {
      const st = await this.status(name);
      if (st?.daemonView.id !== null && st?.daemonView.id !== undefined && st.daemon.mode === 'normal') {
        return { id: st.daemonView.id, members: st.daemonView.members.map((m) => `${m.name}#${m.incarnation}`) };
      }
    }
    return undefined;
  }

  /** The coordinator (oldest member) of the daemon view, by name. */
  async coordinator(): Promise<string> {
    const view = await this.view();
    if (view === undefined) throw new Error('no daemon answers with a view');
    return view.members[0]!.split('#')[0]!;
  }

  /**
   * Waits until exactly the daemons `names` form one daemon view: each of them in mode
   * normal, all with the same view id and those members. Returns the view.
   */
  async waitForView(names: readonly string[], timeoutMs = 30_000): Promise<{ id: number; members: string[] }> {
    const want = [...names].sort().join(',');
    const end = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      const st = await Promise.all(names.map((n) => this.status(n)));
      const ids = new Set(st.map((s) => s?.daemonView.id));
      const ok = st.every(
        (s) => s !== undefined && s.daemon.mode === 'normal' && s.daemonView.members.map((m) => m.name).sort().join(',') === want,
      );
      if (ok && ids.size === 1) {
        const s = st[0]!;
        return { id: s.daemonView.id!, members: s.daemonView.members.map((m) => `${m.name}#${m.incarnation}`) };
      }
      last = st
        .map((s, i) => `${names[i]}: ${s === undefined ? 'no answer' : `${s.daemon.mode} view ${s.daemonView.id} [${s.daemonView.members.map((m) => m.name).join(',')}]`}`)
        .join('; ');
      if (Date.now() > end) throw new Error(`timed out waiting for a daemon view of ${want}: ${last}`);
      await sleep(100);
    }
  }

  /** The view a fault hits, seen from a daemon the fault spares. */
  async #viewBefore(spared: readonly string[]): Promise<Pick<FaultRecord, 'viewId' | 'members'>> {
    const view = await this.view(spared);
    return view === undefined ? {} : { viewId: view.id, members: view.members };
  }

  #record(fault: FaultRecord): FaultRecord {
    this.faults.push(fault);
    return fault;
  }

  // ------------------------------------------------------------------ faults

  /** SIGKILL the daemons at once. */
  async kill(...names: string[]): Promise<FaultRecord> {
    const spared = this.upNames.filter((n) => !names.includes(n));
    const before = await this.#viewBefore(spared);
    const excluded = await this.#keys(names);
    const fault = this.#record({ kind: names.length > 1 ? `kill x${names.length}` : 'kill', t: wallClockMs(), daemons: names, excluded, ...before });
    const procs = names.map((n) => this.daemon(n));
    for (const p of procs) p.proc.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    for (const n of names) {
      this.#slot(n).state = 'dead';
      await this.proxy.target(n, undefined);
    }
    return fault;
  }

  /** SIGTERM: the daemon leaves the daemon view on purpose, then exits. */
  async stop(name: string): Promise<FaultRecord> {
    const before = await this.#viewBefore(this.upNames.filter((n) => n !== name));
    const excluded = await this.#keys([name]);
    const fault = this.#record({ kind: 'stop', t: wallClockMs(), daemons: [name], excluded, ...before });
    const proc = this.daemon(name);
    proc.proc.kill('SIGTERM');
    await proc.exited;
    this.#slot(name).state = 'dead';
    await this.proxy.target(name, undefined);
    return fault;
  }

  /** SIGSTOP: the daemon freezes (sockets open, nothing answered). */
  async pause(name: string): Promise<FaultRecord> {
    const before = await this.#viewBefore(this.upNames.filter((n) => n !== name));
    const excluded = await this.#keys([name]);
    const fault = this.#record({ kind: 'pause', t: wallClockMs(), daemons: [name], excluded, ...before });
    this.daemon(name).proc.kill('SIGSTOP');
    this.#slot(name).state = 'paused';
    return fault;
  }

  async resume(name: string): Promise<void> {
    const slot = this.#slot(name);
    if (slot.state !== 'paused') return;
    this.daemon(name).proc.kill('SIGCONT');
    slot.state = 'up';
  }

  /** Starts a dead daemon again under its name (a new incarnation, new ports, the same advertised address). */
  async restart(name: string): Promise<DaemonProcess> {
    const slot = this.#slot(name);
    if (slot.state !== 'dead') throw new Error(`restart ${name}: it is ${slot.state}`);
    return this.#launch(name, this.#slots.size);
  }

  /** Stops the frames `from` sends to `to`. */
  async cut(from: string, to: string, mode: CutMode = 'blackhole'): Promise<FaultRecord> {
    const before = await this.#viewBefore(this.upNames);
    const fault = this.#record({ kind: `cut one-way (${mode})`, t: wallClockMs(), daemons: [from, to], ...before });
    await this.proxy.cut(from, to, mode);
    return fault;
  }

  /** Cuts both directions between `a` and `b`. */
  async cutBoth(a: string, b: string, mode: CutMode = 'blackhole'): Promise<FaultRecord> {
    const before = await this.#viewBefore(this.upNames);
    const fault = this.#record({ kind: `cut two-way (${mode})`, t: wallClockMs(), daemons: [a, b], ...before });
    await Promise.all([this.proxy.cut(a, b, mode), this.proxy.cut(b, a, mode)]);
    return fault;
  }

  /**
   * Cuts every link between the sides (both ways). The daemons of the smaller sides
   * must leave the primary: `excluded` lists them (sides.slice(1) when sides[0] is the
   * majority).
   */
  async partition(sides: ReadonlyArray<readonly string[]>, mode: CutMode = 'blackhole'): Promise<FaultRecord> {
    const before = await this.#viewBefore(sides[0]!);
    const minority = sides.slice(1).flat();
    const excluded = await this.#keys(minority.filter((n) => this.stateOf(n) === 'up'));
    const fault = this.#record({
      kind: `partition ${sides.map((s) => s.length).join('|')}`,
      t: wallClockMs(),
      daemons: sides.flat(),
      excluded,
      ...before,
    });
    const cuts: Array<Promise<void>> = [];
    for (let i = 0; i < sides.length; i++) {
      for (let j = 0; j < sides.length; j++) {
        if (i === j) continue;
        for (const from of sides[i]!) for (const to of sides[j]!) cuts.push(this.proxy.cut(from, to, mode));
      }
    }
    await Promise.all(cuts);
    return fault;
  }

  /** Restores every cut link. */
  async heal(): Promise<void> {
    await this.proxy.restoreAll();
  }

  async #keys(names: readonly string[]): Promise<string[]> {
    const keys: string[] = [];
    for (const n of names) {
      const k = (await this.key(n)) ?? this.#readyKey(n);
      if (k !== undefined) keys.push(k);
    }
    return keys;
  }

  /** `name#incarnation` from the ready line of the running process (before any step-down). */
  #readyKey(name: string): string | undefined {
    const proc = this.#slot(name).proc;
    const line = proc?.output.find((l) => l.includes('"msg":"ready"'));
    if (line === undefined) return undefined;
    const ready = JSON.parse(line) as { incarnation?: string };
    return ready.incarnation === undefined ? undefined : `${name}#${ready.incarnation}`;
  }

  #slot(name: string): Slot {
    const slot = this.#slots.get(name);
    if (slot === undefined) throw new Error(`no daemon named ${name}`);
    return slot;
  }

  /**
   * When each daemon logged the group view that added `member` to `group` (ms after the
   * first of them): for reports on a join that hangs.
   */
  joinViewTimes(group: string, member: string): string {
    const times: Array<{ name: string; t: number }> = [];
    for (const p of this.processes) {
      for (const line of p.output) {
        if (!line.includes('"group view installed"') || !line.includes(`"${member}"`)) continue;
        const j = JSON.parse(line) as { time: number; group: string; joined: string[] };
        if (j.group === group && j.joined.includes(member)) times.push({ name: p.name, t: j.time });
      }
    }
    if (times.length === 0) return 'no daemon logged the view that adds it';
    const first = Math.min(...times.map((x) => x.t));
    return times.map((x) => `${x.name} +${x.t - first} ms`).join(', ');
  }

  /** The last lines each daemon printed, for failure reports. */
  logTail(lines = 15): string {
    return this.processes
      .map((p, i) => `--- ${p.name} (process ${i + 1}) ---\n${p.output.slice(-lines).join('\n')}`)
      .join('\n');
  }

  /** SIGKILL every daemon, close the proxy, remove the event logs (kept with CHORUS_KEEP_LOGS=1). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const p of this.processes) {
      if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
    }
    await Promise.allSettled(this.processes.map((p) => p.exited));
    await this.proxy.close();
    if (process.env.CHORUS_KEEP_LOGS !== '1') rmSync(this.dir, { recursive: true, force: true });
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
