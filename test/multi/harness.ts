// Real chorusd processes on loopback for multi-process tests: port 0 everywhere, the
// actual addresses read from the `ready` line, logs kept for failure reports.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const CHORUSD = fileURLToPath(new URL('../../bin/chorusd.js', import.meta.url));

export interface DaemonProcess {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly client: string;
  readonly listen: string;
  readonly admin: string;
  readonly url: string;
  /** Every line the daemon printed (stdout and stderr). */
  readonly output: string[];
  /** Resolves with the exit code when the process ends. */
  readonly exited: Promise<number | null>;
  status(): Promise<DaemonStatus>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface DaemonStatus {
  daemon: { name: string; mode: string };
  daemonView: { id: number; members: Array<{ name: string; coordinator: boolean }> };
  groups: Array<{ name: string; viewId: number; members: string[] }>;
}

export interface StartOptions {
  readonly seeds?: readonly string[];
  readonly args?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly readyTimeoutMs?: number;
}

export async function startChorusd(name: string, options: StartOptions = {}): Promise<DaemonProcess> {
  const args = [
    CHORUSD,
    '--name', name,
    '--listen', '127.0.0.1:0',
    '--client', '127.0.0.1:0',
    '--admin', '127.0.0.1:0',
    '--log-level', 'info',
    ...(options.seeds && options.seeds.length > 0 ? ['--seeds', options.seeds.join(',')] : []),
    ...(options.args ?? []),
  ];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
  const output: string[] = [];
  const exited = once(proc, 'exit').then(([code]) => code as number | null);
  const ready = new Promise<Record<string, string>>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`chorusd ${name} printed no ready line in time:\n${output.join('\n')}`)),
      options.readyTimeoutMs ?? 15_000,
    );
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      output.push(line);
      if (!line.includes('"msg":"ready"')) return;
      clearTimeout(timer);
      resolve(JSON.parse(line) as Record<string, string>);
    });
    createInterface({ input: proc.stderr! }).on('line', (line) => output.push(line));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`chorusd ${name} exited with ${code} before ready:\n${output.join('\n')}`));
    });
  });
  const r = await ready;
  const d: DaemonProcess = {
    name,
    proc,
    client: r.client!,
    listen: r.listen!,
    admin: r.admin!,
    url: `ws://${r.client!}`,
    output,
    exited,
    async status() {
      const res = await fetch(`http://${r.admin!}/status`);
      return (await res.json()) as DaemonStatus;
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
  return d;
}

/** Poll until `check` holds; the error names what was awaited. */
export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Start `names` as one cluster: the first founds it, the others join through it. */
export async function startCluster(names: readonly string[], options: StartOptions = {}): Promise<DaemonProcess[]> {
  const first = await startChorusd(names[0]!, options);
  const rest = await Promise.all(names.slice(1).map((n) => startChorusd(n, { ...options, seeds: [first.listen] })));
  const all = [first, ...rest];
  await waitFor(`a daemon view of ${names.length}`, async () => {
    const st = await Promise.all(all.map((d) => d.status()));
    return st.every((s) => s.daemonView.members.length === names.length && s.daemonView.id === st[0]!.daemonView.id);
  });
  return all;
}

/** A loopback port nothing listens on (bound, then closed). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
