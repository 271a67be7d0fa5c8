// GET /healthz (liveness) and GET /readyz (in the primary component) on the admin port,
// over real chorusd processes (issue 14, item 5): what a Kubernetes probe, a Docker
// HEALTHCHECK or a systemd start-up wait sees while a daemon founds, joins, waits for its
// --expect peers, steps down and leaves.
import { afterEach, describe, expect, it } from 'vitest';

import { startDaemon, type Daemon } from '../../daemon/index.js';
import { createLogger } from '../../daemon/logger.js';
import { raw } from '../unit/helpers/http.js';
import { freePort, startChorusd, waitFor, type DaemonProcess } from './harness.js';

let daemons: DaemonProcess[] = [];
let inProcess: Daemon[] = [];

afterEach(async () => {
  await Promise.allSettled(daemons.map((d) => d.stop('SIGKILL')));
  await Promise.allSettled(inProcess.map((d) => d.shutdown()));
  daemons = [];
  inProcess = [];
});

async function start(name: string, args: string[] = []): Promise<DaemonProcess> {
  const d = await startChorusd(name, { args });
  daemons.push(d);
  return d;
}

interface Answer {
  status: number;
  body: string;
}

/** One request to the admin port (node:http: fetch refuses to set Host). */
const get = (admin: string, path: string, method = 'GET', headers: Record<string, string> = {}): Promise<Answer> => raw(admin, method, path, headers);


const FAST = ['--heartbeat-ms', '100', '--suspect-ms', '600'];

describe('GET /healthz and /readyz', () => {
  it('a founder is live and ready at once', async () => {
    const a = await start('a');
    const health = await get(a.admin, '/healthz');
    expect(health).toEqual({ status: 200, body: 'ok\n' });
    const ready = await get(a.admin, '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatch(/^ready: in the primary component, daemon view 1 of 1 member\(s\)\n$/);
    // HEAD answers the same status without a body (some probes use it).
    expect(await get(a.admin, '/readyz', 'HEAD')).toEqual({ status: 200, body: '' });
    // GET only: no other method changes anything here.
    expect((await get(a.admin, '/readyz', 'POST')).status).toBe(405);
    expect((await get(a.admin, '/healthz', 'DELETE')).status).toBe(405);
    // The admin port's Host rule applies as to /status (a DNS-rebinding page).
    expect((await get(a.admin, '/readyz', 'GET', { host: 'evil.example' })).status).toBe(403);
    expect((await get(a.admin, '/healthz', 'GET', { host: 'localhost:1' })).status).toBe(200);
  });

  it('a daemon waiting for --expect 2 behind a dead seed stays not ready, and is ready once its peer appears', async () => {
    const port = await freePort();
    const seed = `127.0.0.1:${port}`;
    const a = await start('a', ['--seeds', seed, '--expect', '2', ...FAST]);
    // Live all along, not ready all along: sample for two seconds.
    const end = Date.now() + 2_000;
    let samples = 0;
    while (Date.now() < end) {
      const ready = await get(a.admin, '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body).toMatch(/^not ready: joining: no primary component reached yet through 1 seed\(s\); with none running, 2 daemons \(--expect\) must hear each other to form the first\n$/);
      expect((await get(a.admin, '/healthz')).status).toBe(200);
      samples++;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(samples).toBeGreaterThan(5);
    expect((await a.status()).daemon.mode).toBe('joining');

    // The peer appears at the seed address (and knows a too): the two form the first primary.
    const b = await start('b', ['--listen', seed, '--seeds', a.listen, '--expect', '2', ...FAST]);
    await waitFor('a ready', async () => (await get(a.admin, '/readyz')).status === 200);
    await waitFor('b ready', async () => (await get(b.admin, '/readyz')).status === 200);
    expect((await get(a.admin, '/readyz')).body).toMatch(/^ready: in the primary component, daemon view \d+ of 2 member\(s\)/);
  });

  it('a daemon that steps down from the primary is not ready, saying why', async () => {
    const a = await start('a', FAST);
    const b = await start('b', ['--seeds', a.listen, ...FAST]);
    await waitFor('b ready', async () => (await get(b.admin, '/readyz')).status === 200);
    // Alone of two and not the oldest member, b has no quorum: it steps down and rejoins.
    await a.stop('SIGKILL');
    await waitFor('b not ready', async () => (await get(b.admin, '/readyz')).status === 503);
    const ready = await get(b.admin, '/readyz');
    expect(ready.body).toMatch(/^not ready: outside the primary component \(.+\); rejoining\n$/);
    expect((await get(b.admin, '/healthz')).status).toBe(200);
  });

  it('a leaving daemon is not ready', async () => {
    const d = await startDaemon(['--name', 'solo', '--listen', '127.0.0.1:0', '--client', '127.0.0.1:0', '--admin', '127.0.0.1:0'], {}, { logger: createLogger({ name: 'solo', level: 'silent' }) });
    inProcess.push(d);
    expect(d.readiness().ready).toBe(true);
    const left = d.leave();
    expect(d.readiness()).toEqual({ ready: false, reason: 'not ready: leaving the cluster' });
    await left;
  });
});
