// The SDK's only IO: one WebSocket to the local daemon, carrying binary frames.
//
// Browser-safe by construction: no static Node import. The browser (and Node >= 22)
// provide `globalThis.WebSocket`; on Node 20 the `ws` package is loaded with a dynamic
// import, which a browser bundler maps to ws's browser stub and never runs.

import { ConnectionError } from '../src/errors.js';
import type { ConnectOptions, WebSocketConstructor, WebSocketLike } from './types.js';

type TlsCa = NonNullable<ConnectOptions['ca']>;

/** What the session needs from a connection: a narrow seam, easy to fake. */
export interface Transport {
  send(frame: Uint8Array): void;
  /** Bytes queued in the socket, not yet handed to the network. */
  readonly bufferedAmount: number;
  close(code: number, reason: string): void;
}

export interface TransportHandlers {
  /** One binary frame from the daemon. */
  frame(bytes: Uint8Array): void;
  /** The socket closed (after `open` succeeded). `err` is the socket error, if any. */
  closed(info: { code: number; reason: string; err?: Error }): void;
}

// WebSocket readyState values (the same in the DOM and in `ws`).
const OPEN = 1;

async function resolveConstructor(
  override: WebSocketConstructor | undefined,
  needsOptions: boolean,
): Promise<{ ctor: WebSocketConstructor; nodeBuffers: boolean }> {
  if (override) return { ctor: override, nodeBuffers: false };
  // The DOM WebSocket takes no TLS options: a custom CA needs `ws`.
  const global = needsOptions ? undefined : (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (global) return { ctor: global, nodeBuffers: false };
  const ws = await import('ws');
  // `ws` delivers Buffers by default: copy-free, and protobufjs decodes strings from a
  // Buffer with Node's native UTF-8 decoder. Keep that rather than ask for ArrayBuffers.
  return { ctor: ws.default, nodeBuffers: true };
}

/**
 * Opens a WebSocket to `url` and resolves once it is open. Rejects with
 * ConnectionError('ERR_CONNECT') when the socket cannot be opened. `handlers` receive
 * the frames and the close that follow.
 */
export async function openTransport(
  url: string,
  handlers: TransportHandlers,
  options: { WebSocket?: WebSocketConstructor; signal?: AbortSignal; ca?: TlsCa } = {},
): Promise<Transport> {
  const { ctor, nodeBuffers } = await resolveConstructor(options.WebSocket, options.ca !== undefined);
  const { signal } = options;
  if (signal?.aborted) throw abortError(url, signal);
  let socket: WebSocketLike;
  try {
    // `ws` (Node) takes TLS options as its third argument (after the protocols).
    socket =
      options.ca === undefined
        ? new ctor(url)
        : new (ctor as unknown as new (url: string, protocols: undefined, opts: { ca: TlsCa }) => WebSocketLike)(
            url,
            undefined,
            { ca: options.ca },
          );
  } catch (err) {
    // Invalid URLs throw synchronously (SyntaxError in browsers, in `ws` too).
    throw new ConnectionError('ERR_CONNECT', `cannot connect to ${url}: ${describe(err)}`, { cause: err });
  }
  if (!nodeBuffers) socket.binaryType = 'arraybuffer';

  let lastError: Error | undefined;
  socket.onerror = (event: unknown) => {
    lastError = errorOf(event);
  };

  await new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      socket.onopen = socket.onclose = null;
      socket.close();
      reject(abortError(url, signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.onopen = () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    };
    socket.onclose = (event) => {
      signal?.removeEventListener('abort', onAbort);
      const why = lastError ? describe(lastError) : `closed with code ${event.code}`;
      reject(new ConnectionError('ERR_CONNECT', `cannot connect to ${url}: ${why}`, { cause: lastError }));
    };
  });

  socket.onmessage = (event) => {
    const bytes = bytesOf(event.data);
    // Text frames are not part of the protocol. Passing bytes the decoder refuses (not
    // dropping the frame) makes the session close the connection with a typed error.
    handlers.frame(bytes ?? INVALID_FRAME);
  };
  socket.onclose = (event) => {
    handlers.closed({ code: event.code, reason: event.reason, err: lastError });
  };

  return {
    send(frame) {
      // Sending on a closing socket throws in browsers; the close handler reports the end.
      if (socket.readyState === OPEN) socket.send(frame);
    },
    get bufferedAmount() {
      return socket.bufferedAmount;
    },
    close(code, reason) {
      socket.close(code, reason);
    },
  };
}

// A lone 0xff byte: field 31, wire type 7, which no protobuf decoder accepts.
const INVALID_FRAME = new Uint8Array([0xff]);

function bytesOf(data: unknown): Uint8Array | undefined {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  // Buffer (ws with nodeBuffers) or any other view: use it as it is, without copying.
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  // ws with binaryType 'fragments' (a caller-provided constructor may default to it).
  if (Array.isArray(data) && data.every((part) => part instanceof Uint8Array)) return concat(data as Uint8Array[]);
  return undefined;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.byteLength;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/** The Error behind an `error` event: `ws` attaches it, browsers give no detail. */
function errorOf(event: unknown): Error {
  const error = (event as { error?: unknown } | null)?.error;
  if (error instanceof Error) return error;
  const message = (event as { message?: unknown } | null)?.message;
  return new Error(typeof message === 'string' && message ? message : 'WebSocket error');
}

function abortError(url: string, signal: AbortSignal): ConnectionError {
  const reason: unknown = signal.reason;
  return new ConnectionError('ERR_CONNECT', `cannot connect to ${url}: ${describe(reason)}`, { cause: reason });
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
