// `chorus`: the command-line tool of API.md — status, tail, send, force-primary, bench.
// bin/chorus.js calls runCli(argv) and exits with the code it returns.
//
// The SDK is imported lazily: `chorus status` and `chorus --help` must work even where
// only the admin port is reachable, and must not pay for loading the client.
import { VERSION } from './version.js';
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { parseArgs, type ParseArgsConfig } from 'node:util';

import { watch } from './cli-watch.js';
import { probePort, probeTarget, type PortKind, type ProbeTarget } from './port-probe.js';

/** Where the tool writes, and what stops `tail`; injectable so tests can drive the CLI. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  /** Aborting it ends `tail` and `watch` as Ctrl-C does. Default: SIGINT/SIGTERM. */
  stop?: AbortSignal;
  /** `watch` redraws one screen on a terminal (default: whether stdout is one). */
  tty?: boolean;
}

const defaultIo: CliIo = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};

const DEFAULT_URL = 'ws://127.0.0.1:7400';
const DEFAULT_ADMIN = '127.0.0.1:7600';
const ORDERS = ['fifo', 'causal', 'total', 'safe'] as const;
type OrderName = (typeof ORDERS)[number];
/** At most this many `send --count` multicasts await the daemon's accept at once. */
const SEND_WINDOW_MAX = 1000;

export const USAGE = `Usage: chorus <command> [options]

Commands:
  status [--admin host:port] [--json]
      Show the daemon view (coordinator marked *) and the process groups.
  watch [--admin host:port] [--json]
      The live view: the daemon view, links, groups and every view change with its
      cause, as it happens, until Ctrl-C. Piped: one line per view change; --json: one
      JSON object per event (status every second, timeline entries).
  tail GROUP [--url ws://host:port] [--name tail] [--json] [--verbose] [--ca FILE] [--token T]
      Join GROUP and print every view and message until Ctrl-C (then leave cleanly).
      --json: one JSON object per line; --verbose: also block/unblock signals.
  send GROUP TEXT [--order total] [--url ws://host:port] [--name send] [--count N] [--ca FILE] [--token T]
      Join GROUP, multicast TEXT (N times; "{i}" in TEXT becomes 1..N), leave.
      --order: fifo | causal | total | safe (default total).
      --ca (tail, send): PEM CA of a daemon started with --tls-*, for a wss:// --url
      (default: the CHORUS_CA environment variable). --token (tail, send): the daemon's
      --client-token (default: the CHORUS_TOKEN environment variable).
  --version, -V: print the version; --help, -h: this help.
  force-primary [--admin host:port] [--token A]
      Operator: declare the reachable daemons the primary component. --token: the
      daemon's --admin-token (default: the CHORUS_ADMIN_TOKEN environment variable).
  bench [--quick | --smoke] [--json FILE] [--sizes 100,1KiB,64KiB] [--orders LIST]
      The benchmark harness: 3 local daemons and 3 client processes beside a plain TCP
      mesh; delivered msgs/s, MB/s, latency percentiles and RSS per size and order.
      "chorus bench --help" lists every option.

Defaults: --url ${DEFAULT_URL}, --admin ${DEFAULT_ADMIN}.
Exit codes: 0 ok, 1 error, 2 usage.
`;

/**
 * A failure the tool reports as one line, `chorus: <code> <message>` (exit 1, or 2 for a
 * usage error): no stack, no raw socket error without saying which port it was.
 */
class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export async function runCli(argv: string[], io: CliIo = defaultIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
        io.err(USAGE);
        return 2;
      case '--version':
      case '-V':
        io.out(`chorus ${VERSION}\n`);
        return 0;
      case '-h':
      case '--help':
      case 'help':
        io.out(USAGE);
        return 0;
      case 'status':
        return await statusCommand(rest, io);
      case 'watch':
        return await watchCommand(rest, io);
      case 'tail':
        return await tailCommand(rest, io);
      case 'send':
        return await sendCommand(rest, io);
      case 'force-primary':
        return await forcePrimaryCommand(rest, io);
      case 'bench': {
        // Loaded on demand, like the SDK: the harness spawns daemons and client processes.
        const { runBench } = await import('./bench/run.js');
        return await runBench(rest, io);
      }
      default:
        io.err(`chorus: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    return report(err, io);
  }
}

function report(err: unknown, io: CliIo): number {
  if (err instanceof CliError) {
    io.err(`chorus: ${err.code} ${err.message}\n`);
    if (err.exitCode === 2) io.err('Run "chorus --help" for usage.\n');
    return err.exitCode;
  }
  const code = errorCode(err) ?? 'ERR_UNEXPECTED';
  const message = err instanceof Error ? err.message : String(err);
  io.err(`chorus: ${code} ${message.replaceAll('\n', ' ')}\n`);
  return 1;
}

function errorCode(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

function help(io: CliIo): number {
  io.out(USAGE);
  return 0;
}

// ---------------------------------------------------------------- argument parsing

type Options = NonNullable<ParseArgsConfig['options']>;

function parse<O extends Options>(args: string[], options: O) {
  try {
    return parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new CliError('ERR_USAGE', err instanceof Error ? err.message : String(err), 2);
  }
}

function positionals(got: string[], names: string[]): string[] {
  if (got.length !== names.length) {
    const expected = names.map((n) => n.toUpperCase()).join(' ') || 'no arguments';
    throw new CliError('ERR_USAGE', `expected ${expected}, got ${got.length} argument(s)`, 2);
  }
  return got;
}

/** Where --token came from, for error messages; undefined when none was given. */
type TokenSource = '--token' | 'CHORUS_TOKEN' | 'CHORUS_ADMIN_TOKEN';

/** The token from --token, else from the variable `env` (which keeps it out of `ps`), and where it came from. */
function tokenFrom(flag: unknown, env: 'CHORUS_TOKEN' | 'CHORUS_ADMIN_TOKEN'): { token: string; source: TokenSource } | undefined {
  if (typeof flag === 'string' && flag !== '') return { token: flag, source: '--token' };
  const value = process.env[env];
  return value !== undefined && value !== '' ? { token: value, source: env } : undefined;
}

/** `{ ca }` read from --ca FILE (or CHORUS_CA), or nothing. */
function caOption(flag: unknown): { ca?: string } {
  const file = typeof flag === 'string' ? flag : process.env.CHORUS_CA;
  if (file === undefined || file === '') return {};
  try {
    return { ca: readFileSync(file, 'utf8') };
  } catch (err) {
    throw new CliError('ERR_USAGE', `cannot read --ca ${file}: ${(err as { code?: string }).code ?? String(err)}`, 2);
  }
}

/** `127.0.0.1:7400` → `ws://127.0.0.1:7400`; a URL with a scheme is kept. */
function wsUrl(value: string): string {
  if (/^https?:\/\//i.test(value)) {
    throw new CliError('ERR_USAGE', `--url takes the daemon's client address (ws://host:port or host:port), not an http:// URL: ${value}`, 2);
  }
  return /^wss?:\/\//i.test(value) ? value : `ws://${value}`;
}

/** `127.0.0.1:7600` or `[::1]:7600` → `http://…`; a URL with a scheme is kept. */
function adminUrl(value: string, path: string): string {
  if (/^wss?:\/\//i.test(value)) {
    throw new CliError('ERR_USAGE', `--admin takes the daemon's admin address (host:port); ${value} is a client URL (tail and send take it as --url)`, 2);
  }
  const base = /^https?:\/\//i.test(value) ? value : `http://${value}`;
  try {
    return new URL(path, base.endsWith('/') ? base : `${base}/`).href;
  } catch {
    throw new CliError('ERR_USAGE', `--admin ${JSON.stringify(value)} is not host:port`, 2);
  }
}

/** `host:port` as the user would write it (IPv6 in brackets). */
function showTarget(target: ProbeTarget): string {
  return target.host.includes(':') ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
}

// ---------------------------------------------------------------- which port is which

// The messages below name the flags of API.md: `--admin` (status, force-primary; the
// daemon's --admin) and `--url` (tail, send; the daemon's --client).
const ADMIN_HINT = `try --admin HOST:PORT: the daemon's --admin address, ${DEFAULT_ADMIN} by default`;
const CLIENT_HINT = `try --url ws://HOST:PORT: the daemon's --client address, ${DEFAULT_URL} by default`;

function refusedError(port: 'admin' | 'client', where: string): CliError {
  return new CliError(
    'ERR_CONNECT',
    `cannot reach the daemon's ${port} port at ${where} (connection refused): is chorusd running, and is ${where} its --${port} address?`,
  );
}

/**
 * The one line for an address that answered as something other than the `wanted` port
 * (see PortKind), or undefined when the probe found nothing better to say.
 */
function wrongPortError(found: PortKind, wanted: 'admin' | 'client', where: string, url?: URL): CliError | undefined {
  switch (found.kind) {
    case 'refused':
      return refusedError(wanted, where);
    case 'client':
      if (wanted === 'admin') {
        return new CliError('ERR_WRONG_PORT', `${where} is the daemon's client (WebSocket${found.tls ? ', wss://' : ''}) port, not its admin port (${ADMIN_HINT})`);
      }
      // The client port, asked with ws:// while it speaks wss:// only.
      if (found.tls && url?.protocol !== 'wss:') {
        return new CliError('ERR_WRONG_PORT', `${where} is a wss:// client port (the daemon runs with --tls-*): try --url wss://${where} with --ca FILE (or CHORUS_CA)`);
      }
      return undefined;
    case 'admin': {
      if (wanted === 'admin') return undefined;
      return new CliError('ERR_WRONG_PORT', `${where} is the daemon's admin (HTTP) port, not its client port (${clientSuggestion(found.client, url)})`);
    }
    case 'closed':
      return new CliError(
        'ERR_CONNECT',
        wanted === 'admin'
          ? `${where} closed the connection without an HTTP answer, as a daemon's peer port (--listen) does: it is not an admin port (${ADMIN_HINT})`
          : `${where} closed the connection without a WebSocket answer, as a daemon's peer port (--listen) does: it is not a client port (${CLIENT_HINT})`,
      );
    case 'http':
      return new CliError(
        'ERR_WRONG_PORT',
        `${where} answered HTTP ${found.status} but is not a daemon's ${wanted} port (${wanted === 'admin' ? ADMIN_HINT : CLIENT_HINT})`,
      );
    case 'silent':
      return undefined;
  }
}

/** "try --url ws://…" with the client address the daemon's /status named, when it named one. */
function clientSuggestion(client: string | undefined, url: URL | undefined): string {
  if (client === undefined) return CLIENT_HINT;
  const target = probeTarget(client);
  if (target === undefined) return CLIENT_HINT;
  // A wildcard bind is reached at the host the user already used.
  const wildcard = target.host === '0.0.0.0' || target.host === '::';
  const host = wildcard && url !== undefined ? (url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname) : target.host;
  const scheme = url?.protocol === 'wss:' ? 'wss' : 'ws';
  return `try --url ${scheme}://${showTarget({ host, port: target.port })}`;
}

// ---------------------------------------------------------------- admin requests

/** An admin request gets this long for its whole answer (force-primary waits for the daemons it asks). */
const ADMIN_TIMEOUT_MS = 10_000;
/**
 * An admin request with no answer after this long is checked: a client port may never
 * answer a plain HTTP request, and the user should not wait 10 s to learn that.
 */
const ADMIN_SLOW_MS = 1_000;
/** Bytes of an admin answer read at most. */
const ADMIN_MAX_BODY_BYTES = 16 * 1024 * 1024;

interface AdminAnswer {
  readonly status: number;
  readonly statusText: string;
  readonly body: string;
}

/**
 * One request to the daemon's admin port. Every way of not getting an admin answer
 * becomes a one-line CliError naming the port: nothing listening (ERR_CONNECT), the
 * client port or another server answering (ERR_WRONG_PORT), no answer (ERR_CONNECT).
 */
async function adminRequest(admin: string, path: string, method: 'GET' | 'POST', headers: Record<string, string> = {}): Promise<AdminAnswer> {
  const url = adminUrl(admin, path);
  const target = probeTarget(url);
  if (target === undefined) throw new CliError('ERR_USAGE', `--admin ${JSON.stringify(admin)} is not host:port`, 2);
  const where = showTarget(target);
  let answer: AdminAnswer;
  try {
    answer = await httpExchange(url, method, headers, target);
  } catch (err) {
    if (err instanceof CliError) throw err;
    const code = errorCode(err);
    if (code === 'ECONNREFUSED') throw refusedError('admin', where);
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
      throw new CliError('ERR_CONNECT', `cannot reach the daemon's admin port at ${where} (cannot resolve ${target.host})`);
    }
    if (code === 'ETIMEDOUT_ADMIN') {
      throw new CliError('ERR_CONNECT', `no answer from ${where} within ${ADMIN_TIMEOUT_MS / 1000} s: is it the daemon's admin port? (${ADMIN_HINT})`);
    }
    const found = await probePort(target);
    const reason = code ?? (err instanceof Error ? err.message : String(err));
    throw wrongPortError(found, 'admin', where) ?? new CliError('ERR_CONNECT', `cannot reach the daemon's admin port at ${where} (${reason})`);
  }
  // A client port answers 426 Upgrade Required (or nothing an admin port would say):
  // tell the user which port it was rather than show its answer.
  if (answer.status === 426) throw wrongPortError({ kind: 'client', tls: false }, 'admin', where)!;
  if (answer.status < 200 || answer.status >= 300 || parseJson(answer.body) === undefined) {
    const found = await probePort(target);
    if (found.kind !== 'admin' && found.kind !== 'silent') {
      const wrong = wrongPortError(found, 'admin', where);
      if (wrong !== undefined) throw wrong;
    }
  }
  return answer;
}

/** The request itself; a client port seen while waiting rejects with ERR_WRONG_PORT at once. */
function httpExchange(url: string, method: 'GET' | 'POST', headers: Record<string, string>, target: ProbeTarget): Promise<AdminAnswer> {
  return new Promise<AdminAnswer>((resolve, reject) => {
    let finished = false;
    const send = url.startsWith('https:') ? httpsRequest : httpRequest;
    const req = send(url, { method, headers, agent: false });
    const finish = (settle: () => void): void => {
      if (finished) return;
      finished = true;
      clearTimeout(slow);
      clearTimeout(deadline);
      req.destroy();
      settle();
    };
    const slow = setTimeout(() => {
      void probePort(target).then((found) => {
        if (found.kind === 'client') finish(() => reject(wrongPortError(found, 'admin', showTarget(target))));
      });
    }, ADMIN_SLOW_MS);
    const deadline = setTimeout(() => finish(() => reject(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT_ADMIN' }))), ADMIN_TIMEOUT_MS);
    req.on('error', (err) => finish(() => reject(err)));
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes <= ADMIN_MAX_BODY_BYTES) chunks.push(chunk);
      });
      res.on('error', (err) => finish(() => reject(err)));
      res.on('end', () =>
        finish(() => resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', body: Buffer.concat(chunks).toString('utf8') })),
      );
    });
    req.end();
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- admin commands

/** `status` and `watch`: their options (`--admin`, `--json`), and the daemon's GET /status (a wrong or silent port is one clear line). */
async function adminStatus(args: string[], io: CliIo): Promise<{ admin: string; json: boolean; body: string } | number> {
  const { values, positionals: pos } = parse(args, {
    admin: { type: 'string', default: DEFAULT_ADMIN },
    json: { type: 'boolean', default: false },
  });
  if (values.help) return help(io);
  positionals(pos, []);
  const admin = values.admin as string;
  const res = await adminRequest(admin, 'status', 'GET');
  if (res.status !== 200) throw new CliError(`HTTP_${res.status}`, `GET /status: ${res.statusText}: ${describeBody(res.body)}`);
  return { admin, json: values.json === true, body: res.body };
}

async function statusCommand(args: string[], io: CliIo): Promise<number> {
  const got = await adminStatus(args, io);
  if (typeof got === 'number') return got;
  const { body } = got;
  const values = { json: got.json };
  const status = parseJson(body);
  if (status === undefined) throw new CliError('ERR_BAD_RESPONSE', `GET /status did not answer JSON: ${body.slice(0, 200).replaceAll('\n', ' ')}`);
  io.out(values.json ? (body.endsWith('\n') ? body : `${body}\n`) : formatStatus(status));
  return 0;
}

async function watchCommand(args: string[], io: CliIo): Promise<number> {
  // The same checks as status first.
  const got = await adminStatus(args, io);
  if (typeof got === 'number') return got;
  const { admin } = got;
  const tty = io.tty ?? (io === defaultIo && process.stdout.isTTY === true);
  try {
    await watch(adminUrl(admin, 'events'), got.json, { out: io.out, err: io.err, tty }, stopRequested(io));
  } catch (err) {
    throw new CliError('ERR_CONNECT', `cannot watch the daemon at ${admin}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return 0;
}

async function forcePrimaryCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals: pos } = parse(args, {
    admin: { type: 'string', default: DEFAULT_ADMIN },
    token: { type: 'string' },
  });
  if (values.help) return help(io);
  positionals(pos, []);
  const admin = values.admin as string;
  // From the environment by default: a token on the command line shows in `ps`.
  const token = tokenFrom(values.token, 'CHORUS_ADMIN_TOKEN');
  const headers: Record<string, string> = token !== undefined ? { authorization: `Bearer ${token.token}` } : {};
  const res = await adminRequest(admin, 'force-primary', 'POST', headers);
  const answer = describeBody(res.body);
  const detail = answer ? `: ${answer}` : '';
  if (res.status === 401) {
    throw new CliError(
      'ERR_AUTH',
      token === undefined
        ? `the daemon's admin port needs its admin token for force-primary: give it with --token A or the CHORUS_ADMIN_TOKEN variable (the daemon's --admin-token)`
        : `the daemon's admin port refused the admin token from ${token.source}: give the daemon's --admin-token with --token A or the CHORUS_ADMIN_TOKEN variable`,
    );
  }
  // 501 is the answer of a daemon that knows the command but does not implement it yet;
  // 404/405 come from a daemon whose admin port does not know it at all.
  if (res.status === 501 || res.status === 404 || res.status === 405) {
    throw new CliError('ERR_NOT_SUPPORTED', `force-primary is not implemented by this daemon (HTTP ${res.status})${detail}`);
  }
  if (res.status < 200 || res.status >= 300) throw new CliError('ERR_REFUSED', `force-primary refused (HTTP ${res.status} ${res.statusText})${detail}`);
  io.out(`force-primary: ${answer || 'ok'}\n`);
  return 0;
}

/** A response body as one readable line: a JSON `message`/`error` field, else the text. */
function describeBody(text: string): string {
  const trimmed = text.trim();
  const json = parseJson(trimmed);
  if (isRecord(json)) {
    const parts = [json.code, json.error, json.message].filter((p) => typeof p === 'string' && p !== '');
    if (parts.length > 0) return [...new Set(parts)].join(': ');
  }
  return trimmed.replaceAll('\n', ' ');
}

// ---------------------------------------------------------------- client connections

interface ClientOptions {
  readonly name: string;
  readonly ca?: string;
  readonly token?: { token: string; source: TokenSource } | undefined;
}

/**
 * The SDK's connect() with its failures said as one line naming the port: nothing
 * listening, the admin port given as --url, a missing or wrong --token.
 */
async function connectClient(urlText: string, options: ClientOptions) {
  const { connect } = await import('../client-sdk/index.js');
  const url = wsUrl(urlText);
  try {
    return await connect({
      url,
      name: options.name,
      ...(options.ca !== undefined ? { ca: options.ca } : {}),
      ...(options.token !== undefined ? { token: options.token.token } : {}),
    });
  } catch (err) {
    throw await explainConnectFailure(err, url, options.token?.source);
  }
}

async function explainConnectFailure(err: unknown, url: string, tokenSource: TokenSource | undefined): Promise<unknown> {
  const code = errorCode(err);
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  const target = probeTarget(url);
  const where = target !== undefined ? showTarget(target) : url;
  if (code === 'ERR_AUTH') {
    return new CliError(
      'ERR_AUTH',
      tokenSource === undefined
        ? `the daemon at ${where} requires a client token: give it with --token T or the CHORUS_TOKEN variable (the daemon's --client-token)`
        : `the daemon at ${where} refused the client token from ${tokenSource}: give the daemon's --client-token with --token T or the CHORUS_TOKEN variable`,
    );
  }
  if (code !== 'ERR_CONNECT' || target === undefined) return err;
  const cause = err instanceof Error ? err.cause : undefined;
  const message = err instanceof Error ? err.message : String(err);
  if (errorCode(cause) === 'ECONNREFUSED' || /ECONNREFUSED/.test(message)) return refusedError('client', where);
  if (parsed?.protocol === 'wss:' && /certificate|CERT_/i.test(message)) {
    return new CliError('ERR_CONNECT', `${message} (give the CA of the daemon's --tls-cert with --ca FILE or CHORUS_CA)`);
  }
  const found = await probePort(target);
  return wrongPortError(found, 'client', where, parsed) ?? err;
}

// ---------------------------------------------------------------- status rendering

type Json = Record<string, unknown>;

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function pick(obj: Json, ...keys: string[]): unknown {
  for (const key of keys) if (obj[key] !== undefined) return obj[key];
  return undefined;
}

/** A daemon or client named by a string or by an object with a name-like field. */
function nameOf(value: unknown): string {
  if (typeof value === 'string') return value;
  if (isRecord(value)) {
    const direct = pick(value, 'name', 'client');
    if (typeof direct === 'string') return direct;
    if (isRecord(value.id)) return nameOf(value.id);
    const id = pick(value, 'id', 'key');
    if (typeof id === 'string') return id;
  }
  return JSON.stringify(value);
}

/**
 * A readable summary of GET /status. Tolerant of the exact shape: it looks for the
 * daemon's name, its daemon view (members oldest first; the coordinator is the member
 * flagged as such, else the oldest) and the process groups; `--json` shows everything.
 */
export function formatStatus(status: unknown): string {
  if (!isRecord(status)) return `${JSON.stringify(status, null, 2)}\n`;
  const lines: string[] = [];
  const self = pick(status, 'daemon', 'name', 'self', 'id');
  // Facts about this daemon may sit at the top level or inside its `daemon` object.
  const about = (key: string): unknown => (isRecord(self) && self[key] !== undefined ? self[key] : status[key]);
  const head = [`daemon ${self === undefined ? '?' : nameOf(self)}`];
  const incarnation = about('incarnation');
  const cluster = about('cluster');
  const mode = about('mode') ?? about('state');
  const clients = about('clients');
  if (typeof incarnation === 'string') head.push(`incarnation ${incarnation}`);
  if (typeof cluster === 'string') head.push(`cluster ${cluster}`);
  if (typeof mode === 'string') head.push(`mode ${mode}`);
  if (typeof clients === 'number') head.push(`${clients} client(s)`);
  lines.push(head.join('  '));

  const view = pick(status, 'view', 'daemonView', 'daemon_view');
  if (isRecord(view)) {
    const members = Array.isArray(view.members) ? view.members : [];
    const coordinatorField = pick(view, 'coordinator') ?? pick(status, 'coordinator');
    const coordinator =
      coordinatorField !== undefined
        ? nameOf(coordinatorField)
        : nameOf(members.find((m) => isRecord(m) && m.coordinator === true) ?? members[0]);
    lines.push(`daemon view ${String(pick(view, 'id', 'viewId', 'view_id') ?? '?')}: ${members.length} member(s)`);
    for (const member of members) {
      const name = nameOf(member);
      const mark = name === coordinator ? '*' : ' ';
      const extra: string[] = [];
      if (isRecord(member)) {
        const addr = pick(member, 'advertise', 'address');
        if (typeof addr === 'string') extra.push(addr);
        const incarnation = isRecord(member.id) ? member.id.incarnation : member.incarnation;
        if (typeof incarnation === 'string') extra.push(`incarnation ${incarnation}`);
      }
      lines.push(`  ${mark} ${name}${extra.length > 0 ? `  (${extra.join(', ')})` : ''}`);
    }
    lines.push('  (* coordinator)');
  } else {
    lines.push('daemon view: none yet');
  }

  const groupsField = pick(status, 'groups', 'processGroups');
  const groups: Json[] = Array.isArray(groupsField)
    ? groupsField.filter(isRecord)
    : isRecord(groupsField)
      ? Object.entries(groupsField).map(([name, g]) => (isRecord(g) ? { name, ...g } : { name }))
      : [];
  lines.push(`groups: ${groups.length}`);
  for (const group of groups) {
    const viewId = pick(group, 'viewId', 'view_id', 'view');
    const id = isRecord(viewId) ? viewId.id : viewId;
    const membersField = pick(group, 'members') ?? (isRecord(viewId) ? viewId.members : undefined);
    const members = Array.isArray(membersField) ? membersField : [];
    const names = members.map((m) => {
      const client = nameOf(m);
      return isRecord(m) && typeof m.daemon === 'string' ? `${client}@${m.daemon}` : client;
    });
    const seq = pick(group, 'seq', 'totalSeq', 'total_seq');
    const ordered = typeof seq === 'number' ? `  ${seq} message(s) ordered` : '';
    lines.push(`  ${String(group.name ?? '?')}  view ${String(id ?? '?')}  members=[${names.join(', ')}]${ordered}`);
  }
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------- client commands

/** What `tail` reads from a view and a message (the SDK's View and Message have more). */
interface ViewLike {
  id: number;
  members: readonly string[];
  joined: readonly string[];
  left: readonly string[];
  causes: Readonly<Record<string, string>>;
}
interface MessageLike {
  id: string;
  sender: string;
  data: Uint8Array;
  order: string;
  viewId: number;
  seq: number;
}

export function formatView(view: ViewLike): string {
  const left = view.left.map((m) => (view.causes[m] ? `${m} (${view.causes[m]})` : m));
  return `view ${view.id} members=[${view.members.join(', ')}] joined=[${view.joined.join(', ')}] left=[${left.join(', ')}]`;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const BINARY_PREVIEW_BYTES = 32;

/** Printable UTF-8 as itself; anything else as `<N bytes: hex…>`. */
export function formatData(data: Uint8Array): string {
  try {
    const text = utf8.decode(data);
    // Control characters other than tab would garble the terminal: treat as binary.
    if (!/[\u0000-\u0008\u000b-\u001f\u007f]/.test(text)) return text;
  } catch {
    // not UTF-8
  }
  const shown = Buffer.from(data.subarray(0, BINARY_PREVIEW_BYTES)).toString('hex');
  return `<${data.length} bytes: ${shown}${data.length > BINARY_PREVIEW_BYTES ? '…' : ''}>`;
}

export function formatMessage(msg: MessageLike): string {
  const order = msg.order === 'total' ? '' : ` [${msg.order}]`;
  return `#${msg.seq} <${msg.sender}> ${formatData(msg.data)}${order}`;
}

function jsonData(data: Uint8Array): { text: string } | { base64: string } {
  try {
    return { text: utf8.decode(data) };
  } catch {
    return { base64: Buffer.from(data).toString('base64') };
  }
}

/** Resolves on Ctrl-C / SIGTERM (or io.stop); the listeners are removed after. */
function stopRequested(io: CliIo): Promise<void> {
  return new Promise((resolve) => {
    if (io.stop) {
      if (io.stop.aborted) resolve();
      else io.stop.addEventListener('abort', () => resolve(), { once: true });
      return;
    }
    const onSignal = (): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      // A second Ctrl-C while leaving exits at once.
      process.once('SIGINT', () => process.exit(130));
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

async function tailCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals: pos } = parse(args, {
    url: { type: 'string', default: DEFAULT_URL },
    ca: { type: 'string' },
    token: { type: 'string' },
    name: { type: 'string', default: 'tail' },
    json: { type: 'boolean', default: false },
    verbose: { type: 'boolean', short: 'v', default: false },
  });
  if (values.help) return help(io);
  const [groupName] = positionals(pos, ['group']) as [string];
  const json = values.json === true;
  const print = (line: string, record: Json): void => io.out(json ? `${JSON.stringify(record)}\n` : `${line}\n`);

  const client = await connectClient(values.url as string, { name: values.name as string, ...caOption(values.ca), token: tokenFrom(values.token, 'CHORUS_TOKEN') });
  // The daemon going away ends tail with an error; a close we asked for does not.
  let closing = false;
  const lost = new Promise<CliError>((resolve) => {
    client.on('close', (err?: Error) => {
      if (closing) return;
      resolve(new CliError(errorCode(err) ?? 'ERR_DISCONNECTED', err?.message ?? 'the daemon closed the connection'));
    });
  });

  let failure: CliError | undefined;
  try {
    const group = await client.join(groupName);
    // Until joined, Ctrl-C just ends the process: there is nothing to leave yet.
    const stop = stopRequested(io);
    const expelled = new Promise<CliError>((resolve) => {
      group.on('expelled', (reason: string) => resolve(new CliError('ERR_EXPELLED', `expelled from ${groupName}: ${reason}`)));
    });
    const onView = (view: ViewLike): void => print(formatView(view), { type: 'view', group: groupName, ...view });
    onView(group.view);
    group.on('view', onView);
    group.on('message', (msg: MessageLike) =>
      print(formatMessage(msg), {
        type: 'message',
        group: groupName,
        id: msg.id,
        sender: msg.sender,
        order: msg.order,
        viewId: msg.viewId,
        seq: msg.seq,
        ...jsonData(msg.data),
      }),
    );
    if (values.verbose) {
      group.on('block', () => print('-- block (view change in progress)', { type: 'block', group: groupName }));
      group.on('unblock', () => print('-- unblock', { type: 'unblock', group: groupName }));
    }

    failure = await Promise.race([stop.then(() => undefined), lost, expelled]);
    if (failure === undefined) {
      closing = true;
      await group.leave();
    }
  } finally {
    closing = true;
    await client.close().catch(() => undefined);
  }
  if (failure) throw failure;
  return 0;
}

async function sendCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals: pos } = parse(args, {
    url: { type: 'string', default: DEFAULT_URL },
    ca: { type: 'string' },
    token: { type: 'string' },
    name: { type: 'string', default: 'send' },
    order: { type: 'string', default: 'total' },
    count: { type: 'string', default: '1' },
  });
  if (values.help) return help(io);
  const [groupName, text] = positionals(pos, ['group', 'text']) as [string, string];
  const order = values.order as string;
  if (!(ORDERS as readonly string[]).includes(order)) {
    throw new CliError('ERR_USAGE', `--order must be one of ${ORDERS.join(', ')}, got ${JSON.stringify(order)}`, 2);
  }
  const count = Number(values.count);
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new CliError('ERR_USAGE', `--count must be a positive integer, got ${JSON.stringify(values.count)}`, 2);
  }

  const client = await connectClient(values.url as string, { name: values.name as string, ...caOption(values.ca), token: tokenFrom(values.token, 'CHORUS_TOKEN') });
  try {
    const group = await client.join(groupName);
    const inFlight = new Set<Promise<unknown>>();
    let lastId = '';
    for (let i = 1; i <= count; i++) {
      const body = count === 1 ? text : text.replaceAll('{i}', String(i));
      const sent = group.multicast(body, { order: order as OrderName }).then((r: { id: string }) => {
        lastId = r.id;
        inFlight.delete(sent);
      });
      inFlight.add(sent);
      if (inFlight.size >= SEND_WINDOW_MAX) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    await group.leave();
    io.out(count === 1 ? `sent ${lastId}\n` : `sent ${count} messages to ${groupName}\n`);
  } finally {
    await client.close().catch(() => undefined);
  }
  return 0;
}
