// Length-prefixed framing for byte streams (the TCP links between daemons).
//
// A frame on the wire is a 4-byte big-endian unsigned length followed by that many bytes
// of payload (one encoded protobuf message). TCP delivers arbitrary slices of that
// stream, so `FrameDecoder` reassembles frames from whatever chunks arrive.
//
// Browser-safe: no Node import. `Buffer` is used only when the runtime has it, because
// protobufjs decodes strings from a Buffer with the native UTF-8 decoder and falls back
// to a JS loop for a plain Uint8Array.

import { FrameTooLargeError, invariant } from '../errors.js';

/** Bytes of the length prefix in front of every frame. */
export const LENGTH_PREFIX_BYTES = 4;

/** The largest length a 4-byte prefix can express. */
export const MAX_LENGTH_PREFIX = 0xffff_ffff;

// Resolved once: `Buffer` where Node provides it, undefined in a browser.
const NodeBuffer: typeof Buffer | undefined = (globalThis as { Buffer?: typeof Buffer }).Buffer;

/** Fresh bytes the caller overwrites entirely (so they need not be zero-filled). */
function allocBytes(length: number): Uint8Array {
  return NodeBuffer !== undefined ? NodeBuffer.allocUnsafe(length) : new Uint8Array(length);
}

/**
 * Reassembles length-prefixed frames from a byte stream cut into arbitrary chunks.
 *
 * Ownership: the decoder keeps references to the chunks it is given (no copy while a
 * frame is incomplete), and a frame that lies wholly inside one chunk is returned as a
 * subarray of that chunk. Callers must not reuse or mutate a chunk after pushing it —
 * true of Node socket `data` chunks, which are fresh buffers.
 *
 * After a FrameTooLargeError the stream is out of sync (the next bytes are the body of
 * a frame we refused), so the decoder stays failed and every later push rethrows: the
 * only recovery is to close the connection.
 */
export class FrameDecoder {
  readonly maxFrameBytes: number;

  // Partial length prefix: a prefix can be split across chunks, and copying at most 3
  // bytes is cheaper than keeping chunk references for it.
  private readonly header = new Uint8Array(LENGTH_PREFIX_BYTES);
  private headerFilled = 0;

  // Body of the frame being read: -1 while reading the prefix. The pending chunks are
  // concatenated once, when the frame completes, so a large frame arriving in many small
  // chunks costs linear time, not quadratic.
  private bodyLength = -1;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;

  private failure: FrameTooLargeError | undefined;

  constructor(maxFrameBytes: number) {
    invariant(
      Number.isInteger(maxFrameBytes) && maxFrameBytes >= 0 && maxFrameBytes <= MAX_LENGTH_PREFIX,
      `FrameDecoder: maxFrameBytes must be an integer in [0, ${MAX_LENGTH_PREFIX}], got ${maxFrameBytes}`,
    );
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Bytes received but not yet returned as part of a frame (prefix bytes included). */
  get bufferedBytes(): number {
    return this.headerFilled + this.pendingBytes + (this.bodyLength >= 0 ? LENGTH_PREFIX_BYTES : 0);
  }

  /**
   * Feeds the next chunk of the stream; returns the payloads of the frames it completes,
   * in stream order (possibly none). Throws FrameTooLargeError as soon as a length prefix
   * exceeds `maxFrameBytes`, before any of that body is buffered, so a peer cannot make
   * us hold more than one maximum-size frame. Frames completed earlier in the same chunk
   * are dropped with the error: the connection is closed anyway, and links resend what
   * was not acknowledged.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    if (this.failure !== undefined) throw this.failure;
    const frames: Uint8Array[] = [];
    const end = chunk.length;
    let pos = 0;

    for (;;) {
      if (this.bodyLength < 0) {
        // Reading a length prefix.
        if (pos >= end) break;
        let length: number;
        if (this.headerFilled === 0 && end - pos >= LENGTH_PREFIX_BYTES) {
          // Common case: the whole prefix is in this chunk.
          length = readLengthPrefix(chunk, pos);
          pos += LENGTH_PREFIX_BYTES;
        } else {
          while (this.headerFilled < LENGTH_PREFIX_BYTES && pos < end) {
            this.header[this.headerFilled++] = chunk[pos++]!;
          }
          if (this.headerFilled < LENGTH_PREFIX_BYTES) break; // wait for the rest
          length = readLengthPrefix(this.header, 0);
          this.headerFilled = 0;
        }
        if (length > this.maxFrameBytes) {
          this.failure = new FrameTooLargeError(length, this.maxFrameBytes);
          this.pending = [];
          this.pendingBytes = 0;
          throw this.failure;
        }
        this.bodyLength = length;
      }

      // Reading a body of `bodyLength` bytes, `pendingBytes` of which are already held.
      const missing = this.bodyLength - this.pendingBytes;
      const available = end - pos;
      if (available < missing) {
        if (available > 0) {
          this.pending.push(pos === 0 ? chunk : chunk.subarray(pos));
          this.pendingBytes += available;
        }
        break;
      }
      if (this.pendingBytes === 0) {
        // Zero-copy: the whole body lies in this chunk (also covers empty bodies).
        frames.push(chunk.subarray(pos, pos + missing));
      } else {
        this.pending.push(chunk.subarray(pos, pos + missing));
        frames.push(concatBytes(this.pending, this.bodyLength));
        this.pending = [];
        this.pendingBytes = 0;
      }
      pos += missing;
      this.bodyLength = -1;
    }
    return frames;
  }
}

function concatBytes(parts: Uint8Array[], totalBytes: number): Uint8Array {
  const out = allocBytes(totalBytes);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  invariant(offset === totalBytes, `concatBytes: expected ${totalBytes} bytes, got ${offset}`);
  return out;
}

/** Reads a 4-byte big-endian unsigned length at `offset` (caller checks bounds). */
export function readLengthPrefix(source: Uint8Array, offset: number): number {
  // `>>> 0` keeps lengths >= 2^31 positive, so they compare correctly against the limit.
  return (
    ((source[offset]! << 24) | (source[offset + 1]! << 16) | (source[offset + 2]! << 8) | source[offset + 3]!) >>> 0
  );
}

/** Writes `length` as a 4-byte big-endian prefix into `target` at `offset`. */
export function writeLengthPrefix(target: Uint8Array, offset: number, length: number): void {
  invariant(
    Number.isInteger(length) && length >= 0 && length <= MAX_LENGTH_PREFIX,
    `writeLengthPrefix: length ${length} does not fit in 4 bytes`,
  );
  invariant(offset >= 0 && offset + LENGTH_PREFIX_BYTES <= target.length, 'writeLengthPrefix: offset out of range');
  target[offset] = length >>> 24;
  target[offset + 1] = (length >>> 16) & 0xff;
  target[offset + 2] = (length >>> 8) & 0xff;
  target[offset + 3] = length & 0xff;
}

/**
 * The 4-byte prefix alone, for writers that send the prefix and a large payload as two
 * writes (e.g. inside `socket.cork()`) rather than copy the payload.
 */
export function encodeLengthPrefix(length: number): Uint8Array {
  const prefix = allocBytes(LENGTH_PREFIX_BYTES);
  writeLengthPrefix(prefix, 0, length);
  return prefix;
}

/**
 * All `payloads` as consecutive length-prefixed frames in one buffer: one socket write
 * for a batch of frames (writes are batched, per the design's link protocol).
 * `reserveBytes` more bytes are left at the end, unwritten, for the caller (a link puts
 * the header of a fragment there, so the batch and that header share one buffer).
 */
export function encodeLengthPrefixed(payloads: readonly Uint8Array[], reserveBytes = 0): Uint8Array {
  let totalBytes = reserveBytes;
  for (const payload of payloads) totalBytes += LENGTH_PREFIX_BYTES + payload.length;
  const out = allocBytes(totalBytes);
  let offset = 0;
  for (const payload of payloads) {
    writeLengthPrefix(out, offset, payload.length);
    offset += LENGTH_PREFIX_BYTES;
    out.set(payload, offset);
    offset += payload.length;
  }
  return out;
}
