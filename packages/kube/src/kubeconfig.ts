// Where the API server is and how to authenticate: a kubeconfig (client certificates, bearer tokens,
// token files, CA) or the in-cluster service account. Only the fields below are supported.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { load as loadYaml } from 'js-yaml';
import { z } from 'zod';
import { KubeconfigError } from './errors.js';

export interface Connection {
  server: URL;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecureSkipTLSVerify?: boolean;
  /** Bearer token, read on every request (projected service-account tokens rotate on disk). */
  token?: () => string;
}

const kubeconfigSchema = z.object({
  'current-context': z.string().optional(),
  clusters: z
    .array(
      z.object({
        name: z.string(),
        cluster: z.looseObject({
          server: z.string().url(),
          'certificate-authority': z.string().optional(),
          'certificate-authority-data': z.string().optional(),
          'insecure-skip-tls-verify': z.boolean().optional(),
        }),
      }),
    )
    .min(1),
  users: z
    .array(
      z.object({
        name: z.string(),
        user: z
          .looseObject({
            'client-certificate': z.string().optional(),
            'client-certificate-data': z.string().optional(),
            'client-key': z.string().optional(),
            'client-key-data': z.string().optional(),
            token: z.string().optional(),
            tokenFile: z.string().optional(),
          })
          .nullish(),
      }),
    )
    .default([]),
  contexts: z.array(z.object({ name: z.string(), context: z.object({ cluster: z.string(), user: z.string().optional() }) })).default([]),
});

/** A kubeconfig's current context (else its first; with no contexts at all, its first cluster, anonymous). */
export function parseKubeconfig(text: string, baseDir: string): Connection {
  const parsed = kubeconfigSchema.safeParse(loadYaml(text));
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new KubeconfigError('KubeconfigInvalid', `kubeconfig: ${i ? `${i.path.join('.')}: ${i.message}` : 'invalid'}`);
  }
  const kc = parsed.data;
  const ctxName = kc['current-context'] ?? kc.contexts[0]?.name;
  const ctx = kc.contexts.find((c) => c.name === ctxName);
  if (ctxName !== undefined && !ctx) throw new KubeconfigError('KubeconfigNoContext', `kubeconfig: context "${ctxName}" not found`);
  const clusterName = ctx?.context.cluster ?? kc.clusters[0]!.name;
  const cluster = kc.clusters.find((c) => c.name === clusterName)?.cluster;
  if (!cluster) throw new KubeconfigError('KubeconfigNoCluster', `kubeconfig: cluster "${clusterName}" not found`);
  const user = kc.users.find((u) => u.name === ctx?.context.user)?.user ?? {};
  const file = (p: string): Buffer => readFileSync(isAbsolute(p) ? p : join(baseDir, p));
  const pick = (data?: string, path?: string): Buffer | undefined =>
    data !== undefined ? Buffer.from(data, 'base64') : path !== undefined ? file(path) : undefined;
  const { token, tokenFile } = user;
  return {
    server: new URL(cluster.server),
    ca: pick(cluster['certificate-authority-data'], cluster['certificate-authority']),
    cert: pick(user['client-certificate-data'], user['client-certificate']),
    key: pick(user['client-key-data'], user['client-key']),
    insecureSkipTLSVerify: cluster['insecure-skip-tls-verify'],
    token: token !== undefined ? () => token : tokenFile !== undefined ? () => file(tokenFile).toString('utf8').trim() : undefined,
  };
}

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export function readKubeconfig(path: string): Connection {
  return parseKubeconfig(readFileSync(path, 'utf8'), dirname(path));
}

/** The pod's service account, when running in a cluster (KUBERNETES_SERVICE_HOST set and a token mounted). */
export function inClusterConnection(env: NodeJS.ProcessEnv = process.env, saDir = SERVICE_ACCOUNT_DIR): Connection | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  if (!host || !existsSync(join(saDir, 'token'))) return undefined;
  return {
    server: new URL(`https://${host.includes(':') ? `[${host}]` : host}:${env.KUBERNETES_SERVICE_PORT ?? '443'}`),
    ca: readFileSync(join(saDir, 'ca.crt')),
    token: () => readFileSync(join(saDir, 'token'), 'utf8').trim(),
  };
}

/** PATH, else $KUBECONFIG (its first file), else in-cluster, else undefined (a caller may run standalone). */
export function findConnection(path?: string, env: NodeJS.ProcessEnv = process.env, saDir = SERVICE_ACCOUNT_DIR): Connection | undefined {
  const p = path || env.KUBECONFIG?.split(':')[0];
  if (p) return readKubeconfig(p);
  return inClusterConnection(env, saDir);
}

/** As findConnection, then ~/.kube/config; throws KubeconfigMissing when there is no way to a cluster. */
export function loadConnection(path?: string, env: NodeJS.ProcessEnv = process.env, saDir = SERVICE_ACCOUNT_DIR, home = homedir()): Connection {
  const found = findConnection(path, env, saDir);
  if (found) return found;
  const fallback = join(home, '.kube', 'config');
  if (existsSync(fallback)) return readKubeconfig(fallback);
  throw new KubeconfigError('KubeconfigMissing', 'no kubeconfig: pass --kubeconfig, set KUBECONFIG, or run in a cluster');
}
