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
