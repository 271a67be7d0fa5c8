// `GET /events`: the daemon's status and view timeline pushed as Server-Sent Events, for
// the live page and `chorus watch`. A subscriber gets a `status` event at once and then
// every second (and right after each view change), and every timeline entry as it
// happens (`timeline`, its `id` the entry's seq: a browser's EventSource reconnects with
// Last-Event-ID and gets only what it missed). A subscriber that reads too slowly (more
// than MAX_BUFFERED_BYTES unsent) is dropped; at most MAX_SUBSCRIBERS at once.
import type { IncomingMessage, ServerResponse } from 'node:http';

import type { TimelineEntry, ViewTimeline } from './view-timeline.js';

export const MAX_SUBSCRIBERS = 32;
const MAX_BUFFERED_BYTES = 1024 * 1024;
const STATUS_INTERVAL_MS = 1000;

export class LiveEvents {
  private readonly subscribers = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | undefined;
  private statusQueued = false;

  constructor(
    private readonly status: () => unknown,
    private readonly timeline: ViewTimeline,
  ) {
    timeline.onEntry((e) => this.onEntry(e));
  }

  get count(): number {
    return this.subscribers.size;
  }

  /** Serves one `GET /events` request until the client goes (or is dropped). */
  subscribe(req: IncomingMessage, res: ServerResponse, headers: Record<string, string>): void {
    if (this.subscribers.size >= MAX_SUBSCRIBERS) {
      res.writeHead(503, { ...headers, 'content-type': 'text/plain; charset=utf-8', 'retry-after': '5' });
      res.end(`too many live subscribers (at most ${MAX_SUBSCRIBERS})\n`);
      return;
    }
    res.writeHead(200, { ...headers, 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive' });
    // The reconnect delay of an EventSource (ms): a restarted daemon is found again quickly.
    res.write('retry: 1000\n\n');
    let after = Number(req.headers['last-event-id'] ?? new URL(req.url ?? '/', 'http://admin').searchParams.get('since') ?? 0);
    // An id past this run's entries was given by an earlier run of the daemon: send all.
    if (!Number.isFinite(after) || after > this.timeline.lastSeq) after = 0;
    this.send(res, message('status', this.status()));
    for (const e of this.timeline.since(after)) this.send(res, message('timeline', e, e.seq));
    this.subscribers.add(res);
    const drop = () => this.subscribers.delete(res);
    res.on('close', drop);
    res.on('error', drop);
    this.timer ??= setInterval(() => this.broadcastStatus(), STATUS_INTERVAL_MS);
  }

  /** Ends every subscription (the daemon is closing). */
  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    for (const res of this.subscribers) res.end();
    this.subscribers.clear();
  }

  private onEntry(e: TimelineEntry): void {
    if (this.subscribers.size === 0) return;
    const text = message('timeline', e, e.seq);
    for (const res of this.subscribers) this.send(res, text);
    // The status moved with it (view, members, mode): send it too, once per turn.
    if (this.statusQueued) return;
    this.statusQueued = true;
    setImmediate(() => {
      this.statusQueued = false;
      this.broadcastStatus();
    });
  }

  private broadcastStatus(): void {
    if (this.subscribers.size === 0) {
      if (this.timer !== undefined) clearInterval(this.timer);
      this.timer = undefined;
      return;
    }
    // Serialised once for every subscriber (the status holds the whole timeline).
    const text = message('status', this.status());
    for (const res of this.subscribers) this.send(res, text);
  }

  private send(res: ServerResponse, text: string): void {
    if (res.writableLength > MAX_BUFFERED_BYTES) {
      // A subscriber that does not read: drop it rather than buffer without bound.
      this.subscribers.delete(res);
      res.destroy();
      return;
    }
    res.write(text);
  }
}

/** One Server-Sent Event. */
function message(event: string, data: unknown, id?: number): string {
  return `event: ${event}\n${id !== undefined ? `id: ${id}\n` : ''}data: ${JSON.stringify(data)}\n\n`;
}
