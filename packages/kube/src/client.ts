// KubeClient: one KubeConfig, the typed resources avec uses (resources.ts), and client-node's typed
// APIs for anything else (e2e uses CoreV1Api for bindings, the apiserver's /metrics).
import * as https from 'node:https';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { builtinResources, customResource, type KubeApi, type RequestObserver, type Resource } from './resources.js';
import { loadKubeConfig } from './config.js';
import { KubeError, toKubeError } from './errors.js';

/** The two custom kinds (their group/version also live in @avec/api; kept here so this package stands alone). */
export const CLAIM_KIND = { group: 'avec.dev', version: 'v1alpha1', plural: 'virtualgpuclaims', namespaced: true } as const;
export const GPUNODE_KIND = { group: 'avec.dev', version: 'v1alpha1', plural: 'gpunodes', namespaced: false } as const;

export class KubeClient implements KubeApi {
  /** Set by the owner to count requests in its metrics. */
  observe: RequestObserver = () => {};
  readonly claims: Resource;
  readonly gpuNodes: Resource;
  readonly pods: Resource;
  readonly secrets: Resource;
  readonly events: Resource;
  readonly nodes: Resource;
  readonly namespaces: Resource;
  readonly leases: Resource;
  readonly mutatingWebhooks: Resource;
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;

  constructor(readonly kc: KubeConfig) {
    const observe = (): RequestObserver => this.observe;
    this.claims = customResource(kc, CLAIM_KIND, observe);
    this.gpuNodes = customResource(kc, GPUNODE_KIND, observe);
    const b = builtinResources(kc, observe);
    this.pods = b.pods;
    this.secrets = b.secrets;
    this.events = b.events;
    this.nodes = b.nodes;
    this.namespaces = b.namespaces;
    this.leases = b.leases;
    this.mutatingWebhooks = b.mutatingWebhooks;
    this.core = kc.makeApiClient(CoreV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
  }

  /** From --kubeconfig PATH, $KUBECONFIG, the in-cluster service account or ~/.kube/config. */
  static load(kubeconfigPath?: string): KubeClient {
    return new KubeClient(loadKubeConfig(kubeconfigPath));
  }

  get server(): string {
    return this.kc.getCurrentCluster()?.server ?? '';
  }

  /** A non-resource text endpoint (e.g. the API server's /metrics), authenticated as every other call. */
  async getText(path: string): Promise<string> {
    const url = new URL(path, this.server);
    const opts: https.RequestOptions = { method: 'GET', headers: { Accept: 'text/plain, */*' } };
    await this.kc.applyToHTTPSOptions(opts);
    return new Promise((resolve, reject) => {
      const req = https.request(url, opts, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve(text);
          else reject(new KubeError(status, `HTTP${status}`, `GET ${path}: ${status} ${text.slice(0, 200)}`));
        });
      });
      req.on('error', (e) => reject(toKubeError(e, `GET ${path}`)));
      req.end();
    });
  }
}
