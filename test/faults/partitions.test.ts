// Network faults over real processes, made by the link proxy between the daemons: a
// 3|2 partition that heals (guarantee 5: only the majority side carries on; the other
// side's members are expelled as `partitioned`, deliver nothing more, and rejoin after
// the heal), and a link cut in one direction only (one end of the broken pair leaves
// the view, and comes back once the link works again).
import { afterEach, describe, expect, it } from 'vitest';

import { sleep } from './harness.js';
import { Scenario } from './scenario.js';

/** Generous: the waits inside have their own, more telling, timeouts. */
const TEST_TIMEOUT_MS = 120_000;

let scenario: Scenario | undefined;

afterEach(async () => {
  await scenario?.close();
  scenario = undefined;
});

describe('network faults under traffic', () => {
  it('a 3|2 partition: the minority stops delivering and is expelled, then rejoins after the heal', async () => {
    const s = (scenario = await Scenario.start({ names: ['a', 'b', 'c', 'd', 'e'], label: 'partition' }));
    for (const d of s.cluster.names) await s.member(d, 'g');
    await s.waitForGroup('g');
    s.send('g', undefined, { window: 4 });
    await sleep(800);
    await s.cluster.partition([['a', 'b', 'c'], ['d', 'e']]);
    await s.cluster.waitForView(['a', 'b', 'c']);
    const minority = [...s.on('d'), ...s.on('e')];
    // The minority's members are told they are out: nothing is delivered to them from then
    // on (the checker fails any delivery outside a membership session).
    await waitUntil('the minority members expelled as partitioned', () => minority.every((m) => m.expulsions.includes('partitioned')));
    const majority = [...s.on('a'), ...s.on('b'), ...s.on('c')];
    const before = majority.map((m) => m.handle('g')?.view.id ?? 0);
    await sleep(1_000); // the majority carries on meanwhile
    expect(majority.every((m, i) => (m.handle('g')?.view.id ?? 0) >= before[i]!)).toBe(true);
    const minorityStatus = await Promise.all(['d', 'e'].map((n) => s.cluster.status(n)));
    expect(minorityStatus.map((st) => st?.daemon.mode)).toEqual(['joining', 'joining']);

    await s.cluster.heal();
    await s.cluster.waitForView(s.cluster.names);
    await s.waitForGroup('g'); // the minority members joined again
    await sleep(600);
    const result = await s.finish(['g']);
    console.log(s.summary('partition 3|2, then heal', result));
    expect(result.check.report, s.explain(result)).toBe('');
    expect(minority.every((m) => m.sessions('g') >= 2)).toBe(true);
    expect(result.live).toHaveLength(5);
  }, TEST_TIMEOUT_MS);

  it('a link cut in one direction: one end leaves the view, and returns once the link works', async () => {
    const s = (scenario = await Scenario.start({ names: ['a', 'b', 'c'], label: 'one-way' }));
    for (const d of s.cluster.names) await s.member(d, 'g');
    await s.waitForGroup('g');
    s.send('g');
    await sleep(800);
    const fault = await s.cluster.cut('a', 'c'); // frames a → c are lost; c → a still flow
    const end = Date.now() + 20_000;
    let view = await s.cluster.view(['a']);
    while (view === undefined || view.members.length === 3) {
      if (Date.now() > end) throw new Error(`no view without a or c: ${JSON.stringify(view)}`);
      await sleep(100);
      view = await s.cluster.view(['a', 'b']);
    }
    expect(view.id).toBeGreaterThan(fault.viewId!);
    await sleep(800);
    await s.cluster.heal();
    await s.cluster.waitForView(s.cluster.names);
    await s.waitForGroup('g');
    await sleep(600);
    const result = await s.finish(['g']);
    console.log(s.summary('one-way link cut a → c, then restored', result));
    expect(result.check.report, s.explain(result)).toBe('');
    expect(result.live).toHaveLength(3);
  }, TEST_TIMEOUT_MS);
});

async function waitUntil(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
