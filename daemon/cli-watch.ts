// `chorus watch`: the live page in a terminal (as corosync-cpgtool or `nats server
// report` are for their systems), fed by the admin port's `GET /events` (Server-Sent
// Events: a status every second and right after each view change, every timeline entry
// as it happens). On a terminal it redraws one screen: the daemon and its mode, the
// daemon view with the coordinator, the links with their round trips, the groups with
// members and msgs/s, and the latest view changes with their causes and durations.
// Piped, it prints one line per view change (a log to grep); with --json, one JSON
// object per event. When the daemon goes away it says so and reconnects (a restarted
// daemon is picked up again), until Ctrl-C.
import { request as httpRequest, type IncomingMessage } from 'node:http';

export interface WatchIo {
  out(text: string): void;
  err(text: string): void;
  /** Redraw one screen (a terminal) rather than print a log of lines. */
  readonly tty: boolean;
}

interface WatchEvent {
  readonly event: string;
  readonly data: unknown;
}

type Cause = { member: string; cause: string };
interface Entry {
  seq: number;
  at: number;
  kind: string;
  viewId: number;
  group?: string;
  members?: string[];
  joined?: Cause[];
  left?: Cause[];
  detectionMs?: number;
  flushMs?: number;
  forced?: boolean;
  mode?: string;
  reason?: string;
}

const RETRY_MS = 1000;
/** Lines of the timeline on the screen. */
const SCREEN_ENTRIES = 12;

/**
 * Watches the daemon at `eventsUrl` until `stopped` resolves. Rejects when the first
 * connection fails (the caller reports which port it was); later breaks reconnect.
 */
export async function watch(eventsUrl: string, json: boolean, io: WatchIo, stopped: Promise<void>): Promise<void> {
  let done = false;
  void stopped.then(() => (done = true));
  const view = new WatchView(io, json);
  let connectedOnce = false;
  let lastIncarnation: string | undefined;
  while (!done) {
    let res: IncomingMessage;
    try {
      res = await openStream(eventsUrl, stopped);
    } catch (err) {
      if (!connectedOnce) throw err;
      if (done) break;
      await Promise.race([sleep(RETRY_MS), stopped]);
      continue;
    }
    if (res.statusCode !== 200) {
      res.resume();
      throw Object.assign(new Error(`GET /events answered HTTP ${res.statusCode ?? 0}`), { code: 'ERR_BAD_RESPONSE' });
    }
    if (connectedOnce) view.note('connected again');
    connectedOnce = true;
    await readEvents(res, stopped, (e) => {
      if (e.event === 'status') {
        const incarnation = incarnationOf(e.data);
        // A restarted daemon numbers its timeline afresh.
        if (lastIncarnation !== undefined && incarnation !== lastIncarnation) view.restarted();
        lastIncarnation = incarnation;
      }
      view.event(e);
    });
    if (!done) {
      view.note(`the daemon at ${new URL(eventsUrl).host} is unreachable; retrying every ${RETRY_MS / 1000} s (Ctrl-C to stop)`);
      await Promise.race([sleep(RETRY_MS), stopped]);
    }
  }
}

function openStream(url: string, stopped: Promise<void>): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: { accept: 'text/event-stream' }, agent: false });
    req.on('response', resolve);
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(Object.assign(new Error('no answer within 5 s'), { code: 'ETIMEDOUT' })));
    void stopped.then(() => req.destroy());
    req.end();
  });
}

/** Reads SSE blocks until the stream ends (or `stopped`). */
function readEvents(res: IncomingMessage, stopped: Promise<void>, on: (e: WatchEvent) => void): Promise<void> {
  return new Promise((resolve) => {
    res.setEncoding('utf8');
    // Connected: no timeout on a quiet stream (the status comes every second anyway).
    res.socket.setTimeout(0);
    let buf = '';
    res.on('data', (chunk: string) => {
      buf += chunk;
      for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        let event = 'message';
        let data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data += line.slice(6);
        }
        if (data === '') continue;
        try {
          on({ event, data: JSON.parse(data) as unknown });
        } catch {
          // not JSON: not ours
        }
      }
    });
    res.on('end', resolve);
    res.on('close', resolve);
    res.on('error', resolve);
    void stopped.then(() => {
      res.destroy();
      resolve();
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

function incarnationOf(status: unknown): string | undefined {
  const d = (status as { daemon?: { incarnation?: unknown } } | undefined)?.daemon;
  return typeof d?.incarnation === 'string' ? d.incarnation : undefined;
}

const short = (key: string) => key.split('#')[0]!;
const ms = (v: unknown) => (typeof v === 'number' ? `${v < 10 ? v.toFixed(2) : Math.round(v)} ms` : '-');
const MODES: Record<string, string> = { normal: 'primary', flushing: 'primary (view change)', joining: 'OUTSIDE the primary: joining', left: 'left' };

/** One line for a timeline entry. */
export function formatEntry(e: Entry): string {
  const when = new Date(e.at).toLocaleTimeString();
  const changes = (xs: Cause[] | undefined, daemon: boolean) => (xs ?? []).map((x) => `${x.cause === 'join' ? '+' : '-'}${daemon ? short(x.member) : x.member} (${x.cause})`);
  if (e.kind === 'daemon-view') {
    const parts = [...changes(e.joined, true), ...changes(e.left, true)];
    const times = [e.detectionMs !== undefined ? `detection ${ms(e.detectionMs)}` : '', e.flushMs !== undefined ? `flush ${ms(e.flushMs)}` : ''].filter((x) => x !== '');
    return `${when}  daemon view ${e.viewId}${e.forced ? ' (forced primary)' : ''}: ${parts.length > 0 ? parts.join(' ') : (e.members ?? []).map(short).join(', ')}${times.length > 0 ? `  [${times.join(', ')}]` : ''}`;
  }
  if (e.kind === 'group-view') {
    return `${when}  group ${e.group ?? ''} view ${e.viewId}: ${[...changes(e.joined, false), ...changes(e.left, false)].join(' ')}  (${(e.members ?? []).length} members)`;
  }
  return `${when}  ${e.mode ?? e.kind}${e.reason ? `: ${e.reason}` : ''}`;
}

/** What `watch` shows: a screen on a terminal, lines otherwise, JSON with --json. */
class WatchView {
  private status: Record<string, unknown> | undefined;
  private entries: Entry[] = [];
  private notice = '';

  constructor(
    private readonly io: WatchIo,
    private readonly json: boolean,
  ) {}

  event(e: WatchEvent): void {
    if (this.json) {
      this.io.out(`${JSON.stringify(e)}\n`);
      return;
    }
    if (e.event === 'timeline') {
      const entry = e.data as Entry;
      if (this.entries.some((x) => x.seq === entry.seq)) return;
      this.entries.push(entry);
      if (this.entries.length > 200) this.entries.shift();
      if (!this.io.tty) this.io.out(`${formatEntry(entry)}\n`);
      else this.draw();
      return;
    }
    if (e.event === 'status') {
      this.status = e.data as Record<string, unknown>;
      this.notice = '';
      if (this.io.tty) this.draw();
    }
  }

  note(text: string): void {
    if (this.json) {
      this.io.out(`${JSON.stringify({ event: 'notice', data: text })}\n`);
      return;
    }
    this.notice = text;
    if (this.io.tty) this.draw();
    else this.io.out(`${new Date().toLocaleTimeString()}  ${text}\n`);
  }

  restarted(): void {
    this.entries = [];
    this.note('the daemon restarted (a new incarnation)');
  }

  private draw(): void {
    const s = this.status ?? {};
    const d = (s.daemon ?? {}) as Record<string, unknown>;
    const lines: string[] = [];
    lines.push(`chorusd ${String(d.name ?? '?')}  ${MODES[String(d.mode)] ?? String(d.mode ?? '?')}${d.coordinator ? '  [coordinator]' : ''}  cluster ${String(d.cluster ?? '')}  incarnation ${String(d.incarnation ?? '')}  clients ${String(s.clients ?? 0)}`);
    if (this.notice !== '') lines.push(`!! ${this.notice}`);
    const view = (s.daemonView ?? {}) as { id?: number; members?: Array<Record<string, unknown>> };
    lines.push('', `daemon view ${view.id ?? '(none)'}`);
    for (const m of view.members ?? []) {
      lines.push(`  ${m.coordinator ? '*' : ' '} ${String(m.name).padEnd(14)} ${String(m.incarnation).padEnd(10)} ${m.suspected ? 'SUSPECTED' : 'ok       '} clients ${String(m.clients ?? 0).padStart(4)}  ${String(m.advertise ?? '')}`);
    }
    const links = (s.links ?? []) as Array<Record<string, unknown>>;
    if (links.length > 0) {
      lines.push('', 'links');
      for (const l of links) lines.push(`    ${short(String(l.peer)).padEnd(14)} ${(l.suspected ? 'suspected' : l.up ? 'up' : 'down').padEnd(10)} rtt ${ms(l.rttMs).padStart(9)}  queued ${String(l.queuedBytes ?? 0)} B`);
    }
    const groups = (s.groups ?? []) as Array<Record<string, unknown>>;
    lines.push('', `groups (${groups.length})`);
    for (const g of groups.slice(0, 20)) {
      const members = (g.members ?? []) as string[];
      lines.push(`    ${String(g.name).padEnd(20)} view ${String(g.viewId).padStart(4)}  ${String(members.length).padStart(3)} members  ${String(g.messagesPerS ?? 0).padStart(7)} msgs/s  ${members.slice(0, 4).join(' ')}${members.length > 4 ? ' …' : ''}`);
    }
    lines.push('', 'latest view changes');
    for (const e of this.entries.slice(-SCREEN_ENTRIES).reverse()) lines.push(`  ${formatEntry(e)}`);
    lines.push('', 'Ctrl-C to stop');
    // Home, clear, draw: one screen, redrawn on every event.
    this.io.out(`\x1b[H\x1b[2J${lines.join('\n')}\n`);
  }
}
