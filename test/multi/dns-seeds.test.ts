// DNS seeds end to end (issue 14, item 4): real chorusd processes whose --seeds are DNS
// names, served by a DNS server in this test (helpers/dns-server.ts) that the daemons
// query through --dns-servers. On loopback every daemon is 127.0.0.1 on its own port, so
// one name standing for all of them is an SRV name (each record gives a port); an A name
// is used with an explicit port (dns:NAME:PORT). The records change while the daemons
// run, so these also show that a name is resolved again on every dial.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startChorusd, waitFor, type DaemonProcess } from './harness.js';
import { startDnsServer, type DnsTestServer } from './helpers/dns-server.js';

const FAST = ['--heartbeat-ms', '100', '--suspect-ms', '800'];
const SRV_NAME = '_peer._tcp.chorus.test';

function portOf(address: string): number {
  return Number(address.slice(address.lastIndexOf(':') + 1));
}

/** True once every daemon is in one daemon view of `size` members. */
async function oneView(daemons: readonly DaemonProcess[], size: number): Promise<boolean> {
  const st = await Promise.all(daemons.map((d) => d.status()));
  return st.every((s) => s.daemonView.members.length === size && s.daemonView.id === st[0]!.daemonView.id);
}

describe('DNS seeds', () => {
  let dns: DnsTestServer;
  const daemons: DaemonProcess[] = [];

  beforeAll(async () => {
    dns = await startDnsServer();
  });

  afterAll(async () => {
    await Promise.allSettled(daemons.map((d) => d.stop('SIGKILL')));
    await dns?.close();
  });

  it('three daemons whose only seed is an SRV name form one view of three', async () => {
    const args = [...FAST, '--expect', '3', '--dns-servers', dns.address];
    // Each daemon gets its SRV record once it is up (port 0: its port is known only then),
    // so the first ones find the name missing, then naming only themselves, then the rest.
    const srv: Array<{ target: string; port: number }> = [];
    for (const name of ['a', 'b', 'c']) {
      const d = await startChorusd(name, { args, seeds: [`dns+srv:${SRV_NAME}`] });
      daemons.push(d);
      dns.set(`${name}.chorus.test`, { a: ['127.0.0.1'] });
      srv.push({ target: `${name}.chorus.test`, port: portOf(d.listen) });
      dns.set(SRV_NAME, { srv: [...srv] });
    }
    await waitFor('one daemon view of a, b and c', () => oneView(daemons, 3), 30_000);

    const st = await Promise.all(daemons.map((d) => d.status()));
    for (const s of st) expect(s.daemonView.members.map((m) => m.name).sort()).toEqual(['a', 'b', 'c']);
    expect(dns.count(SRV_NAME, 'SRV')).toBeGreaterThanOrEqual(3);
    for (const d of daemons) {
      // Its own address is in the answer: skipped, never dialled (no self-connection refused).
      expect(d.output.some((l) => l.includes('connection to self'))).toBe(false);
      expect(d.proc.exitCode).toBeNull();
    }
  });

  it('a name that does not resolve yet, then names a dead address, is resolved again on every dial until it names a live daemon', async () => {
    expect(daemons).toHaveLength(3); // the cluster of the first test
    const name = 'late.chorus.test';
    const a = daemons[0]!;
    // A mixed seed list: a DNS name with an explicit port (A records), and a plain seed
    // that nothing listens on, which must not stop the DNS seed from working.
    const d = await startChorusd('d', {
      args: [...FAST, '--expect', '3', '--dns-servers', dns.address],
      seeds: [`dns:${name}:${portOf(a.listen)}`, '127.0.0.1:1'],
    });
    daemons.push(d);

    // NXDOMAIN: a warn line (once), and lookups again after the backoff, not a crash.
    await waitFor('two lookups of the missing name', () => dns.count(name, 'A') >= 2, 15_000);
    await waitFor('the warn line', () => d.output.some((l) => l.includes('cannot resolve DNS seed')));
    const warn = JSON.parse(d.output.find((l) => l.includes('cannot resolve DNS seed'))!) as Record<string, unknown>;
    expect(warn).toMatchObject({ level: 40, seed: `dns:${name}:${portOf(a.listen)}`, code: 'ENOTFOUND' });
    expect((await d.status()).daemonView.members).toHaveLength(0);

    // Now a stale address (nothing listens on 127.0.0.2): dialled, refused, tried again.
    dns.set(name, { a: ['127.0.0.2'] });
    const refused = () => d.output.some((l) => l.includes('cannot reach an address of the DNS seed') && l.includes('127.0.0.2'));
    await waitFor('a dial of the stale address, refused', refused, 15_000);
    const atRefusal = dns.count(name, 'A');
    await waitFor('the name looked up again after the refusal', () => dns.count(name, 'A') > atRefusal, 15_000);
    expect((await d.status()).daemonView.members).toHaveLength(0);

    // The record moves to the live daemon: the next dial finds it and d joins.
    dns.set(name, { a: ['127.0.0.1'] });
    await waitFor('one daemon view of a, b, c and d', () => oneView(daemons, 4), 30_000);
    expect(d.proc.exitCode).toBeNull();

    const metrics = await (await fetch(`http://${d.admin}/metrics`)).text();
    const failed = Number(/chorus_dns_seed_lookups_total\{result="failed"\} (\d+)/.exec(metrics)?.[1]);
    const ok = Number(/chorus_dns_seed_lookups_total\{result="ok"\} (\d+)/.exec(metrics)?.[1]);
    expect(failed).toBeGreaterThanOrEqual(2);
    expect(ok).toBeGreaterThanOrEqual(3);
  });

  it('refuses a dns: seed without --expect, and a malformed one, at startup', async () => {
    await expect(startChorusd('e', { seeds: [`dns+srv:${SRV_NAME}`], readyTimeoutMs: 10_000 })).rejects.toThrow(/--expect/);
    await expect(startChorusd('f', { seeds: ['dns+srv:bad_name..test'], args: ['--expect', '2'], readyTimeoutMs: 10_000 })).rejects.toThrow(
      /not a DNS name/,
    );
  });
});
