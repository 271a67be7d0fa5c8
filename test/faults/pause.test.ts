// A daemon frozen (SIGSTOP) for longer than the suspect timeout, then resumed (SIGCONT):
// the others exclude it and carry on; when it wakes up it learns it is out, expels its
// members (`partitioned`) and rejoins as a new incarnation, and its members join again.
import { afterEach, describe, expect, it } from 'vitest';

import { sleep, wallClockMs } from './harness.js';
import { Scenario } from './scenario.js';

/** Generous: the waits inside have their own, more telling, timeouts. */
const TEST_TIMEOUT_MS = 120_000;

let scenario: Scenario | undefined;

afterEach(async () => {
  await scenario?.close();
  scenario = undefined;
});

describe('a paused daemon', () => {
  it('paused longer than the suspect timeout: excluded, then back as a new incarnation whose members rejoin', async () => {
    const s = (scenario = await Scenario.start({ names: ['a', 'b', 'c'], label: 'pause' }));
    for (const d of s.cluster.names) await s.member(d, 'g');
    await s.waitForGroup('g');
    s.send('g');
    await sleep(800);
    const fault = await s.cluster.pause('c');
    await s.cluster.waitForView(['a', 'b']);
    await sleep(Math.max(0, fault.t + 3 * s.cluster.suspectMs - wallClockMs()));
    await s.cluster.resume('c');
    await s.cluster.waitForView(s.cluster.names);
    const key = await s.cluster.key('c');
    expect(key).toBeDefined();
    expect(fault.excluded).not.toContain(key); // a new incarnation
    await s.waitForGroup('g');
    await sleep(600);
    const result = await s.finish(['g']);
    console.log(s.summary('pause longer than suspect, then resume', result));
    expect(result.check.report, s.explain(result)).toBe('');
    const [member] = s.on('c');
    expect(member!.expulsions).toContain('partitioned');
    expect(member!.sessions('g')).toBeGreaterThanOrEqual(2);
  }, TEST_TIMEOUT_MS);
});
