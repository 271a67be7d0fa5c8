// Failure handling over real processes: SIGKILL one of three daemons while every client
// multicasts in all four orders. The survivors must install a view without it, and the recorded history
// (SDK events + the daemons' event logs) must pass the virtual-synchrony checker.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connect, type Client, type Group } from '../../client-sdk/index.js';
import { checkHistory, checkLiveness, formatViolations, mergeHistories, readHistory } from '../checker/index.js';
import { startChorusd, waitFor, type DaemonProcess } from './harness.js';
import { HistoryRecorder } from './recorder.js';

const FAST = ['--heartbeat-ms', '100', '--suspect-ms', '800'];
/** Every client cycles through the four orders, so the checker sees them mixed. */
const ORDERS = ['fifo', 'causal', 'total', 'safe'] as const;

describe('a daemon crashes under traffic', () => {
  const daemons: DaemonProcess[] = [];
  const clients: Client[] = [];

  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await Promise.allSettled(daemons.map((d) => d.stop('SIGKILL')));
  });

  it('survivors agree, lose nothing of each other, and the history checks clean', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chorus-crash-'));
    const logOf = (name: string) => join(dir, `${name}.jsonl`);
    const a = await startChorusd('a', { args: FAST, env: { CHORUS_EVENT_LOG: logOf('a') } });
    daemons.push(a);
    for (const name of ['b', 'c']) daemons.push(await startChorusd(name, { args: FAST, seeds: [a.listen], env: { CHORUS_EVENT_LOG: logOf(name) } }));
    await waitFor('a view of three', async () => (await Promise.all(daemons.map((d) => d.status()))).every((s) => s.daemonView.members.length === 3));

    const recorder = new HistoryRecorder();
    const groups: Group[] = [];
    for (const d of daemons) {
      const c = await connect({ url: d.url, name: `app-${d.name}` });
      clients.push(c);
      const g = await c.join('ledger');
      recorder.attach(c.id, g);
      groups.push(g);
    }
    await waitFor('three members', () => groups.every((g) => g.view.members.length === 3));

    let sending = true;
    const loops = groups.map(async (g, i) => {
      let k = 0;
      while (sending) {
        try {
          await g.multicast(`${i}:${k}`, { order: ORDERS[k % ORDERS.length]! });
          k++;
        } catch {
          return; // this client's daemon died
        }
        if (k % 50 === 0) await new Promise((r) => setTimeout(r, 1));
      }
    });
    await new Promise((r) => setTimeout(r, 300));
    // The member's session ends when its connection does: events its daemon sent
    // before dying still arrive and are deliveries like any other.
    const lost = new Promise<void>((resolve) => clients[2]!.once('close', () => resolve()));
    daemons[2]!.proc.kill('SIGKILL');
    await lost;
    recorder.crash(clients[2]!.id);
    await waitFor('a and b to install a view without c', async () => {
      const st = await Promise.all(daemons.slice(0, 2).map((d) => d.status()));
      return st.every((s) => s.daemonView.members.map((m) => m.name).join(',') === 'a,b');
    }, 15_000);
    await new Promise((r) => setTimeout(r, 300));
    sending = false;
    await Promise.all(loops);
    await new Promise((r) => setTimeout(r, 500)); // let the last messages arrive

    const logs = await Promise.all(['a', 'b', 'c'].map((n) => readHistory(logOf(n))));
    // Daemon logs first: on a tie in time, a send precedes the deliveries of its message.
    const history = mergeHistories(...logs, recorder.events);
    const result = checkHistory(history);
    expect(formatViolations(result.violations)).toBe('');
    expect(formatViolations(checkLiveness(history, { live: [clients[0]!.id, clients[1]!.id] }))).toBe('');
    expect(groups[0]!.view.members).toEqual([clients[0]!.id, clients[1]!.id]);
    expect(groups[0]!.view.causes[clients[2]!.id]).toBe('crash');
    const delivered = result.stats;
    expect(delivered.deliveries).toBeGreaterThan(100);
  });
});
