// Public surface of the wire layer: framing for byte streams and fragmentation of large
// frames, the protobuf codec with validation, protocol versions and limits, and the
// generated message classes. Other modules import from here, not from the files behind it.

export {
  FrameDecoder,
  LENGTH_PREFIX_BYTES,
  MAX_LENGTH_PREFIX,
  encodeLengthPrefix,
  encodeLengthPrefixed,
  readLengthPrefix,
  writeLengthPrefix,
} from './frame-decoder.js';

export {
  FRAGMENT_CHUNK_BYTES,
  FragmentAssembler,
  encodeFragmented,
  fragmentHeaderBytes,
  writeFragmentHeader,
} from './frame-fragments.js';

export {
  DEFAULT_MAX_FRAME_BYTES,
  PEER_PROTOCOL_MAX,
  PEER_PROTOCOL_MIN,
  PEER_PROTOCOL_VERSION,
  PEER_RANGE,
  PROTOCOL_MAX,
  PROTOCOL_MIN,
  PROTOCOL_VERSION,
  decodeClientFrame,
  decodeClientRequest,
  decodeDaemonFrame,
  decodePeerFrame,
  encodeClientFrame,
  encodeDaemonFrame,
  encodePeerFrame,
  negotiateVersion,
  splitClientFrame,
} from './codec.js';
export type { DecodedClientFrame, DecodedClientRequest, DecodedDaemonFrame, DecodedPeerFrame } from './codec.js';

export { chorus } from './gen/chorus.js';
