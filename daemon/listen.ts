// Bind a node server and wait for it: the listen error (EADDRINUSE, EACCES...) rejects
// instead of surfacing later as an 'error' event.
import type { Server } from 'node:net';

export function listenOn(server: Server, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** The ports chorusd listens on, each named by the flag that sets it. */
export const PORT_FLAGS = { peer: 'listen', client: 'client', admin: 'admin' } as const;
export type PortRole = keyof typeof PORT_FLAGS;

/**
 * A port chorusd could not bind. chorusd prints it as one line, e.g.
 * `chorusd: ERR_LISTEN port 7400 (client) is already in use: …`, and exits 1 — before it
 * joined or founded anything (issue 15). A daemon-only code: not a ChorusErrorCode.
 */
export class ListenError extends Error {
  readonly code = 'ERR_LISTEN';
  constructor(
    readonly role: PortRole,
    readonly address: string,
    options: { cause: unknown },
  ) {
    super(describeListenFailure(role, address, options.cause), options);
    this.name = 'ListenError';
  }
}

/** Runs `bind`, turning its failure into a ListenError that says which port and what to do. */
export async function bindPort<T>(role: PortRole, address: string, bind: () => Promise<T>): Promise<T> {
  try {
    return await bind();
  } catch (err) {
    throw new ListenError(role, address, { cause: err });
  }
}

function describeListenFailure(role: PortRole, address: string, cause: unknown): string {
  const flag = `--${PORT_FLAGS[role]}`;
  const { host, port } = splitAddress(address);
  const code = typeof cause === 'object' && cause !== null && 'code' in cause ? String(cause.code) : undefined;
  switch (code) {
    case 'EADDRINUSE':
      return `port ${port} (${role}) is already in use: another chorusd or another program listens on ${address} (choose another with ${flag} HOST:PORT, or port 0 for any free port)`;
    case 'EACCES':
      return `port ${port} (${role}) needs privileges this process lacks (ports below 1024 usually do): choose another with ${flag} HOST:PORT`;
    case 'EADDRNOTAVAIL':
      return `address ${host} (${role}) is not an address of this machine: choose another with ${flag} HOST:PORT`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host ${host} (${role}) does not resolve: fix ${flag} HOST:PORT`;
    default: {
      const reason = cause instanceof Error ? cause.message : String(cause);
      return `cannot listen on ${address} (${role}): ${reason}`;
    }
  }
}

/** `host:port` / `[v6]:port` → its parts, for messages only (the config validated it). */
function splitAddress(address: string): { host: string; port: string } {
  const colon = address.lastIndexOf(':');
  if (colon < 0) return { host: address, port: '?' };
  const host = address.slice(0, colon);
  return { host: host.startsWith('[') ? host.slice(1, -1) : host, port: address.slice(colon + 1) };
}
