// A rolling restart while traffic flows: every daemon in turn is stopped (SIGTERM: it
// leaves the daemon view), started again under its name, and gets a new replica that
// takes the group's state by transfer. The members on the other daemons lose nothing,
// and after every daemon was replaced the group's state is still whole and the same
// at every replica.
import { afterEach, describe, expect, it } from 'vitest';

import { sleep } from './harness.js';
import { Replica } from './members.js';
import { Scenario } from './scenario.js';

/** Generous: the waits inside have their own, more telling, timeouts. */
const TEST_TIMEOUT_MS = 120_000;

let scenario: Scenario | undefined;

afterEach(async () => {
  await scenario?.close();
  scenario = undefined;
});

describe('rolling restart', () => {
  it('every daemon restarted in turn under traffic: survivors lose nothing, the state survives', async () => {
    const s = (scenario = await Scenario.start({ names: ['a', 'b', 'c'], label: 'rolling' }));
    for (const d of s.cluster.names) await s.member(d, 'kv', { replica: new Replica() });
    await s.waitForGroup('kv');
    s.send('kv', undefined, { window: 4 });
    await sleep(600);
    for (const d of s.cluster.names) {
      await s.cluster.stop(d);
      await s.cluster.restart(d);
      await s.cluster.waitForView(s.cluster.names);
      const m = await s.member(d, 'kv', { replica: new Replica() });
      expect(m.replica('kv')!.installed!.length).toBeGreaterThan(0);
      s.send('kv', [m], { window: 4 });
      await s.waitForGroup('kv');
      await sleep(500);
    }
    const result = await s.finish(['kv']);
    console.log(s.summary('rolling restart of every daemon', result));
    expect(result.check.report, s.explain(result)).toBe('');
    expect(result.live).toHaveLength(3);
    expect(s.members.filter((m) => !m.alive)).toHaveLength(3); // the first replicas, one per restart
    const digests = result.live.map((m) => m.replica('kv')!.digest());
    expect(new Set(digests).size).toBe(1);
  }, TEST_TIMEOUT_MS);
});
