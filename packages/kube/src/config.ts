// Where the API server is and how to authenticate, as client-node's KubeConfig: a kubeconfig file
// (client certificates, tokens, token files, exec credential plugins, auth providers) or the
// in-cluster service account (its projected token is re-read from disk as it rotates).
import { existsSync, statSync } from 'node:fs';
import type * as https from 'node:https';
import { isIPv6 } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig, type RequestContext } from '@kubernetes/client-node';
import { KubeconfigError } from './errors.js';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>> & { close?: () => Promise<void> };

/**
 * A KubeConfig whose API calls share one connection pool. client-node 2.0.1 builds a new undici
 * Agent, i.e. a new TLS connection, for every request when the kubeconfig carries a CA or client
 * certificate (~3 ms CPU per call instead of ~0.2 ms, measured): the first Agent for a given cluster and
 * TLS material is kept and reused (no new TLS context per call either). A certificate file that
 * changes on disk (rotation) gets a new pool.
 */
export class PooledKubeConfig extends KubeConfig {
  private readonly pools = new Map<string, Dispatcher>();

  private poolKey(): string {
    const c = this.getCurrentCluster();
    const u = this.getCurrentUser();
    const stamp = (f?: string): string => {
      if (!f) return '';
      try {
        return `${f}@${statSync(f).mtimeMs}`;
      } catch {
        return f;
      }
    };
    return [c?.server, c?.caData, stamp(c?.caFile), c?.skipTLSVerify, c?.tlsServerName, c?.proxyUrl, u?.certData, stamp(u?.certFile), u?.keyData, stamp(u?.keyFile)].join('|');
  }

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    const key = this.poolKey();
    const pool = this.pools.get(key);
    if (!pool) {
      await super.applySecurityAuthentication(context);
      const fresh = context.getDispatcher() as Dispatcher | undefined;
      if (fresh) this.pools.set(key, fresh);
      return;
    }
    // What super does, minus building a new Agent (and TLS context): the auth headers (token, token
    // file, exec plugin, auth provider, basic) on the pooled dispatcher.
    const opts: https.RequestOptions = {};
    await this.applyToHTTPSOptions(opts);
    const user = this.getCurrentUser();
    if (user?.username) context.setHeaderParam('Authorization', `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`);
    for (const [k, v] of Object.entries(opts.headers ?? {})) context.setHeaderParam(k, String(v));
    context.setDispatcher(pool);
  }
}

const problem = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** A kubeconfig file; its current context must name a cluster. */
export function readKubeconfig(path: string): KubeConfig {
  const kc = new PooledKubeConfig();
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
  const kc = new PooledKubeConfig();
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
