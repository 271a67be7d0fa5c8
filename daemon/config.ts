// chorusd configuration: command-line flags, a JSON config file and CHORUS_* environment
// variables, in that precedence (DESIGN.md "Operating it"), over built-in defaults.
//
// Every value is validated here, once, so the rest of the daemon can trust its config:
// an invalid value is a ConfigError that names where it came from (the flag, the
// environment variable, or the config file and key) and what was expected. Unknown flags
// and unknown config-file keys are errors too: a typo must not silently fall back to a
// default.

import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import { createSecureContext } from 'node:tls';
import { parseArgs } from 'node:util';

import { ConfigError } from '../src/errors.js';
import type { TlsMaterial } from './tls.js';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface DaemonConfig {
  /** Daemon name, unique in the cluster (default: this host's name). */
  readonly name: string;
  /** Cluster name; peers of another cluster are refused at the handshake. */
  readonly cluster: string;
  /** Peer (daemon-to-daemon) TCP address, `host:port`; port 0 picks a free port. */
  readonly listen: string;
  /** Address other daemons dial; undefined = the actual listen address once bound. */
  readonly advertise: string | undefined;
  /** WebSocket gateway for SDK clients, `host:port`. */
  readonly client: string;
  /**
   * Directory whose files the client port also serves over plain HTTP (a page and its
   * assets, next to GET /chorus.js, the SDK bundle): absolute, checked to be a directory.
   * Undefined: only /chorus.js.
   */
  readonly serveDir: string | undefined;
  /** HTTP admin address (`/status`, `/metrics`, the status page), `host:port`. */
  readonly admin: string;
  /**
   * Seeds to join through, normalized (`host:port`, `dns:name:port`, `dns+srv:name`: see
   * parseSeed); empty = start a new cluster at once.
   */
  readonly seeds: readonly string[];
  /**
   * Daemons that must be together before the first primary forms (undefined = seeds + 1;
   * required with a DNS seed, which names an unknown number of daemons).
   */
  readonly expect: number | undefined;
  /** DNS servers (`ip:port`) that resolve DNS seeds; empty = the system's (/etc/resolv.conf). */
  readonly dnsServers: readonly string[];
  readonly heartbeatMs: number;
  readonly suspectMs: number;
  /** Largest multicast payload accepted from a client. */
  readonly maxMessageBytes: number;
  /** Bound of the buffer of unstable messages; past it, senders are slowed. */
  readonly maxBufferBytes: number;
  /**
   * Slow-consumer policy: bound of the events waiting to reach one client (queued plus
   * the socket's buffer); past it the client is expelled ('slow-consumer').
   */
  readonly clientBufferBytes: number;
  readonly logLevel: LogLevel;
  /**
   * Shared cluster secret: daemons authenticate each other with a challenge–response
   * over it (undefined = none). From --secret, or the first line of --secret-file.
   */
  readonly secret: string | undefined;
  /** The previous cluster secret, still accepted during a rotation (--secret-previous). */
  readonly secretPrevious: string | undefined;
  /** File holding the secret (first line) and optionally the previous one (second line). */
  readonly secretFile: string | undefined;
  /** Every accepted secret, current first (the one this daemon proves with when the peer has it). */
  readonly secrets: readonly string[];
  /** PEM files for TLS: all three or none. */
  readonly tlsCert: string | undefined;
  readonly tlsKey: string | undefined;
  readonly tlsCa: string | undefined;
  /** Their contents, read and checked (undefined: TLS off). */
  readonly tls: TlsMaterial | undefined;
  /** Token clients must present in their hello (undefined = none required). */
  readonly token: string | undefined;
  /**
   * Token the admin port requires (`Authorization: Bearer`) of every request that changes
   * state (POST /force-primary). Undefined: such requests are served to loopback callers only.
   */
  readonly adminToken: string | undefined;
  /** The JSON config file that was read, if any (absolute path). */
  readonly configFile: string | undefined;
  /** `--help` was given: the caller prints USAGE and exits. */
  readonly help: boolean;
}

export const USAGE = `Usage: chorusd [options]

  --name NAME                daemon name, unique in the cluster (default: host name)
  --cluster NAME             cluster name (default: chorus)
  --listen HOST:PORT         peer TCP address (default: 127.0.0.1:7500; port 0 = any free port)
  --advertise HOST:PORT      address other daemons dial (default: the listen address)
  --client HOST:PORT         WebSocket gateway for clients (default: 127.0.0.1:7400)
  --serve-dir DIR            also serve DIR's files over HTTP on the client port (a page
                             and its assets; GET /chorus.js is the SDK bundle either way)
  --admin HOST:PORT          HTTP /status, /metrics and status page (default: 127.0.0.1:7600)
  --seeds SEED,...           daemons to join through (default: none, start a new cluster);
                             a seed is HOST:PORT, dns:NAME[:PORT] (every A/AAAA address of
                             NAME, port default 7500) or dns+srv:NAME (SRV records give
                             hosts and ports); DNS names are resolved again on every dial
  --expect N                 daemons that form the first primary (default: seeds + 1;
                             required with a dns: or dns+srv: seed)
  --dns-servers ADDR,...     DNS servers for dns: seeds, each IP or IP:PORT (default:
                             the system's)
  --heartbeat-ms MS          heartbeat period on idle links (default: 250)
  --suspect-ms MS            silence before a peer is suspected (default: 1500)
  --max-message-bytes N      largest message accepted (default: 16777216)
  --max-buffer-bytes N       bound of unstable messages kept; past it senders are slowed
                             (default: 67108864)
  --client-buffer-bytes N    events waiting for one client before it is expelled as a
                             slow consumer; at least max-message-bytes + 65536
                             (default: 67108864)
  --secret SECRET            shared cluster secret: daemons authenticate each other with a
                             challenge-response over it (no replay) and MAC every frame
  --secret-previous SECRET   the previous secret, still accepted while a rotation rolls out:
                             a daemon proves with the first secret its peer also has
  --secret-file FILE         read the secret from FILE (first line), and the previous one
                             from its second line if any (instead of --secret)
  --tls-cert FILE            PEM certificate of this daemon (with --tls-key and --tls-ca):
                             the peer port speaks mutual TLS and the client gateway is
                             wss://; plaintext is then refused
  --tls-key FILE             PEM private key of --tls-cert
  --tls-ca FILE              PEM CA certificate(s): peers must present a certificate it signed
  --client-token TOKEN       token clients must present
  --admin-token TOKEN        token the admin port requires (Authorization: Bearer) for
                             POST /force-primary; without it, only loopback callers may
  --config FILE              JSON config file (keys: name, cluster, listen, heartbeatMs, ...)
  --log-level LEVEL          fatal|error|warn|info|debug|trace|silent (default: info)
  --help, -h                 print this help
  --version, -V              print the version

Precedence: flags, then the config file, then CHORUS_* environment variables
(CHORUS_NAME, CHORUS_LISTEN, CHORUS_SEEDS=a:1,dns:b, CHORUS_HEARTBEAT_MS, ...), then defaults.
Secrets are best given by CHORUS_SECRET (and CHORUS_SECRET_PREVIOUS) or --secret-file
rather than on the command line, which other local users can read.
IPv6 addresses are written in brackets: [::1]:7500.
`;

export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Limits on configured values (TigerStyle: put a limit on everything). */
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const MAX_MESSAGE_BYTES_LIMIT = 1024 * 1024 * 1024; // 1 GiB: frames carry lengths as uint32
const MAX_TIMER_MS = 3_600_000; // one hour
const MAX_EXPECT = 1024;
const MAX_SEEDS = 1024;
const MAX_DNS_SERVERS = 16;
/** The peer port a seed without one is dialled on: the port of the default --listen. */
export const DEFAULT_PEER_PORT = 7500;
const DNS_PORT = 53;
/** A DNS name: labels of letters, digits, `-` and `_` (SRV labels), at most 253 characters. */
const DNS_LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;
const MAX_DNS_NAME_CHARS = 253;
const MAX_SECRET_CHARS = 4096;
/**
 * The client buffer must hold one largest message plus its framing and the events around
 * it, or a single delivery to an idle client would expel it.
 */
export const CLIENT_BUFFER_ALLOWANCE_BYTES = 64 * 1024;
const MAX_CLIENT_BUFFER_BYTES = 64 * 1024 * 1024 * 1024;

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/**
 * Parses `host:port`, `[ipv6]:port`. The host is returned without brackets. Throws
 * ConfigError (with `what` naming the value's origin) when malformed.
 */
export function parseHostPort(s: string, what = 'address'): HostPort {
  const text = s.trim();
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') {
      throw new ConfigError(`${what}: "${s}" is not host:port (IPv6 is written [addr]:port)`);
    }
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    if (!host.includes(':')) {
      throw new ConfigError(`${what}: "${s}": brackets are only for IPv6 addresses`);
    }
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) throw new ConfigError(`${what}: "${s}" is not host:port`);
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) {
      throw new ConfigError(`${what}: "${s}": write IPv6 addresses in brackets, e.g. [::1]:7500`);
    }
  }
  if (host.length === 0) throw new ConfigError(`${what}: "${s}" has an empty host`);
  if (/[\s/[\]@]/.test(host)) throw new ConfigError(`${what}: "${s}" has an invalid host`);
  if (!/^\d{1,5}$/.test(portText)) throw new ConfigError(`${what}: "${s}" has an invalid port`);
  const port = Number(portText);
  if (port > 65535) throw new ConfigError(`${what}: "${s}": port ${port} is out of range 0-65535`);
  return { host, port };
}

/** `host:port`, with brackets around IPv6 hosts. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

// ---------------------------------------------------------------- sources

/** The keys a source may set (the config file uses these names; `help` is flag-only). */
type Key = Exclude<keyof DaemonConfig, 'configFile' | 'help' | 'secrets' | 'tls'>;

interface KeySpec {
  readonly flag: string;
  readonly env: string;
}

const KEYS: Record<Key, KeySpec> = {
  name: { flag: 'name', env: 'CHORUS_NAME' },
  cluster: { flag: 'cluster', env: 'CHORUS_CLUSTER' },
  listen: { flag: 'listen', env: 'CHORUS_LISTEN' },
  advertise: { flag: 'advertise', env: 'CHORUS_ADVERTISE' },
  client: { flag: 'client', env: 'CHORUS_CLIENT' },
  serveDir: { flag: 'serve-dir', env: 'CHORUS_SERVE_DIR' },
  admin: { flag: 'admin', env: 'CHORUS_ADMIN' },
  seeds: { flag: 'seeds', env: 'CHORUS_SEEDS' },
  expect: { flag: 'expect', env: 'CHORUS_EXPECT' },
  dnsServers: { flag: 'dns-servers', env: 'CHORUS_DNS_SERVERS' },
  heartbeatMs: { flag: 'heartbeat-ms', env: 'CHORUS_HEARTBEAT_MS' },
  suspectMs: { flag: 'suspect-ms', env: 'CHORUS_SUSPECT_MS' },
  maxMessageBytes: { flag: 'max-message-bytes', env: 'CHORUS_MAX_MESSAGE_BYTES' },
  maxBufferBytes: { flag: 'max-buffer-bytes', env: 'CHORUS_MAX_BUFFER_BYTES' },
  clientBufferBytes: { flag: 'client-buffer-bytes', env: 'CHORUS_CLIENT_BUFFER_BYTES' },
  logLevel: { flag: 'log-level', env: 'CHORUS_LOG_LEVEL' },
  secret: { flag: 'secret', env: 'CHORUS_SECRET' },
  secretPrevious: { flag: 'secret-previous', env: 'CHORUS_SECRET_PREVIOUS' },
  secretFile: { flag: 'secret-file', env: 'CHORUS_SECRET_FILE' },
  tlsCert: { flag: 'tls-cert', env: 'CHORUS_TLS_CERT' },
  tlsKey: { flag: 'tls-key', env: 'CHORUS_TLS_KEY' },
  tlsCa: { flag: 'tls-ca', env: 'CHORUS_TLS_CA' },
  token: { flag: 'client-token', env: 'CHORUS_CLIENT_TOKEN' },
  adminToken: { flag: 'admin-token', env: 'CHORUS_ADMIN_TOKEN' },
};

/** Comma-separated lists: the flag may be repeated (`--seeds a:1 --seeds b:2`). */
const LIST_KEYS: ReadonlySet<Key> = new Set<Key>(['seeds', 'dnsServers']);

/** Config-file aliases: the flag spelled in camelCase, where it differs from the key. */
const FILE_ALIASES: Readonly<Record<string, Key>> = { clientToken: 'token' };

/** A raw value and where it came from, for error messages. */
interface Raw {
  readonly value: unknown;
  readonly origin: string;
}

function flagOrigin(key: Key): string {
  return `flag --${KEYS[key].flag}`;
}
function envOrigin(key: Key): string {
  return `environment variable ${KEYS[key].env}`;
}
function fileOrigin(file: string, key: string): string {
  return `config file ${file}, key "${key}"`;
}

function parseFlags(argv: readonly string[]): { values: Partial<Record<Key, Raw>>; config?: string; help: boolean } {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {
    config: { type: 'string' },
    help: { type: 'boolean' },
  };
  for (const key of Object.keys(KEYS) as Key[]) {
    options[KEYS[key].flag] = LIST_KEYS.has(key) ? { type: 'string', multiple: true } : { type: 'string' };
  }
  let parsed: { values: Record<string, string | boolean | (string | boolean)[] | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: true });
  } catch (err) {
    const code = (err as { code?: string }).code;
    const message = err instanceof Error ? err.message : String(err);
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const flag = /'([^']+)'/.exec(message)?.[1] ?? message;
      throw new ConfigError(`unknown flag ${flag} (chorusd --help lists the flags)`);
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      throw new ConfigError(`invalid flag: ${message.replace(/^Option /, '')}`);
    }
    throw new ConfigError(`invalid command line: ${message}`);
  }
  if (parsed.positionals.length > 0) {
    throw new ConfigError(`unexpected argument "${parsed.positionals[0]}" (chorusd takes only --flags)`);
  }
  const values: Partial<Record<Key, Raw>> = {};
  for (const key of Object.keys(KEYS) as Key[]) {
    const v = parsed.values[KEYS[key].flag];
    if (v === undefined) continue;
    values[key] = { value: LIST_KEYS.has(key) ? (v as string[]).join(',') : v, origin: flagOrigin(key) };
  }
  const config = parsed.values.config;
  return {
    values,
    ...(typeof config === 'string' ? { config } : {}),
    help: parsed.values.help === true,
  };
}

function readEnv(env: NodeJS.ProcessEnv): Partial<Record<Key, Raw>> {
  const values: Partial<Record<Key, Raw>> = {};
  for (const key of Object.keys(KEYS) as Key[]) {
    const v = env[KEYS[key].env];
    // An empty variable counts as unset: `CHORUS_SEEDS= chorusd` means "no seeds".
    if (v === undefined || v === '') continue;
    values[key] = { value: v, origin: envOrigin(key) };
  }
  return values;
}

function readConfigFile(path: string, origin: string): { file: string; values: Partial<Record<Key, Raw>> } {
  const file = resolvePath(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const reason = (err as { code?: string }).code ?? (err instanceof Error ? err.message : String(err));
    throw new ConfigError(`cannot read config file ${file} (from ${origin}): ${reason}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ConfigError(`config file ${file} must hold a JSON object`);
  }
  const values: Partial<Record<Key, Raw>> = {};
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    const key: Key | undefined = Object.hasOwn(KEYS, name) ? (name as Key) : FILE_ALIASES[name];
    if (key === undefined) {
      const known = [...Object.keys(KEYS), ...Object.keys(FILE_ALIASES)].join(', ');
      throw new ConfigError(`config file ${file}: unknown key "${name}" (known keys: ${known})`);
    }
    if (values[key] !== undefined) {
      throw new ConfigError(`config file ${file}: "${name}" repeats key "${key}"`);
    }
    if (value === null) continue; // null = not set here
    values[key] = { value, origin: fileOrigin(file, name) };
  }
  return { file, values };
}

// ---------------------------------------------------------------- validation

function text(raw: Raw): string {
  if (typeof raw.value === 'string') return raw.value;
  throw new ConfigError(`${raw.origin}: expected a string, got ${JSON.stringify(raw.value)}`);
}

function identifier(raw: Raw, what: string): string {
  const s = text(raw);
  if (!NAME_PATTERN.test(s)) {
    throw new ConfigError(
      `${raw.origin}: invalid ${what} "${s}": use 1-64 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit`,
    );
  }
  return s;
}

function address(raw: Raw, opts: { allowPortZero: boolean }): string {
  const { host, port } = parseHostPort(text(raw), raw.origin);
  if (port === 0 && !opts.allowPortZero) {
    throw new ConfigError(`${raw.origin}: port 0 cannot be dialled; give the actual port`);
  }
  return formatHostPort(host, port);
}

function integer(raw: Raw, min: number, max: number): number {
  let n: number;
  if (typeof raw.value === 'number') {
    n = raw.value;
  } else if (typeof raw.value === 'string' && /^\s*\d+\s*$/.test(raw.value)) {
    n = Number(raw.value);
  } else {
    throw new ConfigError(`${raw.origin}: expected an integer, got ${JSON.stringify(raw.value)}`);
  }
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(`${raw.origin}: ${JSON.stringify(raw.value)} is out of range ${min}-${max}`);
  }
  return n;
}

/** The items of a comma-separated string, or of an array of strings (config file). */
function listItems(raw: Raw, what: string, example: string): string[] {
  let items: unknown[];
  if (typeof raw.value === 'string') items = raw.value.split(',');
  else if (Array.isArray(raw.value)) items = raw.value;
  else throw new ConfigError(`${raw.origin}: expected "${example}" or an array of strings`);
  const texts: string[] = [];
  for (const item of items) {
    if (typeof item !== 'string') {
      throw new ConfigError(`${raw.origin}: ${what} ${JSON.stringify(item)} is not a string`);
    }
    if (item.trim() === '') continue; // tolerate "a:1,,b:2" and a trailing comma
    texts.push(item.trim());
  }
  return texts;
}

function seedList(raw: Raw): string[] {
  const seeds: string[] = [];
  for (const item of listItems(raw, 'seed', 'host:port,dns:name')) {
    const seed = formatSeed(parseSeed(item, raw.origin));
    if (!seeds.includes(seed)) seeds.push(seed);
  }
  if (seeds.length > MAX_SEEDS) throw new ConfigError(`${raw.origin}: more than ${MAX_SEEDS} seeds`);
  return seeds;
}

/**
 * A seed as configured. A DNS seed is a name, not an address: the daemon resolves it
 * again on every dial (daemon/dns-seeds.ts), so a name whose addresses change (a
 * Kubernetes headless Service) keeps working. The core never sees names.
 */
export type SeedSpec =
  | { readonly kind: 'address'; readonly address: string }
  /** `dns:NAME[:PORT]`: every A and AAAA address of the name, on `port`. */
  | { readonly kind: 'dns'; readonly name: string; readonly port: number }
  /** `dns+srv:NAME`: the targets and ports of the name's SRV records. */
  | { readonly kind: 'srv'; readonly name: string };

export type DnsSeedSpec = Exclude<SeedSpec, { kind: 'address' }>;

const DNS_PREFIX = 'dns:';
const SRV_PREFIX = 'dns+srv:';

/**
 * Parses one seed: `host:port`, `dns:NAME[:PORT]` (port default DEFAULT_PEER_PORT) or
 * `dns+srv:NAME`. Throws ConfigError (with `what` naming the value's origin) when
 * malformed. Names are lowercased (DNS is case-insensitive) and keep a trailing dot
 * (a fully qualified name: no search domains are tried).
 */
export function parseSeed(s: string, what = 'seed'): SeedSpec {
  const text = s.trim();
  const lower = text.toLowerCase();
  if (lower.startsWith(SRV_PREFIX)) {
    const name = text.slice(SRV_PREFIX.length);
    if (name.includes(':')) {
      throw new ConfigError(`${what}: "${s}": a dns+srv: seed takes no port (its SRV records give the ports)`);
    }
    return { kind: 'srv', name: dnsName(name, s, what) };
  }
  if (lower.startsWith(DNS_PREFIX)) {
    const rest = text.slice(DNS_PREFIX.length);
    const colon = rest.lastIndexOf(':');
    const name = colon < 0 ? rest : rest.slice(0, colon);
    let port = DEFAULT_PEER_PORT;
    if (colon >= 0) {
      const portText = rest.slice(colon + 1);
      if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
        throw new ConfigError(`${what}: "${s}" has an invalid port (dns:NAME or dns:NAME:PORT)`);
      }
      port = Number(portText);
      if (port === 0) throw new ConfigError(`${what}: "${s}": port 0 cannot be dialled; give the actual port`);
    }
    return { kind: 'dns', name: dnsName(name, s, what), port };
  }
  const { host, port } = parseHostPort(text, what);
  if (port === 0) throw new ConfigError(`${what}: "${s}": port 0 cannot be dialled; give the actual port`);
  return { kind: 'address', address: formatHostPort(host, port) };
}

/** The seed as text, in the form parseSeed reads back (normalized: the default port spelled out). */
export function formatSeed(seed: SeedSpec): string {
  switch (seed.kind) {
    case 'address':
      return seed.address;
    case 'dns':
      return `${DNS_PREFIX}${seed.name}:${seed.port}`;
    case 'srv':
      return `${SRV_PREFIX}${seed.name}`;
  }
}

function dnsName(name: string, s: string, what: string): string {
  const bare = name.endsWith('.') ? name.slice(0, -1) : name;
  if (bare === '') throw new ConfigError(`${what}: "${s}" names no host (dns:NAME[:PORT], dns+srv:NAME)`);
  if (isIP(bare) !== 0 || bare.includes('[')) {
    throw new ConfigError(`${what}: "${s}": an IP address needs no DNS; write it as a host:port seed`);
  }
  if (bare.length > MAX_DNS_NAME_CHARS || !bare.split('.').every((label) => DNS_LABEL.test(label))) {
    throw new ConfigError(
      `${what}: "${s}": "${name}" is not a DNS name (dot-separated labels of 1-63 letters, digits, - or _; at most ${MAX_DNS_NAME_CHARS} characters)`,
    );
  }
  if (/^\d+$/.test(bare.slice(bare.lastIndexOf('.') + 1))) {
    // No host name ends in an all-digit label (RFC 3696), and "dns:7500" is more likely
    // a host named dns than a DNS seed: refuse rather than guess.
    throw new ConfigError(
      `${what}: "${s}": "${name}" is not a host name (its last label is all digits); a DNS seed is dns:NAME[:PORT], ` +
        'and a host that is itself named dns is written with its fully qualified name',
    );
  }
  return name.toLowerCase();
}

/** DNS servers: IP addresses, with an optional port (default 53): `10.0.0.2`, `10.0.0.2:5353`, `[::1]:53`, `::1`. */
function dnsServerList(raw: Raw): string[] {
  const servers: string[] = [];
  for (const item of listItems(raw, 'DNS server', 'ip:port,ip:port')) {
    let host: string;
    let port: number;
    if (isIP(item) !== 0) {
      host = item;
      port = DNS_PORT;
    } else {
      ({ host, port } = parseHostPort(item, raw.origin));
      if (isIP(host) === 0) throw new ConfigError(`${raw.origin}: DNS server "${item}" must be an IP address (with an optional :port)`);
      if (port === 0) throw new ConfigError(`${raw.origin}: DNS server "${item}": port 0 cannot be queried`);
    }
    const server = formatHostPort(host, port);
    if (!servers.includes(server)) servers.push(server);
  }
  if (servers.length > MAX_DNS_SERVERS) throw new ConfigError(`${raw.origin}: more than ${MAX_DNS_SERVERS} DNS servers`);
  return servers;
}

function secretText(raw: Raw): string {
  const s = text(raw);
  if (s.length === 0 || s.length > MAX_SECRET_CHARS) {
    throw new ConfigError(`${raw.origin}: must be 1-${MAX_SECRET_CHARS} characters`);
  }
  return s;
}

function readPathText(raw: Raw, what: string): { path: string; text: string } {
  const path = resolvePath(text(raw));
  try {
    return { path, text: readFileSync(path, 'utf8') };
  } catch (err) {
    const reason = (err as { code?: string }).code ?? (err instanceof Error ? err.message : String(err));
    throw new ConfigError(`${raw.origin}: cannot read ${what} ${path}: ${reason}`);
  }
}

/**
 * The accepted secrets, current first: --secret (or the first line of --secret-file)
 * and --secret-previous (or the file's second line).
 */
function resolveSecrets(
  pick: (key: Key) => Raw | undefined,
): { secret: string | undefined; secretPrevious: string | undefined; secretFile: string | undefined; secrets: string[] } {
  const flagRaw = pick('secret');
  const fileRaw = pick('secretFile');
  const previousRaw = pick('secretPrevious');
  let secret = flagRaw === undefined ? undefined : secretText(flagRaw);
  let secretPrevious = previousRaw === undefined ? undefined : secretText(previousRaw);
  let secretFile: string | undefined;
  if (fileRaw !== undefined) {
    if (flagRaw !== undefined) {
      throw new ConfigError(`${fileRaw.origin} and ${flagRaw.origin}: give the secret one way, not both`);
    }
    const read = readPathText(fileRaw, 'secret file');
    secretFile = read.path;
    const lines = read.text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
    if (lines.length === 0 || lines.length > 2) {
      throw new ConfigError(`${fileRaw.origin}: ${read.path} must hold the secret on one line, and optionally the previous one on a second`);
    }
    const origin = `secret file ${read.path}`;
    secret = secretText({ value: lines[0], origin });
    if (lines.length === 2) {
      if (previousRaw !== undefined) {
        throw new ConfigError(`${previousRaw.origin}: ${read.path} already names a previous secret (its second line)`);
      }
      secretPrevious = secretText({ value: lines[1], origin });
    }
  }
  if (secretPrevious !== undefined && secret === undefined) {
    throw new ConfigError(`${previousRaw?.origin ?? 'secret file'}: a previous secret without a current one (--secret)`);
  }
  const secrets = secret === undefined ? [] : [secret];
  if (secretPrevious !== undefined && secretPrevious !== secret) secrets.push(secretPrevious);
  return { secret, secretPrevious, secretFile, secrets };
}

/** --tls-cert, --tls-key, --tls-ca: all three or none, read and checked now. */
function resolveTls(pick: (key: Key) => Raw | undefined): TlsMaterial | undefined {
  const raws = { cert: pick('tlsCert'), key: pick('tlsKey'), ca: pick('tlsCa') };
  const given = Object.values(raws).filter((r) => r !== undefined);
  if (given.length === 0) return undefined;
  if (raws.cert === undefined || raws.key === undefined || raws.ca === undefined) {
    throw new ConfigError(`${given[0]!.origin}: TLS needs all three of --tls-cert, --tls-key and --tls-ca`);
  }
  const cert = readPathText(raws.cert, 'certificate');
  const key = readPathText(raws.key, 'private key');
  const ca = readPathText(raws.ca, 'CA certificate');
  const material: TlsMaterial = {
    cert: Buffer.from(cert.text),
    key: Buffer.from(key.text),
    ca: Buffer.from(ca.text),
    files: { cert: cert.path, key: key.path, ca: ca.path },
  };
  try {
    createSecureContext({ cert: material.cert, key: material.key, ca: material.ca });
  } catch (err) {
    throw new ConfigError(
      `TLS files (${cert.path}, ${key.path}, ${ca.path}) are not a usable PEM certificate, matching key and CA: ` +
        (err instanceof Error ? err.message : String(err)),
    );
  }
  return material;
}

function directory(raw: Raw): string {
  const path = resolvePath(text(raw));
  let isDirectory: boolean;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch (err) {
    const reason = (err as { code?: string }).code ?? (err instanceof Error ? err.message : String(err));
    throw new ConfigError(`${raw.origin}: cannot read directory ${path}: ${reason}`);
  }
  if (!isDirectory) throw new ConfigError(`${raw.origin}: ${path} is not a directory`);
  return path;
}

function logLevel(raw: Raw): LogLevel {
  const s = text(raw);
  if (!(LOG_LEVELS as readonly string[]).includes(s)) {
    throw new ConfigError(`${raw.origin}: invalid log level "${s}" (one of ${LOG_LEVELS.join(', ')})`);
  }
  return s as LogLevel;
}

/** The host name as a valid daemon name: first label, invalid characters replaced. */
export function defaultDaemonName(host: string = hostname()): string {
  const label = host.split('.')[0] ?? '';
  const cleaned = label.replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 64);
  return cleaned.length > 0 ? cleaned : 'chorusd';
}

// ---------------------------------------------------------------- entry point

/**
 * The daemon's configuration from `argv` (without `node` and the script: pass
 * `process.argv.slice(2)`) and `env`. Precedence: flags > config file > CHORUS_* env >
 * defaults. The config file is named by `--config` or, failing that, `CHORUS_CONFIG`.
 * Throws ConfigError on any unknown flag or key, or invalid value.
 */
export function resolveConfig(argv: readonly string[], env: NodeJS.ProcessEnv): DaemonConfig {
  const flags = parseFlags(argv);
  const envValues = readEnv(env);

  let configFile: string | undefined;
  let fileValues: Partial<Record<Key, Raw>> = {};
  const configPath = flags.config ?? (env.CHORUS_CONFIG !== '' ? env.CHORUS_CONFIG : undefined);
  if (configPath !== undefined) {
    const origin = flags.config !== undefined ? 'flag --config' : 'environment variable CHORUS_CONFIG';
    if (configPath.trim() === '') throw new ConfigError(`${origin}: empty path`);
    const read = readConfigFile(configPath, origin);
    configFile = read.file;
    fileValues = read.values;
  }

  const pick = (key: Key): Raw | undefined => flags.values[key] ?? fileValues[key] ?? envValues[key];
  const get = <T>(key: Key, parse: (raw: Raw) => T, fallback: T): T => {
    const raw = pick(key);
    return raw === undefined ? fallback : parse(raw);
  };

  const heartbeatMs = get('heartbeatMs', (r) => integer(r, 1, MAX_TIMER_MS), 250);
  const suspectMs = get('suspectMs', (r) => integer(r, 1, MAX_TIMER_MS), 1500);
  if (suspectMs <= heartbeatMs) {
    const s = pick('suspectMs')?.origin ?? 'default suspectMs';
    const h = pick('heartbeatMs')?.origin ?? 'default heartbeatMs';
    throw new ConfigError(
      `suspectMs (${suspectMs}, ${s}) must be greater than heartbeatMs (${heartbeatMs}, ${h}): ` +
        'otherwise healthy idle peers are suspected',
    );
  }

  const maxMessageBytes = get('maxMessageBytes', (r) => integer(r, 1, MAX_MESSAGE_BYTES_LIMIT), 16 * 1024 * 1024);
  const clientBufferBytes = get('clientBufferBytes', (r) => integer(r, 1, MAX_CLIENT_BUFFER_BYTES), 64 * 1024 * 1024);
  if (clientBufferBytes < maxMessageBytes + CLIENT_BUFFER_ALLOWANCE_BYTES) {
    const b = pick('clientBufferBytes')?.origin ?? 'default clientBufferBytes';
    const m = pick('maxMessageBytes')?.origin ?? 'default maxMessageBytes';
    throw new ConfigError(
      `clientBufferBytes (${clientBufferBytes}, ${b}) must be at least maxMessageBytes (${maxMessageBytes}, ${m}) ` +
        `+ ${CLIENT_BUFFER_ALLOWANCE_BYTES}: otherwise one largest message would expel an idle client as a slow consumer`,
    );
  }

  const seeds = get('seeds', seedList, []);
  const expect = get<number | undefined>('expect', (r) => integer(r, 1, MAX_EXPECT), undefined);
  const dnsSeed = seeds.find((seed) => parseSeed(seed).kind !== 'address');
  if (dnsSeed !== undefined && expect === undefined) {
    // The default (seeds + 1) counts daemons the seeds name; a DNS name may stand for any
    // number of them, and guessing too low lets two subsets each form a primary.
    throw new ConfigError(
      `${pick('seeds')!.origin}: seed "${dnsSeed}" names an unknown number of daemons: give --expect ` +
        '(CHORUS_EXPECT, config key "expect"), the number of daemons that form the first primary (more than half of those you start)',
    );
  }

  return {
    name: get('name', (r) => identifier(r, 'daemon name'), defaultDaemonName()),
    cluster: get('cluster', (r) => identifier(r, 'cluster name'), 'chorus'),
    listen: get('listen', (r) => address(r, { allowPortZero: true }), `127.0.0.1:${DEFAULT_PEER_PORT}`),
    advertise: get<string | undefined>('advertise', (r) => address(r, { allowPortZero: false }), undefined),
    client: get('client', (r) => address(r, { allowPortZero: true }), '127.0.0.1:7400'),
    serveDir: get<string | undefined>('serveDir', directory, undefined),
    admin: get('admin', (r) => address(r, { allowPortZero: true }), '127.0.0.1:7600'),
    seeds,
    expect,
    dnsServers: get('dnsServers', dnsServerList, []),
    heartbeatMs,
    suspectMs,
    maxMessageBytes,
    maxBufferBytes: get('maxBufferBytes', (r) => integer(r, 64 * 1024, 64 * 1024 * 1024 * 1024), 64 * 1024 * 1024),
    clientBufferBytes,
    logLevel: get('logLevel', logLevel, 'info'),
    ...resolveSecrets(pick),
    tlsCert: get<string | undefined>('tlsCert', (r) => resolvePath(text(r)), undefined),
    tlsKey: get<string | undefined>('tlsKey', (r) => resolvePath(text(r)), undefined),
    tlsCa: get<string | undefined>('tlsCa', (r) => resolvePath(text(r)), undefined),
    tls: resolveTls(pick),
    token: get<string | undefined>('token', secretText, undefined),
    adminToken: get<string | undefined>('adminToken', secretText, undefined),
    configFile,
    help: flags.help,
  };
}
