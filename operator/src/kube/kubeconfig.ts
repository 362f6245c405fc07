// Kubeconfig loading (client certificates, bearer tokens, CA, in-cluster service account).
// @kubernetes/client-node 2.x cannot be imported on Node.js 20 (its undici needs zlib zstd), so
// the operator reads kubeconfigs itself; only the fields below are supported.
import { readFileSync, existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, dirname, isAbsolute } from 'node:path';
import { load as loadYaml } from 'js-yaml';
import { z } from 'zod';
import { AvecError } from '../util/errors.js';

export interface Connection {
  server: URL;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecureSkipTLSVerify?: boolean;
  /** Bearer token, read on every request (service-account tokens rotate on disk). */
  token?: () => string;
}

const kubeconfigSchema = z.object({
  'current-context': z.string().optional(),
  clusters: z.array(z.object({ name: z.string(), cluster: z.looseObject({
    server: z.string(),
    'certificate-authority': z.string().optional(),
    'certificate-authority-data': z.string().optional(),
    'insecure-skip-tls-verify': z.boolean().optional(),
  }) })).default([]),
  users: z.array(z.object({ name: z.string(), user: z.looseObject({
    'client-certificate': z.string().optional(),
    'client-certificate-data': z.string().optional(),
    'client-key': z.string().optional(),
    'client-key-data': z.string().optional(),
    token: z.string().optional(),
    tokenFile: z.string().optional(),
  }).nullable().optional() })).default([]),
  contexts: z.array(z.object({ name: z.string(), context: z.object({ cluster: z.string(), user: z.string().optional() }) })).default([]),
});

export function parseKubeconfig(text: string, baseDir: string): Connection {
  const parsed = kubeconfigSchema.safeParse(loadYaml(text));
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new AvecError('KubeconfigInvalid', `kubeconfig: ${i?.path.join('.')}: ${i?.message}`);
  }
  const kc = parsed.data;
  const ctxName = kc['current-context'] ?? kc.contexts[0]?.name;
  const ctx = kc.contexts.find((c) => c.name === ctxName);
  if (!ctx) throw new AvecError('KubeconfigNoContext', `kubeconfig: context "${ctxName ?? ''}" not found`);
  const cluster = kc.clusters.find((c) => c.name === ctx.context.cluster)?.cluster;
  if (!cluster) throw new AvecError('KubeconfigNoCluster', `kubeconfig: cluster "${ctx.context.cluster}" not found`);
  const user = kc.users.find((u) => u.name === ctx.context.user)?.user ?? {};
  const file = (p: string): Buffer => readFileSync(isAbsolute(p) ? p : join(baseDir, p));
  const pick = (data?: string, path?: string): Buffer | undefined =>
    data !== undefined ? Buffer.from(data, 'base64') : path !== undefined ? file(path) : undefined;
  const token = user.token;
  const tokenFile = user.tokenFile;
  return {
    server: new URL(cluster.server),
    ca: pick(cluster['certificate-authority-data'], cluster['certificate-authority']),
    cert: pick(user['client-certificate-data'], user['client-certificate']),
    key: pick(user['client-key-data'], user['client-key']),
    insecureSkipTLSVerify: cluster['insecure-skip-tls-verify'],
    token: token !== undefined ? () => token : tokenFile !== undefined ? () => file(tokenFile).toString('utf8').trim() : undefined,
  };
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** --kubeconfig PATH, else $KUBECONFIG, else in-cluster, else ~/.kube/config. */
export function loadConnection(path?: string, env: NodeJS.ProcessEnv = process.env): Connection {
  const p = path ?? env.KUBECONFIG?.split(':')[0];
  if (p) return parseKubeconfig(readFileSync(p, 'utf8'), dirname(p));
  if (env.KUBERNETES_SERVICE_HOST && existsSync(join(SA_DIR, 'token'))) {
    const host = env.KUBERNETES_SERVICE_HOST.includes(':') ? `[${env.KUBERNETES_SERVICE_HOST}]` : env.KUBERNETES_SERVICE_HOST;
    return {
      server: new URL(`https://${host}:${env.KUBERNETES_SERVICE_PORT ?? '443'}`),
      ca: readFileSync(join(SA_DIR, 'ca.crt')),
      token: () => readFileSync(join(SA_DIR, 'token'), 'utf8').trim(),
    };
  }
  const home = join(homedir(), '.kube', 'config');
  if (existsSync(home)) return parseKubeconfig(readFileSync(home, 'utf8'), dirname(home));
  throw new AvecError('KubeconfigMissing', 'no kubeconfig: pass --kubeconfig, set KUBECONFIG, or run in a cluster');
}
