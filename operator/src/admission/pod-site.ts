// What a pod says about where it runs: its own site (nodeSelector / required node affinity on the
// site or zone label), or pinning that means the operator must not narrow its affinity.
import { SITE_LABEL, ZONE_LABEL } from '@avec/api';

export interface PodPlacementView {
  nodeName?: string;
  nodeSelector?: Record<string, string>;
  affinity?: {
    nodeAffinity?: {
      requiredDuringSchedulingIgnoredDuringExecution?: {
        nodeSelectorTerms?: Array<{ matchExpressions?: Array<{ key: string; operator: string; values?: string[] }> }>;
      };
    };
  };
}

/** The site the pod pins itself to, if exactly one can be read from its spec. */
export function podSite(spec: PodPlacementView): string | undefined {
  const sel = spec.nodeSelector ?? {};
  if (sel[SITE_LABEL]) return sel[SITE_LABEL];
  if (sel[ZONE_LABEL]) return sel[ZONE_LABEL];
  const terms = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  const sites = new Set<string>();
  for (const t of terms) {
    for (const e of t.matchExpressions ?? []) {
      if ((e.key === SITE_LABEL || e.key === ZONE_LABEL) && e.operator === 'In' && e.values?.length === 1) sites.add(e.values[0]);
    }
  }
  return sites.size === 1 ? [...sites][0] : undefined;
}

/** True when the pod already constrains its nodes, so the operator leaves its affinity alone. */
export function podHasOwnPlacement(spec: PodPlacementView): boolean {
  if (spec.nodeName) return true;
  const sel = spec.nodeSelector ?? {};
  if (sel[SITE_LABEL] !== undefined || sel[ZONE_LABEL] !== undefined) return true;
  return spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution !== undefined;
}
