// `chorus watch` as a real process against three real daemons: piped, it prints one line
// per view change, live — a client application that joins, then daemon `c` SIGKILLed
// (a line naming c and the cause crash, with detection and flush times), then `c`
// restarted (a line with c joining) — and Ctrl-C (SIGINT) ends it with exit code 0. With
// --json every event is one JSON object; a dead admin port is one error line.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { connect, type Client } from '../../client-sdk/index.js';
import { startChorusd, startCluster, waitFor, type DaemonProcess } from './harness.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const FAST = ['--heartbeat-ms', '100', '--suspect-ms', '800'];
let daemons: DaemonProcess[] = [];
const clients: Client[] = [];
const watchers: ChildProcess[] = [];

function startWatch(args: string[]): { proc: ChildProcess; out: () => string; err: () => string } {
  const proc = spawn(process.execPath, [`${root}/bin/chorus.js`, 'watch', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  watchers.push(proc);
  let out = '';
  let err = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  return { proc, out: () => out, err: () => err };
}

beforeAll(async () => {
  daemons = await startCluster(['a', 'b', 'c'], { args: FAST });
});

afterAll(async () => {
  for (const c of clients) c.close();
  for (const w of watchers) w.kill('SIGKILL');
  await Promise.allSettled(daemons.map((d) => d.stop('SIGKILL')));
});

describe('chorus watch', () => {
  it('prints each view change as it happens: a client joining, a daemon crash with its times, its restart; Ctrl-C exits 0', async () => {
    const [a, , c] = daemons as [DaemonProcess, DaemonProcess, DaemonProcess];
    const w = startWatch(['--admin', a.admin]);
    // The history so far comes first: the daemon views that formed the cluster.
    await waitFor('the history of daemon views', () => /daemon view \d+: \+c \(join\)/.test(w.out()), 10_000);

    const app = await connect({ url: a.url, name: 'orders-app' });
    clients.push(app);
    await app.join('orders');
    await waitFor('the client joining', () => w.out().includes(`group orders view 1: +${app.id} (join)`), 5_000);

    await c.stop('SIGKILL');
    await waitFor('the crash of c', () => /daemon view \d+: -c \(crash\)\s+\[detection \d+ ms, flush [\d.]+ ms\]/.test(w.out()), 10_000);

    const again = await startChorusd('c', { args: FAST, seeds: [a.listen] });
    daemons.push(again);
    await waitFor('c joining again', () => (w.out().match(/\+c \(join\)/g) ?? []).length >= 2, 15_000);

    w.proc.kill('SIGINT');
    const [code] = (await once(w.proc, 'close')) as [number | null];
    expect(code).toBe(0);
    expect(w.err()).toBe('');
  }, 60_000);

  it('--json: one JSON object per event, statuses and timeline entries', async () => {
    const w = startWatch(['--admin', daemons[0]!.admin, '--json']);
    await waitFor('two statuses', () => w.out().split('\n').filter((l) => l.includes('"event":"status"')).length >= 2, 10_000);
    const events = w.out().trim().split('\n').map((l) => JSON.parse(l) as { event: string; data: { daemon?: { name: string }; kind?: string } });
    expect(events.find((e) => e.event === 'status')!.data.daemon!.name).toBe('a');
    expect(events.some((e) => e.event === 'timeline' && e.data.kind === 'daemon-view')).toBe(true);
    w.proc.kill('SIGINT');
    await once(w.proc, 'close');
  }, 30_000);

  it('a dead admin port: one error line, exit 1', async () => {
    const w = startWatch(['--admin', '127.0.0.1:1']);
    const [code] = (await once(w.proc, 'close')) as [number | null];
    expect(code).toBe(1);
    expect(w.err()).toMatch(/^chorus: ERR_CONNECT .*127\.0\.0\.1:1/);
  }, 30_000);
});
