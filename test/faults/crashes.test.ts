// Crashes over real processes, under traffic in all four orders: SIGKILL of the
// coordinator, of senders mid-stream (a client process, then a daemon), of a second
// daemon during the flush of the first failure, and of two daemons at once. Every run's
// history (the daemons' event logs + what every client saw) must pass the checker, with
// liveness for the clients alive at the end and nothing lost by survivors. Extra views
// (a starved daemon falsely suspected) are legal; broken guarantees are not.
import { afterEach, describe, expect, it } from 'vitest';

import type { HistoryEvent } from '../checker/index.js';
import { sleep } from './harness.js';
import { Scenario } from './scenario.js';
import { checkRun } from './verify.js';

/** Generous: the waits inside have their own, more telling, timeouts. */
const TEST_TIMEOUT_MS = 120_000;

let scenario: Scenario | undefined;

afterEach(async () => {
  await scenario?.close();
  scenario = undefined;
});

describe('crashes under traffic', () => {
  it('the coordinator killed under heavy multicast: survivors agree and lose nothing of each other', async () => {
    const s = (scenario = await Scenario.start({ names: ['a', 'b', 'c'], label: 'coordinator' }));
    for (const d of s.cluster.names) await s.member(d, 'g');
    await s.waitForGroup('g');
    s.send('g');
    await sleep(1_000);
    const coordinator = await s.cluster.coordinator();
    await s.cluster.kill(coordinator);
    const survivors = s.cluster.names.filter((n) => n !== coordinator);
    await s.cluster.waitForView(survivors);
    await s.waitForGroup('g');
    await sleep(800);
    const result = await s.finish(['g']);
    console.log(s.summary('coordinator killed', result));
    expect(result.check.report, s.explain(result)).toBe('');
    expect(result.check.stats.deliveries).toBeGreaterThan(1_000);
    expect(result.live.map((m) => m.daemon).sort()).toEqual(survivors);

    // The pipeline catches a loss: drop one delivery of a survivor from the same run.
    const live = new Set(result.live.map((m) => m.id));
    const victim = result.check.history.findIndex((e) => e.type === 'deliver' && live.has(e.member) && !e.id.includes('marker'));
    const tampered: HistoryEvent[] = result.check.history.filter((_, i) => i !== victim);
    const again = checkRun({ daemonLogs: [], clientEvents: tampered, live: [...live], accepted: s.recorder.accepted });
    expect(again.violations.length).toBeGreaterThan(0);
  }, TEST_TIMEOUT_MS);

  it('senders killed mid-stream (a client process, then a daemon): their streams end the same way everywhere', async () => {
    const s = (scenario = await Scenario.start({ names: ['a', 'b', 'c'], label: 'sender' }));
    for (const d of s.cluster.names) await s.member(d, 'g');
    const doomed = await s.member('b', 'g', { rejoin: false });
    await s.waitForGroup('g');
    s.send('g');
    await sleep(800);
    doomed.kill(); // the client process dies mid-stream
    await sleep(600);
    await s.cluster.kill('c'); // a daemon whose member is sending
    await s.cluster.waitForView(['a', 'b']);
    await s.waitForGroup('g');
    await sleep(600);
    const result = await s.finish(['g']);
    console.log(s.summary('senders killed', result));
    expect(result.check.report, s.explain(result)).toBe('');
    const view = result.live[0]!.handle('g')!.view;
    expect(view.members).not.toContain(doomed.id);
    // The members that stayed saw why each left: the dead client as a crash; the member
    // of the dead daemon as a crash, or as `partition` when a daemon other than the
    // proposer noticed the silence first (README, "causes").
    const witness = result.live[0]!.id;
    const causes = new Map(result.check.history.flatMap((e) => (e.type === 'group-view' && e.member === witness ? Object.entries(e.causes) : [])));
    expect(causes.get(doomed.id)).toBe('crash');
    expect(['crash', 'partition']).toContain(causes.get(s.on('c')[0]!.id));
  }, TEST_TIMEOUT_MS);

  it('a second daemon killed during the flush of the first failure', async () => {
    const s = (scenario = await Scenario.start({ names: ['a', 'b', 'c', 'd', 'e'], label: 'flush' }));
    for (const d of s.cluster.names) await s.member(d, 'g');
    await s.waitForGroup('g');
    s.send('g', undefined, { window: 4 });
    await sleep(800);
    const first = await s.cluster.kill('c');
    // Freeze d before anyone suspects c, so the proposal that drops c still counts on d
    // and cannot complete; kill d as soon as that flush has started.
    await sleep(s.cluster.suspectMs * 0.4);
    await s.cluster.pause('d');
    const started = await waitForProposal(s, first.t, (proposed) => !proposed.some((k) => k.startsWith('c#')));
    await s.cluster.kill('d');
    await s.cluster.waitForView(['a', 'b', 'e']);
    await s.waitForGroup('g');
    await sleep(600);
    const result = await s.finish(['g']);
    console.log(s.summary('second daemon killed during a flush', result));
    console.log(`[faults]   the first proposal after killing c ${started.some((k) => k.startsWith('d#')) ? 'counted on d (flush restarted without it)' : 'already dropped d'}`);
    expect(result.check.report, s.explain(result)).toBe('');
  }, TEST_TIMEOUT_MS);

  it('two daemons of five killed at once, the coordinator among them', async () => {
    const s = (scenario = await Scenario.start({ names: ['a', 'b', 'c', 'd', 'e'], label: 'double' }));
    for (const d of s.cluster.names) await s.member(d, 'g');
    await s.waitForGroup('g');
    s.send('g', undefined, { window: 4 });
    await sleep(800);
    const coordinator = await s.cluster.coordinator();
    const other = s.cluster.names.find((n) => n !== coordinator && n !== 'e')!;
    await s.cluster.kill(coordinator, other);
    const survivors = s.cluster.names.filter((n) => n !== coordinator && n !== other);
    await s.cluster.waitForView(survivors);
    await s.waitForGroup('g');
    await sleep(600);
    const result = await s.finish(['g']);
    console.log(s.summary('two daemons killed at once', result));
    expect(result.check.report, s.explain(result)).toBe('');
    expect(result.live).toHaveLength(3);
  }, TEST_TIMEOUT_MS);
});

/** Polls the daemons' output for a `view change started` after `sinceMs` whose proposal passes `match`. */
async function waitForProposal(s: Scenario, sinceMs: number, match: (proposed: string[]) => boolean, timeoutMs = 15_000): Promise<string[]> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    for (const p of s.cluster.processes) {
      for (const line of p.output) {
        if (!line.includes('"view change started"')) continue;
        const j = JSON.parse(line) as { time: number; proposed: string[] };
        if (j.time >= Math.floor(sinceMs) && match(j.proposed)) return j.proposed;
      }
    }
    await sleep(5);
  }
  throw new Error('no view change started in time');
}
