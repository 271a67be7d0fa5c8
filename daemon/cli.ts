// `chorus`: the command-line tool of API.md — status, tail, send, force-primary, bench.
// bin/chorus.js calls runCli(argv) and exits with the code it returns.
//
// The SDK is imported lazily: `chorus status` and `chorus --help` must work even where
// only the admin port is reachable, and must not pay for loading the client.
import { VERSION } from './version.js';
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Where the tool writes, and what stops `tail`; injectable so tests can drive the CLI. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  /** Aborting it ends `tail` as Ctrl-C does. Default: SIGINT/SIGTERM. */
  stop?: AbortSignal;
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

/** A failure the tool reports as `chorus: <code>: <message>`. */
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
    io.err(`chorus: ${err.code}: ${err.message}\n`);
    if (err.exitCode === 2) io.err('Run "chorus --help" for usage.\n');
    return err.exitCode;
  }
  const code = errorCode(err) ?? 'ERR_UNEXPECTED';
  const message = err instanceof Error ? err.message : String(err);
  io.err(`chorus: ${code}: ${message}\n`);
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

/** `127.0.0.1:7400` → `ws://127.0.0.1:7400`; a URL with a scheme is kept. */
/** `{ token }` from --token (or CHORUS_TOKEN, which keeps it out of `ps`), or nothing. */
function tokenOption(flag: unknown): { token?: string } {
  const token = (flag as string | undefined) ?? process.env.CHORUS_TOKEN;
  return token !== undefined && token !== '' ? { token } : {};
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

function wsUrl(value: string): string {
  return /^wss?:\/\//i.test(value) ? value : `ws://${value}`;
}

/** `127.0.0.1:7600` or `[::1]:7600` → `http://…`; a URL with a scheme is kept. */
function adminUrl(value: string, path: string): string {
  const base = /^https?:\/\//i.test(value) ? value : `http://${value}`;
  return new URL(path, base.endsWith('/') ? base : `${base}/`).href;
}

// ---------------------------------------------------------------- admin commands

async function adminFetch(admin: string, path: string, init?: RequestInit): Promise<Response> {
  const url = adminUrl(admin, path);
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    const cause = err instanceof Error && err.cause !== undefined ? err.cause : err;
    const code = errorCode(cause) ?? 'ERR_CONNECT';
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new CliError(code, `cannot reach the admin port at ${admin} (is chorusd running?): ${reason}`);
  }
}

async function statusCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals: pos } = parse(args, {
    admin: { type: 'string', default: DEFAULT_ADMIN },
    json: { type: 'boolean', default: false },
  });
  if (values.help) return help(io);
  positionals(pos, []);
  const admin = values.admin as string;
  const res = await adminFetch(admin, 'status');
  const body = await res.text();
  if (!res.ok) throw new CliError(`HTTP_${res.status}`, `GET /status: ${res.statusText}: ${body.trim()}`);
  if (values.json) {
    io.out(body.endsWith('\n') ? body : `${body}\n`);
    return 0;
  }
  let status: unknown;
  try {
    status = JSON.parse(body);
  } catch {
    throw new CliError('ERR_BAD_RESPONSE', `GET /status did not answer JSON: ${body.slice(0, 200)}`);
  }
  io.out(formatStatus(status));
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
  const token = (values.token as string | undefined) ?? process.env.CHORUS_ADMIN_TOKEN;
  const headers: Record<string, string> = token !== undefined && token !== '' ? { authorization: `Bearer ${token}` } : {};
  const res = await adminFetch(admin, 'force-primary', { method: 'POST', headers });
  const answer = describeBody(await res.text());
  // 501 is the answer of a daemon that knows the command but does not implement it yet;
  // 404/405 come from a daemon whose admin port does not know it at all.
  if (res.status === 501 || res.status === 404 || res.status === 405) {
    io.err(`chorus: force-primary: not implemented yet by this daemon (HTTP ${res.status})${answer ? `: ${answer}` : ''}\n`);
    return 1;
  }
  if (!res.ok) {
    io.err(`chorus: force-primary: refused (HTTP ${res.status} ${res.statusText})${answer ? `: ${answer}` : ''}\n`);
    return 1;
  }
  io.out(`force-primary: ${answer || 'ok'}\n`);
  return 0;
}

/** A response body as one readable line: a JSON `message`/`error` field, else the text. */
function describeBody(text: string): string {
  const trimmed = text.trim();
  try {
    const json: unknown = JSON.parse(trimmed);
    if (isRecord(json)) {
      const parts = [json.code, json.error, json.message].filter((p) => typeof p === 'string' && p !== '');
      if (parts.length > 0) return [...new Set(parts)].join(': ');
    }
  } catch {
    // not JSON: the text itself
  }
  return trimmed;
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

  const { connect } = await import('../client-sdk/index.js');
  const client = await connect({ url: wsUrl(values.url as string), name: values.name as string, ...caOption(values.ca), ...tokenOption(values.token) });
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

  const { connect } = await import('../client-sdk/index.js');
  const client = await connect({ url: wsUrl(values.url as string), name: values.name as string, ...caOption(values.ca), ...tokenOption(values.token) });
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
