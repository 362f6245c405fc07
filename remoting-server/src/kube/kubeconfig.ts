// Where the API server is and how to authenticate: --kubeconfig / $KUBECONFIG, or the in-cluster
// service account. (@kubernetes/client-node 2.x cannot be loaded on Node.js 20: its undici needs zstd.)
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { load as loadYaml } from 'js-yaml';
import { z } from 'zod';
import { AvecError } from '../errors.js';

export interface KubeTarget {
  server: URL;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecure?: boolean;
  /** Read per request: projected service-account tokens are rotated on disk. */
  token?: () => string;
}

const schema = z.object({
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

export function parseKubeconfig(text: string, baseDir: string): KubeTarget {
  const r = schema.safeParse(loadYaml(text));
  if (!r.success) {
    const i = r.error.issues[0];
    throw new AvecError('BadKubeconfig', `kubeconfig: ${i ? `${i.path.join('.')}: ${i.message}` : 'invalid'}`);
  }
  const kc = r.data;
  const ctxName = kc['current-context'] ?? kc.contexts[0]?.name;
  const ctx = kc.contexts.find((c) => c.name === ctxName);
  const clusterName = ctx?.context.cluster ?? kc.clusters[0]!.name;
  const cluster = kc.clusters.find((c) => c.name === clusterName)?.cluster;
  if (!cluster) throw new AvecError('BadKubeconfig', `kubeconfig: cluster "${clusterName}" not found`);
  const user = kc.users.find((u) => u.name === ctx?.context.user)?.user ?? {};
  const read = (p: string) => readFileSync(isAbsolute(p) ? p : join(baseDir, p));
  const pick = (data?: string, path?: string) => (data !== undefined ? Buffer.from(data, 'base64') : path !== undefined ? read(path) : undefined);
  const { token, tokenFile } = user;
  return {
    server: new URL(cluster.server),
    ca: pick(cluster['certificate-authority-data'], cluster['certificate-authority']),
    cert: pick(user['client-certificate-data'], user['client-certificate']),
    key: pick(user['client-key-data'], user['client-key']),
    insecure: cluster['insecure-skip-tls-verify'],
    token: token !== undefined ? () => token : tokenFile !== undefined ? () => read(tokenFile).toString('utf8').trim() : undefined,
  };
}

const SA = '/var/run/secrets/kubernetes.io/serviceaccount';

/** --kubeconfig (or $KUBECONFIG, already folded into the config), else in-cluster, else undefined (standalone). */
export function findKubeTarget(kubeconfig: string | undefined, env: NodeJS.ProcessEnv = process.env, saDir = SA): KubeTarget | undefined {
  if (kubeconfig) return parseKubeconfig(readFileSync(kubeconfig, 'utf8'), dirname(kubeconfig));
  if (env.KUBERNETES_SERVICE_HOST && existsSync(join(saDir, 'token'))) {
    const h = env.KUBERNETES_SERVICE_HOST;
    return {
      server: new URL(`https://${h.includes(':') ? `[${h}]` : h}:${env.KUBERNETES_SERVICE_PORT ?? '443'}`),
      ca: readFileSync(join(saDir, 'ca.crt')),
      token: () => readFileSync(join(saDir, 'token'), 'utf8').trim(),
    };
  }
  return undefined;
}
