// The admin HTTP server: `GET /status` (JSON), `GET /metrics` (Prometheus text 0.0.4)
// and `GET /` (a self-contained status page that polls /status every second). Read-only:
// it renders what the driver's callbacks return and changes nothing. Operator actions
// (force-primary) are routed by the driver, not here.
//
// Bound to loopback by default (`--admin 127.0.0.1:7600`): it is unauthenticated.

import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { parseHostPort, formatHostPort } from './config.js';
import { CONTENT_TYPE as METRICS_CONTENT_TYPE } from './metrics.js';
import type { Logger } from './logger.js';
import { listenOn } from './listen.js';

export interface AdminServerOptions {
  /** `host:port`; port 0 picks a free port. */
  readonly listen: string;
  readonly logger: Logger;
  /** The body of GET /status (serialised as JSON). */
  readonly status: () => unknown;
  /** The body of GET /metrics (Prometheus text). */
  readonly metrics: () => string;
  /** The body of GET / (default: the built-in status page). */
  readonly page?: () => string;
  /** POST /force-primary (operator): declare this daemon's side the primary component. */
  readonly forcePrimary?: () => Promise<{ ok: boolean; message: string }>;
}

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

  const server = createServer((req, res) => {
    try {
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
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;

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

function handle(req: IncomingMessage, res: ServerResponse, options: AdminServerOptions): void {
  const path = new URL(req.url ?? '/', 'http://admin').pathname;
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
  let body: string;
  let contentType: string;
  switch (path) {
    case '/status':
      body = JSON.stringify(options.status(), null, 2) + '\n';
      contentType = 'application/json; charset=utf-8';
      break;
    case '/metrics':
      body = options.metrics();
      contentType = METRICS_CONTENT_TYPE;
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
  res.writeHead(200, {
    ...COMMON_HEADERS,
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

// The built-in status page. Self-contained (no external script or style), and it builds
// the DOM with textContent only: names in the status come from clients and must not be
// interpreted as HTML. It renders whatever `daemonView`, `groups` and `viewChanges` the
// status holds, so it keeps working while the status object grows.
export const STATUS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>chorusd status</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d2330; background: #fafbfc; }
  h1 { font-size: 1.3rem; margin: 0 0 .2rem; }
  h2 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; border-bottom: 1px solid #dde; padding-bottom: .2rem; }
  .muted { color: #667; }
  .err { color: #b00020; }
  table { border-collapse: collapse; background: #fff; }
  th, td { border: 1px solid #dde; padding: .25rem .6rem; text-align: left; vertical-align: top; }
  th { background: #f0f2f7; }
  code, pre { font: 12px/1.4 ui-monospace, monospace; }
  .pill { display: inline-block; padding: 0 .45rem; margin: 0 .2rem .2rem 0; border-radius: .7rem; background: #e6ecf7; }
  .coord { background: #ffe9b3; font-weight: 600; }
  ol.timeline { list-style: none; padding: 0; margin: 0; }
  ol.timeline li { border-left: 3px solid #8aa4d6; padding: .2rem .6rem; margin-bottom: .3rem; background: #fff; }
  details { margin-top: 1.4rem; }
</style>
</head>
<body>
<h1 id="title">chorusd</h1>
<div class="muted" id="updated">loading…</div>
<h2>Daemon view</h2>
<div id="daemon-view"></div>
<h2>Groups</h2>
<div id="groups"></div>
<h2>View changes</h2>
<div id="view-changes"></div>
<details><summary>Raw status</summary><pre id="raw"></pre></details>
<script>
(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    for (const child of children) {
      if (child === undefined || child === null) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  };
  const label = (value) => {
    if (value === null || value === undefined) return '';
    if (typeof value !== 'object') return String(value);
    if (typeof value.key === 'string') return value.key;
    if (typeof value.name === 'string') return value.incarnation ? value.name + '#' + value.incarnation : value.name;
    if (value.id && typeof value.id === 'object') return label(value.id);
    if (typeof value.client === 'string') return value.client;
    return JSON.stringify(value);
  };
  const pills = (items, highlight) => {
    const span = el('span');
    for (const item of Array.isArray(items) ? items : []) {
      const text = label(item);
      span.append(el('span', { class: 'pill' + (highlight && text === highlight ? ' coord' : '') }, text));
    }
    return span;
  };
  const cell = (value) => {
    if (Array.isArray(value)) return pills(value);
    if (value !== null && typeof value === 'object') return el('code', {}, JSON.stringify(value));
    return value === undefined ? '' : String(value);
  };
  // A table with one row per object; columns are the union of their keys.
  const table = (rows) => {
    if (!Array.isArray(rows) || rows.length === 0) return el('div', { class: 'muted' }, 'none');
    const objects = rows.map((r) => (r !== null && typeof r === 'object' && !Array.isArray(r) ? r : { value: r }));
    const columns = [...new Set(objects.flatMap((o) => Object.keys(o)))];
    return el('table', {},
      el('thead', {}, el('tr', {}, ...columns.map((c) => el('th', {}, c)))),
      el('tbody', {}, ...objects.map((o) => el('tr', {}, ...columns.map((c) => el('td', {}, cell(o[c])))))));
  };
  const renderDaemonView = (view) => {
    if (!view || typeof view !== 'object') return el('div', { class: 'muted' }, 'no daemon view');
    const coordinator = label(view.coordinator);
    const div = el('div');
    const facts = Object.entries(view).filter(([k, v]) => k !== 'members' && k !== 'coordinator' && (v === null || typeof v !== 'object'));
    if (coordinator) facts.push(['coordinator', coordinator]);
    div.append(el('div', {}, ...facts.map(([k, v]) => el('span', { class: 'pill' }, k + ': ' + v))));
    if (Array.isArray(view.members)) {
      div.append(view.members.some((m) => m && typeof m === 'object') ? table(view.members) : pills(view.members, coordinator));
    }
    return div;
  };
  const renderTimeline = (changes) => {
    if (!Array.isArray(changes) || changes.length === 0) return el('div', { class: 'muted' }, 'none yet');
    const list = el('ol', { class: 'timeline' });
    for (const change of changes.slice().reverse()) {
      if (change === null || typeof change !== 'object') { list.append(el('li', {}, String(change))); continue; }
      const when = change.time ?? change.at ?? change.timeMs;
      const item = el('li', {});
      if (when !== undefined) item.append(el('span', { class: 'muted' }, new Date(when).toLocaleTimeString() + ' '));
      for (const [k, v] of Object.entries(change)) {
        if (k === 'time' || k === 'at' || k === 'timeMs') continue;
        item.append(el('b', {}, k + ': '), Array.isArray(v) ? pills(v) : cell(v), ' ');
      }
      list.append(item);
    }
    return list;
  };
  const replace = (id, node) => { const target = $(id); target.replaceChildren(node); };
  const refresh = async () => {
    try {
      const res = await fetch('/status', { cache: 'no-store' });
      if (!res.ok) throw new Error('HTTP ' + res.status);
      const status = await res.json();
      const name = label(status.name ?? status.daemon ?? status.self);
      if (name) { $('title').textContent = 'chorusd ' + name; document.title = 'chorusd ' + name; }
      replace('daemon-view', renderDaemonView(status.daemonView));
      replace('groups', table(status.groups));
      replace('view-changes', renderTimeline(status.viewChanges));
      $('raw').textContent = JSON.stringify(status, null, 2);
      $('updated').className = 'muted';
      $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
    } catch (err) {
      $('updated').className = 'err';
      $('updated').textContent = 'cannot reach the daemon: ' + err.message;
    }
  };
  refresh();
  setInterval(refresh, 1000);
})();
</script>
</body>
</html>
`;
