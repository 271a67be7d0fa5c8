// The fuzzer (issue 10, must-have 9). `npm run fuzz -- --inputs N [--seed S]` runs N inputs
// through this file; `npm test` runs a short seeded run. Inputs are structure-aware
// (./proto-arbitrary.ts: random valid frames of every message type, and mutations of
// them), split between the codec (70%), the core fed by a garbage-sending peer in the
// simulator (20%: half from a stranger, half from a lying member) and the real client gateway (10%). A crash is an exception other than a
// typed wire error, a stall over 100 ms, or an honest daemon breaking a guarantee or
// losing liveness while the bad peer is present.
import { writeFileSync } from 'node:fs';

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { encodedArbitrary, mutated, protoType } from './proto-arbitrary.js';
import { decodePeerFrame } from '../../src/wire/index.js';
import { fuzzCodec, fuzzCore, fuzzGateway, type Crash } from './targets.js';

const inputs = Number(process.env.CHORUS_FUZZ_INPUTS ?? '3000');
const seed = Number(process.env.CHORUS_FUZZ_SEED ?? '1');
const CHUNK = 1000;
const CORE_EPISODE = 200;

/** `n` inputs from `arb`, drawn in chunks (a million at once would not fit comfortably). */
function* draw(arb: fc.Arbitrary<Uint8Array>, n: number, s: number): Generator<Uint8Array> {
  for (let done = 0, k = 0; done < n; done += CHUNK, k++) {
    yield* fc.sample(arb, { seed: s + k * 7919, numRuns: Math.min(CHUNK, n - done) });
  }
}

describe('fuzz', () => {
  it('finds a planted bug: a decoder that trusts an index from the frame', () => {
    // Control: the inputs must reach deep enough to trip what a real bug would look like
    // (an Install whose member list is indexed by its view id).
    const trusting = (b: Uint8Array): unknown => {
      const frame = decodePeerFrame(b);
      if (frame.body === 'install') return frame.install.members![frame.install.newViewId ?? 0]!.id!.name;
      return undefined;
    };
    const r = fuzzCodec(draw(encodedArbitrary(protoType('PeerFrame')), 3000, 5), [['trusting', trusting]]);
    expect(r.crashes.some((c) => c.what.startsWith('trusting threw TypeError'))).toBe(true);
  });

  it(
    `${inputs} structure-aware inputs (seed ${seed}) crash nothing`,
    async () => {
      const started = Date.now();
      const peer = encodedArbitrary(protoType('PeerFrame'));
      const client = encodedArbitrary(protoType('ClientFrame'));
      const daemon = encodedArbitrary(protoType('DaemonFrame'), 3);
      const anyFrame = fc.oneof(peer, client, daemon);
      const codecInput = fc.oneof(
        { weight: 3, arbitrary: anyFrame },
        { weight: 3, arbitrary: mutated(anyFrame) },
        { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }) },
      );
      const nCodec = Math.round(inputs * 0.7);
      const nCore = Math.round(inputs * 0.2);
      const nGateway = inputs - nCodec - nCore;
      const crashes: Crash[] = [];
      const counts: Record<string, number> = {};

      const codec = fuzzCodec(draw(codecInput, nCodec, seed));
      counts.codec = codec.count;
      crashes.push(...codec.crashes);

      const coreFrames = fc.oneof({ weight: 3, arbitrary: peer }, { weight: 1, arbitrary: mutated(peer) });
      counts.core = 0;
      for (let done = 0, episode = 0; done < nCore; done += CORE_EPISODE, episode++) {
        const frames = [...draw(coreFrames, Math.min(CORE_EPISODE, nCore - done), seed + 100_003 * (episode + 1))];
        // Odd episodes: the frames come from a member that lies (only crashes and stalls count).
        const r = fuzzCore(seed * 1000 + episode, frames, episode % 2 === 1);
        counts.core += frames.length;
        crashes.push(...r.crashes);
      }

      const clientFrames = fc.oneof({ weight: 2, arbitrary: client }, { weight: 1, arbitrary: mutated(client) });
      const gw = await fuzzGateway([...draw(clientFrames, nGateway, seed + 7)]);
      counts.gateway = nGateway;
      crashes.push(...gw.crashes);

      const elapsedS = (Date.now() - started) / 1000;
      const summary = { inputs: counts.codec + counts.core + counts.gateway, seed, counts, elapsedS, crashes };
      if (process.env.CHORUS_FUZZ_SUMMARY) writeFileSync(process.env.CHORUS_FUZZ_SUMMARY, JSON.stringify(summary));
      console.log(`fuzz: ${summary.inputs} inputs (codec ${counts.codec}, core ${counts.core}, gateway ${counts.gateway}) from seed ${seed} in ${elapsedS.toFixed(1)} s\n${crashes.length} crashes`);
      expect(crashes.slice(0, 10).map((c) => `${c.target}: ${c.what} [${c.input.slice(0, 120)}]`)).toEqual([]);
    },
    Math.max(120_000, inputs * 2),
  );
});
