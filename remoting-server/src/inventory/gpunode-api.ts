// The few API-server calls the remoting server makes (kept small and boring; the logic is in render.ts).
import { PatchStrategy, statusOf, type KubeApi } from '@avec/kube';
import { gpuNodeSpecSchema, objectMetaSchema } from '@avec/api';
import type { GPUNodeObject, GPUNodeSpec } from './render.js';

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

/** Through client-node's typed APIs (CoreV1Api for the Node, CustomObjectsApi for the GPUNode). */
export function kubeGPUNodeApi(kube: Pick<KubeApi, 'nodes' | 'gpuNodes'>): GPUNodeApi {
  const orUndefined = <T>(e: unknown): T | undefined => {
    if (statusOf(e) === 404) return undefined;
    throw e;
  };
  return {
    async nodeLabels(name) {
      const n = await kube.nodes.get(name).catch((e: unknown) => orUndefined<never>(e));
      return n?.metadata?.labels as Record<string, string> | undefined;
    },
    async getGPUNode(name) {
      const o = await kube.gpuNodes.get(name).catch((e: unknown) => orUndefined<never>(e));
      if (!o) return undefined;
      // A spec this server cannot parse (edited by hand, older version) counts as absent: it is rewritten.
      const spec = gpuNodeSpecSchema.partial().safeParse(o.spec);
      const meta = objectMetaSchema.partial().safeParse(o.metadata);
      return { spec: spec.success ? spec.data : undefined, labels: meta.success ? meta.data.labels : undefined, resourceVersion: meta.success ? meta.data.resourceVersion : undefined };
    },
    async createGPUNode(obj) {
      await kube.gpuNodes.create(obj);
    },
    async patchGPUNode(name, patch) {
      await kube.gpuNodes.patch(name, patch, PatchStrategy.MergePatch);
    },
    async patchGPUNodeStatus(name, patch) {
      await kube.gpuNodes.patchStatus(name, patch, PatchStrategy.MergePatch);
    },
  };
}
