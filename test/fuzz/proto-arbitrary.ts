// Structure-aware inputs for the fuzzer: fast-check arbitraries built from
// proto/chorus.proto by reflection, so every message type, every oneof body and every
// field is reached without a hand-written generator per message. Values lean on the
// edges (0, 1, max uint32, 2^32, 2^53, negative, NaN, huge strings) where decoders and
// index arithmetic break.
import { fileURLToPath } from 'node:url';

import fc from 'fast-check';
import protobuf from 'protobufjs';

const PROTO = fileURLToPath(new URL('../../proto/chorus.proto', import.meta.url));
let root: protobuf.Root | undefined;

export function protoRoot(): protobuf.Root {
  root ??= protobuf.loadSync(PROTO);
  return root;
}

export function protoType(name: string): protobuf.Type {
  return protoRoot().lookupType(`chorus.${name}`);
}

const EDGE_UINT = [0, 1, 2, 3, 7, 99, 255, 65_535, 2 ** 31 - 1, 2 ** 32 - 1];
const EDGE_INT = [...EDGE_UINT, -1, -(2 ** 31)];
const EDGE_DOUBLE = [0, 1, -1, 0.5, 1e9, 2 ** 53, Number.MAX_VALUE, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];

function scalar(type: string): fc.Arbitrary<unknown> {
  switch (type) {
    case 'uint32':
    case 'fixed32':
      return fc.oneof(fc.constantFrom(...EDGE_UINT), fc.nat({ max: 2 ** 32 - 1 }), fc.nat({ max: 16 }));
    case 'int32':
    case 'sint32':
    case 'sfixed32':
      return fc.oneof(fc.constantFrom(...EDGE_INT), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.nat({ max: 16 }));
    case 'uint64':
    case 'fixed64':
    case 'int64':
    case 'sint64':
    case 'sfixed64':
      return fc.oneof(fc.constantFrom(...EDGE_UINT, 2 ** 32, 2 ** 32 + 5, 2 ** 53 - 1), fc.nat({ max: 16 }));
    case 'double':
    case 'float':
      // Mostly plausible sequence numbers and counts (so frames pass the decoder and reach
      // the core), sometimes the values that break arithmetic.
      return fc.oneof(
        { weight: 6, arbitrary: fc.nat({ max: 16 }) },
        { weight: 2, arbitrary: fc.nat({ max: 2 ** 32 }) },
        { weight: 1, arbitrary: fc.constantFrom(...EDGE_DOUBLE) },
      );
    case 'bool':
      return fc.boolean();
    case 'string':
      return fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom('', 'a', 'b', 'c', 'g', 'a#1', 'b#1', 'c#1', 'x#evil', 'a.c1', 'g\u0000', '..', 'a'.repeat(300)) },
        { weight: 1, arbitrary: fc.string({ maxLength: 24 }) },
      );
    case 'bytes':
      return fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ maxLength: 64 }));
    default:
      throw new Error(`no arbitrary for scalar type ${type}`);
  }
}

const cache = new Map<string, fc.Arbitrary<Record<string, unknown>>>();

/** Plain objects for `type` (protobufjs `fromObject` shape), nesting at most `depth` levels. */
export function messageArbitrary(type: protobuf.Type, depth = 4): fc.Arbitrary<Record<string, unknown>> {
  const key = `${type.fullName}/${depth}`;
  const cached = cache.get(key);
  if (cached !== undefined) return cached;
  const inOneof = new Set<string>();
  for (const o of type.oneofsArray) for (const f of o.fieldsArray) inOneof.add(f.name);
  const fieldArb = (f: protobuf.Field): fc.Arbitrary<unknown> | undefined => {
    f.resolve();
    let one: fc.Arbitrary<unknown>;
    if (f.resolvedType instanceof protobuf.Type) {
      if (depth <= 0) return undefined;
      one = messageArbitrary(f.resolvedType, depth - 1);
    } else if (f.resolvedType instanceof protobuf.Enum) {
      const values = Object.values(f.resolvedType.values);
      one = fc.oneof(fc.constantFrom(...values), fc.constantFrom(-1, 99, 2 ** 31 - 1));
    } else {
      one = scalar(f.type);
    }
    return f.repeated ? fc.array(one, { maxLength: depth > 2 ? 6 : 3 }) : one;
  };
  const fields: Record<string, fc.Arbitrary<unknown>> = {};
  const present: string[] = [];
  for (const f of type.fieldsArray) {
    if (inOneof.has(f.name)) continue;
    const a = fieldArb(f);
    if (a === undefined) continue;
    fields[f.name] = a;
    // Sub-messages are present (most are required by the validator); scalars may be absent.
    if (f.resolvedType instanceof protobuf.Type && !f.repeated) present.push(f.name);
  }
  const base = fc.record(fields, { requiredKeys: present });
  const oneofs = type.oneofsArray.map((o) => {
    const choices = o.fieldsArray.map((f) => fieldArb(f)?.map((v) => ({ [f.name]: v }))).filter((a) => a !== undefined);
    return choices.length === 0 ? fc.constant({}) : fc.oneof(...choices, fc.constant({}));
  });
  const arb = fc.tuple(base, ...oneofs).map(([b, ...parts]) => Object.assign({}, b, ...parts) as Record<string, unknown>);
  cache.set(key, arb);
  return arb;
}

/** Encoded bytes of a random, structurally valid message of `type`. */
export function encodedArbitrary(type: protobuf.Type, depth = 4): fc.Arbitrary<Uint8Array> {
  return messageArbitrary(type, depth).map((o) => type.encode(type.fromObject(o)).finish());
}

/** Mutations of valid encodings: bit flips, truncation, splices, repeated tails, varint bombs. */
export function mutated(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.tuple(valid, fc.nat(), fc.nat({ max: 255 }), fc.constantFrom('flip', 'truncate', 'insert', 'repeat', 'varint', 'length')).map(([bytes, at, value, how]) => {
    if (bytes.length === 0) return Uint8Array.of(value);
    const i = at % bytes.length;
    switch (how) {
      case 'flip': {
        const out = bytes.slice();
        out[i] = out[i]! ^ (1 << value % 8);
        return out;
      }
      case 'truncate':
        return bytes.subarray(0, i);
      case 'insert':
        return Uint8Array.from([...bytes.subarray(0, i), value, ...bytes.subarray(i)]);
      case 'repeat':
        return Uint8Array.from([...bytes, ...bytes.subarray(i)]);
      case 'varint':
        return Uint8Array.from([...bytes.subarray(0, i), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, ...bytes.subarray(i)]);
      default: {
        // A length prefix that claims more than is there.
        const out = bytes.slice();
        out[i] = 0x7f;
        return out;
      }
    }
  });
}
