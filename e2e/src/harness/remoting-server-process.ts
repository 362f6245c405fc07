// Runs the real remoting server (node remoting-server/dist/main.js) on loopback as one GPU node:
// it publishes its GPUNode, heart-beats, and spawns an executor per admitted session.
import { join } from 'node:path';
import type { ControlPlane } from './control-plane.js';
import { freePorts } from './free-port.js';
import { ManagedProcess } from './managed-process.js';
import { REPO_ROOT } from './repo-root.js';
import { WaitAborted, waitFor } from './wait.js';

export interface RemotingServerOptions {
  nodeName: string;
  site: string;
  kubeconfig: string;
  ticketKeyDir: string;
  backend?: 'auto' | 'cuda' | 'emulated';
  heartbeatSeconds?: number;
  extraArgs?: string[];
}

export class RemotingServerProcess {
  constructor(
    readonly nodeName: string,
    readonly process: ManagedProcess,
    readonly dataEndpoint: string,
    readonly grpcEndpoint: string,
    readonly metricsPort: number,
  ) {}

  stop(): Promise<void> {
    return this.process.stop(10_000);
  }
}

export async function startRemotingServer(cp: ControlPlane, opts: RemotingServerOptions): Promise<RemotingServerProcess> {
  const [dataPort, grpcPort, metricsPort] = await freePorts(3);
  const data = `127.0.0.1:${dataPort}`;
  const grpc = `127.0.0.1:${grpcPort}`;
  const proc = new ManagedProcess({
    name: `remoting-server-${opts.nodeName}`,
    command: process.execPath,
    args: [
      join(REPO_ROOT, 'remoting-server', 'dist', 'main.js'),
      `--kubeconfig=${opts.kubeconfig}`,
      `--node-name=${opts.nodeName}`,
      `--site=${opts.site}`,
      `--data-listen=${data}`,
      `--advertise=${data}`,
      `--grpc-listen=${grpc}`,
      `--metrics-port=${metricsPort}`,
      `--executor=${join(REPO_ROOT, 'build', 'native', 'avec-executor')}`,
      `--backend=${opts.backend ?? 'auto'}`,
      `--ticket-key-dir=${opts.ticketKeyDir}`,
      `--heartbeat-seconds=${opts.heartbeatSeconds ?? 5}`,
      '--drain-seconds=2',
      ...(opts.extraArgs ?? []),
    ],
    logFile: join(cp.dir, `remoting-server-${opts.nodeName}.log`),
  });
  const rs = new RemotingServerProcess(opts.nodeName, proc, data, grpc, metricsPort);
  try {
    await waitFor(async () => {
      if (!proc.running) throw new WaitAborted(`remoting server exited ${JSON.stringify(proc.exit)}:\n${proc.tail(20)}`);
      const res = await fetch(`http://127.0.0.1:${metricsPort}/readyz`).catch(() => undefined);
      return res?.status === 200 ? true : undefined;
    }, { what: 'remoting server /readyz', timeoutMs: 30_000, intervalMs: 200 });
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return rs;
}
