// TLS settings (issue 10, must-have 6): --tls-cert, --tls-key, --tls-ca.
//
// Peer port: mutual TLS. Both ends present their certificate and verify the other's
// against the CA (requestCert + rejectUnauthorized on the listener, rejectUnauthorized
// on the dialer). Any holder of a certificate the CA signed is a cluster daemon: use a
// CA of its own for the cluster. Host names are not checked (daemons dial addresses,
// often IPs, that certificates rarely list): the CA is the trust anchor.
// Client gateway: `wss://` with the same certificate; clients authenticate with
// --client-token, and verify the daemon against the CA (SDK option `ca`).

import type { ConnectionOptions, SecureContextOptions, TlsOptions } from 'node:tls';

/** PEM contents of the three files (read and checked by config.ts). */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer;
  /** The paths they came from, for logs. */
  readonly files: { readonly cert: string; readonly key: string; readonly ca: string };
}

const MIN_VERSION = 'TLSv1.2';

function context(tls: TlsMaterial): SecureContextOptions {
  return { cert: tls.cert, key: tls.key, ca: tls.ca, minVersion: MIN_VERSION };
}

/** Peer listener: a client certificate from the CA is required. */
export function peerServerOptions(tls: TlsMaterial): TlsOptions {
  // A TLS handshake gets as long as a hello (Node's default is 120 s): a stranger cannot
  // hold connections open for minutes before the handshaking cap even sees them.
  return { ...context(tls), requestCert: true, rejectUnauthorized: true, handshakeTimeout: 5_000 };
}

/** Peer dialer: presents its certificate, verifies the acceptor's against the CA. */
export function peerClientOptions(tls: TlsMaterial): ConnectionOptions {
  return { ...context(tls), rejectUnauthorized: true, checkServerIdentity: () => undefined };
}

/** Client gateway (`wss://`): server authentication only. */
export function gatewayServerOptions(tls: TlsMaterial): TlsOptions {
  return { cert: tls.cert, key: tls.key, minVersion: MIN_VERSION };
}

/** Error codes of a TLS handshake that failed on certificates or protocol (not the network). */
export function isTlsFailure(err: NodeJS.ErrnoException): boolean {
  const code = err.code ?? '';
  return /SSL|TLS|CERT|VERIFY|SELF_SIGNED|UNABLE_TO/.test(code);
}
