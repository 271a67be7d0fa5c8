// PortProbe: what answers at an address the user gave `chorus` — a daemon's admin port
// (HTTP, GET /status is JSON about the daemon), its client port (a WebSocket upgrade
// succeeds), something that closes the connection without an HTTP answer (a daemon's peer
// port does), or nothing at all. The CLI asks only after a request failed, to turn
// "Unexpected server response: 200" or a request that never gets an answer into "that is
// the admin port, not the client port" (issue 15).
//
// Two requests go out at once: a WebSocket upgrade of `/` and a GET of `/status`; when
// both see the connection closed, a third tries the upgrade over TLS (a client port of a
// daemon started with --tls-* drops plaintext). None changes anything at the daemon: the
// upgraded socket is dropped before its hello, an admin server answers an upgrade request
// as a plain GET of its status page, and a TLS peer port refuses the probe's handshake
// (it presents no certificate).
import { randomBytes } from 'node:crypto';
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as secureRequest } from 'node:https';
import type { Socket } from 'node:net';

export type PortKind =
  /** A daemon's admin port; `client` is the daemon's client address from its /status. */
  | { readonly kind: 'admin'; readonly client: string | undefined }
  /** A daemon's client (WebSocket) port; `tls`: it speaks wss:// only. */
  | { readonly kind: 'client'; readonly tls: boolean }
  /** Nothing listens there. */
  | { readonly kind: 'refused' }
  /** It accepted the connection and closed it without an HTTP answer (a peer port, a TLS port). */
  | { readonly kind: 'closed' }
  /** Some HTTP server that is neither port of a daemon. */
  | { readonly kind: 'http'; readonly status: number }
  /** No answer in time, or the address cannot be reached (`reason`). */
  | { readonly kind: 'silent'; readonly reason: string };

export interface ProbeTarget {
  readonly host: string;
  readonly port: number;
}

/** At most this long for each probe request; the daemon's ports answer in milliseconds. */
export const PROBE_TIMEOUT_MS = 2_000;
/** Bytes of a /status body read at most. */
const MAX_STATUS_BYTES = 1024 * 1024;

/** `host:port`, `[v6]:port` or a URL (`http://`, `ws://`, …) → host and port; undefined if neither. */
export function probeTarget(address: string): ProbeTarget | undefined {
  const text = address.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    return undefined;
  }
  const defaultPort = url.protocol === 'https:' || url.protocol === 'wss:' ? 443 : 80;
  const port = url.port === '' ? defaultPort : Number(url.port);
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return host === '' ? undefined : { host, port };
}

/** What listens at `target` (see PortKind). Never rejects. */
export async function probePort(target: ProbeTarget, timeoutMs = PROBE_TIMEOUT_MS): Promise<PortKind> {
  const upgrade = probeUpgrade(target, timeoutMs);
  const status = probeStatus(target, timeoutMs);
  // A client port answers the upgrade at once, and may never answer the plain GET: don't wait for it.
  const first = await upgrade.answer;
  if (first.kind === 'client' || first.kind === 'refused') {
    status.cancel();
    return first;
  }
  const second = await status.answer;
  if (second.kind === 'admin' || second.kind === 'http' || second.kind === 'client') return second;
  if (first.kind === 'http') return first;
  if (first.kind === 'closed' && second.kind === 'closed') {
    const secure = await probeUpgrade(target, timeoutMs, true).answer;
    if (secure.kind === 'client') return secure;
  }
  return second;
}

interface Probe {
  readonly answer: Promise<PortKind>;
  cancel(): void;
}

/** One HTTP request whose outcome becomes a PortKind; `onResponse` reads an answer. */
function probeRequest(
  target: ProbeTarget,
  timeoutMs: number,
  tls: boolean,
  headers: Record<string, string>,
  path: string,
  onResponse: (res: IncomingMessage, done: (kind: PortKind) => void) => void,
): Probe {
  let req: ClientRequest | undefined;
  let settle: (kind: PortKind) => void = () => undefined;
  const answer = new Promise<PortKind>((resolve) => {
    const timer = setTimeout(() => done({ kind: 'silent', reason: `no answer within ${timeoutMs} ms` }), timeoutMs);
    function done(kind: PortKind): void {
      clearTimeout(timer);
      req?.destroy();
      resolve(kind);
    }
    settle = done;
    const options = { host: target.host, port: target.port, path, method: 'GET', headers, agent: false };
    // Over TLS only to learn whether a WebSocket server is there: its certificate is not checked.
    req = tls ? secureRequest({ ...options, rejectUnauthorized: false }) : request(options);
    req.on('upgrade', (_res: IncomingMessage, socket: Socket) => {
      socket.destroy();
      done({ kind: 'client', tls });
    });
    req.on('response', (res) => onResponse(res, done));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') done({ kind: 'refused' });
      else if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || err.code === 'HPE_INVALID_CONSTANT' || /hang up|closed|ssl|tls/i.test(`${err.code ?? ''} ${err.message}`)) {
        done({ kind: 'closed' });
      }
      else done({ kind: 'silent', reason: err.code ?? err.message });
    });
    req.end();
  });
  return { answer, cancel: () => settle({ kind: 'silent', reason: 'cancelled' }) };
}

function probeUpgrade(target: ProbeTarget, timeoutMs: number, tls = false): Probe {
  const headers = {
    connection: 'Upgrade',
    upgrade: 'websocket',
    'sec-websocket-version': '13',
    'sec-websocket-key': randomBytes(16).toString('base64'),
  };
  return probeRequest(target, timeoutMs, tls, headers, '/', (res, done) => {
    res.resume();
    done({ kind: 'http', status: res.statusCode ?? 0 });
  });
}

function probeStatus(target: ProbeTarget, timeoutMs: number): Probe {
  return probeRequest(target, timeoutMs, false, { accept: 'application/json' }, '/status', (res, done) => {
    const status = res.statusCode ?? 0;
    if (status === 426) {
      // "Upgrade Required": a WebSocket server, i.e. a client port.
      res.resume();
      done({ kind: 'client', tls: false });
      return;
    }
    const chunks: Buffer[] = [];
    let bytes = 0;
    res.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > MAX_STATUS_BYTES) done({ kind: 'http', status });
      else chunks.push(chunk);
    });
    res.on('error', () => done({ kind: 'http', status }));
    res.on('end', () => {
      const client = status === 200 ? daemonClientAddress(Buffer.concat(chunks).toString('utf8')) : false;
      done(client === false ? { kind: 'http', status } : { kind: 'admin', client });
    });
  });
}

/**
 * The client address a daemon's GET /status names (`daemon.addresses.client`), undefined
 * when it names none; false when the body is not a daemon's status at all.
 */
function daemonClientAddress(body: string): string | undefined | false {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return false;
  }
  if (typeof json !== 'object' || json === null) return false;
  const daemon = (json as { daemon?: unknown }).daemon;
  if (typeof daemon !== 'object' || daemon === null) return false;
  const client = (daemon as { addresses?: { client?: unknown } }).addresses?.client;
  return typeof client === 'string' ? client : undefined;
}
