// Fragmentation of large PeerFrames on a link (DESIGN.md "Links").
//
// Why: a link is one TCP stream, so a 16 MiB frame written whole holds every frame
// queued behind it — heartbeats, the sequencer's orders, flush rounds — until its last
// byte is out, and on a slow link that is long enough to get the sender suspected. The
// writer therefore cuts an encoded frame larger than FRAGMENT_CHUNK_BYTES into pieces,
// each sent as a PeerFrame{fragment: FrameFragment}, and may write other frames between
// the pieces. The receiver concatenates the pieces and decodes the result.
//
// Sequence rule (what the assembler checks): on one connection the pieces of one frame
// are consecutive among fragments (other frames may come between them, other fragments
// may not); the first piece carries the whole frame's size, the others carry 0; the
// frame is complete when exactly that many bytes have arrived. Any other sequence is a
// FragmentError and the connection is reset: the stream is out of sync.
//
// Zero-copy writing: `writeFragmentHeader` writes the 13 to 19 bytes in front of a piece
// (length prefix, PeerFrame tag, FrameFragment fields) so the writer can hand the piece
// to the socket as a view of the encoded frame (a writev), without copying it. The
// bytes are exactly what `encodePeerFrame({fragment})` produces (tested).
//
// Browser-safe: no Node import.

import { FragmentError, FrameTooLargeError, invariant } from '../errors.js';
import type { chorus } from './gen/chorus.js';
import { LENGTH_PREFIX_BYTES, MAX_LENGTH_PREFIX, writeLengthPrefix } from './frame-decoder.js';

/**
 * Largest piece of a fragmented frame, and the size above which a frame is cut.
 *
 * 128 KiB: a control frame waits behind at most one piece it did not overtake (about
 * 1 ms at 1 Gbit/s, 10 ms at 100 Mbit/s: far below a heartbeat period), while the
 * per-piece cost — under 20 header bytes and one socket write — stays below 0.1 % of the
 * bytes. 64 KiB would double the writes for a halved wait nobody needs; 256 KiB and
 * more would let a piece plus the kernel's send buffer approach a heartbeat period on
 * a 100 Mbit/s link. Frames of typical small messages (up to 64 KiB each, batched) stay
 * whole, so the small-message path is unchanged.
 */
export const FRAGMENT_CHUNK_BYTES = 128 * 1024;

// PeerFrame.fragment is field 16, length-delimited: tag (16 << 3) | 2 = 130, a 2-byte varint.
const PEER_FRAME_FRAGMENT_TAG = [0x82, 0x01] as const;
// FrameFragment.total_bytes: field 1 varint (0x08); FrameFragment.data: field 2 bytes (0x12).
const TOTAL_BYTES_TAG = 0x08;
const DATA_TAG = 0x12;

function varintBytes(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    n++;
  }
  return n;
}

function writeVarint(target: Uint8Array, offset: number, value: number): number {
  while (value >= 0x80) {
    target[offset++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 0x80);
  }
  target[offset++] = value;
  return offset;
}

/** Size of the FrameFragment message that carries `pieceBytes` (total on the first piece, else 0). */
function fragmentBodyBytes(totalBytes: number, pieceBytes: number): number {
  const total = totalBytes > 0 ? 1 + varintBytes(totalBytes) : 0;
  return total + 1 + varintBytes(pieceBytes) + pieceBytes;
}

/**
 * Bytes `writeFragmentHeader` writes: the length prefix of the fragment frame and every
 * byte of it up to (not including) the piece itself.
 */
export function fragmentHeaderBytes(totalBytes: number, pieceBytes: number): number {
  const body = fragmentBodyBytes(totalBytes, pieceBytes);
  return LENGTH_PREFIX_BYTES + PEER_FRAME_FRAGMENT_TAG.length + varintBytes(body) + (body - pieceBytes);
}

/**
 * Writes, at `offset` of `target`, the start of a length-prefixed
 * PeerFrame{fragment: {totalBytes, data: <piece>}} whose piece is `pieceBytes` long;
 * the caller sends the piece right after. `totalBytes` is the whole frame's size on the
 * first piece and 0 on the others. Returns the offset after the header.
 */
export function writeFragmentHeader(target: Uint8Array, offset: number, totalBytes: number, pieceBytes: number): number {
  invariant(pieceBytes > 0 && Number.isInteger(pieceBytes), `writeFragmentHeader: bad piece size ${pieceBytes}`);
  invariant(
    Number.isInteger(totalBytes) && totalBytes >= 0 && totalBytes <= MAX_LENGTH_PREFIX,
    `writeFragmentHeader: bad total size ${totalBytes}`,
  );
  const body = fragmentBodyBytes(totalBytes, pieceBytes);
  const frameBytes = PEER_FRAME_FRAGMENT_TAG.length + varintBytes(body) + body;
  writeLengthPrefix(target, offset, frameBytes);
  let at = offset + LENGTH_PREFIX_BYTES;
  target[at++] = PEER_FRAME_FRAGMENT_TAG[0];
  target[at++] = PEER_FRAME_FRAGMENT_TAG[1];
  at = writeVarint(target, at, body);
  if (totalBytes > 0) {
    target[at++] = TOTAL_BYTES_TAG;
    at = writeVarint(target, at, totalBytes);
  }
  target[at++] = DATA_TAG;
  return writeVarint(target, at, pieceBytes);
}

/**
 * The whole wire form of `frame` cut into pieces of at most `chunkBytes`: consecutive
 * length-prefixed fragment frames. The link writes the same bytes without copying the
 * pieces; this copying form is for tests and tools.
 */
export function encodeFragmented(frame: Uint8Array, chunkBytes: number = FRAGMENT_CHUNK_BYTES): Uint8Array {
  invariant(frame.length > 0 && chunkBytes > 0, 'encodeFragmented: empty frame or chunk size');
  let size = 0;
  for (let at = 0; at < frame.length; at += chunkBytes) {
    const piece = Math.min(chunkBytes, frame.length - at);
    size += fragmentHeaderBytes(at === 0 ? frame.length : 0, piece) + piece;
  }
  const out = new Uint8Array(size);
  let offset = 0;
  for (let at = 0; at < frame.length; at += chunkBytes) {
    const piece = Math.min(chunkBytes, frame.length - at);
    offset = writeFragmentHeader(out, offset, at === 0 ? frame.length : 0, piece);
    out.set(frame.subarray(at, at + piece), offset);
    offset += piece;
  }
  return out;
}

/**
 * Reassembles the fragmented frames of one connection, one at a time.
 *
 * Bounded: it never holds more than `maxFrameBytes` (the announced size is checked on
 * the first piece, before anything is kept), and it holds only bytes that arrived, so
 * announcing a large frame costs the sender as much as it costs us. The pieces are kept
 * as views (no copy) and concatenated once, when the frame completes.
 *
 * After an error the stream is out of sync: the assembler stays failed and every later
 * push rethrows; the only recovery is to close the connection.
 */
export class FragmentAssembler {
  readonly maxFrameBytes: number;
  private totalBytes = 0;
  private pieces: Uint8Array[] = [];
  private receivedBytes = 0;
  private failure: FragmentError | FrameTooLargeError | undefined;

  constructor(maxFrameBytes: number) {
    invariant(Number.isInteger(maxFrameBytes) && maxFrameBytes > 0, `FragmentAssembler: bad maxFrameBytes ${maxFrameBytes}`);
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Bytes of the frame being reassembled that arrived so far. */
  get bufferedBytes(): number {
    return this.receivedBytes;
  }

  /** A frame is partly received. */
  get inProgress(): boolean {
    return this.totalBytes > 0;
  }

  /**
   * Adds the next piece; returns the encoded frame when this piece completes it. Throws
   * FragmentError on a broken sequence and FrameTooLargeError on a frame announced larger
   * than `maxFrameBytes`.
   */
  push(fragment: chorus.FrameFragment.$Properties): Uint8Array | undefined {
    if (this.failure !== undefined) throw this.failure;
    const data = fragment.data ?? new Uint8Array(0);
    const announced = fragment.totalBytes ?? 0;
    if (data.length === 0) return this.fail(new FragmentError('a fragment without data'));
    if (this.totalBytes === 0) {
      if (announced === 0) return this.fail(new FragmentError('a continuation fragment without a first fragment'));
      if (announced > this.maxFrameBytes) return this.fail(new FrameTooLargeError(announced, this.maxFrameBytes));
      this.totalBytes = announced;
    } else if (announced !== 0) {
      return this.fail(
        new FragmentError(`a new fragmented frame began after ${this.receivedBytes} of ${this.totalBytes} bytes of the previous one`),
      );
    }
    if (this.receivedBytes + data.length > this.totalBytes) {
      return this.fail(
        new FragmentError(`fragments carry more than the announced ${this.totalBytes} bytes (${this.receivedBytes + data.length})`),
      );
    }
    this.pieces.push(data);
    this.receivedBytes += data.length;
    if (this.receivedBytes < this.totalBytes) return undefined;
    const frame = this.pieces.length === 1 ? data : concat(this.pieces, this.totalBytes);
    this.pieces = [];
    this.receivedBytes = 0;
    this.totalBytes = 0;
    return frame;
  }

  private fail(err: FragmentError | FrameTooLargeError): never {
    this.failure = err;
    this.pieces = [];
    this.receivedBytes = 0;
    this.totalBytes = 0;
    throw err;
  }
}

// Resolved once: `Buffer` where Node provides it (protobufjs then decodes strings with
// the native UTF-8 decoder), undefined in a browser.
const NodeBuffer: typeof Buffer | undefined = (globalThis as { Buffer?: typeof Buffer }).Buffer;

function concat(parts: readonly Uint8Array[], totalBytes: number): Uint8Array {
  const out = NodeBuffer !== undefined ? NodeBuffer.allocUnsafe(totalBytes) : new Uint8Array(totalBytes);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  invariant(offset === totalBytes, `FragmentAssembler: expected ${totalBytes} bytes, got ${offset}`);
  return out;
}
