// etcd for the test control plane: single member on loopback, data in a temp dir, no fsync.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePorts } from './free-port.js';
import { ManagedProcess } from './managed-process.js';
import { kubeBinary } from './toolchain.js';
import { WaitAborted, waitFor } from './wait.js';

export interface Etcd {
  url: string;
  process: ManagedProcess;
}

export async function startEtcd(dir: string): Promise<Etcd> {
  const [clientPort, peerPort] = await freePorts(2);
  const data = join(dir, 'etcd-data');
  mkdirSync(data, { recursive: true });
  const url = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const proc = new ManagedProcess({
    name: 'etcd',
    command: kubeBinary('etcd'),
    args: [
      '--name=avec-e2e', `--data-dir=${data}`,
      `--listen-client-urls=${url}`, `--advertise-client-urls=${url}`,
      `--listen-peer-urls=${peer}`, `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=avec-e2e=${peer}`, '--initial-cluster-state=new',
      // Test data is disposable: skip fsync, which dominates etcd latency on slow disks.
      '--unsafe-no-fsync=true', '--quota-backend-bytes=4294967296', '--log-level=warn',
    ],
    logFile: join(dir, 'etcd.log'),
  });
  try {
    await waitFor(async () => {
      if (!proc.running) throw new WaitAborted(`etcd exited: ${proc.tail(10)}`);
      const res = await fetch(`${url}/health`).catch(() => undefined);
      return res?.ok ? true : undefined;
    }, { what: 'etcd /health', timeoutMs: 60_000, intervalMs: 100 });
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return { url, process: proc };
}
