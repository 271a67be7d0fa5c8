// Scripted fake daemons and the SDK clients connected to them, closed after each test (sdk.test.ts and sdk-state-transfer.test.ts each had a copy).
import type { AddressInfo } from 'node:net';

import { afterEach } from 'vitest';
import { WebSocketServer } from 'ws';

import { connect, type Client, type ConnectOptions } from '../../../client-sdk/index.js';

/** What the helper needs of a test file's fake daemon. */
export interface StoppableDaemon {
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * Call at the top of a test file, after the fake daemon class: registers an afterEach
 * that closes every client in `clients`, then stops every daemon in `daemons`.
 * `setup` starts a daemon, lets `configure` script it, and connects a client with
 * `connectOptions`.
 */
export function useFakeDaemons<D extends StoppableDaemon>(
  startDaemon: () => Promise<D>,
  connectOptions: Omit<ConnectOptions, 'url'>,
): {
  daemons: D[];
  clients: Client[];
  setup(configure?: (daemon: D) => void): Promise<{ daemon: D; client: Client }>;
} {
  const daemons: D[] = [];
  const clients: Client[] = [];

  afterEach(async () => {
    for (const client of clients.splice(0)) await client.close();
    for (const daemon of daemons.splice(0)) await daemon.stop();
  });

  async function setup(configure?: (daemon: D) => void): Promise<{ daemon: D; client: Client }> {
    const daemon = await startDaemon();
    daemons.push(daemon);
    configure?.(daemon);
    const client = await connect({ url: daemon.url, ...connectOptions });
    clients.push(client);
    return { daemon, client };
  }

  return { daemons, clients, setup };
}

/** A WebSocketServer on a free loopback port, once it listens (what a fake daemon serves on). */
export async function listenWs(): Promise<WebSocketServer> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', resolve));
  return server;
}

/** The `ws://` url of a server from `listenWs`. */
export function wsUrl(server: WebSocketServer): string {
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Terminates the server's connections, then closes it. */
export async function stopWs(server: WebSocketServer): Promise<void> {
  for (const client of server.clients) client.terminate();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
