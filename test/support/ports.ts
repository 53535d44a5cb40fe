import type { Server } from 'node:net';
import net from 'node:net';

/**
 * A TCP port on 127.0.0.1 that was free a moment ago: listen on port 0, read the port the kernel
 * chose, close. Another process can take it before the caller binds, so bind soon after.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`freePort: unexpected server address ${String(address)}`));
        return;
      }
      server.close((err) => (err ? reject(err) : resolve(address.port)));
    });
  });
}

/** Starts `server` on 127.0.0.1 at a port the kernel picks; resolves to `127.0.0.1:PORT`. */
export async function listenOnLoopback(server: Server): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string')
    throw new Error(`unexpected server address ${String(address)}`);
  return `127.0.0.1:${address.port}`;
}
