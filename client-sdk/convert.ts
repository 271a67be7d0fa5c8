// Conversions between the wire messages (proto/chorus.proto) and the SDK's public
// types. Kept apart so that the public shapes (types.ts) and the protocol can evolve
// separately: an enum value appended to the .proto needs a line here, nothing else.

import type { ChorusErrorCode } from '../src/errors.js';
import { chorus } from '../src/wire/gen/chorus.js';
import type { ExpelReason, LeaveCause, Message, Order, View, ViewCause } from './types.js';

const ORDER_TO_WIRE: Record<Order, chorus.Order> = {
  total: chorus.Order.ORDER_TOTAL,
  fifo: chorus.Order.ORDER_FIFO,
  causal: chorus.Order.ORDER_CAUSAL,
  safe: chorus.Order.ORDER_SAFE,
};

const ORDER_FROM_WIRE: Record<chorus.Order, Order> = {
  [chorus.Order.ORDER_TOTAL]: 'total',
  [chorus.Order.ORDER_FIFO]: 'fifo',
  [chorus.Order.ORDER_CAUSAL]: 'causal',
  [chorus.Order.ORDER_SAFE]: 'safe',
};

// CAUSE_JOIN is not a reason to leave: a departed member carrying it is reported as a
// crash, like one without a cause (see viewFromWire).
const CAUSE_FROM_WIRE: Partial<Record<chorus.Cause, LeaveCause>> = {
  [chorus.Cause.CAUSE_LEAVE]: 'leave',
  [chorus.Cause.CAUSE_CRASH]: 'crash',
  [chorus.Cause.CAUSE_PARTITION]: 'partition',
  [chorus.Cause.CAUSE_EXPELLED]: 'expelled',
};

export function isOrder(value: unknown): value is Order {
  return typeof value === 'string' && Object.hasOwn(ORDER_TO_WIRE, value);
}

export function orderToWire(order: Order): chorus.Order {
  return ORDER_TO_WIRE[order];
}

/** The codec has already refused unknown enum values, so every value maps. */
export function orderFromWire(order: chorus.Order | null | undefined): Order {
  return ORDER_FROM_WIRE[order ?? chorus.Order.ORDER_TOTAL] ?? 'total';
}

export function viewFromWire(event: chorus.ViewEvent.$Properties): View {
  const joined = event.joined ?? [];
  const left = event.left ?? [];
  const leftCauses = event.leftCauses ?? [];
  // Object.fromEntries defines own properties, so a client id such as "__proto__"
  // becomes a key instead of replacing the object's prototype.
  const causes: Array<[string, ViewCause]> = [];
  for (const id of joined) causes.push([id, 'join']);
  for (let i = 0; i < left.length; i++) {
    // CAUSE_NONE (or a missing entry) means the daemon did not say why. A member that
    // left without a reason did not say goodbye: report it as a crash, the cause that
    // asks the application for the most caution.
    causes.push([left[i]!, CAUSE_FROM_WIRE[leftCauses[i] ?? chorus.Cause.CAUSE_NONE] ?? 'crash']);
  }
  return {
    id: event.viewId ?? 0,
    members: event.members ?? [],
    joined,
    left,
    causes: Object.fromEntries(causes),
  };
}

// The reasons a daemon puts in an EXPELLED signal (src/core/step-down.ts,
// daemon/client-gateway.ts). 'rejoin-failed' is the SDK's own, never on the wire.
const EXPEL_REASONS_FROM_WIRE: Record<string, ExpelReason> = {
  partitioned: 'partitioned',
  'slow-consumer': 'slow-consumer',
};

/** The typed reason of an EXPELLED signal; one this SDK does not know becomes `expelled`. */
export function expelReasonFromWire(reason: string | null | undefined): ExpelReason {
  return reason && Object.hasOwn(EXPEL_REASONS_FROM_WIRE, reason) ? EXPEL_REASONS_FROM_WIRE[reason]! : 'expelled';
}

export function messageFromWire(delivery: chorus.Delivery.$Properties): Message {
  return {
    id: delivery.id ?? '',
    sender: delivery.sender ?? '',
    data: plainBytes(delivery.data),
    order: orderFromWire(delivery.order),
    viewId: delivery.viewId ?? 0,
    seq: delivery.seq ?? 0,
  };
}

/**
 * The same bytes as a plain Uint8Array, without copying. Under Node the decoder hands out
 * Buffers (a Uint8Array subclass whose `slice()` does not copy, unlike Uint8Array's):
 * applications get one type with one behaviour in Node and in browsers.
 */
export function plainBytes(bytes: Uint8Array | null | undefined): Uint8Array {
  if (!bytes) return new Uint8Array(0);
  if (bytes.constructor === Uint8Array) return bytes;
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// Every code the SDK may receive, checked against ChorusErrorCode by the compiler (a
// missing or unknown key fails to type-check), so the runtime list cannot drift.
const KNOWN_CODES: Record<ChorusErrorCode, true> = {
  ERR_FRAME_TOO_LARGE: true,
  ERR_MALFORMED_FRAME: true,
  ERR_PROTOCOL_VERSION: true,
  ERR_CLUSTER_MISMATCH: true,
  ERR_AUTH: true,
  ERR_HANDSHAKE: true,
  ERR_NOT_MEMBER: true,
  ERR_ALREADY_MEMBER: true,
  ERR_MESSAGE_TOO_LARGE: true,
  ERR_BAD_REQUEST: true,
  ERR_BAD_GROUP_NAME: true,
  ERR_NOT_SUPPORTED: true,
  ERR_LEFT: true,
  ERR_LIMIT: true,
  ERR_DISCONNECTED: true,
  ERR_CLOSED: true,
  ERR_CONNECT: true,
  ERR_SLOW_CONSUMER: true,
  ERR_BAD_CLIENT_NAME: true,
  ERR_NO_STATE_PROVIDER: true,
  ERR_STATE_RESTARTED: true,
  ERR_STATE_ABORTED: true,
  ERR_PROVIDE_FAILED: true,
  ERR_INSTALL_FAILED: true,
  ERR_CONFIG: true,
  ERR_DNS_SEED: true,
  ERR_INVARIANT: true,
};

/**
 * The typed code for an error code received from the daemon. A code this SDK does not
 * know (a newer daemon) becomes `fallback`; the caller keeps the raw code in the message.
 */
export function errorCodeFromWire(code: string | null | undefined, fallback: ChorusErrorCode): ChorusErrorCode {
  return code && Object.hasOwn(KNOWN_CODES, code) ? (code as ChorusErrorCode) : fallback;
}

/** The error message for a refused request, naming the raw code if it was unknown. */
export function errorMessageFromWire(reply: chorus.Reply.$Properties, fallback: ChorusErrorCode): string {
  const code = reply.errorCode ?? '';
  const message = reply.errorMessage || 'request refused by the daemon';
  return errorCodeFromWire(code, fallback) === code ? message : `${code || 'no error code'}: ${message}`;
}
