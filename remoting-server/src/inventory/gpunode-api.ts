// The few API-server calls the remoting server makes (kept small and boring; the logic is in render.ts).
import { MERGE_PATCH, statusOf, type KubeApi } from '@avec/kube';
import { GPUNODE_GROUP, GPUNODE_PLURAL, GPUNODE_VERSION, type GPUNodeObject, type GPUNodeSpec } from './render.js';

export interface CurrentGPUNode {
  spec?: Partial<GPUNodeSpec>;
  labels?: Record<string, string>;
  resourceVersion?: string;
}

export interface GPUNodeApi {
  nodeLabels(name: string): Promise<Record<string, string> | undefined>;
  getGPUNode(name: string): Promise<CurrentGPUNode | undefined>;
  createGPUNode(obj: GPUNodeObject): Promise<void>;
  /** JSON merge patch of metadata.labels + spec (the remoting server owns spec). */
  patchGPUNode(name: string, patch: { metadata: { labels: Record<string, string | null> }; spec: GPUNodeSpec }): Promise<void>;
  /** JSON merge patch of the status subresource (only heartbeatTime and capacity). */
  patchGPUNodeStatus(name: string, patch: object): Promise<void>;
}

const BASE = `/apis/${GPUNODE_GROUP}/${GPUNODE_VERSION}/${GPUNODE_PLURAL}`;

export function kubeGPUNodeApi(rest: Pick<KubeApi, 'request'>): GPUNodeApi {
  const orUndefined = <T>(e: unknown): T | undefined => {
    if (statusOf(e) === 404) return undefined;
    throw e;
  };
  const enc = encodeURIComponent;
  return {
    async nodeLabels(name) {
      const n = await rest.request<{ metadata?: { labels?: Record<string, string> } }>('GET', `/api/v1/nodes/${enc(name)}`).catch((e: unknown) => orUndefined<never>(e));
      return n?.metadata?.labels;
    },
    async getGPUNode(name) {
      const o = await rest
        .request<{ spec?: Partial<GPUNodeSpec>; metadata?: { resourceVersion?: string; labels?: Record<string, string> } }>('GET', `${BASE}/${enc(name)}`)
        .catch((e: unknown) => orUndefined<never>(e));
      return o && { spec: o.spec, labels: o.metadata?.labels, resourceVersion: o.metadata?.resourceVersion };
    },
    async createGPUNode(obj) {
      await rest.request('POST', BASE, obj);
    },
    async patchGPUNode(name, patch) {
      await rest.request('PATCH', `${BASE}/${enc(name)}`, patch, MERGE_PATCH);
    },
    async patchGPUNodeStatus(name, patch) {
      await rest.request('PATCH', `${BASE}/${enc(name)}/status`, patch, MERGE_PATCH);
    },
  };
}
