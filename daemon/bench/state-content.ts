// The state the bench's provider hands to a joiner: `size` bytes of deterministic
// pseudo-random content, generated piece by piece on the fly (never the whole state in
// memory), so that the joiner can check what it installed against a hash it computes
// itself from the same (size, seed).
import { createHash } from 'node:crypto';

/** Pieces the provider yields: the SDK's largest chunk. */
export const STATE_PIECE_BYTES = 256 * 1024;

/** 32 bits of xorshift32 state from (seed, index), never 0. */
function mix(seed: number, index: number): number {
  let x = (Math.imul(index + 1, 0x9e3779b9) ^ seed ^ 0x85ebca6b) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  x ^= x >>> 16;
  return x === 0 ? 1 : x;
}

/** One piece of xorshift32 output for `seed`: the base every piece of the state is derived from. */
export function basePiece(seed: number): Int32Array {
  const base = new Int32Array(STATE_PIECE_BYTES / 4);
  let x = mix(seed, -1);
  for (let i = 0; i < base.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    base[i] = x;
  }
  return base;
}

/**
 * Fills `out` with piece `index` of the state: the base XOR a per-piece sequence (a
 * Weyl sequence started at a hash of the index), so that every piece differs and a
 * misplaced, repeated or corrupted word changes the hash. Cheap (one XOR per word), so
 * that generating the state costs the provider little beside the transfer itself.
 */
export function fillPiece(out: Int32Array, base: Int32Array, seed: number, index: number): void {
  let c = mix(seed, index);
  const n = Math.min(out.length, base.length);
  for (let i = 0; i < n; i++) {
    out[i] = base[i]! ^ c;
    c = (c + -1640531527) | 0;
  }
}

/**
 * The state as a stream of fresh pieces of STATE_PIECE_BYTES (the last one shorter):
 * each piece is a new buffer, handed over and never touched again, as a snapshot must.
 */
export async function* generateState(size: number, seed: number): AsyncGenerator<Uint8Array> {
  const base = basePiece(seed);
  for (let index = 0, offset = 0; offset < size; index++, offset += STATE_PIECE_BYTES) {
    // Not zero-filled: every word is written below.
    const bytes = Buffer.allocUnsafeSlow(STATE_PIECE_BYTES);
    fillPiece(new Int32Array(bytes.buffer, bytes.byteOffset, STATE_PIECE_BYTES / 4), base, seed, index);
    yield bytes.subarray(0, Math.min(STATE_PIECE_BYTES, size - offset));
  }
}

/** SHA-256 (hex) of the state of (size, seed), generated through one reused buffer. */
export function expectedStateHash(size: number, seed: number): string {
  const hash = createHash('sha256');
  const base = basePiece(seed);
  const piece = new Int32Array(STATE_PIECE_BYTES / 4);
  const bytes = new Uint8Array(piece.buffer);
  for (let index = 0, offset = 0; offset < size; index++, offset += STATE_PIECE_BYTES) {
    fillPiece(piece, base, seed, index);
    hash.update(bytes.subarray(0, Math.min(STATE_PIECE_BYTES, size - offset)));
  }
  return hash.digest('hex');
}
