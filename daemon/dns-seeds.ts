// DNS seeds: `--seeds dns:NAME[:PORT]` (every A and AAAA address of NAME) and
// `--seeds dns+srv:NAME` (the targets and ports of NAME's SRV records), parsed by
// daemon/config.ts parseSeed.
//
// A DNS seed is a name, not an address: it is resolved again before every dial, because
// the daemons behind it come and go with new addresses (a Kubernetes headless Service
// lists the pod IPs of the moment). Each round resolves the name, skips the addresses
// that are this daemon, and dials each of the others once (PeerLinks.probeSeed). The
// seed is done once every address of a round reached a daemon (at least one that is not
// this one), as a plain seed is done once its daemon answered; otherwise the next round
// comes after the links' backoff (250 ms doubling to 2 s, with jitter). A name that does
// not resolve (NXDOMAIN, no records, a timeout) is counted and logged at warn, at most
// once per 30 s per seed, and tried again after the same backoff: never a crash, never
// a busy loop.
//
// All of this is the daemon's IO side: the core (src/core) never sees a name, only the
// `peer-up` of the daemons these dials reach, as it does for plain seeds.

import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';

import { ChorusError } from '../src/errors.js';
import { formatHostPort, formatSeed, type DnsSeedSpec } from './config.js';
import type { Logger } from './logger.js';
import { LogLimiter } from './peer-auth.js';
import { RETRY_MAX_MS, RETRY_MIN_MS, withJitter, type SeedProbe } from './peer-links.js';

// Limits (TigerStyle: a limit on everything).
/** Addresses taken from one resolution (the seed limit of daemon/config.ts). */
export const MAX_ADDRESSES_PER_SEED = 1024;
/** One query's timeout, and tries per server, before a resolution fails. */
const DNS_TIMEOUT_MS = 2_000;
const DNS_TRIES = 2;
/** Resolution failures of one seed logged at most once per this window. */
const FAILURE_LOG_WINDOW_MS = 30_000;
/** Addresses that turned out to be this daemon, remembered so they are not dialled again. */
const MAX_SELF_ADDRESSES = 64;

/** A DNS seed that did not resolve to any address. `dnsCode`: ENOTFOUND, ENODATA, ETIMEOUT, ... */
export class DnsSeedError extends ChorusError {
  constructor(
    readonly dnsCode: string,
    message: string,
  ) {
    super('ERR_DNS_SEED', message);
  }
}

/** The queries a DNS seed needs: node:dns/promises `Resolver` has them (tests may fake them). */
export interface DnsLookups {
  resolve4(name: string): Promise<string[]>;
  resolve6(name: string): Promise<string[]>;
  resolveSrv(name: string): Promise<Array<{ name: string; port: number; priority: number; weight: number }>>;
  /** Stops the queries under way (they fail with ECANCELLED). */
  cancel?(): void;
}

/** A resolver that asks `servers` (`ip:port`), or the system's DNS servers when empty. */
export function createLookups(servers: readonly string[]): DnsLookups {
  const resolver = new Resolver({ timeout: DNS_TIMEOUT_MS, tries: DNS_TRIES });
  if (servers.length > 0) resolver.setServers([...servers]);
  return resolver;
}

/**
 * The `host:port` addresses `seed` names now: for `dns:`, every A and AAAA address of
 * the name on the seed's port; for `dns+srv:`, every SRV record's target (its A and AAAA
 * addresses, or the target itself when it is an IP address) on the record's port.
 * Throws DnsSeedError when that is no address at all.
 */
export async function resolveSeed(lookups: DnsLookups, seed: DnsSeedSpec): Promise<string[]> {
  if (seed.kind === 'dns') {
    return (await resolveHost(lookups, seed.name)).map((ip) => formatHostPort(ip, seed.port)).slice(0, MAX_ADDRESSES_PER_SEED);
  }
  let records: Array<{ name: string; port: number; priority: number; weight: number }>;
  try {
    records = await lookups.resolveSrv(seed.name);
  } catch (err) {
    throw dnsError(err, seed.name, 'SRV');
  }
  // RFC 2782: a target "." means the service is not offered there; port 0 cannot be dialled.
  const usable = records
    .filter((r) => r.port > 0 && r.name !== '' && r.name !== '.')
    .sort((a, b) => a.priority - b.priority)
    .slice(0, MAX_ADDRESSES_PER_SEED);
  if (usable.length === 0) throw new DnsSeedError('ENODATA', `${seed.name}: no SRV record with a target and a port`);
  const targets = await Promise.allSettled(
    usable.map(async (r) => (isIP(r.name) !== 0 ? [r.name] : await resolveHost(lookups, r.name)).map((ip) => formatHostPort(ip, r.port))),
  );
  const addresses = [...new Set(targets.flatMap((t) => (t.status === 'fulfilled' ? t.value : [])))];
  if (addresses.length === 0) {
    // Every target failed: report the first target's reason.
    const first = targets.find((t): t is PromiseRejectedResult => t.status === 'rejected');
    throw first?.reason instanceof DnsSeedError ? first.reason : new DnsSeedError('ENODATA', `${seed.name}: no SRV target resolved`);
  }
  return addresses.slice(0, MAX_ADDRESSES_PER_SEED);
}

/** Every A and AAAA address of `name`; a name with only one of the two is fine. */
async function resolveHost(lookups: DnsLookups, name: string): Promise<string[]> {
  const [v4, v6] = await Promise.allSettled([lookups.resolve4(name), lookups.resolve6(name)]);
  const ips = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
  if (ips.length > 0) return [...new Set(ips)];
  // Neither family has an address: report the more telling failure (a timeout or
  // NXDOMAIN says more than the other family's "no data").
  const errors = [v4, v6].filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => dnsError(r.reason, name, 'A/AAAA'));
  const telling = errors.find((e) => e.dnsCode !== 'ENODATA') ?? errors[0];
  throw telling ?? new DnsSeedError('ENODATA', `${name}: no A or AAAA record`);
}

function dnsError(err: unknown, name: string, what: string): DnsSeedError {
  if (err instanceof DnsSeedError) return err;
  const code = (err as { code?: unknown }).code;
  const dnsCode = typeof code === 'string' ? code : 'EDNS';
  const reason = err instanceof Error ? err.message : String(err);
  return new DnsSeedError(dnsCode, `${name}: ${what} lookup failed: ${reason}`);
}

export interface DnsSeedsOptions {
  readonly seeds: readonly DnsSeedSpec[];
  /** This daemon's own addresses (its listen and advertise addresses): never dialled. */
  readonly self: readonly string[];
  /** Dials one resolved address once (PeerLinks.probeSeed). */
  readonly dial: (address: string) => Promise<SeedProbe>;
  readonly lookups: DnsLookups;
  readonly logger: Logger;
}

export interface DnsSeedsStats {
  /** Resolutions of DNS seeds, and those that gave no address (counted in both). */
  lookups: number;
  lookupFailures: number;
}

/** One DNS seed's rounds: resolve, dial every address, again after a backoff until done. */
interface SeedRounds {
  readonly spec: DnsSeedSpec;
  /** As configured (normalized), for log lines. */
  readonly text: string;
  backoffMs: number;
  timer: NodeJS.Timeout | undefined;
  /** Resolution failures in a row, and how often they were logged. */
  failures: number;
  readonly failureLog: LogLimiter;
  /** The addresses of the last resolution, to log a change once. */
  lastAddresses: string;
  /** Per address, the last dial error code logged (each distinct one logged once). */
  dialErrors: Map<string, string>;
}

/** Resolves and dials the DNS seeds until each one is done (see the top of this file). */
export class DnsSeeds {
  private readonly log: Logger;
  private readonly selfAddresses: Set<string>;
  private readonly rounds: SeedRounds[];
  private readonly counters: DnsSeedsStats = { lookups: 0, lookupFailures: 0 };
  private closed = false;

  constructor(private readonly options: DnsSeedsOptions) {
    this.log = options.logger.child({ component: 'dns-seeds' });
    this.selfAddresses = new Set(options.self);
    this.rounds = options.seeds.map((spec) => ({
      spec,
      text: formatSeed(spec),
      backoffMs: RETRY_MIN_MS,
      timer: undefined,
      failures: 0,
      failureLog: new LogLimiter(1, FAILURE_LOG_WINDOW_MS),
      lastAddresses: '',
      dialErrors: new Map(),
    }));
  }

  get stats(): Readonly<DnsSeedsStats> {
    return { ...this.counters };
  }

  /** Starts every seed's first round. */
  start(): void {
    for (const r of this.rounds) void this.round(r);
  }

  /** Stops: no more resolutions or dials (dials under way are PeerLinks.close()'s). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const r of this.rounds) {
      if (r.timer !== undefined) clearTimeout(r.timer);
      r.timer = undefined;
    }
    this.options.lookups.cancel?.();
  }

  private async round(r: SeedRounds): Promise<void> {
    if (this.closed) return;
    let addresses: string[];
    this.counters.lookups++;
    try {
      addresses = await resolveSeed(this.options.lookups, r.spec);
    } catch (err) {
      if (this.closed) return;
      this.onLookupFailure(r, err);
      this.retry(r);
      return;
    }
    if (this.closed) return;
    this.onResolved(r, addresses);
    const targets = addresses.filter((a) => !this.selfAddresses.has(a));
    const probes = await Promise.all(targets.map((a) => this.options.dial(a)));
    if (this.closed) return;
    let linked = 0;
    let failed = 0;
    for (const [i, probe] of probes.entries()) {
      const address = targets[i]!;
      if (probe.outcome === 'linked') {
        linked++;
        r.dialErrors.delete(address);
      } else if (probe.outcome === 'self') {
        // Only this address is skipped from now on; the name stays a seed.
        if (this.selfAddresses.size < this.options.self.length + MAX_SELF_ADDRESSES) this.selfAddresses.add(address);
        this.log.info({ seed: r.text, address }, 'an address of the DNS seed is this daemon; skipping it');
      } else {
        failed++;
        this.onDialFailure(r, address, probe);
      }
    }
    // Done like a plain seed once its daemons answered. A name that stands for this daemon
    // alone is not done: the others it will name have not started yet.
    if (linked > 0 && failed === 0) {
      this.log.info({ seed: r.text, linked }, 'DNS seed reached: every daemon it names is linked');
      return;
    }
    this.retry(r);
  }

  private retry(r: SeedRounds): void {
    if (this.closed) return;
    const delay = withJitter(r.backoffMs);
    r.backoffMs = Math.min(r.backoffMs * 2, RETRY_MAX_MS);
    r.timer = setTimeout(() => {
      r.timer = undefined;
      void this.round(r);
    }, delay);
  }

  private onLookupFailure(r: SeedRounds, err: unknown): void {
    this.counters.lookupFailures++;
    r.failures++;
    const e = dnsError(err, r.spec.name, r.spec.kind === 'srv' ? 'SRV' : 'A/AAAA');
    const suppressed = r.failureLog.take();
    const line = { seed: r.text, code: e.dnsCode, reason: e.message, failures: r.failures, ...(suppressed ? { suppressed } : {}) };
    if (suppressed !== undefined) this.log.warn(line, 'cannot resolve DNS seed (retrying with backoff)');
    else this.log.debug(line, 'cannot resolve DNS seed');
  }

  private onResolved(r: SeedRounds, addresses: readonly string[]): void {
    const text = [...addresses].sort().join(','); // a server may rotate the order: not a change
    const changed = text !== r.lastAddresses;
    r.lastAddresses = text;
    const line = { seed: r.text, addresses, ...(r.failures > 0 ? { afterFailures: r.failures } : {}) };
    if (changed || r.failures > 0) this.log.info(line, 'DNS seed resolved');
    else this.log.debug(line, 'DNS seed resolved');
    r.failures = 0;
    for (const a of r.dialErrors.keys()) if (!addresses.includes(a)) r.dialErrors.delete(a);
  }

  /** Each distinct error of an address once (refusals at error, like a plain seed's), the rest at debug. */
  private onDialFailure(r: SeedRounds, address: string, probe: Extract<SeedProbe, { outcome: 'failed' }>): void {
    if (probe.code === 'ERR_CLOSED') return;
    const first = r.dialErrors.get(address) !== probe.code;
    r.dialErrors.set(address, probe.code);
    const line = { seed: r.text, address, code: probe.code, reason: probe.reason };
    if (first && probe.refused) this.log.error(line, 'peer refused our connection (retrying with backoff)');
    else if (first) this.log.info(line, 'cannot reach an address of the DNS seed (retrying with backoff)');
    else this.log.debug(line, 'cannot reach an address of the DNS seed');
  }
}
