// A tiny HTTP front for one replica:
//   GET    /kv/:key   the value (text/plain), 404 if absent — read locally
//   PUT    /kv/:key   body = value; answers once the command was applied here
//   DELETE /kv/:key   answers once applied here; {"existed": bool}
//   GET    /kv        the whole map as JSON, with its size and digest
//   GET    /health    the replica's status (200 when it serves, 503 while it joins)
// While the replica is not a member (starting, rejoining) every /kv route answers 503.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ChorusError } from '../../client-sdk/index.js';
import { ReplicaError, type KvReplica } from './kv-replica.js';

/** Largest value a PUT accepts. */
const VALUE_BYTES_MAX = 1024 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export interface HttpFront {
  readonly server: Server;
  /** host:port actually bound. */
  readonly address: string;
  close(): Promise<void>;
}

export async function startHttpFront(replica: KvReplica, host: string, port: number): Promise<HttpFront> {
  const server = createServer((req, res) => {
    handle(replica, req, res).catch((err: unknown) => fail(res, err));
  });
  // Idle keep-alive sockets must not hold close() up.
  server.keepAliveTimeout = 1_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const address = bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;
  return {
    server,
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

async function handle(replica: KvReplica, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const path = url.pathname;
  if (path === '/health') {
    if (req.method !== 'GET') throw new HttpError(405, 'ERR_METHOD', 'use GET');
    const info = replica.info();
    json(res, info.status === 'ready' ? 200 : 503, info);
    return;
  }
  if (path === '/kv' || path === '/kv/') {
    if (req.method !== 'GET') throw new HttpError(405, 'ERR_METHOD', 'use GET');
    const entries = replica.entries();
    json(res, 200, { size: entries.length, digest: replica.digest(), entries: Object.fromEntries(entries) });
    return;
  }
  if (!path.startsWith('/kv/')) throw new HttpError(404, 'ERR_NOT_FOUND', `no route ${path}`);
  let key: string;
  try {
    key = decodeURIComponent(path.slice('/kv/'.length));
  } catch {
    throw new HttpError(400, 'ERR_BAD_KEY', 'the key is not valid percent-encoding');
  }
  if (key === '') throw new HttpError(400, 'ERR_BAD_KEY', 'empty key');
  switch (req.method) {
    case 'GET': {
      const value = replica.get(key);
      if (value === undefined) throw new HttpError(404, 'ERR_NO_KEY', `no key ${JSON.stringify(key)}`);
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(value);
      return;
    }
    case 'PUT': {
      const value = await readBody(req);
      await replica.set(key, value);
      json(res, 200, { ok: true });
      return;
    }
    case 'DELETE': {
      const { existed } = await replica.delete(key);
      json(res, 200, { ok: true, existed });
      return;
    }
    default:
      throw new HttpError(405, 'ERR_METHOD', 'use GET, PUT or DELETE');
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  let length = 0;
  for await (const part of req as AsyncIterable<Buffer>) {
    length += part.length;
    if (length > VALUE_BYTES_MAX) throw new HttpError(413, 'ERR_TOO_LARGE', `values are at most ${VALUE_BYTES_MAX} bytes`);
    parts.push(part);
  }
  return Buffer.concat(parts).toString('utf8');
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(`${JSON.stringify(body)}\n`);
}

function fail(res: ServerResponse, err: unknown): void {
  let status = 500;
  let code = 'ERR_INTERNAL';
  if (err instanceof HttpError) {
    status = err.status;
    code = err.code;
  } else if (err instanceof ReplicaError) {
    // Not a member right now (joining, rejoining after an expulsion): try again, or another replica.
    status = 503;
    code = err.code;
  } else if (err instanceof ChorusError) {
    // The group refused the write or the daemon is gone: the write may not have happened.
    status = err.code === 'ERR_MESSAGE_TOO_LARGE' ? 413 : 503;
    code = err.code;
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  json(res, status, { error: code, message: err instanceof Error ? err.message : String(err) });
}
