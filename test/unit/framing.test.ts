// Length-prefixed framing: whatever way TCP cuts the stream, the decoder returns exactly
// the frames that were written, and it refuses an oversized frame before buffering it.

import { describe, it, expect } from 'vitest';
import {
  FrameDecoder,
  LENGTH_PREFIX_BYTES,
  encodeLengthPrefix,
  encodeLengthPrefixed,
  readLengthPrefix,
  writeLengthPrefix,
} from '../../src/wire/frame-decoder.js';
import { ChorusError, FrameTooLargeError, InvariantError } from '../../src/errors.js';
import { mulberry32 } from '../sim/random.js'; // seeded: a failing seed replays the same inputs


/** Payload of `length` bytes whose content depends on `tag`, so frames are distinguishable. */
function payload(length: number, tag: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (tag * 31 + i * 7) & 0xff;
  return bytes;
}

/** Feeds `chunks` in order and returns every frame produced, copied to plain arrays. */
function feed(decoder: FrameDecoder, chunks: Uint8Array[]): number[][] {
  const out: number[][] = [];
  for (const chunk of chunks) for (const frame of decoder.push(chunk)) out.push(Array.from(frame));
  return out;
}

const asArrays = (frames: Uint8Array[]): number[][] => frames.map((f) => Array.from(f));

// Includes an empty frame, a one-byte frame and one longer than a typical small chunk.
const SAMPLE_FRAMES = [payload(5, 1), payload(0, 2), payload(1, 3), payload(300, 4), payload(17, 5)];

describe('encodeLengthPrefixed', () => {
  it('writes each payload behind a 4-byte big-endian length', () => {
    const stream = encodeLengthPrefixed([new Uint8Array([0xaa, 0xbb]), new Uint8Array([])]);
    expect(Array.from(stream)).toEqual([0, 0, 0, 2, 0xaa, 0xbb, 0, 0, 0, 0]);
  });

  it('encodes lengths of 2^24 and above in big-endian order', () => {
    expect(Array.from(encodeLengthPrefix(0x01020304))).toEqual([1, 2, 3, 4]);
    expect(Array.from(encodeLengthPrefix(0xffffffff))).toEqual([0xff, 0xff, 0xff, 0xff]);
  });

  it('returns an empty buffer for no payloads', () => {
    expect(encodeLengthPrefixed([]).length).toBe(0);
  });
});

describe('writeLengthPrefix / readLengthPrefix', () => {
  it('round-trip lengths up to 2^32-1 as unsigned numbers', () => {
    const buf = new Uint8Array(6);
    for (const length of [0, 1, 255, 256, 65_536, 0x7fffffff, 0x80000000, 0xffffffff]) {
      writeLengthPrefix(buf, 2, length);
      expect(readLengthPrefix(buf, 2)).toBe(length);
    }
  });

  it('refuses a length that does not fit in 4 bytes', () => {
    expect(() => writeLengthPrefix(new Uint8Array(4), 0, 2 ** 32)).toThrow(InvariantError);
    expect(() => writeLengthPrefix(new Uint8Array(4), 0, -1)).toThrow(InvariantError);
  });

  it('refuses to write past the end of the target', () => {
    expect(() => writeLengthPrefix(new Uint8Array(5), 2, 1)).toThrow(InvariantError);
  });
});

describe('FrameDecoder', () => {
  it('returns a frame pushed in one chunk', () => {
    const decoder = new FrameDecoder(1024);
    const frames = decoder.push(encodeLengthPrefixed([payload(10, 9)]));
    expect(asArrays(frames)).toEqual([Array.from(payload(10, 9))]);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('returns a frame that lies in one chunk as a zero-copy view of that chunk', () => {
    const chunk = encodeLengthPrefixed([payload(10, 1), payload(20, 2)]);
    const frames = new FrameDecoder(1024).push(chunk);
    expect(frames).toHaveLength(2);
    expect(frames[0]!.buffer).toBe(chunk.buffer);
    expect(frames[0]!.byteOffset).toBe(chunk.byteOffset + LENGTH_PREFIX_BYTES);
    expect(frames[1]!.buffer).toBe(chunk.buffer);
    chunk[LENGTH_PREFIX_BYTES] = 0xee; // a view sees writes to the chunk it aliases
    expect(frames[0]![0]).toBe(0xee);
  });

  it('returns a frame that spans chunks as a copy independent of them', () => {
    const stream = encodeLengthPrefixed([payload(40, 3)]);
    const decoder = new FrameDecoder(1024);
    expect(decoder.push(stream.subarray(0, 20))).toEqual([]);
    const [frame] = decoder.push(stream.subarray(20));
    stream.fill(0); // a copy does not see later writes to the chunks it came from
    expect(Array.from(frame!)).toEqual(Array.from(payload(40, 3)));
  });

  it('returns every frame of a chunk that holds many frames, in order', () => {
    const frames = Array.from({ length: 1000 }, (_, i) => payload(i % 13, i));
    const out = new FrameDecoder(1024).push(encodeLengthPrefixed(frames));
    expect(asArrays(out)).toEqual(asArrays(frames));
  });

  it('reassembles the same frames whatever byte the stream is cut at', () => {
    const stream = encodeLengthPrefixed(SAMPLE_FRAMES);
    for (let cut = 0; cut <= stream.length; cut++) {
      const out = feed(new FrameDecoder(1024), [stream.subarray(0, cut), stream.subarray(cut)]);
      expect(out, `cut at byte ${cut}`).toEqual(asArrays(SAMPLE_FRAMES));
    }
  });

  it('reassembles the same frames when the stream is cut at every pair of bytes', () => {
    const frames = [payload(3, 1), payload(0, 2), payload(6, 3)];
    const stream = encodeLengthPrefixed(frames);
    for (let a = 0; a <= stream.length; a++) {
      for (let b = a; b <= stream.length; b++) {
        const chunks = [stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)];
        expect(feed(new FrameDecoder(64), chunks), `cuts at ${a}, ${b}`).toEqual(asArrays(frames));
      }
    }
  });

  it('reassembles frames fed one byte at a time', () => {
    const stream = encodeLengthPrefixed(SAMPLE_FRAMES);
    const chunks = Array.from(stream, (byte) => new Uint8Array([byte]));
    expect(feed(new FrameDecoder(1024), chunks)).toEqual(asArrays(SAMPLE_FRAMES));
  });

  it('reads a length prefix split across chunks', () => {
    const decoder = new FrameDecoder(1024);
    const stream = encodeLengthPrefixed([payload(258, 7)]); // prefix 00 00 01 02
    expect(decoder.push(stream.subarray(0, 1))).toEqual([]);
    expect(decoder.push(stream.subarray(1, 3))).toEqual([]);
    expect(decoder.bufferedBytes).toBe(3);
    const frames = decoder.push(stream.subarray(3));
    expect(asArrays(frames)).toEqual([Array.from(payload(258, 7))]);
  });

  it('returns an empty frame as soon as its prefix is complete, even at a chunk end', () => {
    const decoder = new FrameDecoder(16);
    expect(decoder.push(new Uint8Array([0, 0]))).toEqual([]);
    const frames = decoder.push(new Uint8Array([0, 0]));
    expect(frames).toHaveLength(1);
    expect(frames[0]!.length).toBe(0);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('holds half a frame without output or error, and counts its bytes', () => {
    const decoder = new FrameDecoder(1024);
    const stream = encodeLengthPrefixed([payload(100, 1)]);
    const half = stream.subarray(0, 52);
    expect(decoder.push(half)).toEqual([]);
    expect(decoder.bufferedBytes).toBe(52);
    expect(decoder.push(new Uint8Array(0))).toEqual([]);
    expect(decoder.bufferedBytes).toBe(52);
  });

  it('accepts a frame of exactly maxFrameBytes', () => {
    const frames = new FrameDecoder(100).push(encodeLengthPrefixed([payload(100, 1)]));
    expect(frames[0]!.length).toBe(100);
  });

  it('throws FrameTooLargeError on an oversized prefix before the body arrives', () => {
    const decoder = new FrameDecoder(100);
    let thrown: unknown;
    try {
      decoder.push(encodeLengthPrefix(101)); // the prefix alone, no body yet
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(FrameTooLargeError);
    expect(thrown).toBeInstanceOf(ChorusError);
    expect((thrown as ChorusError).code).toBe('ERR_FRAME_TOO_LARGE');
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('throws FrameTooLargeError on a prefix of 2^32-1, which must not read as negative', () => {
    const decoder = new FrameDecoder(1024);
    expect(() => decoder.push(new Uint8Array([0xff, 0xff, 0xff, 0xff]))).toThrow(FrameTooLargeError);
  });

  it('throws FrameTooLargeError when an oversized prefix completes across chunks', () => {
    const decoder = new FrameDecoder(1000);
    const prefix = encodeLengthPrefix(1_000_000);
    expect(decoder.push(prefix.subarray(0, 2))).toEqual([]);
    expect(() => decoder.push(prefix.subarray(2))).toThrow(FrameTooLargeError);
  });

  it('throws FrameTooLargeError on an oversized frame after valid frames in the same chunk', () => {
    const decoder = new FrameDecoder(10);
    const chunk = encodeLengthPrefixed([payload(3, 1), payload(11, 2)]);
    expect(() => decoder.push(chunk)).toThrow(FrameTooLargeError);
  });

  it('keeps failing after FrameTooLargeError: the stream is out of sync', () => {
    const decoder = new FrameDecoder(10);
    expect(() => decoder.push(encodeLengthPrefix(11))).toThrow(FrameTooLargeError);
    expect(() => decoder.push(encodeLengthPrefixed([payload(1, 1)]))).toThrow(FrameTooLargeError);
  });

  it('refuses a maxFrameBytes that is not a 32-bit length', () => {
    expect(() => new FrameDecoder(-1)).toThrow(InvariantError);
    expect(() => new FrameDecoder(1.5)).toThrow(InvariantError);
    expect(() => new FrameDecoder(2 ** 32)).toThrow(InvariantError);
  });

  it('decodes a large frame arriving in many small chunks', () => {
    const big = payload(1 << 20, 42);
    const stream = encodeLengthPrefixed([big]);
    const decoder = new FrameDecoder(2 << 20);
    const frames: Uint8Array[] = [];
    for (let at = 0; at < stream.length; at += 1000) frames.push(...decoder.push(stream.subarray(at, at + 1000)));
    expect(frames).toHaveLength(1);
    expect(Buffer.from(frames[0]!).equals(Buffer.from(big))).toBe(true);
  });

  it('returns the written frames for random streams cut into random chunks (seeded)', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const random = mulberry32(seed);
      const frameCount = Math.floor(random() * 40);
      const frames: Uint8Array[] = [];
      for (let i = 0; i < frameCount; i++) {
        // Mostly small frames, some empty, a few larger than most chunks.
        const r = random();
        const length = r < 0.1 ? 0 : r < 0.9 ? Math.floor(random() * 64) : Math.floor(random() * 5000);
        frames.push(payload(length, Math.floor(random() * 256)));
      }
      const stream = encodeLengthPrefixed(frames);
      const chunks: Uint8Array[] = [];
      for (let at = 0; at < stream.length; ) {
        const r = random();
        // Some empty chunks, many tiny ones (prefixes split), the rest up to 700 bytes.
        const size = r < 0.05 ? 0 : r < 0.3 ? 1 + Math.floor(random() * 4) : Math.floor(random() * 700);
        chunks.push(stream.subarray(at, at + size));
        at += size;
      }
      const decoder = new FrameDecoder(8192);
      expect(feed(decoder, chunks), `seed=${seed}`).toEqual(asArrays(frames));
      expect(decoder.bufferedBytes, `seed=${seed}`).toBe(0);
    }
  });
});
