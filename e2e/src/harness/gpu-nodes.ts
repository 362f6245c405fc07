// GPUNode fixtures written the way a remoting server writes them: spec by create, then
// status.heartbeatTime by merge patch on a timer (stop the timer to simulate a dead GPU node).
import { API_VERSION, GPUNODE_KIND, SITE_LABEL, ZONE_LABEL, gpuNodeSpecSchema, type GPUNodeSpec } from '@avec/api';
import { PatchStrategy, type KubeClient } from '@avec/kube';

export const GIB = 1024 ** 3;

export interface GpuNodeFixture {
  name: string;
  site: string;
  endpoint?: string;
  devices?: GPUNodeSpec['devices'];
  links?: Array<Omit<GPUNodeSpec['links'][number], 'source'> & { source?: 'measured' | 'declared' }>;
}

export function gpuNodeObject(f: GpuNodeFixture): Record<string, unknown> {
  return {
    apiVersion: API_VERSION,
    kind: GPUNODE_KIND,
    metadata: { name: f.name, labels: { [SITE_LABEL]: f.site } },
    // Parsed with the schema the operator reads GPUNodes with, so a fixture cannot drift from it.
    spec: gpuNodeSpecSchema.parse({
      nodeName: f.name,
      site: f.site,
      endpoint: f.endpoint ?? `127.0.0.1:7400`,
      devices: f.devices ?? [{ uuid: `GPU-${f.name}-0`, model: 'NVIDIA H100 80GB HBM3', memoryBytes: 80 * GIB, computeCapability: '9.0' }],
      links: f.links ?? [{ site: f.site, rttMs: 0.2, bandwidthMbps: 10_000, source: 'measured' }],
    }),
  };
}

/** A Node object for the same machine (site labels), as the kubelet would register it. */
export function nodeObject(name: string, site: string, extraLabels: Record<string, string> = {}): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, [ZONE_LABEL]: site, ...extraLabels } },
  };
}

export async function heartbeat(rest: KubeClient, name: string, now = new Date()): Promise<void> {
  await rest.gpuNodes.patchStatus(name, { status: { heartbeatTime: now.toISOString() } }, PatchStrategy.MergePatch);
}

/** Publishes GPUNodes and keeps their heartbeats fresh until stopped (per node or all). */
export class GpuNodeFleet {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(private readonly rest: KubeClient, private readonly intervalMs = 2_000) {}

  async add(f: GpuNodeFixture, withNode = true): Promise<void> {
    if (withNode) await this.rest.nodes.create(nodeObject(f.name, f.site));
    await this.rest.gpuNodes.create(gpuNodeObject(f));
    await this.resume(f.name);
  }

  /** The remoting server on this node (re)starts heart-beating. */
  async resume(name: string): Promise<void> {
    this.silence(name);
    await heartbeat(this.rest, name);
    const t = setInterval(() => void heartbeat(this.rest, name).catch(() => undefined), this.intervalMs);
    t.unref();
    this.timers.set(name, t);
  }

  /** The remoting server on this node dies: no more heartbeats. */
  silence(name: string): void {
    clearInterval(this.timers.get(name));
    this.timers.delete(name);
  }

  stop(): void {
    for (const name of [...this.timers.keys()]) this.silence(name);
  }
}
