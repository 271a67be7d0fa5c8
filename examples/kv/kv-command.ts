// The commands replicas multicast: what changes the map, encoded the same way by every
// replica (compact JSON). A command names its origin (`from`, `tag`) so the replica that
// sent it can answer its HTTP caller once it has applied it locally.

export type KvCommand =
  | { op: 'set'; key: string; value: string; from: string; tag: number }
  | { op: 'delete'; key: string; from: string; tag: number };

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

export function encodeCommand(command: KvCommand): Uint8Array {
  return utf8.encode(JSON.stringify(command));
}

/**
 * The command in `data`, or undefined when `data` is not one (another application
 * multicasting to the group): every replica skips it alike, so they stay equal.
 */
export function decodeCommand(data: Uint8Array): KvCommand | undefined {
  let value: unknown;
  try {
    value = JSON.parse(fromUtf8.decode(data));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const c = value as Record<string, unknown>;
  if (typeof c.key !== 'string' || typeof c.from !== 'string' || typeof c.tag !== 'number') return undefined;
  if (c.op === 'set' && typeof c.value === 'string') return { op: 'set', key: c.key, value: c.value, from: c.from, tag: c.tag };
  if (c.op === 'delete') return { op: 'delete', key: c.key, from: c.from, tag: c.tag };
  return undefined;
}
