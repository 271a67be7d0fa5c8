// The clock of the daemons' event logs (CHORUS_EVENT_LOG) and of the fault harness's
// recorder: the soak merges one member's sends (from its daemon's log) with its
// deliveries (recorded by the harness) by time, so the clock must be the host's realtime
// clock in every process. `performance.timeOrigin + performance.now()` is not: a process's
// time origin can be ms off (seen in the soak: a restarted daemon 6 ms ahead, and
// `G4 causal-cycle` for every round it lived). Here the origin is made wrong on purpose.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import { afterEach, describe, expect, it } from 'vitest';

import { connect, type Client, type Message } from '../../client-sdk/index.js';
import { startDaemon, type Daemon } from '../../daemon/index.js';
import { calibrateWallClock, wallClockErrorMs, wallClockMs } from '../../daemon/wall-clock.js';

const SKEW_MS = 2_000;

let daemon: Daemon | undefined;
let client: Client | undefined;
let dir: string | undefined;

/** Makes this process's performance.timeOrigin SKEW_MS ahead of the realtime clock. */
function skewTimeOrigin(): () => void {
  const real = performance.timeOrigin;
  Object.defineProperty(performance, 'timeOrigin', { value: real + SKEW_MS, configurable: true, enumerable: true });
  return () => {
    delete (performance as { timeOrigin?: number }).timeOrigin; // the prototype's getter again
  };
}

afterEach(async () => {
  await client?.close();
  await daemon?.shutdown();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  client = daemon = dir = undefined;
});

describe('event-log clock', () => {
  it('is the realtime clock: within a ms of Date.now(), monotonic', () => {
    calibrateWallClock();
    expect(wallClockErrorMs()).toBeLessThan(1);
    let last = wallClockMs();
    for (let i = 0; i < 2_000; i++) {
      const before = Date.now();
      const t = wallClockMs();
      const after = Date.now();
      expect(t).toBeGreaterThanOrEqual(before - 0.5);
      expect(t).toBeLessThan(after + 1.5);
      expect(t).toBeGreaterThanOrEqual(last);
      last = t;
    }
  });

  it('stamps a daemon send with the realtime clock, even when performance.timeOrigin is off', async () => {
    const restore = skewTimeOrigin();
    try {
      calibrateWallClock(); // what a freshly started process does
      dir = mkdtempSync(join(tmpdir(), 'chorus-event-log-clock-'));
      const log = join(dir, 'a.jsonl');
      const flags = ['--name', 'a', '--listen', '127.0.0.1:0', '--client', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--log-level', 'silent'];
      daemon = await startDaemon(flags, { CHORUS_EVENT_LOG: log });
      client = await connect({ url: `ws://${daemon.addresses.client}`, name: 'app' });
      const g = await client.join('g');
      const delivered = new Promise<Message>((resolve) => g.once('message', resolve));
      const sentAfter = Date.now();
      const { id } = await g.multicast('hello', { order: 'fifo' });
      await delivered;
      const deliveredBy = Date.now();

      const events = readFileSync(log, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as { type: string; id?: string; t: number });
      const send = events.find((e) => e.type === 'send' && e.id === id);
      expect(send).toBeDefined();
      // The send happened between the multicast call and the delivery, by the realtime clock.
      expect(send!.t).toBeGreaterThanOrEqual(sentAfter - 1);
      expect(send!.t).toBeLessThanOrEqual(deliveredBy + 1);
    } finally {
      restore();
      calibrateWallClock();
    }
  });
});
