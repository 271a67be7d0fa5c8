// Peer authentication (issue 10, must-have 5): the challenge–response of the peer hello
// and the per-frame MACs of an authenticated session. Pure functions and small classes:
// daemon/peer-links.ts runs the handshake and the sockets.
//
// Handshake with a cluster secret (four frames; without one, hello and final reply only):
//   dialer   → hello     {cluster, from, advertise, nonce: Nd, hasSecret: true}
//   acceptor → challenge {ok, challenge: true, protocol, from, nonce: Na,
//                         proofs: [proof(s, 'acceptor') for each secret s of the acceptor]}
//   dialer   → hello     {proof: proof(s, 'dialer')}   s = its first secret that matches
//   acceptor → reply     {ok, protocol, from}          (or a refusal, ERR_AUTH)
// proof(s, role) = HMAC-SHA256(s, role ‖ transcript), transcript = length-prefixed
// (version label, cluster, dialer name, incarnation, advertise, acceptor name,
// incarnation, protocol, Nd, Na). Both nonces are fresh (randomBytes), so a recorded
// proof is worthless on any other connection (no replay); the role is in the MAC, so an
// acceptor's proof cannot be sent back as a dialer's (no reflection). The dialer checks
// the acceptor's proof before it proves anything; the acceptor processes nothing past
// the hello before the dialer's proof checks. Proofs are compared with timingSafeEqual.
//
// Rotation: a daemon holds up to two secrets (current, previous). The acceptor proves
// under each; the dialer picks the first of its own secrets (the current one if the
// peer has it) that one of those proofs was made with, and proves with that. So a daemon
// with [new, old] and one with [old] still agree (on old); two with [new, old] use new.
//
// Session (no TLS): the chosen secret and both nonces give, by HKDF-SHA256, the key of
// the dialer→acceptor direction (the only one that carries frames after the handshake:
// one TCP stream per direction, see peer-links.ts). Every later write is a record
//   [u32 payload length][payload][16-byte tag],
//   tag = HMAC-SHA256(key, u64 record counter ‖ length ‖ payload), truncated to 16 bytes,
// the counter counting records from 0 on that connection and never sent. A record that
// is injected, replayed, reordered, cut or altered fails its tag: the connection is
// closed (ERR_AUTH) before anything in that record is decoded. Data is authenticated,
// not encrypted: with TLS on, TLS does both and the records are not used.

import { createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual, type Hmac } from 'node:crypto';

import { FrameTooLargeError, WireError } from '../src/errors.js';

export const NONCE_BYTES = 32;
export const RECORD_HEADER_BYTES = 4;
export const RECORD_TAG_BYTES = 16;
const TRANSCRIPT_LABEL = 'chorus peer hello v1';
const SESSION_LABEL = 'chorus peer session v1: dialer to acceptor';

export type Role = 'dialer' | 'acceptor';

/** Everything both ends must agree on: the hello fields and both nonces. */
export interface HandshakeTranscript {
  readonly cluster: string;
  readonly dialer: { readonly name: string; readonly incarnation: string };
  readonly advertise: string;
  readonly acceptor: { readonly name: string; readonly incarnation: string };
  readonly protocol: number;
  readonly dialerNonce: Uint8Array;
  readonly acceptorNonce: Uint8Array;
}

export function newNonce(): Buffer {
  return randomBytes(NONCE_BYTES);
}

/** Length-prefixed fields: no two different transcripts encode the same. */
function encodeTranscript(t: HandshakeTranscript): Buffer {
  const fields: Uint8Array[] = [
    Buffer.from(TRANSCRIPT_LABEL),
    Buffer.from(t.cluster),
    Buffer.from(t.dialer.name),
    Buffer.from(t.dialer.incarnation),
    Buffer.from(t.advertise),
    Buffer.from(t.acceptor.name),
    Buffer.from(t.acceptor.incarnation),
    Buffer.from(String(t.protocol)),
    t.dialerNonce,
    t.acceptorNonce,
  ];
  const parts: Uint8Array[] = [];
  for (const f of fields) {
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(f.length);
    parts.push(len, f);
  }
  return Buffer.concat(parts);
}

/** `role`'s proof that it knows `secret`, bound to this handshake. */
export function proveHandshake(secret: string, role: Role, t: HandshakeTranscript): Buffer {
  return createHmac('sha256', secret).update(role).update(':').update(encodeTranscript(t)).digest();
}

/**
 * The first of `secrets` under which one of `proofs` is `role`'s valid proof, or
 * undefined. Every pair is computed and compared in constant time.
 */
export function matchProof(
  secrets: readonly string[],
  role: Role,
  t: HandshakeTranscript,
  proofs: readonly Uint8Array[],
): string | undefined {
  let match: string | undefined;
  for (const secret of secrets) {
    const expected = proveHandshake(secret, role, t);
    for (const given of proofs) {
      const ok = given.length === expected.length && timingSafeEqual(given, expected);
      if (ok && match === undefined) match = secret;
    }
  }
  return match;
}

/** The dialer→acceptor MAC key of the session (HKDF-SHA256 over the secret and both nonces). */
export function sessionKey(secret: string, t: HandshakeTranscript): Buffer {
  const salt = Buffer.concat([t.dialerNonce, t.acceptorNonce]);
  const info = Buffer.concat([Buffer.from(SESSION_LABEL), createHash('sha256').update(encodeTranscript(t)).digest()]);
  return Buffer.from(hkdfSync('sha256', Buffer.from(secret), salt, info, 32));
}

function counterBytes(n: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeUInt32BE(Math.floor(n / 0x1_0000_0000), 0);
  b.writeUInt32BE(n >>> 0, 4);
  return b;
}

/** Writes records: the sending side of an authenticated session. */
export class RecordSealer {
  private counter = 0;
  constructor(private readonly key: Buffer) {}

  /** The header and tag that go around `parts` (written in between, unchanged). */
  seal(parts: readonly Uint8Array[]): { header: Buffer; tag: Buffer } {
    let length = 0;
    for (const p of parts) length += p.length;
    const header = Buffer.allocUnsafe(RECORD_HEADER_BYTES);
    header.writeUInt32BE(length);
    const mac = createHmac('sha256', this.key).update(counterBytes(this.counter++)).update(header);
    for (const p of parts) mac.update(p);
    return { header, tag: mac.digest().subarray(0, RECORD_TAG_BYTES) };
  }
}

/**
 * Reads records: the receiving side. push() returns the payload bytes of the records
 * the chunk completes, only once their tags verified (a payload is held, not copied,
 * until then). Throws WireError('ERR_AUTH') on a bad tag and FrameTooLargeError on a
 * length over `maxRecordBytes`, before buffering that record; after a throw the opener
 * stays failed.
 */
export class RecordOpener {
  private counter = 0;
  private readonly header = Buffer.alloc(RECORD_HEADER_BYTES);
  private headerFilled = 0;
  private bodyLeft = -1; // -1: reading the header; then the payload; then the tag
  private readingTag = false;
  private pieces: Uint8Array[] = [];
  private mac: Hmac | undefined;
  private readonly tag = Buffer.alloc(RECORD_TAG_BYTES);
  private tagFilled = 0;
  private failure: WireError | undefined;

  constructor(
    private readonly key: Buffer,
    private readonly maxRecordBytes: number,
  ) {}

  push(chunk: Uint8Array): Uint8Array[] {
    if (this.failure !== undefined) throw this.failure;
    const out: Uint8Array[] = [];
    let off = 0;
    while (off < chunk.length) {
      if (this.readingTag) {
        const n = Math.min(RECORD_TAG_BYTES - this.tagFilled, chunk.length - off);
        this.tag.set(chunk.subarray(off, off + n), this.tagFilled);
        this.tagFilled += n;
        off += n;
        if (this.tagFilled < RECORD_TAG_BYTES) break;
        const expected = this.mac!.digest().subarray(0, RECORD_TAG_BYTES);
        if (!timingSafeEqual(expected, this.tag)) {
          this.failure = new WireError(
            'ERR_AUTH',
            `record ${this.counter} failed its MAC: data injected, replayed, reordered or altered on the session`,
          );
          throw this.failure;
        }
        this.counter++;
        for (const p of this.pieces) out.push(p);
        this.pieces = [];
        this.mac = undefined;
        this.readingTag = false;
        this.tagFilled = 0;
        this.headerFilled = 0;
        this.bodyLeft = -1;
      } else if (this.bodyLeft < 0) {
        const n = Math.min(RECORD_HEADER_BYTES - this.headerFilled, chunk.length - off);
        this.header.set(chunk.subarray(off, off + n), this.headerFilled);
        this.headerFilled += n;
        off += n;
        if (this.headerFilled < RECORD_HEADER_BYTES) break;
        const length = this.header.readUInt32BE(0);
        if (length > this.maxRecordBytes) {
          this.failure = new FrameTooLargeError(length, this.maxRecordBytes);
          throw this.failure;
        }
        this.mac = createHmac('sha256', this.key).update(counterBytes(this.counter)).update(this.header);
        this.bodyLeft = length;
        if (length === 0) this.readingTag = true;
      } else {
        const n = Math.min(this.bodyLeft, chunk.length - off);
        const piece = chunk.subarray(off, off + n);
        this.mac!.update(piece);
        this.pieces.push(piece);
        this.bodyLeft -= n;
        off += n;
        if (this.bodyLeft === 0) this.readingTag = true;
      }
    }
    return out;
  }
}

/**
 * Rate limit for log lines a stranger can provoke (failed authentication): at most
 * `perWindow` lines per `windowMs`; the next line allowed reports how many were left out.
 */
export class LogLimiter {
  private windowStart = -Infinity;
  private inWindow = 0;
  private suppressed = 0;

  constructor(
    private readonly perWindow = 5,
    private readonly windowMs = 10_000,
  ) {}

  /** Undefined: do not log. Otherwise the number of lines left out since the last one. */
  take(now = performance.now()): number | undefined {
    if (now - this.windowStart >= this.windowMs) {
      this.windowStart = now;
      this.inWindow = 0;
    }
    if (this.inWindow >= this.perWindow) {
      this.suppressed++;
      return undefined;
    }
    this.inWindow++;
    const left = this.suppressed;
    this.suppressed = 0;
    return left;
  }
}
