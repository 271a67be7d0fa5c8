// Fragmentation of large frames: the hand-written fragment header is byte for byte what
// protobuf encodes, a frame cut into pieces comes back whole however TCP cuts the
// stream, and every broken sequence or oversized announcement is a typed error that
// leaves the assembler failed (the connection is reset), never a crash or a silent skip.

import { describe, expect, it } from 'vitest';
import { ChorusError, FragmentError, FrameTooLargeError, MalformedFrameError } from '../../src/errors.js';
import { decodePeerFrame, encodePeerFrame } from '../../src/wire/codec.js';
import { FrameDecoder, encodeLengthPrefixed } from '../../src/wire/frame-decoder.js';
import {
  FRAGMENT_CHUNK_BYTES,
  FragmentAssembler,
  encodeFragmented,
  fragmentHeaderBytes,
  writeFragmentHeader,
} from '../../src/wire/frame-fragments.js';
import { mulberry32 } from '../sim/random.js'; // seeded: a failing seed replays the same inputs
import { thrownBy } from './helpers/failures.js';

function payload(length: number, tag: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (tag * 131 + i * 7 + (i >>> 8)) & 0xff;
  return bytes;
}

/** A data frame whose encoding is about `entryBytes` long. */
function dataFrame(entryBytes: number, tag = 1): Uint8Array {
  return encodePeerFrame({ data: { viewId: 3, firstSeq: 7, entries: [{ group: 'g', client: 'c', data: payload(entryBytes, tag) }] } });
}

/** Decodes a stream of length-prefixed PeerFrames and reassembles fragments. */
function receive(chunks: Uint8Array[], maxFrameBytes: number): { frames: Uint8Array[]; fragments: number } {
  const decoder = new FrameDecoder(maxFrameBytes);
  const assembler = new FragmentAssembler(maxFrameBytes);
  const frames: Uint8Array[] = [];
  let fragments = 0;
  for (const chunk of chunks) {
    for (const wire of decoder.push(chunk)) {
      const frame = decodePeerFrame(wire);
      if (frame.body !== 'fragment') {
        frames.push(wire);
        continue;
      }
      fragments++;
      const whole = assembler.push(frame.fragment);
      if (whole !== undefined) frames.push(whole);
    }
  }
  expect(assembler.inProgress).toBe(false);
  return { frames, fragments };
}

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

describe('fragment header', () => {
  it('is byte for byte the protobuf encoding of PeerFrame{fragment}, first piece and continuation', () => {
    for (const total of [0, 1, 127, 128, 300_000, 16 * 1024 * 1024 + 65_536, 0xffff_ffff]) {
      for (const piece of [1, 127, 128, 16_383, 16_384, FRAGMENT_CHUNK_BYTES]) {
        const data = payload(piece, total & 0xff);
        const expected = encodeLengthPrefixed([encodePeerFrame({ fragment: { totalBytes: total, data } })]);
        const header = new Uint8Array(fragmentHeaderBytes(total, piece) + 3);
        const end = writeFragmentHeader(header, 3, total, piece);
        expect(end).toBe(header.length);
        const ours = new Uint8Array([...header.subarray(3), ...data]);
        expect(same(ours, expected), `total ${total}, piece ${piece}`).toBe(true);
      }
    }
  });

  it('stays under 20 bytes', () => {
    expect(fragmentHeaderBytes(0xffff_ffff, FRAGMENT_CHUNK_BYTES)).toBeLessThan(20);
  });
});

describe('encodeFragmented + FragmentAssembler', () => {
  it('cuts a 16 MiB frame into 128 KiB pieces and reassembles it byte-identical', () => {
    const frame = dataFrame(16 * 1024 * 1024);
    const { frames, fragments } = receive([encodeFragmented(frame)], frame.length);
    expect(fragments).toBe(Math.ceil(frame.length / FRAGMENT_CHUNK_BYTES));
    expect(frames).toHaveLength(1);
    expect(same(frames[0]!, frame)).toBe(true);
    expect(decodePeerFrame(frames[0]!).data!.entries![0]!.data!.length).toBe(16 * 1024 * 1024);
  });

  it('reassembles a frame of exactly one piece and of one piece plus one byte', () => {
    for (const extra of [0, 1]) {
      const frame = payload(FRAGMENT_CHUNK_BYTES + extra, extra);
      const { frames, fragments } = receive([encodeFragmented(frame)], 1 << 20);
      expect(fragments).toBe(1 + extra);
      expect(same(frames[0]!, frame)).toBe(true);
    }
  });

  it('returns whole frames interleaved between the pieces in stream order, whatever the TCP cuts (seeded)', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const random = mulberry32(seed);
      const chunk = 1 + Math.floor(random() * 600);
      // Expected output order: each large frame completes at its last piece; small frames
      // written between pieces come out where they were written.
      const wire: Uint8Array[] = [];
      const expected: Uint8Array[] = [];
      for (let f = 0; f < 4; f++) {
        const big = payload(chunk * (1 + Math.floor(random() * 5)) + Math.floor(random() * chunk), seed * 10 + f);
        const pieces = encodeFragmented(big, chunk);
        // Walk the fragment frames of `pieces` and slip small frames between some of them.
        const decoder = new FrameDecoder(1 << 20);
        const fragmentFrames = decoder.push(pieces);
        for (let i = 0; i < fragmentFrames.length; i++) {
          wire.push(encodeLengthPrefixed([fragmentFrames[i]!]));
          if (i === fragmentFrames.length - 1) expected.push(big);
          if (random() < 0.5) {
            const small = encodePeerFrame({ heartbeat: { viewId: seed, received: [f, i] } });
            wire.push(encodeLengthPrefixed([small]));
            expected.push(small);
          }
        }
      }
      const stream = Buffer.concat(wire);
      const cuts: Uint8Array[] = [];
      for (let at = 0; at < stream.length; ) {
        const size = Math.floor(random() * 900);
        cuts.push(stream.subarray(at, at + size));
        at += size;
      }
      const { frames } = receive(cuts, 1 << 20);
      expect(frames.length, `seed=${seed}`).toBe(expected.length);
      for (let i = 0; i < frames.length; i++) expect(same(frames[i]!, expected[i]!), `seed=${seed} frame ${i}`).toBe(true);
    }
  });

  it('holds only the bytes that arrived, never more than the frame limit', () => {
    const assembler = new FragmentAssembler(1000);
    expect(assembler.push({ totalBytes: 1000, data: payload(10, 1) })).toBeUndefined();
    expect(assembler.bufferedBytes).toBe(10);
    expect(assembler.inProgress).toBe(true);
    expect(assembler.push({ data: payload(990, 2) })!.length).toBe(1000);
    expect(assembler.bufferedBytes).toBe(0);
    expect(assembler.inProgress).toBe(false);
  });
});

describe('FragmentAssembler refuses a broken sequence with a typed error and stays failed', () => {
  const cases: Array<[string, Array<{ totalBytes?: number; data?: Uint8Array }>, typeof FragmentError | typeof FrameTooLargeError]> = [
    ['a continuation without a first piece', [{ data: payload(5, 1) }], FragmentError],
    ['a new frame before the previous one completed', [{ totalBytes: 100, data: payload(5, 1) }, { totalBytes: 100, data: payload(5, 2) }], FragmentError],
    ['more bytes than announced', [{ totalBytes: 10, data: payload(6, 1) }, { data: payload(5, 2) }], FragmentError],
    ['a first piece larger than announced', [{ totalBytes: 4, data: payload(5, 1) }], FragmentError],
    ['an empty piece', [{ totalBytes: 10, data: new Uint8Array(0) }], FragmentError],
    ['an announced size over the frame limit', [{ totalBytes: 1001, data: payload(1, 1) }], FrameTooLargeError],
    ['an announced size of 2^32-1', [{ totalBytes: 0xffff_ffff, data: payload(1, 1) }], FrameTooLargeError],
  ];
  for (const [what, pieces, type] of cases) {
    it(what, () => {
      const assembler = new FragmentAssembler(1000);
      let err: unknown;
      for (const piece of pieces) {
        try {
          assembler.push(piece);
        } catch (e) {
          err = e;
          break;
        }
      }
      expect(err).toBeInstanceOf(type);
      expect(err).toBeInstanceOf(ChorusError);
      expect((err as ChorusError).code).toBe(type === FragmentError ? 'ERR_MALFORMED_FRAME' : 'ERR_FRAME_TOO_LARGE');
      if (type === FragmentError) {
        expect(err).toBeInstanceOf(MalformedFrameError);
        expect((err as Error).name).toBe('FragmentError');
      }
      expect(assembler.bufferedBytes).toBe(0);
      // Out of sync: even a valid first piece is refused now.
      expect(thrownBy(() => assembler.push({ totalBytes: 5, data: payload(5, 3) }))).toBe(err);
    });
  }
});
