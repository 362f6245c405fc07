// Runs the real operator (node operator/dist/main.js) against the test control plane, the way the
// chart's Deployment runs it, but on loopback ports.
import { join } from 'node:path';
import type { AvecInstall } from './avec-install.js';
import type { ControlPlane } from './control-plane.js';
import { freePorts } from './free-port.js';
import { ManagedProcess } from './managed-process.js';
import { REPO_ROOT } from './repo-root.js';
import { WaitAborted, waitFor } from './wait.js';

export interface OperatorOptions {
  identity: string;
  /** 'chart' = the chart's ServiceAccount (least-privilege RBAC), 'admin' = system:masters. */
  as?: 'chart' | 'admin';
  webhookPort?: number;
  leaderElect?: boolean;
  heartbeatTimeoutSeconds?: number;
  extraArgs?: string[];
  /** Node.js flags before the script (e.g. `--cpu-prof --cpu-prof-dir=DIR` to profile the operator). */
  nodeArgs?: string[];
  env?: NodeJS.ProcessEnv;
}

export class OperatorProcess {
  constructor(
    readonly identity: string,
    readonly process: ManagedProcess,
    readonly healthPort: number,
    readonly metricsPort: number,
    readonly webhookPort: number,
  ) {}

  async metrics(): Promise<string> {
    const res = await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`);
    return res.text();
  }

  async probe(path: '/healthz' | '/readyz'): Promise<number> {
    const res = await fetch(`http://127.0.0.1:${this.healthPort}${path}`).catch(() => undefined);
    return res?.status ?? 0;
  }

  stop(): Promise<void> {
    return this.process.stop();
  }

  /** Abrupt death (no lease release): SIGKILL. */
  async kill(): Promise<void> {
    this.process.signal('SIGKILL');
    await this.process.waitExit();
    await this.process.stop();
  }
}

/**
 * Starts the operator; when one of its ports was taken between choosing it and binding it (another process
 * got the same free port from the kernel: EADDRINUSE), tries again with fresh ports, up to three times.
 */
export async function startOperator(cp: ControlPlane, install: AvecInstall, opts: OperatorOptions): Promise<OperatorProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOperatorOnce(cp, install, opts);
    } catch (err) {
      if (attempt >= 3 || !String(err instanceof Error ? err.message : err).includes('EADDRINUSE')) throw err;
    }
  }
}

async function startOperatorOnce(cp: ControlPlane, install: AvecInstall, opts: OperatorOptions): Promise<OperatorProcess> {
  const [healthPort, metricsPort, spare] = await freePorts(3, '127.0.0.1', [install.webhookPort]);
  const webhookPort = opts.webhookPort ?? spare;
  const kubeconfig = (opts.as ?? 'chart') === 'chart' ? install.operatorKubeconfig : cp.kubeconfig;
  const proc = new ManagedProcess({
    name: `operator-${opts.identity}`,
    command: process.execPath,
    args: [
      ...(opts.nodeArgs ?? []),
      join(REPO_ROOT, 'operator', 'dist', 'main.js'),
      `--kubeconfig=${kubeconfig}`,
      `--namespace=${install.namespace}`,
      `--identity=${opts.identity}`,
      `--leader-elect=${opts.leaderElect ?? true}`,
      `--webhook-port=${webhookPort}`,
      `--webhook-cert-dir=${install.webhookCertDir}`,
      `--health-port=${healthPort}`,
      `--metrics-port=${metricsPort}`,
      `--ticket-key-dir=${install.ticketKeyDir}`,
      `--heartbeat-timeout-seconds=${opts.heartbeatTimeoutSeconds ?? 10}`,
      ...(opts.extraArgs ?? []),
    ],
    logFile: join(cp.dir, `operator-${opts.identity}.log`),
    env: { ...process.env, AVEC_LOG: process.env.AVEC_LOG ?? 'debug', ...opts.env },
  });
  const op = new OperatorProcess(opts.identity, proc, healthPort, metricsPort, webhookPort);
  try {
    await waitFor(async () => {
      if (!proc.running) throw new WaitAborted(`operator ${opts.identity} exited ${JSON.stringify(proc.exit)}:\n${proc.tail(20)}`);
      return (await op.probe('/healthz')) === 200 ? true : undefined;
    }, { what: `operator ${opts.identity} /healthz`, timeoutMs: 30_000, intervalMs: 200 });
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return op;
}
