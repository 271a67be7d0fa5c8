// Typed errors shared by the daemon, the wire layer and the SDK. Every error Chorus
// raises on purpose is a ChorusError with a stable `code` (part of the public contract:
// callers switch on it) and a `name` equal to its class name. Browser-safe: no Node import.

export type ChorusErrorCode =
  // wire
  | 'ERR_FRAME_TOO_LARGE'
  | 'ERR_MALFORMED_FRAME'
  | 'ERR_PROTOCOL_VERSION'
  | 'ERR_CLUSTER_MISMATCH'
  | 'ERR_AUTH'
  | 'ERR_HANDSHAKE'
  // client requests
  | 'ERR_NOT_MEMBER'
  | 'ERR_ALREADY_MEMBER'
  | 'ERR_MESSAGE_TOO_LARGE'
  | 'ERR_BAD_REQUEST'
  | 'ERR_BAD_GROUP_NAME'
  | 'ERR_NOT_SUPPORTED'
  | 'ERR_LEFT'
  | 'ERR_LIMIT'
  // connection
  | 'ERR_DISCONNECTED'
  | 'ERR_CLOSED'
  | 'ERR_CONNECT'
  | 'ERR_SLOW_CONSUMER'
  | 'ERR_BAD_CLIENT_NAME'
  // state transfer
  | 'ERR_NO_STATE_PROVIDER'
  | 'ERR_STATE_RESTARTED'
  | 'ERR_STATE_ABORTED'
  | 'ERR_PROVIDE_FAILED'
  | 'ERR_INSTALL_FAILED'
  // configuration
  | 'ERR_CONFIG'
  // a DNS seed that did not resolve (the daemon retries; see daemon/dns-seeds.ts)
  | 'ERR_DNS_SEED'
  // broken invariant: a bug
  | 'ERR_INVARIANT';

export class ChorusError extends Error {
  readonly code: ChorusErrorCode;
  constructor(code: ChorusErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A wire-level problem with one connection: that connection is closed, nothing else. */
export class WireError extends ChorusError {}
export class FrameTooLargeError extends WireError {
  constructor(bytes: number, maxBytes: number, message = `frame of ${bytes} bytes exceeds the maximum of ${maxBytes}`) {
    super('ERR_FRAME_TOO_LARGE', message);
  }
}
export class MalformedFrameError extends WireError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_MALFORMED_FRAME', message, options);
  }
}
/**
 * The pieces of a fragmented frame broke the sequence (a piece without a first piece, a
 * new frame before the last one completed, more bytes than announced): the stream is out
 * of sync, so the connection is reset.
 */
export class FragmentError extends MalformedFrameError {}
export class HandshakeError extends WireError {}

/** A request the daemon refused; the SDK rejects the caller's promise with it. */
export class RequestError extends ChorusError {}

/** The connection to the daemon is gone. */
export class ConnectionError extends ChorusError {}

export class ConfigError extends ChorusError {
  constructor(message: string) {
    super('ERR_CONFIG', message);
  }
}

/** A broken invariant: a bug. The daemon stops rather than run on in a bad state. */
export class InvariantError extends ChorusError {
  constructor(message: string) {
    super('ERR_INVARIANT', message);
  }
}

export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new InvariantError(message);
}
