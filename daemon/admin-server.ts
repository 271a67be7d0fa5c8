// The admin HTTP server: `GET /status` (JSON), `GET /metrics` (Prometheus text 0.0.4),
// `GET /events` (the status and view timeline pushed as Server-Sent Events), `GET /`
// (the live page, daemon/status-page.ts, fed by /events), the probes `GET /healthz`
// (liveness) and `GET /readyz` (in the primary component), and one
// operator action, `POST /force-primary`, routed to the driver.
//
// Bound to loopback by default (`--admin 127.0.0.1:7600`). GET endpoints are open. An
// endpoint that changes state needs `Authorization: Bearer <--admin-token>` (compared in
// constant time); without --admin-token it is served to loopback callers only. Every
// request must name a Host that is an IP literal, `localhost` or the configured admin
// host (a DNS-rebinding page names its own domain), and a state-changing one must not come
// from a browser page of another origin (Origin, Sec-Fetch-Site). Connections are capped
// and a client must send its headers within ADMIN_HEADERS_TIMEOUT_MS.

import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { parseHostPort, formatHostPort } from './config.js';
import { CONTENT_TYPE as METRICS_CONTENT_TYPE } from './metrics.js';
import type { Logger } from './logger.js';
import { listenOn } from './listen.js';
import { STATUS_PAGE } from './status-page.js';

export interface AdminServerOptions {
  /** `host:port`; port 0 picks a free port. */
  readonly listen: string;
  readonly logger: Logger;
  /** The body of GET /status (serialised as JSON). */
  readonly status: () => unknown;
  /** GET /events: serve a Server-Sent Events stream (see live-events.ts). */
  readonly events?: (req: IncomingMessage, res: ServerResponse, headers: Record<string, string>) => void;
  /** The body of GET /metrics (Prometheus text). */
  readonly metrics: () => string | Promise<string>;
  /**
   * GET /readyz: whether the daemon is in the primary component, and why not (one line).
   * Default: always ready (a server without a daemon behind it, as in unit tests).
   */
  readonly ready?: () => Readiness;
  /** The body of GET / (default: the built-in status page). */
  readonly page?: () => string;
  /** POST /force-primary (operator): declare this daemon's side the primary component. */
  readonly forcePrimary?: () => Promise<{ ok: boolean; message: string }>;
  /** `--admin-token`: required (Bearer) by every endpoint that changes state. */
  readonly token?: string;
  /** Open connections at most (default ADMIN_MAX_CONNECTIONS); more are dropped at once. */
  readonly maxConnections?: number;
  /** Time a client has to send its request headers (default ADMIN_HEADERS_TIMEOUT_MS). */
  readonly headersTimeoutMs?: number;
}

/** The answer of GET /readyz: 200 with `reason` when ready, else 503 with it. */
export interface Readiness {
  readonly ready: boolean;
  /** One line (no newline): what the daemon is doing. */
  readonly reason: string;
}

export const ADMIN_MAX_CONNECTIONS = 64;
export const ADMIN_HEADERS_TIMEOUT_MS = 5_000;
const ADMIN_REQUEST_TIMEOUT_MS = 10_000;

export interface AdminServer {
  /** Actual `host:port` the server listens on. */
  readonly address: string;
  close(): Promise<void>;
}

const COMMON_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
} as const;

export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const log = options.logger.child({ component: 'admin' });
  const { host, port } = parseHostPort(options.listen, 'admin address');

  // Hosts a request may name besides IP literals and localhost: the configured one, and
  // this machine's name when the server listens on every interface.
  const allowedHosts = new Set([host.toLowerCase()]);
  if (host === '0.0.0.0' || host === '::') allowedHosts.add(hostname().toLowerCase());
  // Node checks the header and request timeouts every connectionsCheckingInterval (30 s
  // by default): check every second, so a connection that sends nothing is closed in time.
  // (The timeouts go to the constructor: Node 20 ignores headersTimeout set afterwards.)
  const headersTimeout = options.headersTimeoutMs ?? ADMIN_HEADERS_TIMEOUT_MS;
  const serverOptions = {
    connectionsCheckingInterval: Math.min(1_000, headersTimeout),
    headersTimeout,
    requestTimeout: Math.max(headersTimeout, ADMIN_REQUEST_TIMEOUT_MS),
    keepAliveTimeout: 5_000,
    maxHeaderSize: 16 * 1024,
  };
  const server = createServer(serverOptions, (req, res) => {
    try {
      const refusal = refuse(req, allowedHosts, options);
      if (refusal !== undefined) {
        if (refusal.status !== 400) log.warn({ url: String(req.url).slice(0, 200), remote: req.socket.remoteAddress, status: refusal.status }, `admin request refused: ${refusal.message}`);
        send(res, refusal.status, `${refusal.message}\n`, refusal.status === 401 ? { 'www-authenticate': 'Bearer' } : {});
        return;
      }
      handle(req, res, options);
    } catch (err) {
      log.error({ err, url: req.url }, 'admin request failed');
      if (!res.headersSent) {
        res.writeHead(500, { ...COMMON_HEADERS, 'content-type': 'text/plain; charset=utf-8' });
      }
      res.end('internal error\n');
    }
  });
  // Admin clients are few; don't let an idle browser tab hold the daemon open on close.
  server.maxConnections = options.maxConnections ?? ADMIN_MAX_CONNECTIONS;
  server.maxRequestsPerSocket = 100;

  await listenOn(server, host, port);
  server.on('error', (err) => log.error({ err }, 'admin server error'));

  const bound = server.address() as AddressInfo;
  const address = formatHostPort(bound.address, bound.port);
  log.debug({ address }, 'admin server listening');

  let closing: Promise<void> | undefined;
  return {
    address,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...COMMON_HEADERS, ...headers, 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Endpoints that change state: they need the admin token (or, without one, a loopback caller). */
const STATE_CHANGING = new Set(['/force-primary']);

/** The path of a request's URL, or undefined when it is not a valid origin-form path (`//`, `http://x/`). */
export function requestPath(url: string | undefined): string | undefined {
  if (url === undefined || !url.startsWith('/') || url.startsWith('//')) return undefined;
  try {
    return new URL(url, 'http://admin').pathname;
  } catch {
    return undefined;
  }
}

function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  return a === '::1' || /^127\./.test(a);
}

/** The host of a Host header value (`name:port`, `[v6]:port`), lower-cased, without brackets. */
function hostOf(value: string): string {
  const v = value.trim().toLowerCase();
  if (v.startsWith('[')) return v.slice(1, Math.max(1, v.indexOf(']')));
  const colon = v.lastIndexOf(':');
  return colon >= 0 && v.indexOf(':') === colon ? v.slice(0, colon) : v;
}

/** Constant-time comparison of a presented token with the configured one. */
export function tokenMatches(presented: string, expected: string): boolean {
  // Hash both: timingSafeEqual needs equal lengths, and the length must not leak either.
  const a = createHash('sha256').update(presented, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/** Why the request is refused before it reaches an endpoint, or undefined to serve it. */
function refuse(req: IncomingMessage, allowedHosts: ReadonlySet<string>, options: AdminServerOptions): { status: number; message: string } | undefined {
  const path = requestPath(req.url);
  if (path === undefined) return { status: 400, message: 'bad request: malformed URL' };
  // DNS rebinding: a page of evil.example resolving to 127.0.0.1 sends Host: evil.example.
  const hostHeader = req.headers.host;
  if (hostHeader === undefined) return { status: 400, message: 'bad request: no Host header' };
  const host = hostOf(hostHeader);
  if (!(isIP(host) !== 0 || host === 'localhost' || allowedHosts.has(host))) return { status: 403, message: `forbidden: Host ${hostHeader.slice(0, 100)} is not this daemon` };
  if (!STATE_CHANGING.has(path) || req.method === 'GET' || req.method === 'HEAD') return undefined;
  // A browser page of another origin may POST without a preflight: refuse what it sends.
  const origin = req.headers.origin;
  if (origin !== undefined) {
    let originHost: string | undefined;
    try {
      originHost = new URL(origin).host.toLowerCase();
    } catch {
      originHost = undefined;
    }
    if (originHost !== hostHeader.trim().toLowerCase()) return { status: 403, message: 'forbidden: cross-origin request' };
  }
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return { status: 403, message: 'forbidden: cross-site request' };
  if (options.token === undefined) {
    if (!isLoopback(req.socket.remoteAddress)) return { status: 403, message: 'forbidden: start the daemon with --admin-token to allow this from another host' };
    return undefined;
  }
  const auth = req.headers.authorization ?? '';
  const match = /^Bearer +(\S+)\s*$/i.exec(auth);
  if (match === null || !tokenMatches(match[1]!, options.token)) return { status: 401, message: 'unauthorized: this endpoint needs Authorization: Bearer <admin token>' };
  return undefined;
}

function handle(req: IncomingMessage, res: ServerResponse, options: AdminServerOptions): void {
  const path = requestPath(req.url) ?? '/';
  if (req.method === 'POST' && path === '/force-primary' && options.forcePrimary) {
    options.forcePrimary().then(
      (answer) => {
        const body = `${answer.message}\n`;
        res.writeHead(answer.ok ? 200 : 409, { ...COMMON_HEADERS, 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      },
      (err: unknown) => {
        const body = `force-primary failed: ${err instanceof Error ? err.message : String(err)}\n`;
        res.writeHead(500, { ...COMMON_HEADERS, 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      },
    );
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { ...COMMON_HEADERS, allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
    res.end('method not allowed\n');
    return;
  }
  if (path === '/events' && options.events) {
    options.events(req, res, COMMON_HEADERS);
    return;
  }
  if (path === '/metrics') {
    // prom-client collects asynchronously (GC and event-loop figures).
    Promise.resolve(options.metrics()).then(
      (body) => {
        res.writeHead(200, { ...COMMON_HEADERS, 'content-type': METRICS_CONTENT_TYPE, 'content-length': Buffer.byteLength(body) });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: unknown) => {
        res.writeHead(500, { ...COMMON_HEADERS, 'content-type': 'text/plain; charset=utf-8' });
        res.end(`metrics failed: ${err instanceof Error ? err.message : String(err)}\n`);
      },
    );
    return;
  }
  let status = 200;
  let body: string;
  let contentType: string;
  switch (path) {
    case '/healthz':
      // Liveness: answered by the event loop itself, so an answer means the loop runs.
      body = 'ok\n';
      contentType = 'text/plain; charset=utf-8';
      break;
    case '/readyz': {
      // Readiness: in the primary component (a probe takes endpoints out of service on 503).
      const r = options.ready ? options.ready() : { ready: true, reason: 'ready' };
      status = r.ready ? 200 : 503;
      body = `${r.reason.replaceAll('\n', ' ')}\n`;
      contentType = 'text/plain; charset=utf-8';
      break;
    }
    case '/status':
      body = JSON.stringify(options.status(), null, 2) + '\n';
      contentType = 'application/json; charset=utf-8';
      break;
    case '/':
    case '/index.html':
      body = options.page ? options.page() : STATUS_PAGE;
      contentType = 'text/html; charset=utf-8';
      break;
    default:
      res.writeHead(404, { ...COMMON_HEADERS, 'content-type': 'text/plain; charset=utf-8' });
      res.end('not found\n');
      return;
  }
  res.writeHead(status, {
    ...COMMON_HEADERS,
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
