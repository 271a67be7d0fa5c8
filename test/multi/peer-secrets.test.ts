// Cluster secrets with real chorusd processes (issue 10, must-have 5): a rotation in
// progress still forms one cluster, a wrong secret is refused, and a daemon that opens
// its peer port beyond loopback without a secret says so once at start.
import { afterAll, describe, expect, it } from 'vitest';

import { connect } from '../../client-sdk/index.js';
import { writeTemp } from './certs.js';
import { startChorusd, waitFor, type DaemonProcess } from './harness.js';

const WARNING = 'peer port bound to a non-loopback address without --secret';

describe('cluster secrets', () => {
  const daemons: DaemonProcess[] = [];
  afterAll(async () => {
    await Promise.allSettled(daemons.map((d) => d.stop('SIGKILL')));
  });
  const start = async (...args: Parameters<typeof startChorusd>): Promise<DaemonProcess> => {
    const d = await startChorusd(...args);
    daemons.push(d);
    return d;
  };
  const members = async (d: DaemonProcess) => (await d.status()).daemonView.members.map((m) => m.name).sort();

  it('rotation: [new, old], [old] (from CHORUS_SECRET) and [new, old] (from --secret-file) form one cluster', async () => {
    const a = await start('a', { args: ['--secret', 'new-secret', '--secret-previous', 'old-secret'] });
    const b = await start('b', { seeds: [a.listen], env: { CHORUS_SECRET: 'old-secret' } });
    await waitFor('a and b together', async () => (await members(a)).length === 2 && (await members(b)).length === 2);
    const file = writeTemp({ secret: 'new-secret\nold-secret\n' }).secret!;
    const c = await start('c', { seeds: [b.listen], args: ['--secret-file', file] });
    await waitFor('a view of three', async () => {
      const all = await Promise.all([a, b, c].map(members));
      return all.every((m) => m.join() === 'a,b,c');
    });
    for (const d of [a, b, c]) expect(d.output.some((l) => l.includes('"code":"ERR_AUTH"'))).toBe(false);

    // Traffic over the MAC'd links: small messages and one of 1 MiB (cut into pieces).
    const clients = await Promise.all([a, b, c].map((d) => connect({ url: d.url, name: `app-${d.name}` })));
    try {
      const groups = await Promise.all(clients.map((cl) => cl.join('g')));
      const delivered: string[][] = [[], [], []];
      groups.forEach((g, i) => g.on('message', (m) => delivered[i]!.push(`${m.id}:${m.data.length}`)));
      await waitFor('three members', () => groups.every((g) => g.view.members.length === 3));
      await Promise.all(groups.flatMap((g, i) => Array.from({ length: 50 }, (_, k) => g.multicast(`${i}:${k}`))));
      await groups[0]!.multicast(new Uint8Array(1024 * 1024));
      await waitFor('151 deliveries each', () => delivered.every((d) => d.length === 151));
      expect(delivered[1]).toEqual(delivered[0]);
      expect(delivered[2]).toEqual(delivered[0]);
    } finally {
      await Promise.allSettled(clients.map((cl) => cl.close()));
    }
  });

  it('refuses a daemon with a wrong secret (ERR_AUTH at both ends); it stays out', async () => {
    const a = daemons[0]!;
    const w = await start('w', { seeds: [a.listen], args: ['--secret', 'wrong-secret'] });
    await waitFor('the refusal at a', () => a.output.some((l) => l.includes('"code":"ERR_AUTH"') && l.includes('refused peer connection')));
    await waitFor('the refusal at w', () => w.output.some((l) => l.includes('"code":"ERR_AUTH"')));
    expect(await members(a)).toEqual(['a', 'b', 'c']);
    expect(await members(w)).not.toContain('a');
    const metrics = await (await fetch(`http://${a.admin}/metrics`)).text();
    const count = Number(/chorus_peer_auth_failures_total\{kind="secret"\} (\d+)/.exec(metrics)?.[1]);
    expect(count).toBeGreaterThanOrEqual(1);
  });

  it('warns once when the peer port is not loopback and there is no secret', async () => {
    const open = await start('open', { args: ['--listen', '0.0.0.0:0'] });
    const closed = await start('closed', { args: ['--listen', '0.0.0.0:0', '--secret', 'x'] });
    expect(open.output.filter((l) => l.includes(WARNING)).length).toBe(1);
    expect(closed.output.some((l) => l.includes(WARNING))).toBe(false);
    expect(daemons[0]!.output.some((l) => l.includes(WARNING))).toBe(false); // loopback
  });
});
