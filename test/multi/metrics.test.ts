// GET /metrics on real daemons (daemon/metrics.ts, prom-client): the process and Node
// families, build info, mode, the view, per-group members and traffic, and the
// histograms that move with traffic (delivery latency at the sender, a state transfer)
// and with a daemon killed (detection, flush, flush rounds, departures by cause).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { connect, type Client } from '../../client-sdk/index.js';
import { startCluster, waitFor, type DaemonProcess } from './harness.js';

const FAST = ['--heartbeat-ms', '100', '--suspect-ms', '800'];
let daemons: DaemonProcess[] = [];
const clients: Client[] = [];

/** One sample's value: `name{labels} value`, the labels given as a substring. */
function sample(text: string, name: string, labels = ''): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (!(rest.startsWith(' ') || rest.startsWith('{'))) continue;
    if (labels !== '' && !rest.includes(labels)) continue;
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

async function scrape(d: DaemonProcess): Promise<string> {
  const res = await fetch(`http://${d.admin}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  return res.text();
}

beforeAll(async () => {
  daemons = await startCluster(['a', 'b', 'c'], { args: FAST });
});

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.allSettled(daemons.map((d) => d.stop('SIGKILL')));
});

describe('GET /metrics', () => {
  it('shows the process, Node and Chorus families; the histograms move with traffic, a state transfer and a crash', async () => {
    const [a, b, c] = daemons as [DaemonProcess, DaemonProcess, DaemonProcess];
    const before = await scrape(a);
    for (const family of [
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_p99_seconds',
      'nodejs_heap_size_used_bytes',
      'chorus_daemon_view_id',
      'chorus_daemon_view_members',
      'chorus_peer_frames_rejected_total',
      'chorus_fetches_sent_total',
      'chorus_entries_retransmitted_total',
    ]) {
      expect(sample(before, family), family).toBeGreaterThanOrEqual(0);
    }
    // GC durations: the family is there before the first collection has a sample.
    expect(before).toContain('# TYPE nodejs_gc_duration_seconds histogram');
    expect(sample(before, 'chorus_build_info', 'version=')).toBe(1);
    expect(sample(before, 'chorus_mode', 'mode="normal"')).toBe(1);
    expect(sample(before, 'chorus_primary')).toBe(1);
    expect(sample(before, 'chorus_daemon_view_members')).toBe(3);
    await waitFor('round trips to both peers', async () => {
      const t = await scrape(a);
      return (sample(t, 'chorus_link_rtt_seconds', 'peer="b#') ?? -1) > 0 && (sample(t, 'chorus_link_rtt_seconds', 'peer="c#') ?? -1) > 0;
    });

    // Traffic, and a joiner with state: the latency and transfer histograms fill.
    const provider = await connect({ url: a.url, name: 'provider' });
    clients.push(provider);
    const g = await provider.join('orders', { state: { provide: () => new Uint8Array(100_000) } });
    for (let i = 0; i < 64; i++) await g.multicast(`m${i}`, { order: 'total' });
    const joiner = await connect({ url: a.url, name: 'joiner' });
    clients.push(joiner);
    await joiner.join('orders', { state: { install: async (s) => void (await s.bytes()) } });
    const traffic = await scrape(a);
    expect(sample(traffic, 'chorus_group_members', 'group="orders"')).toBe(2);
    expect(sample(traffic, 'chorus_group_messages_sent_total', 'group="orders"')).toBe(64);
    expect(sample(traffic, 'chorus_group_messages_delivered_total', 'group="orders"')).toBeGreaterThanOrEqual(64);
    expect(sample(traffic, 'chorus_delivery_latency_seconds_count')).toBeGreaterThanOrEqual(8);
    expect(sample(traffic, 'chorus_state_transfer_bytes_count')).toBe(1);
    expect(sample(traffic, 'chorus_state_transfer_bytes_sum')).toBe(100_000);
    expect(sample(traffic, 'chorus_state_transfer_seconds_count')).toBe(1);

    // A daemon killed: a view change with its detection and flush time, cause crash.
    const flushesBefore = sample(traffic, 'chorus_view_change_flush_seconds_count') ?? 0;
    await c.stop('SIGKILL');
    await waitFor('a and b in a view of two', async () => (await Promise.all([a, b].map((d) => d.status()))).every((s) => s.daemonView.members.length === 2));
    const after = await scrape(a);
    expect(sample(after, 'chorus_view_change_flush_seconds_count')).toBe(flushesBefore + 1);
    expect(sample(after, 'chorus_view_change_detection_seconds_count')).toBeGreaterThanOrEqual(1);
    // Detection includes the silence before the suspicion: at least most of the suspect timeout.
    expect(sample(after, 'chorus_view_change_detection_seconds_sum')).toBeGreaterThan(0.5);
    expect(sample(after, 'chorus_view_change_flush_rounds_count')).toBe(flushesBefore + 1);
    expect(sample(after, 'chorus_view_change_departures_total', 'cause="crash"')).toBe(1);
    expect(sample(after, 'chorus_daemon_view_members')).toBe(2);
  }, 60_000);
});
