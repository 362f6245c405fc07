// Free loopback TCP ports, chosen by the kernel.
import { createServer } from 'node:net';

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

/**
 * Several distinct free ports (held open together so the kernel cannot hand out one twice), none of
 * them in `avoid` (ports chosen earlier but not yet bound, e.g. the webhook port named at install).
 */
export async function freePorts(n: number, host = '127.0.0.1', avoid: readonly number[] = []): Promise<number[]> {
  const held: import('node:net').Server[] = [];
  const ports: number[] = [];
  while (ports.length < n) {
    const srv = await new Promise<import('node:net').Server>((resolve, reject) => {
      const s = createServer();
      s.on('error', reject);
      s.listen(0, host, () => resolve(s));
    });
    held.push(srv);
    const a = srv.address();
    const port = typeof a === 'object' && a ? a.port : 0;
    if (port && !avoid.includes(port)) ports.push(port);
  }
  await Promise.all(held.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}
