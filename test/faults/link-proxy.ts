// Controls the link proxy process (link-proxy-process.mjs): one listener per daemon,
// which the daemon advertises, and per ordered pair of daemons (from → to) a switch the
// test flips to cut or restore the frames `from` sends to `to`.
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const PROCESS = fileURLToPath(new URL('./link-proxy-process.mjs', import.meta.url));
const WIRE = fileURLToPath(new URL('../../dist/src/wire/index.js', import.meta.url));

/** How a cut link behaves (see link-proxy-process.mjs). */
export type CutMode = 'blackhole' | 'reset';

interface Reply {
  readonly id?: number;
  readonly ok?: boolean;
  readonly result?: unknown;
  readonly error?: string;
  readonly ready?: boolean;
}

export class LinkProxy {
  readonly #proc: ChildProcess;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #nextId = 1;
  #closed = false;
  /** Pairs cut now: `${from}>${to}` → mode. */
  readonly cuts = new Map<string, CutMode>();

  private constructor(proc: ChildProcess) {
    this.#proc = proc;
    proc.on('message', (msg: Reply) => {
      if (msg.id === undefined) return;
      const p = this.#pending.get(msg.id);
      if (p === undefined) return;
      this.#pending.delete(msg.id);
      if (msg.ok === true) p.resolve(msg.result);
      else p.reject(new Error(`link proxy: ${msg.error ?? 'failed'}`));
    });
    proc.on('exit', (code, signal) => {
      for (const p of this.#pending.values()) p.reject(new Error(`link proxy exited (${code ?? signal})`));
      this.#pending.clear();
    });
  }

  static async start(): Promise<LinkProxy> {
    if (!existsSync(WIRE)) throw new Error(`${WIRE} is missing: run npm run build`);
    const proc = fork(PROCESS, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
    await new Promise<void>((resolve, reject) => {
      proc.once('message', (msg: Reply) => (msg.ready === true ? resolve() : reject(new Error('link proxy: no ready message'))));
      proc.once('exit', (code) => reject(new Error(`link proxy exited with ${code} before ready`)));
    });
    return new LinkProxy(proc);
  }

  #call(msg: Record<string, unknown>): Promise<unknown> {
    if (this.#closed) return Promise.reject(new Error('link proxy closed'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#proc.send({ ...msg, id });
    });
  }

  /** Opens the listener daemon `name` advertises; returns its host:port. */
  async add(name: string): Promise<string> {
    return (await this.#call({ op: 'add', name })) as string;
  }

  /** Where the proxy of `name` forwards to: the daemon's real peer port (undefined: hold new links until set). */
  async target(name: string, address: string | undefined): Promise<void> {
    await this.#call({ op: 'target', name, address: address ?? null });
  }

  /** Stops the frames `from` sends to `to` (one direction). */
  async cut(from: string, to: string, mode: CutMode = 'blackhole'): Promise<void> {
    this.cuts.set(`${from}>${to}`, mode);
    await this.#call({ op: 'cut', from, to, mode });
  }

  async restore(from: string, to: string): Promise<void> {
    this.cuts.delete(`${from}>${to}`);
    await this.#call({ op: 'restore', from, to });
  }

  async restoreAll(): Promise<void> {
    this.cuts.clear();
    await this.#call({ op: 'restore-all' });
  }

  /** Connection counts per pair and state, for failure reports. */
  async stats(): Promise<unknown> {
    return this.#call({ op: 'stats' });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      await Promise.race([this.#call({ op: 'close' }), new Promise((r) => setTimeout(r, 2_000))]);
    } catch {
      // already gone
    }
    this.#closed = true;
    if (this.#proc.exitCode === null && this.#proc.signalCode === null) this.#proc.kill('SIGKILL');
  }
}
