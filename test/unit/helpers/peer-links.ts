// PeerLinks on loopback for the peer-link tests, with the links, raw sockets and servers a test opens closed after it (three test files each had a copy).
import { connect, type Server, type Socket } from 'node:net';

import { afterEach } from 'vitest';

import { PeerLinks, peerKeyOf } from '../../../daemon/peer-links.js';
import { parseHostPort } from '../../../daemon/config.js';
import { DEFAULT_MAX_FRAME_BYTES } from '../../../src/wire/index.js';
import { capture, type Captured } from './log-capture.js';

export interface TestLinks {
  links: PeerLinks;
  /** Its peer key (`name#incarnation`). */
  key: string;
  /** The address it listens on. */
  address: string;
  log: Captured;
}

export interface LinksOptions {
  cluster?: string;
  incarnation?: string;
  maxFrameBytes?: number;
  secret?: string;
  secrets?: string[];
}

/**
 * Call at the top of a test file: registers an afterEach that destroys every socket in
 * `sockets`, closes every server in `servers` and closes every PeerLinks in `open`
 * (which `makeLinks` fills).
 */
export function usePeerLinks(): {
  open: PeerLinks[];
  sockets: Socket[];
  servers: Server[];
  makeLinks(name: string, options?: LinksOptions): Promise<TestLinks>;
  rawConnect(address: string): Promise<Socket>;
} {
  const open: PeerLinks[] = [];
  const sockets: Socket[] = [];
  const servers: Server[] = [];

  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    for (const s of servers.splice(0)) s.close();
    await Promise.all(open.splice(0).map((l) => l.close()));
  });

  /** A listening PeerLinks named `name` (cluster 'test', incarnation '1') logging into `log`. */
  async function makeLinks(name: string, options: LinksOptions = {}): Promise<TestLinks> {
    const log = capture(name);
    const self = { name, incarnation: options.incarnation ?? '1' };
    const links = new PeerLinks({
      cluster: options.cluster ?? 'test',
      self,
      listen: '127.0.0.1:0',
      maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
      ...(options.secret !== undefined ? { secret: options.secret } : {}),
      ...(options.secrets !== undefined ? { secrets: options.secrets } : {}),
      logger: log.logger,
    });
    open.push(links);
    const address = await links.listen();
    return { links, key: peerKeyOf(self), address, log };
  }

  /** A plain TCP connection to `address` (a test playing a peer by hand), once connected. */
  function rawConnect(address: string): Promise<Socket> {
    const { host, port } = parseHostPort(address);
    return new Promise((resolve, reject) => {
      const s = connect({ host, port }, () => resolve(s));
      s.once('error', reject);
      sockets.push(s);
    });
  }

  return { open, sockets, servers, makeLinks, rawConnect };
}
