// A raw HTTP request to a daemon's admin port, for the admin tests (test/unit/admin-server, test/multi/health-endpoints).
import { request } from 'node:http';

/** A raw HTTP request (fetch would normalise the path and refuse to set Host). */
export function raw(address: string, method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const req = request({ host, port, method, path, headers, setHost: headers.host === undefined }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
