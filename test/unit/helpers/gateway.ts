// A real ClientGateway on loopback and raw `ws` clients for the gateway tests, closed after each test (three test files each had a copy).
import { afterEach } from 'vitest';
import { WebSocket } from 'ws';

import { ClientGateway, type ClientGatewayOptions } from '../../../daemon/client-gateway.js';
import { capture } from './log-capture.js';

/** What a test chooses; the rest is fixed: port 0, daemon 'd1', client ids `name@d1.<n>`. */
export type GatewayOptions = Omit<ClientGatewayOptions, 'listen' | 'daemonName' | 'makeClientId' | 'logger'>;

export interface TestGateway {
  gateway: ClientGateway;
  /** `ws://host:port` it listens on. */
  url: string;
  /** Its log, as parsed JSON lines. */
  lines: Record<string, unknown>[];
}

export interface OpenSocket {
  ws: WebSocket;
  /** The close code, once closed. */
  closed: Promise<number>;
  /** The close code and reason, once closed. */
  closedWith: Promise<{ code: number; reason: string }>;
}

/**
 * Call at the top of a test file: registers an afterEach that terminates every socket
 * `openSocket` opened and closes every gateway `startGateway` started.
 */
export function useGateways(): {
  startGateway(options: GatewayOptions): Promise<TestGateway>;
  openSocket(url: string, onMessage?: (data: Buffer) => void): Promise<OpenSocket>;
} {
  const gateways: ClientGateway[] = [];
  const sockets: WebSocket[] = [];

  afterEach(async () => {
    for (const ws of sockets.splice(0)) ws.terminate();
    await Promise.all(gateways.splice(0).map((g) => g.close()));
  });

  /** A listening gateway named 'd1' that logs at debug into `lines`. */
  async function startGateway(options: GatewayOptions): Promise<TestGateway> {
    const { logger, lines } = capture('d1');
    let seq = 0;
    const gateway = new ClientGateway({
      listen: '127.0.0.1:0',
      ...options,
      daemonName: 'd1',
      makeClientId: (name) => `${name}@d1.${++seq}`,
      logger,
    });
    gateways.push(gateway);
    const address = await gateway.listen();
    return { gateway, url: `ws://${address}`, lines };
  }

  /** A WebSocket to `url`, once open; `onMessage` sees every message from the start. */
  async function openSocket(url: string, onMessage?: (data: Buffer) => void): Promise<OpenSocket> {
    const ws = new WebSocket(url);
    sockets.push(ws);
    if (onMessage) ws.on('message', (data) => onMessage(data as Buffer));
    const closedWith = new Promise<{ code: number; reason: string }>((resolve) =>
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    ws.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return { ws, closed: closedWith.then(({ code }) => code), closedWith };
  }

  return { startGateway, openSocket };
}
