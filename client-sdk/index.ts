// Public surface of the client SDK (`chorusd/client`; the README's "The same from code" shows it in use). This list is
// the contract: everything not exported here is internal and may change.

export { connect, Client } from './client.js';
export { Group } from './group.js';
export { StateTransferError } from './state-transfer-error.js';
export type {
  ClientEvents,
  ConnectOptions,
  ExpelReason,
  GroupEvents,
  JoinCause,
  JoinOptions,
  LeaveCause,
  Message,
  MulticastOptions,
  Order,
  StateReader,
  StateTransfer,
  View,
  ViewCause,
  WebSocketConstructor,
  WebSocketLike,
} from './types.js';
export {
  ChorusError,
  ConnectionError,
  HandshakeError,
  RequestError,
  WireError,
  MalformedFrameError,
  FrameTooLargeError,
} from '../src/errors.js';
export type { ChorusErrorCode } from '../src/errors.js';
