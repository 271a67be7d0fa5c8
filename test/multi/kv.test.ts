// The replicated key-value store of examples/kv over real processes: three chorusd, one
// kv replica process per daemon, writes over HTTP. Replicas apply set/delete in the
// group's total order, so once the writes stop every live replica holds the same map —
// including a replica that joined under write load and took the state by transfer
// (guarantee 6: its state plus its later deliveries equal everyone else's), and a replica
// whose daemon restarts, rejoined by the SDK's reconnect with the state.
//
// Runs the compiled example (dist/examples/kv/main.js): `npm test` builds first.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../client-sdk/index.js';
import { startChorusd, startCluster, waitFor, type DaemonProcess } from './harness.js';

const KV_MAIN = fileURLToPath(new URL('../../dist/examples/kv/main.js', import.meta.url));

interface Replica {
  readonly proc: ChildProcess;
  /** host:port of its HTTP front. */
  readonly http: string;
  /** What its ready line said: the map's size when it became a member. */
  readonly readySize: number;
  readonly output: string[];
  readonly exited: Promise<number | null>;
}

async function startReplica(daemon: DaemonProcess, args: readonly string[] = []): Promise<Replica> {
  if (!existsSync(KV_MAIN)) throw new Error(`${KV_MAIN} is missing: run npm run build`);
  const proc = spawn(process.execPath, [KV_MAIN, '--daemon', daemon.url, '--http', '127.0.0.1:0', '--group', 'kv', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(proc);
  const output: string[] = [];
  const exited = once(proc, 'exit').then(([code]) => code as number | null);
  createInterface({ input: proc.stderr! }).on('line', (line) => output.push(line));
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`kv replica printed no ready line in time:\n${output.join('\n')}`)), 15_000);
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      output.push(line);
      if (!line.includes('"msg":"ready"')) return;
      clearTimeout(timer);
      resolve(JSON.parse(line) as Record<string, unknown>);
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`kv replica exited with ${code} before ready:\n${output.join('\n')}`));
    });
  });
  return { proc, http: String(ready.http), readySize: Number(ready.size), output, exited };
}

interface MapView {
  size: number;
  digest: string;
  entries: Record<string, string>;
}

async function mapOf(replica: Replica): Promise<MapView> {
  const res = await fetch(`http://${replica.http}/kv`);
  if (res.status !== 200) throw new Error(`GET /kv answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as MapView;
}

async function put(replica: Replica, key: string, value: string): Promise<void> {
  const res = await fetch(`http://${replica.http}/kv/${encodeURIComponent(key)}`, { method: 'PUT', body: value });
  if (res.status !== 200) throw new Error(`PUT answered ${res.status}: ${await res.text()}`);
}

/** Waits until every replica shows the same digest; returns their maps. */
async function converged(replicas: readonly Replica[]): Promise<MapView[]> {
  let maps: MapView[] = [];
  await waitFor(
    'equal maps at every live replica',
    async () => {
      maps = await Promise.all(replicas.map(mapOf));
      return maps.every((m) => m.digest === maps[0]!.digest);
    },
    5_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}: sizes ${maps.map((m) => m.size).join(', ')}`);
  });
  return maps;
}

/**
 * Writers over HTTP: PUTs (and some DELETEs) on a small key space, spread over the
 * target replicas. A write to a replica that was just killed fails; the load goes on.
 */
class WriteLoad {
  targets: Replica[];
  ok = 0;
  failed = 0;
  #running = true;
  readonly #workers: Array<Promise<void>>;

  constructor(targets: Replica[], workers: number) {
    this.targets = targets;
    this.#workers = Array.from({ length: workers }, (_, w) => this.#work(w));
  }

  async #work(worker: number): Promise<void> {
    for (let n = 0; this.#running; n++) {
      const target = this.targets[(worker + n) % this.targets.length]!;
      const key = `k${(worker * 7 + n) % 40}`;
      const del = n % 5 === 4;
      try {
        const res = await fetch(`http://${target.http}/kv/${key}`, del ? { method: 'DELETE' } : { method: 'PUT', body: `w${worker}-${n}` });
        await res.arrayBuffer();
        if (res.status === 200) this.ok++;
        else this.failed++;
      } catch {
        this.failed++;
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#workers);
  }
}

const running: ChildProcess[] = [];
const daemons: DaemonProcess[] = [];

afterEach(async () => {
  for (const proc of running.splice(0)) if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  await Promise.allSettled(daemons.splice(0).map((d) => d.stop('SIGKILL')));
});

describe('examples/kv beside a member that holds no state (issue 15: a chorus tail)', () => {
  it('a replica waits for one that provides, then starts empty; the next replica takes the map from it', async () => {
    daemons.push(...(await startCluster(['a', 'b'])));
    // A watcher like `chorus tail kv`: a member that neither asks for nor provides state.
    const tail = await connect({ url: daemons[1]!.url, name: 'tail' });
    try {
      await tail.join('kv');
      const first = await startReplica(daemons[0]!, ['--state-wait-ms', '500']);
      expect(first.readySize).toBe(0);
      expect(first.output.some((l) => l.includes('starting with an empty one'))).toBe(true);
      // It failed once (after its wait), not in a loop.
      expect(first.output.filter((l) => l.includes('"msg":"join failed"'))).toHaveLength(0);
      await put(first, 'x', '1');
      const second = await startReplica(daemons[1]!, ['--state-wait-ms', '500']);
      expect(second.readySize).toBe(1);
      const [m1, m2] = await converged([first, second]);
      expect(m2!.entries).toEqual({ x: '1' });
      expect(m1!.digest).toBe(m2!.digest);
    } finally {
      await tail.close();
    }
  }, 60_000);
});

describe('examples/kv over three daemons', () => {
  it('replicas that start before any write apply the same commands in the same order', async () => {
    daemons.push(...(await startCluster(['a', 'b', 'c'])));
    // No state to take: every replica is there before the first write.
    const replicas = [];
    for (const d of daemons) replicas.push(await startReplica(d, ['--no-state-transfer']));
    const load = new WriteLoad(replicas, 6);
    await new Promise((r) => setTimeout(r, 1_500));
    await load.stop();
    expect(load.failed).toBe(0);
    expect(load.ok).toBeGreaterThan(50);

    // Read-your-writes at the writer, and the write everywhere once applied there.
    await put(replicas[0]!, 'greeting', 'héllo wörld');
    expect(await (await fetch(`http://${replicas[0]!.http}/kv/greeting`)).text()).toBe('héllo wörld');
    const del = await fetch(`http://${replicas[1]!.http}/kv/greeting`, { method: 'DELETE' });
    expect(await del.json()).toEqual({ ok: true, existed: true });

    const maps = await converged(replicas);
    expect(maps[0]!.size).toBeGreaterThan(0);
    expect(maps[0]!.entries.greeting).toBeUndefined();
    for (const m of maps) expect(m.entries).toEqual(maps[0]!.entries);
    const health = await (await fetch(`http://${replicas[2]!.http}/health`)).json();
    expect(health).toMatchObject({ status: 'ready' });
    expect((health as { view: { members: string[] } }).view.members).toHaveLength(3);
  }, 30_000);

  it('a replica killed and a new one joined under write load: all live replicas end equal', async () => {
    daemons.push(...(await startCluster(['a', 'b', 'c'])));
    const [a, b, c] = daemons as [DaemonProcess, DaemonProcess, DaemonProcess];
    // Each joins with state transfer: the first gets none (NONE), the others the map.
    const r1 = await startReplica(a);
    await put(r1, 'sentinel', 'written before the others joined');
    const r2 = await startReplica(b);
    const r3 = await startReplica(c);
    expect(r2.readySize).toBe(1);
    expect(r3.readySize).toBe(1);

    const load = new WriteLoad([r1, r2, r3], 6);
    await new Promise((r) => setTimeout(r, 800));
    // A replica process dies: its daemon sees the connection drop, the group moves on.
    r3.proc.kill('SIGKILL');
    await r3.exited;
    load.targets = [r1, r2];
    await new Promise((r) => setTimeout(r, 400));

    // A new replica joins while the writes go on: it takes the state at a checkpoint,
    // then applies every later command.
    const okBefore = load.ok;
    const r4 = await startReplica(c);
    expect(r4.readySize).toBeGreaterThan(1);
    load.targets = [r1, r2, r4];
    await new Promise((r) => setTimeout(r, 800));
    await load.stop();
    expect(load.ok).toBeGreaterThan(okBefore);

    const live = [r1, r2, r4];
    const maps = await converged(live);
    for (const m of maps) expect(m.entries).toEqual(maps[0]!.entries);
    expect(maps[0]!.entries.sentinel).toBe('written before the others joined');
    const health = (await (await fetch(`http://${r4.http}/health`)).json()) as { status: string; view: { members: string[] } };
    expect(health.status).toBe('ready');
    expect(health.view.members).toHaveLength(3);
  }, 30_000);

  it('a replica whose daemon is killed and restarted on the same port serves again with the current map (SDK reconnect)', async () => {
    const fast = ['--heartbeat-ms', '100', '--suspect-ms', '800'];
    daemons.push(...(await startCluster(['a', 'b'], { args: fast })));
    const [a, b] = daemons as [DaemonProcess, DaemonProcess];
    const r1 = await startReplica(a);
    const r2 = await startReplica(b);
    await put(r1, 'before', '1');

    b.proc.kill('SIGKILL');
    await b.exited;
    // Disconnected: the replica dropped its map and refuses until it is a member again.
    await waitFor('r2 to answer 503', async () => (await fetch(`http://${r2.http}/health`)).status === 503, 5_000);
    await waitFor('r1 to serve writes alone', async () => (await fetch(`http://${r1.http}/kv/during`, { method: 'PUT', body: '2' })).status === 200, 10_000);

    daemons.push(await startChorusd('b', { args: [...fast, '--client', b.client], seeds: [a.listen] }));
    await waitFor('r2 to be ready again', async () => (await fetch(`http://${r2.http}/health`)).status === 200, 15_000);
    await put(r2, 'after', '3');
    const maps = await converged([r1, r2]);
    expect(maps[1]!.entries).toEqual({ before: '1', during: '2', after: '3' });
    // The same process, rejoined by the SDK: two joins, not a restart.
    const health = (await (await fetch(`http://${r2.http}/health`)).json()) as { joins: number; view: { members: string[] } };
    expect(health.joins).toBe(2);
    expect(health.view.members).toHaveLength(2);
    expect(r2.proc.exitCode).toBeNull();
  }, 30_000);
});
