// GET /events (daemon/live-events.ts) through the real admin server: a status at once,
// then every timeline entry as it happens (id = its seq) with a fresh status after it; a
// reconnect with Last-Event-ID gets only what it missed, and an id from an earlier run
// of the daemon (past this run's entries) gets everything.
import { request, type IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';

import { startAdminServer, type AdminServer } from '../../daemon/admin-server.js';
import { LiveEvents } from '../../daemon/live-events.js';
import { createLogger } from '../../daemon/logger.js';
import { ViewTimeline } from '../../daemon/view-timeline.js';

const logger = createLogger({ level: 'silent' });
let server: AdminServer | undefined;
let live: LiveEvents | undefined;
const open: IncomingMessage[] = [];

afterEach(async () => {
  for (const r of open.splice(0)) r.destroy();
  live?.close();
  await server?.close();
  server = undefined;
});

interface Sse {
  event: string;
  id?: string;
  data: unknown;
}

/** Subscribes to /events; `events` fills as they come. */
function subscribe(address: string, headers: Record<string, string> = {}): Promise<{ events: Sse[]; type: string }> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: '/events', headers }, (res) => {
      open.push(res);
      const events: Sse[] = [];
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let end;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const fields = Object.fromEntries(block.split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));
          if (fields.event !== undefined) events.push({ event: fields.event, ...(fields.id !== undefined ? { id: fields.id } : {}), data: JSON.parse(fields.data!) });
        }
      });
      resolve({ events, type: String(res.headers['content-type']) });
    });
    req.on('error', reject);
    req.end();
  });
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(check()).toBe(true);
}

describe('GET /events', () => {
  it('pushes the status and every timeline entry; Last-Event-ID resumes after it, or from the start for an id of an earlier run', async () => {
    const timeline = new ViewTimeline();
    let views = 0;
    live = new LiveEvents(() => ({ views }), timeline);
    const l = live;
    server = await startAdminServer({ listen: '127.0.0.1:0', logger, status: () => ({}), metrics: () => '', events: (req, res, h) => l.subscribe(req, res, h) });
    timeline.trace({ type: 'daemon-view', viewId: 1, members: ['a#1'] }, undefined);

    const first = await subscribe(server.address);
    expect(first.type).toBe('text/event-stream; charset=utf-8');
    await until(() => first.events.length === 2);
    expect(first.events[0]).toEqual({ event: 'status', data: { views: 0 } });
    expect(first.events[1]).toMatchObject({ event: 'timeline', id: '1', data: { seq: 1, viewId: 1 } });

    views = 1;
    timeline.trace({ type: 'daemon-view', viewId: 2, members: ['a#1', 'b#1'] }, 1);
    await until(() => first.events.length === 4);
    expect(first.events[2]).toMatchObject({ event: 'timeline', id: '2', data: { viewId: 2, joined: [{ member: 'b#1', cause: 'join' }] } });
    expect(first.events[3]).toEqual({ event: 'status', data: { views: 1 } });

    const resumed = await subscribe(server.address, { 'last-event-id': '1' });
    await until(() => resumed.events.length === 2);
    expect(resumed.events.map((e) => e.id ?? e.event)).toEqual(['status', '2']);

    const otherRun = await subscribe(server.address, { 'last-event-id': '99' });
    await until(() => otherRun.events.length === 3);
    expect(otherRun.events.map((e) => e.id ?? e.event)).toEqual(['status', '1', '2']);
    expect(l.count).toBe(3);
  });
});
