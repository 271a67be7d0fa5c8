// The bench's child processes: real chorusd daemons (spawned, `ready` line read from
// stdout) and IPC children (client workers, TCP mesh peers). Every child is registered
// so that it is stopped on every way out: normal end, error, Ctrl-C, and — as a last
// resort — a synchronous SIGKILL when this process exits.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const CHORUSD = fileURLToPath(new URL('../../../bin/chorusd.js', import.meta.url));
const OUTPUT_LINES_KEPT = 40;

/** `promise`, or a rejection naming `what` after `ms`, or when `signal` aborts. */
export async function within<T>(promise: Promise<T>, ms: number, what: string, signal: AbortSignal): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const bounds = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    if (signal.aborted) reject(signal.reason as Error);
    onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([promise, bounds]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function alive(proc: ChildProcess): boolean {
  return proc.exitCode === null && proc.signalCode === null;
}

/** A child's last lines of output, for error reports. */
class Tail {
  readonly lines: string[] = [];
  push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > OUTPUT_LINES_KEPT) this.lines.shift();
  }
  toString(): string {
    return this.lines.length > 0 ? `\n  last output:\n    ${this.lines.join('\n    ')}` : '';
  }
}

export interface DaemonHandle {
  name: string;
  proc: ChildProcess;
  pid: number;
  client: string;
  listen: string;
  admin: string;
  output: Tail;
}

/** An IPC child: requests carry a `rid`, replies echo it; other messages are events. */
export class IpcChild {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly output = new Tail();
  onEvent: ((msg: { t: string; [k: string]: unknown }) => void) | undefined;
  #rid = 0;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor(name: string, proc: ChildProcess) {
    this.name = name;
    this.proc = proc;
    proc.on('message', (msg: { t: string; rid?: number; message?: string }) => {
      const pending = msg.rid !== undefined && msg.rid > 0 ? this.#pending.get(msg.rid) : undefined;
      if (!pending) {
        this.onEvent?.(msg);
        return;
      }
      this.#pending.delete(msg.rid!);
      if (msg.t === 'error') pending.reject(new Error(`${this.name}: ${msg.message ?? 'error'}`));
      else pending.resolve(msg);
    });
    proc.on('exit', (code, sig) => {
      const err = new Error(`${this.name} exited (${sig ?? code}) with a request pending${this.output.toString()}`);
      for (const p of this.#pending.values()) p.reject(err);
      this.#pending.clear();
    });
  }

  request<T>(cmd: { t: string; [k: string]: unknown }, timeoutMs: number, signal: AbortSignal): Promise<T> {
    const rid = ++this.#rid;
    const reply = new Promise<T>((resolve, reject) => {
      this.#pending.set(rid, { resolve: resolve as (v: unknown) => void, reject });
      if (!this.proc.connected) {
        this.#pending.delete(rid);
        reject(new Error(`${this.name} is not running${this.output.toString()}`));
        return;
      }
      this.proc.send({ ...cmd, rid });
    });
    return within(reply, timeoutMs, `${this.name}: ${cmd.t}`, signal).finally(() => this.#pending.delete(rid));
  }
}

export class Processes {
  readonly daemons: DaemonHandle[] = [];
  readonly children: IpcChild[] = [];
  readonly #all = new Set<ChildProcess>();
  /** Called when a daemon exits while the bench still needs it. */
  onDaemonExit: ((d: DaemonHandle, code: number | null, signal: string | null) => void) | undefined;
  #stopping = false;
  readonly #exitHook = () => this.killAllNow();

  constructor() {
    process.on('exit', this.#exitHook);
  }

  #track(proc: ChildProcess): void {
    this.#all.add(proc);
    proc.on('exit', () => this.#all.delete(proc));
  }

  async startDaemon(name: string, seeds: string[], extraNodeArgs: string[], signal: AbortSignal, daemonArgs: readonly string[] = []): Promise<DaemonHandle> {
    const args = [
      ...extraNodeArgs,
      CHORUSD,
      '--name', name,
      '--listen', '127.0.0.1:0',
      '--client', '127.0.0.1:0',
      '--admin', '127.0.0.1:0',
      '--log-level', 'warn',
      ...(seeds.length > 0 ? ['--seeds', seeds.join(',')] : []),
      ...daemonArgs,
    ];
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#track(proc);
    const output = new Tail();
    const ready = new Promise<Record<string, string>>((resolve, reject) => {
      // Both pipes are always read: a full pipe would block the daemon.
      createInterface({ input: proc.stdout! }).on('line', (line) => {
        output.push(line);
        if (line.includes('"msg":"ready"')) {
          try {
            resolve(JSON.parse(line) as Record<string, string>);
          } catch (err) {
            reject(err as Error);
          }
        }
      });
      createInterface({ input: proc.stderr! }).on('line', (line) => output.push(line));
      proc.on('error', reject);
      proc.on('exit', (code, sig) => reject(new Error(`chorusd ${name} exited (${sig ?? code}) before its ready line${output.toString()}`)));
    });
    const r = await within(ready, 15_000, `chorusd ${name} ready line`, signal);
    const d: DaemonHandle = { name, proc, pid: proc.pid!, client: r.client!, listen: r.listen!, admin: r.admin!, output };
    proc.on('exit', (code, sig) => {
      if (!this.#stopping) this.onDaemonExit?.(d, code, sig);
    });
    this.daemons.push(d);
    return d;
  }

  fork(name: string, modulePath: string): IpcChild {
    const proc = fork(fileURLToPath(modulePath), [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], serialization: 'json' });
    this.#track(proc);
    const child = new IpcChild(name, proc);
    createInterface({ input: proc.stdout! }).on('line', (line) => child.output.push(line));
    createInterface({ input: proc.stderr! }).on('line', (line) => child.output.push(line));
    this.children.push(child);
    return child;
  }

  /** Ends one IPC child: a `stop` request, then SIGKILL if it lingers. */
  async stopChild(child: IpcChild, signal: AbortSignal): Promise<void> {
    if (alive(child.proc) && child.proc.connected) {
      await child.request({ t: 'stop' }, 3000, signal).catch(() => undefined);
    }
    await this.#waitExit(child.proc, 1000);
  }

  async #waitExit(proc: ChildProcess, ms: number): Promise<void> {
    if (!alive(proc)) return;
    const exited = once(proc, 'exit').then(() => undefined);
    await Promise.race([exited, sleep(ms)]);
    if (alive(proc)) {
      proc.kill('SIGKILL');
      await Promise.race([exited, sleep(1000)]);
    }
  }

  /**
   * Stops everything: IPC children first, then the daemons one at a time, youngest first
   * (as `npm run cluster` does: each leaves while the coordinator is there to run its view
   * change; all at once, they would wait for their leave timeout), SIGTERM then SIGKILL.
   */
  async stopAll(): Promise<void> {
    await this.#stopProcesses();
    this.killAllNow();
    process.off('exit', this.#exitHook);
  }

  async #stopProcesses(): Promise<void> {
    this.#stopping = true;
    const never = new AbortController().signal;
    await Promise.all(this.children.map((c) => this.stopChild(c, never)));
    for (const d of [...this.daemons].reverse()) {
      if (!alive(d.proc)) continue;
      d.proc.kill('SIGTERM');
      await this.#waitExit(d.proc, 3000);
    }
  }

  /**
   * Stops the cluster (IPC children, then the daemons as stopAll does) so that another
   * one can start: the TLS pass of `--tls` runs on fresh daemons.
   */
  async stopCluster(): Promise<void> {
    await this.#stopProcesses();
    this.children.length = 0;
    this.daemons.length = 0;
    this.#stopping = false;
  }

  /** Synchronous last resort (also on process exit): SIGKILL whatever still runs. */
  killAllNow(): void {
    this.#stopping = true;
    for (const proc of this.#all) {
      if (alive(proc)) {
        try {
          proc.kill('SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  }
}

// ---------------------------------------------------------------- CPU time

/**
 * CPU seconds (user + system) a process has used so far, from /proc/PID/stat (Linux;
 * null elsewhere or once it is gone). Clock ticks are taken as 100 per second (USER_HZ
 * on every mainstream Linux).
 */
export function cpuSeconds(pid: number): number | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: fields are counted after its ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- daemon memory

function readStatusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number | null {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${field}:\\s+(\\d+)\\s*kB`, 'm').exec(text);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * Peak RSS of each daemon over one row. The kernel's high-water mark (VmHWM) is reset at
 * the start (`echo 5 > /proc/PID/clear_refs`, Linux ≥ 4.0) and read at the end; VmRSS is
 * also sampled every 100 ms, which is all there is when the reset is not allowed.
 * Without /proc (not Linux) the result is null.
 */
export class RssMonitor {
  readonly #pids: number[];
  #peakKb: number[] = [];
  #hwmReset: boolean[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(pids: number[]) {
    this.#pids = pids;
  }

  begin(): void {
    this.#hwmReset = this.#pids.map((pid) => {
      try {
        writeFileSync(`/proc/${pid}/clear_refs`, '5');
        return true;
      } catch {
        return false;
      }
    });
    this.#peakKb = this.#pids.map(() => 0);
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), 100);
  }

  #sample(): void {
    this.#pids.forEach((pid, i) => {
      const kb = readStatusKb(pid, 'VmRSS');
      if (kb !== null && kb > this.#peakKb[i]!) this.#peakKb[i] = kb;
    });
  }

  /** Peak MiB per daemon, or null without /proc. */
  end(): number[] | null {
    clearInterval(this.#timer);
    this.#sample();
    const peaks = this.#pids.map((pid, i) => {
      const hwm = this.#hwmReset[i] ? readStatusKb(pid, 'VmHWM') : null;
      return Math.max(this.#peakKb[i]!, hwm ?? 0) / 1024;
    });
    return peaks.every((p) => p === 0) ? null : peaks;
  }
}
