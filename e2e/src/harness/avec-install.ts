// Installs charts/avec into the test cluster with `helm install`, configured for an operator that
// runs out of cluster on loopback (webhook.url), and hands that operator what a pod would get: the
// chart's webhook certificate and ticket keys (as files) and its ServiceAccount's identity.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ControlPlane } from './control-plane.js';
import { freePort } from './free-port.js';
import { REPO_ROOT } from './repo-root.js';

export interface AvecInstall {
  namespace: string;
  release: string;
  webhookPort: number;
  /** tls.crt, tls.key, ca.crt of the chart's webhook Secret. */
  webhookCertDir: string;
  /** One file per key of the chart's ticket-keys Secret (docs/tickets.md layout). */
  ticketKeyDir: string;
  /** kubeconfig of the chart's operator ServiceAccount (TokenRequest token). */
  operatorKubeconfig: string;
  operatorServiceAccount: string;
}

export interface InstallOptions {
  namespace?: string;
  release?: string;
  webhookPort?: number;
  set?: Record<string, string>;
}

export async function installAvec(cp: ControlPlane, opts: InstallOptions = {}): Promise<AvecInstall> {
  const namespace = opts.namespace ?? 'avec-system';
  const release = opts.release ?? 'avec';
  const webhookPort = opts.webhookPort ?? await freePort();
  const set: Record<string, string> = {
    'webhook.url': `https://127.0.0.1:${webhookPort}`,
    'webhook.certificates.extraIPs[0]': '127.0.0.1',
    ...opts.set,
  };
  await cp.helm(['install', release, join(REPO_ROOT, 'charts', 'avec'), '--namespace', namespace, '--create-namespace',
    ...Object.entries(set).flatMap(([k, v]) => ['--set', `${k}=${v}`]), '--wait=false', '--timeout=2m']);
  const dir = join(cp.dir, `avec-${release}`);
  const webhookCertDir = secretToDir(await getSecret(cp, namespace, `${release}-webhook-cert`), join(dir, 'webhook-cert'));
  const ticketKeyDir = secretToDir(await getSecret(cp, namespace, `${release}-ticket-keys`), join(dir, 'ticket-keys'));
  const operatorServiceAccount = `${release}-operator`;
  const operatorKubeconfig = await cp.serviceAccountKubeconfig(namespace, operatorServiceAccount);
  return { namespace, release, webhookPort, webhookCertDir, ticketKeyDir, operatorKubeconfig, operatorServiceAccount };
}

/** A Secret's data; {} when the chart did not create it (e.g. webhook certificates made by the operator). */
async function getSecret(cp: ControlPlane, namespace: string, name: string): Promise<Record<string, string>> {
  const { stdout } = await cp.kubectl(['get', 'secret', name, '-n', namespace, '-o', 'json', '--ignore-not-found']);
  return stdout.trim() ? (JSON.parse(stdout) as { data: Record<string, string> }).data : {};
}

/** Writes a Secret's data the way a Secret volume presents it: one file per key, raw bytes. */
function secretToDir(data: Record<string, string>, dir: string): string {
  mkdirSync(dir, { recursive: true });
  for (const [k, v] of Object.entries(data)) writeFileSync(join(dir, k), Buffer.from(v, 'base64'), { mode: 0o600 });
  return dir;
}
