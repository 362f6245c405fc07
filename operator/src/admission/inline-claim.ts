// The claim the operator creates for a pod that asked for memory inline (avec.dev/gpu-memory).
import { ANN_CLAIM, ANN_INLINE } from '@avec/api';
import { parsePodAnnotations } from './annotations.js';
import { podSite, type PodPlacementView } from './pod-site.js';

export interface InlineClaim {
  name: string;
  spec: {
    memory: string;
    computePercent?: number;
    placement: { site?: string; maxLatencyMs?: number; policy?: 'nearest' | 'binpack' | 'spread' };
  };
}

/** Undefined when the pod is not an inline-claim pod mutated by the webhook. */
export function inlineClaimFor(annotations: Record<string, string> | undefined, spec: PodPlacementView): InlineClaim | undefined {
  const a = annotations ?? {};
  const name = a[ANN_CLAIM];
  if (a[ANN_INLINE] !== 'true' || name === undefined) return undefined;
  const parsed = parsePodAnnotations(Object.fromEntries(Object.entries(a).filter(([k]) => k !== ANN_CLAIM)));
  if (!parsed.ok || parsed.request.kind !== 'inline') return undefined;
  const r = parsed.request.inline;
  const site = podSite(spec);
  const placement: InlineClaim['spec']['placement'] = {};
  if (site !== undefined) placement.site = site;
  if (r.maxLatencyMs !== undefined && site !== undefined) placement.maxLatencyMs = r.maxLatencyMs;
  if (r.policy !== undefined) placement.policy = r.policy;
  return {
    name,
    spec: { memory: r.memory, ...(r.computePercent !== undefined ? { computePercent: r.computePercent } : {}), placement },
  };
}
