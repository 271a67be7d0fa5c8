// TLS material for the bench's second cluster (`chorus bench --tls`): the operator's own
// files (--tls-cert/--tls-key/--tls-ca, as chorusd takes them), or a throwaway CA and one
// certificate for 127.0.0.1 made at run time with the system's `openssl` (no dependency:
// node:crypto cannot sign X.509, and the bench ships in the package).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Paths as chorusd takes them, and the CA's PEM for the clients (`connect({ ca })`). */
export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
  readonly caPem: string;
  /** Where the files came from, for the report header. */
  readonly origin: string;
}

/** The operator's files: all three must exist. */
export function tlsFromFiles(cert: string, key: string, ca: string): TlsFiles {
  for (const [flag, path] of [['--tls-cert', cert], ['--tls-key', key], ['--tls-ca', ca]] as const) {
    if (!existsSync(path)) throw new Error(`${flag} ${path}: no such file`);
  }
  return { cert, key, ca, caPem: readFileSync(ca, 'utf8'), origin: `certificates from ${cert}` };
}

/** A throwaway CA and a node certificate (serverAuth + clientAuth, SAN 127.0.0.1/localhost), valid one day. */
export function throwawayTls(): TlsFiles {
  const dir = mkdtempSync(join(tmpdir(), 'chorus-bench-tls-'));
  const path = (name: string) => join(dir, name);
  const openssl = (args: string[]) => {
    try {
      execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
      if (e.code === 'ENOENT') throw new Error('--tls needs the openssl command to make a throwaway CA (or give --tls-cert, --tls-key and --tls-ca)');
      throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString().trim() ?? e.message}`);
    }
  };
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=chorus bench CA']);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'node.key', '-out', 'node.csr', '-subj', '/CN=chorus bench node']);
  writeFileSync(
    path('node.ext'),
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n',
  );
  openssl(['x509', '-req', '-in', 'node.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'node.pem', '-days', '1', '-extfile', 'node.ext']);
  return { cert: path('node.pem'), key: path('node.key'), ca: path('ca.pem'), caPem: readFileSync(path('ca.pem'), 'utf8'), origin: `a throwaway CA made with openssl in ${dir}` };
}
