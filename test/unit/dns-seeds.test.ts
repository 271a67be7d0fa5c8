// DNS seeds (daemon/dns-seeds.ts): resolution against a real DNS server (the test one of
// test/multi/helpers/dns-server.ts, queried by node:dns through createLookups), the
// rounds of DnsSeeds (retry with backoff, self skipped, done once linked), and
// PeerLinks.probeSeed, the one-shot dial they use.
import { createServer, type AddressInfo } from 'node:net';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { DnsSeeds, DnsSeedError, createLookups, resolveSeed, type DnsLookups } from '../../daemon/dns-seeds.js';
import { RETRY_MIN_MS, type SeedProbe } from '../../daemon/peer-links.js';
import { startDnsServer, type DnsTestServer } from '../multi/helpers/dns-server.js';
import { capture } from './helpers/log-capture.js';
import { usePeerLinks } from './helpers/peer-links.js';
import { sleep, until } from './helpers/wait.js';

describe('resolveSeed', () => {
  let dns: DnsTestServer;
  let lookups: DnsLookups;
  beforeAll(async () => {
    dns = await startDnsServer();
    lookups = createLookups([dns.address]);
  });
  afterAll(async () => {
    await dns.close();
  });

  it('dns:NAME:PORT gives every A and AAAA address of the name on that port', async () => {
    dns.set('both.test', { a: ['10.0.0.1', '10.0.0.2'], aaaa: ['fd00::1'] });
    expect(await resolveSeed(lookups, { kind: 'dns', name: 'both.test', port: 7501 })).toEqual(['10.0.0.1:7501', '10.0.0.2:7501', '[fd00::1]:7501']);
    dns.set('v6.test', { aaaa: ['::1'] });
    expect(await resolveSeed(lookups, { kind: 'dns', name: 'v6.test', port: 7500 })).toEqual(['[::1]:7500']);
  });

  it('dns+srv:NAME gives each SRV target on its own port, skipping targets that do not resolve', async () => {
    dns.set('t1.test', { a: ['127.0.0.1'] });
    dns.set('t2.test', { a: ['127.0.0.2'] });
    dns.set('_peer._tcp.srv.test', {
      srv: [
        { target: 't1.test', port: 7501 },
        { target: 't2.test', port: 7502 },
        { target: 'missing.test', port: 7503 },
        { target: '127.0.0.4', port: 7504 }, // an IP address as target: used as it is
      ],
    });
    const got = await resolveSeed(lookups, { kind: 'srv', name: '_peer._tcp.srv.test' });
    expect(got.sort()).toEqual(['127.0.0.1:7501', '127.0.0.2:7502', '127.0.0.4:7504']);
  });

  it('fails with a DnsSeedError naming the DNS code: NXDOMAIN, no records, no usable target', async () => {
    const fail = async (p: Promise<unknown>) => {
      const err = await p.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(DnsSeedError);
      expect((err as DnsSeedError).code).toBe('ERR_DNS_SEED');
      return err as DnsSeedError;
    };
    expect((await fail(resolveSeed(lookups, { kind: 'dns', name: 'nowhere.test', port: 1 }))).dnsCode).toBe('ENOTFOUND');
    dns.set('empty.test', {});
    const empty = await fail(resolveSeed(lookups, { kind: 'dns', name: 'empty.test', port: 1 }));
    expect(empty.dnsCode).toBe('ENODATA');
    expect(empty.message).toMatch(/empty\.test/);
    expect((await fail(resolveSeed(lookups, { kind: 'srv', name: '_x._tcp.nowhere.test' }))).dnsCode).toBe('ENOTFOUND');
    dns.set('_peer._tcp.dead.test', { srv: [{ target: 'missing.test', port: 7501 }] });
    expect((await fail(resolveSeed(lookups, { kind: 'srv', name: '_peer._tcp.dead.test' }))).dnsCode).toBe('ENOTFOUND');
  });

  it('fails with a DnsSeedError when the DNS server does not answer', async () => {
    const silent = await startDnsServer();
    await silent.close(); // nothing listens on that port now: refused, or unanswered until the timeout
    const err = await resolveSeed(createLookups([silent.address]), { kind: 'dns', name: 'x.test', port: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DnsSeedError);
    expect(['ETIMEOUT', 'ECONNREFUSED']).toContain((err as DnsSeedError).dnsCode);
  }, 20_000);
});

/** Lookups answered from `answers`, one per resolution in order (an Error: that failure), then the last one again. */
function scripted(answers: Array<string[] | Error>): DnsLookups & { calls: number } {
  const state = {
    calls: 0,
    async resolve4(): Promise<string[]> {
      const a = answers[Math.min(state.calls, answers.length - 1)]!;
      state.calls++;
      if (a instanceof Error) throw a;
      return a;
    },
    async resolve6(): Promise<string[]> {
      throw Object.assign(new Error('no AAAA'), { code: 'ENODATA' });
    },
    async resolveSrv(): Promise<Array<{ name: string; port: number; priority: number; weight: number }>> {
      throw new Error('unused');
    },
  };
  return state;
}

function nxdomain(): Error {
  return Object.assign(new Error('queryA ENOTFOUND x.test'), { code: 'ENOTFOUND' });
}

describe('DnsSeeds', () => {
  const running: DnsSeeds[] = [];
  afterEach(() => {
    for (const s of running.splice(0)) s.close();
  });

  function start(lookups: DnsLookups, dial: (address: string) => Promise<SeedProbe>, self: string[] = ['127.0.0.1:7500']) {
    const log = capture('d');
    const seeds = new DnsSeeds({ seeds: [{ kind: 'dns', name: 'x.test', port: 7500 }], self, dial, lookups, logger: log.logger });
    running.push(seeds);
    seeds.start();
    return { seeds, log };
  }

  it('resolves again after a failure, with the backoff, warning once; done once every address is linked', async () => {
    const lookups = scripted([nxdomain(), nxdomain(), ['10.0.0.1', '10.0.0.2']]);
    const dialled: string[] = [];
    const times: number[] = [];
    const started = performance.now();
    const { seeds, log } = start(
      {
        ...lookups,
        resolve4: (n) => {
          times.push(performance.now() - started);
          return lookups.resolve4(n);
        },
      },
      async (a) => {
        dialled.push(a);
        return { outcome: 'linked' };
      },
    );
    await until(() => log.lines.some((l) => l.msg === 'DNS seed reached: every daemon it names is linked'), 5_000);
    expect(dialled.sort()).toEqual(['10.0.0.1:7500', '10.0.0.2:7500']);
    expect(seeds.stats).toEqual({ lookups: 3, lookupFailures: 2 });
    // Backoff: 250 ms, then 500 ms (±20 %): no busy loop.
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(RETRY_MIN_MS * 0.8 - 5);
    expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(2 * RETRY_MIN_MS * 0.8 - 5);
    const warns = log.lines.filter((l) => l.msg === 'cannot resolve DNS seed (retrying with backoff)');
    expect(warns).toHaveLength(1); // rate-limited: the second failure is at debug
    expect(warns[0]).toMatchObject({ level: 40, seed: 'dns:x.test:7500', code: 'ENOTFOUND', failures: 1 });
    // Done: no more lookups.
    await sleep(700);
    expect(seeds.stats.lookups).toBe(3);
  });

  it("skips this daemon's own addresses and remembers those the handshake found to be it; a name for itself alone is not done", async () => {
    const lookups = scripted([['127.0.0.1', '127.0.0.9']]);
    const dialled: string[] = [];
    const { seeds, log } = start(lookups, async (a) => {
      dialled.push(a);
      return { outcome: 'self' }; // 127.0.0.9 is this daemon too (say, another interface)
    });
    await until(() => seeds.stats.lookups >= 3, 5_000);
    expect(dialled).toEqual(['127.0.0.9:7500']); // once: then remembered; 127.0.0.1:7500 never (the listen address)
    expect(log.lines.filter((l) => l.msg === 'an address of the DNS seed is this daemon; skipping it')).toHaveLength(1);
    expect(log.lines.some((l) => l.msg === 'DNS seed reached: every daemon it names is linked')).toBe(false);
  });

  it('dials again only while an address fails, and logs each distinct failure once', async () => {
    const lookups = scripted([['10.0.0.1', '10.0.0.2']]);
    let failures = 2;
    const dialled: string[] = [];
    const { log } = start(lookups, async (a) => {
      dialled.push(a);
      if (a === '10.0.0.2:7500' && failures-- > 0) return { outcome: 'failed', code: 'ECONNREFUSED', reason: 'refused', refused: false };
      return { outcome: 'linked' };
    });
    await until(() => log.lines.some((l) => l.msg === 'DNS seed reached: every daemon it names is linked'), 5_000);
    expect(dialled.filter((a) => a === '10.0.0.2:7500')).toHaveLength(3);
    expect(log.lines.filter((l) => l.msg === 'cannot reach an address of the DNS seed (retrying with backoff)')).toHaveLength(1);
  });

  it('close() stops the rounds', async () => {
    const lookups = scripted([nxdomain()]);
    const { seeds } = start(lookups, async () => ({ outcome: 'linked' }));
    await until(() => lookups.calls >= 1);
    seeds.close();
    const calls = lookups.calls;
    await sleep(700);
    expect(lookups.calls).toBe(calls);
  });
});

describe('PeerLinks.probeSeed', () => {
  const { makeLinks, servers } = usePeerLinks();

  it('links a daemon once (peer-up), and does not dial an address already linked', async () => {
    const a = await makeLinks('a');
    const b = await makeLinks('b');
    const ups: string[] = [];
    a.links.on('peer-up', (p) => ups.push(p));
    expect(await a.links.probeSeed(b.address)).toEqual({ outcome: 'linked' });
    await until(() => a.links.isUp(b.key));
    expect(ups).toEqual([b.key]);
    expect(await a.links.probeSeed(b.address)).toEqual({ outcome: 'linked' });
    expect(a.log.lines.filter((l) => l.msg === 'dialling an address of a DNS seed')).toHaveLength(1);
  });

  it('says self for this daemon, and failed (without retrying) for a dead address', async () => {
    const a = await makeLinks('a');
    expect(await a.links.probeSeed(a.address)).toEqual({ outcome: 'self' });
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const probe = await a.links.probeSeed(`127.0.0.1:${port}`);
    expect(probe).toMatchObject({ outcome: 'failed', code: 'ECONNREFUSED', refused: false });
    await sleep(400);
    expect(a.log.lines.filter((l) => l.msg === 'dialling an address of a DNS seed')).toHaveLength(2);
  });

  it('settles a probe under way when the links close', async () => {
    const a = await makeLinks('a');
    const mute = createServer(() => {}); // accepts, never answers the hello
    servers.push(mute);
    await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r));
    const probe = a.links.probeSeed(`127.0.0.1:${(mute.address() as AddressInfo).port}`);
    await sleep(50);
    await a.links.close();
    expect(await probe).toMatchObject({ outcome: 'failed', code: 'ERR_CLOSED' });
  });
});
