// Where the API server is and how to authenticate, as client-node's KubeConfig: a kubeconfig file
// (client certificates, tokens, token files, exec credential plugins, auth providers) or the
// in-cluster service account (its projected token is re-read from disk as it rotates).
import { existsSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeconfigError } from './errors.js';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

const problem = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** A kubeconfig file; its current context must name a cluster. */
export function readKubeconfig(path: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(path);
  } catch (err) {
    throw new KubeconfigError('KubeconfigInvalid', `kubeconfig ${path}: ${problem(err)}`);
  }
  const ctx = kc.getCurrentContext();
  if (ctx && !kc.getContextObject(ctx)) throw new KubeconfigError('KubeconfigNoContext', `kubeconfig ${path}: context "${ctx}" not found`);
  if (!kc.getCurrentCluster()) throw new KubeconfigError('KubeconfigNoCluster', `kubeconfig ${path}: the current context names no known cluster`);
  return kc;
}

/** The pod's service account, when running in a cluster (KUBERNETES_SERVICE_HOST set and a token mounted). */
export function inClusterKubeConfig(env: NodeJS.ProcessEnv = process.env, saDir = SERVICE_ACCOUNT_DIR): KubeConfig | undefined {
  if (!env.KUBERNETES_SERVICE_HOST || !existsSync(join(saDir, 'token'))) return undefined;
  const host = env.KUBERNETES_SERVICE_HOST;
  const kc = new KubeConfig();
  // As client-node's loadFromCluster, with the environment and folder passed in (tests use their own).
  // The tokenFile provider re-reads the projected token as the kubelet rotates it.
  kc.loadFromClusterAndUser(
    { name: 'inCluster', server: `https://${isIPv6(host) ? `[${host}]` : host}:${env.KUBERNETES_SERVICE_PORT ?? '443'}`, caFile: join(saDir, 'ca.crt'), skipTLSVerify: false },
    { name: 'inClusterUser', authProvider: { name: 'tokenFile', config: { tokenFile: join(saDir, 'token') } } },
  );
  return kc;
}

/** PATH, else $KUBECONFIG (its first file), else in-cluster, else undefined (a caller may run standalone). */
export function findKubeConfig(path?: string, env: NodeJS.ProcessEnv = process.env, saDir = SERVICE_ACCOUNT_DIR): KubeConfig | undefined {
  const p = path || env.KUBECONFIG?.split(':')[0];
  if (p) return readKubeconfig(p);
  return inClusterKubeConfig(env, saDir);
}

/** As findKubeConfig, then ~/.kube/config; throws KubeconfigMissing when there is no way to a cluster. */
export function loadKubeConfig(path?: string, env: NodeJS.ProcessEnv = process.env, saDir = SERVICE_ACCOUNT_DIR, home = homedir()): KubeConfig {
  const found = findKubeConfig(path, env, saDir);
  if (found) return found;
  const fallback = join(home, '.kube', 'config');
  if (existsSync(fallback)) return readKubeconfig(fallback);
  throw new KubeconfigError('KubeconfigMissing', 'no kubeconfig: pass --kubeconfig, set KUBECONFIG, or run in a cluster');
}
