// State transfer over real processes under heavy traffic (guarantee 6): replicas fold
// every delivery into their state (the ids in order, and a hash chain over the `total`
// and `safe` ones); joiners take the state from a member at a checkpoint, then deliver
// everything after it. The checker compares each installed state (recorded as a
// `transfer` event) with what the other members delivered before that view, and once
// the traffic stops every replica must hold the same state.
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

describe('state transfer under traffic', () => {
  it('joiners under heavy multicast install the exact state, then deliver the rest: all replicas end equal', async () => {
    const s = (scenario = await Scenario.start({ names: ['a', 'b', 'c'], label: 'transfer' }));
    const first = await s.member('a', 'kv', { replica: new Replica() });
    const second = await s.member('b', 'kv', { replica: new Replica() });
    expect(second.replica('kv')!.installed).toEqual([]); // joined before any message
    s.send('kv');
    await sleep(800);
    const joiners = [];
    for (const d of ['c', 'a']) {
      const m = await s.member(d, 'kv', { replica: new Replica() });
      expect(m.replica('kv')!.installed!.length).toBeGreaterThan(100);
      s.send('kv', [m]);
      joiners.push(m);
      await sleep(500);
    }
    const result = await s.finish(['kv']);
    console.log(s.summary('joins with state transfer under traffic', result));
    expect(result.check.report, s.explain(result)).toBe('');
    const transfers = result.check.history.filter((e) => e.type === 'transfer');
    expect(transfers.length).toBeGreaterThanOrEqual(3);
    const digests = [first, second, ...joiners].map((m) => m.replica('kv')!.digest());
    expect(new Set(digests).size).toBe(1);
  }, TEST_TIMEOUT_MS);
});
