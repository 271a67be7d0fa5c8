// A throwaway CA and certificates for TLS tests, made at run time: keys by node:crypto
// (native, fast), certificates signed by node-forge (node:crypto cannot sign X.509).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import forge from 'node-forge';

export interface Issued {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface TestCa extends Issued {
  /** A certificate for `name`, valid for client and server use on 127.0.0.1 / localhost. */
  issue(name: string): Issued;
}

function keyPair(): { publicKey: forge.pki.PublicKey; privateKey: forge.pki.PrivateKey; keyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return {
    publicKey: forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString()),
    privateKey: forge.pki.privateKeyFromPem(keyPem),
    keyPem,
  };
}

function certificate(
  subject: string,
  publicKey: forge.pki.PublicKey,
  issuer: forge.pki.Certificate | undefined,
  signingKey: forge.pki.PrivateKey,
  extensions: object[],
): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = `01${randomBytes(8).toString('hex')}`;
  cert.validity.notBefore = new Date(Date.now() - 3_600_000);
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  const attrs = [{ name: 'commonName', value: subject }];
  cert.setSubject(attrs);
  cert.setIssuer(issuer ? issuer.subject.attributes : attrs);
  cert.setExtensions(extensions);
  cert.sign(signingKey as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return cert;
}

export function makeCa(name: string): TestCa {
  const ca = keyPair();
  const caCert = certificate(name, ca.publicKey, undefined, ca.privateKey, [
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
  ]);
  return {
    certPem: forge.pki.certificateToPem(caCert),
    keyPem: ca.keyPem,
    issue(subject: string): Issued {
      const leaf = keyPair();
      const cert = certificate(subject, leaf.publicKey, caCert, ca.privateKey, [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
        { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
        { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
      ]);
      return { certPem: forge.pki.certificateToPem(cert), keyPem: leaf.keyPem };
    },
  };
}

/** Writes `files` (name → contents) to a fresh temporary directory; returns name → path. */
export function writeTemp(files: Record<string, string>): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'chorus-tls-'));
  const paths: Record<string, string> = {};
  for (const [name, text] of Object.entries(files)) {
    paths[name] = join(dir, name);
    writeFileSync(paths[name], text, { mode: 0o600 });
  }
  return paths;
}
