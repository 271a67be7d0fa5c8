// A tiny authoritative DNS server for tests of DNS seeds: UDP on 127.0.0.1, answers A,
// AAAA and SRV queries from records the test sets (and changes) while it runs. Names it
// does not know get NXDOMAIN; a known name without records of the asked type gets an
// empty answer (NODATA). Every answer has TTL 0, so the resolver caches nothing and each
// lookup reaches the server (`queries` logs them).
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { isIPv4, isIPv6 } from 'node:net';

export interface SrvTarget {
  readonly target: string;
  readonly port: number;
}

export interface DnsRecords {
  readonly a?: readonly string[];
  readonly aaaa?: readonly string[];
  readonly srv?: readonly SrvTarget[];
}

export interface DnsTestServer {
  /** `127.0.0.1:port`, for --dns-servers. */
  readonly address: string;
  /** Every query received, in order: the name (lowercase) and type (A, AAAA, SRV, ...). */
  readonly queries: Array<{ name: string; type: string }>;
  /** Sets (replaces) the records of `name`; undefined removes the name (NXDOMAIN). */
  set(name: string, records: DnsRecords | undefined): void;
  /** The queries of `name` so far (of `type`, if given). */
  count(name: string, type?: string): number;
  close(): Promise<void>;
}

const TYPES: Readonly<Record<number, string>> = { 1: 'A', 28: 'AAAA', 33: 'SRV' };
const CLASS_IN = 1;
const RCODE_FORMERR = 1;
const RCODE_NXDOMAIN = 3;

export async function startDnsServer(): Promise<DnsTestServer> {
  const zone = new Map<string, DnsRecords>();
  const queries: Array<{ name: string; type: string }> = [];
  const socket: Socket = createSocket('udp4');
  socket.on('message', (msg: Buffer, from: RemoteInfo) => {
    const reply = answer(msg, zone, queries);
    if (reply !== undefined) socket.send(reply, from.port, from.address);
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  const { port } = socket.address();
  return {
    address: `127.0.0.1:${port}`,
    queries,
    set(name, records) {
      if (records === undefined) zone.delete(canonical(name));
      else zone.set(canonical(name), records);
    },
    count(name, type) {
      return queries.filter((q) => q.name === canonical(name) && (type === undefined || q.type === type)).length;
    },
    async close() {
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}

function canonical(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/** The reply to one query message (undefined: not a query we can parse; dropped). */
function answer(msg: Buffer, zone: ReadonlyMap<string, DnsRecords>, log: Array<{ name: string; type: string }>): Buffer | undefined {
  if (msg.length < 12 || (msg[2]! & 0x80) !== 0) return undefined; // too short, or a response
  const id = msg.readUInt16BE(0);
  const rd = msg[2]! & 0x01;
  if (msg.readUInt16BE(4) !== 1) return header(id, rd, RCODE_FORMERR, 0, 0);
  // The question: labels up to the root, then type and class.
  const labels: string[] = [];
  let at = 12;
  while (at < msg.length && msg[at]! !== 0) {
    const len = msg[at]!;
    if (len > 63 || at + 1 + len > msg.length) return header(id, rd, RCODE_FORMERR, 0, 0);
    labels.push(msg.subarray(at + 1, at + 1 + len).toString('latin1'));
    at += 1 + len;
  }
  if (at + 5 > msg.length) return header(id, rd, RCODE_FORMERR, 0, 0);
  const question = msg.subarray(12, at + 5); // copied as asked (case and all)
  const qtype = msg.readUInt16BE(at + 1);
  const name = canonical(labels.join('.'));
  log.push({ name, type: TYPES[qtype] ?? String(qtype) });
  const records = zone.get(name);
  if (records === undefined) return Buffer.concat([header(id, rd, RCODE_NXDOMAIN, 1, 0), question]);
  const rdatas: Buffer[] = [];
  if (qtype === 1) for (const ip of records.a ?? []) if (isIPv4(ip)) rdatas.push(Buffer.from(ip.split('.').map(Number)));
  if (qtype === 28) for (const ip of records.aaaa ?? []) if (isIPv6(ip)) rdatas.push(ipv6Bytes(ip));
  if (qtype === 33) {
    for (const s of records.srv ?? []) {
      const fixed = Buffer.alloc(6);
      fixed.writeUInt16BE(10, 0); // priority
      fixed.writeUInt16BE(10, 2); // weight
      fixed.writeUInt16BE(s.port, 4);
      rdatas.push(Buffer.concat([fixed, encodeName(s.target)]));
    }
  }
  const answers = rdatas.map((rdata) => {
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
    rr.writeUInt16BE(qtype, 2);
    rr.writeUInt16BE(CLASS_IN, 4);
    rr.writeUInt32BE(0, 6); // TTL 0: nothing cached
    rr.writeUInt16BE(rdata.length, 10);
    return Buffer.concat([rr, rdata]);
  });
  return Buffer.concat([header(id, rd, 0, 1, answers.length), question, ...answers]);
}

function header(id: number, rd: number, rcode: number, qdcount: number, ancount: number): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h[2] = 0x80 | 0x04 | rd; // a response, authoritative, recursion desired as asked
  h[3] = 0x80 | rcode; // recursion available
  h.writeUInt16BE(qdcount, 4);
  h.writeUInt16BE(ancount, 6);
  return h;
}

function encodeName(name: string): Buffer {
  const parts = canonical(name)
    .split('.')
    .filter((l) => l !== '')
    .map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')]));
  return Buffer.concat([...parts, Buffer.from([0])]);
}

function ipv6Bytes(ip: string): Buffer {
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}
