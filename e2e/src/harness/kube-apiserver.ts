// kube-apiserver for the test control plane: loopback only, RBAC on, client-cert admin.
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { ManagedProcess } from './managed-process.js';
import type { CertFiles, TestPki } from './pki.js';
import { kubeBinary } from './toolchain.js';
import { WaitAborted, waitFor } from './wait.js';

export interface KubeApiServer {
  url: string;
  port: number;
  admin: CertFiles;
  process: ManagedProcess;
}

export interface ApiServerOptions {
  dir: string;
  pki: TestPki;
  etcdUrl: string;
  extraArgs?: string[];
}

export async function startKubeApiServer(opts: ApiServerOptions): Promise<KubeApiServer> {
  const { dir, pki } = opts;
  const port = await freePort();
  const serving = await pki.issue('apiserver', {
    cn: 'kube-apiserver', usage: 'server',
    sans: ['IP:127.0.0.1', 'DNS:localhost', 'DNS:kubernetes', 'DNS:kubernetes.default', 'DNS:kubernetes.default.svc'],
  });
  const admin = await pki.issue('admin', { cn: 'avec-e2e-admin', org: 'system:masters', usage: 'client' });
  const sa = await pki.serviceAccountKeys();
  const proc = new ManagedProcess({
    name: 'kube-apiserver',
    command: kubeBinary('kube-apiserver'),
    args: [
      `--etcd-servers=${opts.etcdUrl}`,
      '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', `--secure-port=${port}`,
      `--cert-dir=${join(dir, 'apiserver-certs')}`,
      `--tls-cert-file=${serving.cert}`, `--tls-private-key-file=${serving.key}`,
      `--client-ca-file=${pki.ca.cert}`,
      '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${sa.publicKey}`, `--service-account-signing-key-file=${sa.privateKey}`,
      '--service-cluster-ip-range=10.96.0.0/16',
      '--allow-privileged=true',
      // No controller-manager runs here, so nothing creates each namespace's "default" ServiceAccount;
      // the ServiceAccount admission plugin would refuse every pod for lack of it.
      '--disable-admission-plugins=ServiceAccount',
      '--profiling=false',
      ...(opts.extraArgs ?? []),
    ],
    logFile: join(dir, 'kube-apiserver.log'),
  });
  const url = `https://127.0.0.1:${port}`;
  const tls = { ca: pki.caPem, cert: readFileSync(admin.cert), key: readFileSync(admin.key) };
  try {
    await waitFor(async () => {
      if (!proc.running) throw new WaitAborted(`kube-apiserver exited: ${proc.tail(15)}`);
      const status = await getStatus(port, '/readyz', tls);
      return status === 200 ? true : undefined;
    }, { what: 'kube-apiserver /readyz', timeoutMs: 120_000, intervalMs: 250 });
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return { url, port, admin, process: proc };
}

function getStatus(port: number, path: string, tls: { ca: string; cert: Buffer; key: Buffer }): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', ...tls, timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}
