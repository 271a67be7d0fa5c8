// StaticFiles: the plain HTTP side of the client gateway's port (README "Use from the
// browser"). A page can load the SDK and itself from the daemon it connects to:
//   - GET /chorus.js: the browser bundle of the SDK (dist/browser/chorus-client.js),
//     always, once `npm run build` has made it;
//   - with --serve-dir DIR: every other path is a file under DIR (`/` and `/sub/` serve
//     index.html); without it, 404.
// WebSocket upgrades never reach this: ws takes them on the server's `upgrade` event.
//
// Safe by construction, since the port may face browsers of any origin:
//   - GET and HEAD only (405 otherwise); URLs of at most MAX_URL_CHARS;
//   - a path is split into segments, each percent-decoded once; a segment that is empty
//     (`//`), starts with a dot (`.`, `..`, `.git`), or decodes to a slash, a backslash
//     or a NUL is refused, so no path leaves DIR by its text;
//   - the file's real path (symlinks resolved) must still lie under DIR's real path, so
//     no path leaves DIR through a link either;
//   - only regular files of at most MAX_FILE_BYTES, streamed (never read whole);
//   - a fixed content type per extension, `X-Content-Type-Options: nosniff`, no directory
//     listings, and no file content or path in the logs beyond debug level.
// The server's own limits (connection cap, 5 s request timeout) bound the connections.

import { createReadStream, existsSync } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { Logger } from './logger.js';

/** The URL path of the SDK bundle. */
export const BUNDLE_PATH = '/chorus.js';
/** Longest request target served (a longer one is 414). */
export const MAX_URL_CHARS = 2048;
/** Largest file served; a larger one is 404 (it is no page asset). */
export const MAX_FILE_BYTES = 16 * 1024 * 1024;
/** Path segments at most (a deeper path is 404). */
const MAX_SEGMENTS = 32;

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.woff2': 'font/woff2',
};
const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

export function contentTypeOf(file: string): string {
  return CONTENT_TYPES[extname(file).toLowerCase()] ?? DEFAULT_CONTENT_TYPE;
}

/**
 * Where the browser bundle is: next to the compiled daemon (dist/daemon → dist/browser),
 * or under dist/ when this module runs from source (tests). Undefined: not built.
 */
export function defaultBrowserBundleFile(): string | undefined {
  const candidates = [
    fileURLToPath(new URL('../browser/chorus-client.js', import.meta.url)),
    fileURLToPath(new URL('../dist/browser/chorus-client.js', import.meta.url)),
  ];
  return candidates.find((file) => existsSync(file));
}

export interface StaticFilesOptions {
  /** Served at BUNDLE_PATH (undefined: 404 there). */
  readonly bundleFile?: string;
  /** Directory served at `/` (undefined: only the bundle is served). */
  readonly root?: string;
  readonly logger: Logger;
}

/** Segments of a request path, percent-decoded, or undefined when one is refused. */
export function pathSegments(target: string): string[] | undefined {
  if (!target.startsWith('/')) return undefined;
  const end = target.search(/[?#]/);
  const path = end < 0 ? target : target.slice(0, end);
  const raw = path.split('/').slice(1);
  // A trailing slash names the directory itself (its index.html).
  const trailing = raw.length > 0 && raw[raw.length - 1] === '';
  if (trailing) raw.pop();
  if (raw.length > MAX_SEGMENTS) return undefined;
  const segments: string[] = [];
  for (const part of raw) {
    let segment: string;
    try {
      segment = decodeURIComponent(part);
    } catch {
      return undefined;
    }
    // eslint-disable-next-line no-control-regex
    if (segment === '' || segment.startsWith('.') || /[/\\\u0000]/.test(segment)) return undefined;
    segments.push(segment);
  }
  return segments;
}

export class StaticFiles {
  private readonly options: StaticFilesOptions;
  private readonly log: Logger;
  /** DIR's real path, resolved once (it is checked to be a directory by the config). */
  private rootReal: Promise<string> | undefined;

  constructor(options: StaticFilesOptions) {
    this.options = options;
    this.log = options.logger.child({ component: 'static-files' });
  }

  /** Answers one plain HTTP request (a `request` listener of the gateway's server). */
  handle(req: IncomingMessage, res: ServerResponse): void {
    this.serve(req, res).catch((err: unknown) => {
      this.log.warn({ code: (err as NodeJS.ErrnoException).code ?? 'ERR_STATIC', reason: String(err) }, 'static file request failed');
      if (!res.headersSent) this.plain(res, 500, 'internal error');
      else res.destroy();
    });
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? '';
    if (method !== 'GET' && method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      this.plain(res, 405, 'method not allowed');
      return;
    }
    const target = req.url ?? '';
    if (target.length > MAX_URL_CHARS) {
      this.plain(res, 414, 'URL too long');
      return;
    }
    const segments = pathSegments(target);
    if (segments === undefined) {
      this.log.debug({ remote: req.socket.remoteAddress }, 'refused static path');
      this.plain(res, 400, 'bad path');
      return;
    }
    const bundle = this.options.bundleFile;
    if (segments.length === 1 && `/${segments[0]}` === BUNDLE_PATH && bundle !== undefined) {
      await this.sendFile(req, res, bundle);
      return;
    }
    const file = await this.resolve(segments, target.split(/[?#]/, 1)[0]!.endsWith('/'));
    if (file === undefined) {
      this.plain(res, 404, this.options.root === undefined ? 'not found (chorusd serves /chorus.js; pages need --serve-dir)' : 'not found');
      return;
    }
    await this.sendFile(req, res, file);
  }

  /** The regular file under the root that `segments` name, or undefined. */
  private async resolve(segments: readonly string[], directory: boolean): Promise<string | undefined> {
    const root = this.options.root;
    if (root === undefined) return undefined;
    this.rootReal ??= realpath(root);
    const rootReal = await this.rootReal;
    let file = join(rootReal, ...segments);
    if (directory || segments.length === 0) file = join(file, 'index.html');
    let real: string;
    try {
      real = await realpath(file);
      // A directory named without its trailing slash: its index.html.
      if ((await stat(real)).isDirectory()) real = await realpath(join(real, 'index.html'));
    } catch {
      return undefined;
    }
    // Keeps the root a jail: a symlink inside it may not lead out of it.
    if (real !== rootReal && !real.startsWith(rootReal + sep)) {
      this.log.warn({ code: 'ERR_STATIC_OUTSIDE' }, 'refused a static path that leads outside --serve-dir');
      return undefined;
    }
    return real;
  }

  private async sendFile(req: IncomingMessage, res: ServerResponse, file: string): Promise<void> {
    let size: number;
    try {
      const st = await stat(file);
      if (!st.isFile() || st.size > MAX_FILE_BYTES) {
        this.plain(res, 404, 'not found');
        return;
      }
      size = st.size;
    } catch {
      this.plain(res, 404, 'not found');
      return;
    }
    res.writeHead(200, {
      'Content-Type': contentTypeOf(file),
      'Content-Length': size,
      'Cache-Control': 'no-cache',
      'X-Content-Type-Options': 'nosniff',
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const stream = createReadStream(file, { end: Math.max(0, size - 1) });
    stream.on('error', () => res.destroy());
    res.on('close', () => stream.destroy());
    if (size === 0) {
      stream.destroy();
      res.end();
      return;
    }
    stream.pipe(res);
  }

  private plain(res: ServerResponse, status: number, text: string): void {
    const body = `${text}\n`;
    res.writeHead(status, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      'X-Content-Type-Options': 'nosniff',
    });
    res.end(body);
  }
}
