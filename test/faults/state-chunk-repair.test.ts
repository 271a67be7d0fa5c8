// A state transfer across a peer link that breaks mid-way (connections reset, back at
// once, well below the suspect timeout): chunks and acknowledgements lost with the
// broken TCP streams are sent again when the links come back, and the join completes
// with the exact bytes. Chunks travel outside the ordered stream, so before the resend
// a lost chunk stalled the transfer until the daemon's 30 s stall limit gave up on the
// only provider, and the join failed (ERR_NO_STATE_PROVIDER).
import { createHash, randomBytes } from 'node:crypto';

import { afterEach, describe, expect, it } from 'vitest';

import { connect, type Client } from '../../client-sdk/index.js';
import { FaultCluster, sleep } from './harness.js';

const TEST_TIMEOUT_MS = 90_000;
/** 24 chunks of 256 KiB: three times the provider's window. */
const STATE_BYTES = 6 * 1024 * 1024;
/** Chunks read when the links break. */
const BREAK_AT = [2, 9, 16];

let cluster: FaultCluster | undefined;
const clients: Client[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await cluster?.close();
  cluster = undefined;
});

const digest = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

type Way = 'both ways' | 'provider to joiner' | 'joiner to provider';

/** Breaks the links of `way`: frames pile up in flight, then the TCP streams die with them. */
async function breakLinks(c: FaultCluster, way: Way): Promise<void> {
  const pairs: Array<[string, string]> = way === 'both ways' ? [['a', 'b'], ['b', 'a']] : way === 'provider to joiner' ? [['a', 'b']] : [['b', 'a']];
  for (const [from, to] of pairs) await c.cut(from, to, 'blackhole');
  await sleep(100);
  for (const [from, to] of pairs) await c.cut(from, to, 'reset');
  await sleep(100); // the redials are refused meanwhile
  await c.heal();
}

describe('state chunks across a broken peer link', () => {
  it.each<Way>(['both ways', 'provider to joiner', 'joiner to provider'])(
    'links broken %s three times during the install: the join completes with the exact state',
    async (way) => {
      // A suspect timeout far above the cuts: the views do not change, only the links break.
      cluster = await FaultCluster.start({ names: ['a', 'b'], label: 'chunk-repair', heartbeatMs: 200, suspectMs: 5_000 });
      const c = cluster;
      const state = randomBytes(STATE_BYTES);
      const provider = await connect({ url: c.url('a'), name: 'provider' });
      clients.push(provider);
      await provider.join('g', { state: { provide: () => state } });

      const joiner = await connect({ url: c.url('b'), name: 'joiner' });
      clients.push(joiner);
      const received: Buffer[] = [];
      let breaks = 0;
      let breaking = Promise.resolve();
      await joiner.join('g', {
        state: {
          waitMs: 60_000,
          install: async (reader) => {
            received.length = 0;
            for await (const chunk of reader) {
              received.push(Buffer.from(chunk));
              if (BREAK_AT.includes(received.length)) {
                breaks++;
                // The reader goes on acknowledging meanwhile (credit flows, chunks follow).
                breaking = breaking.then(() => breakLinks(c, way));
              }
              await sleep(20); // a slow reader: the provider's window fills, chunks flow as credit comes
            }
          },
        },
      });
      await breaking;
      expect(breaks).toBe(BREAK_AT.length);
      const got = Buffer.concat(received);
      expect(got.length).toBe(STATE_BYTES);
      expect(digest(got)).toBe(digest(state));
    },
    TEST_TIMEOUT_MS,
  );
});
