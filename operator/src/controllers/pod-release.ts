// Pure: the JSON patch that lets a gated pod schedule once its claim is Bound — narrow its node
// affinity to the GPU's site (only when the pod has no placement of its own), then lift the gate.
import { SCHEDULING_GATE, SITE_LABEL, ZONE_LABEL } from '@avec/api';
import { podHasOwnPlacement, type PodPlacementView } from '../admission/pod-site.js';

export type PodPatchOp =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'remove'; path: string }
  | { op: 'test'; path: string; value: unknown };

export interface GatedPodView extends PodPlacementView {
  schedulingGates?: Array<{ name: string }>;
  affinity?: PodPlacementView['affinity'] & { podAffinity?: unknown; podAntiAffinity?: unknown };
}

export function siteAffinity(site: string): Record<string, unknown> {
  // A node's site is its avec.dev/site label, else its zone label. Terms are ORed, expressions ANDed.
  return {
    requiredDuringSchedulingIgnoredDuringExecution: {
      nodeSelectorTerms: [
        { matchExpressions: [{ key: SITE_LABEL, operator: 'In', values: [site] }] },
        { matchExpressions: [{ key: SITE_LABEL, operator: 'DoesNotExist' }, { key: ZONE_LABEL, operator: 'In', values: [site] }] },
      ],
    },
  };
}

/** Undefined when the pod does not carry the gate (nothing to do). */
export function releasePodPatch(spec: GatedPodView, site: string | undefined): PodPatchOp[] | undefined {
  const idx = (spec.schedulingGates ?? []).findIndex((g) => g.name === SCHEDULING_GATE);
  if (idx < 0) return undefined;
  const ops: PodPatchOp[] = [];
  if (site && !podHasOwnPlacement(spec)) {
    const na = siteAffinity(site);
    if (spec.affinity === undefined) ops.push({ op: 'add', path: '/spec/affinity', value: { nodeAffinity: na } });
    else if (spec.affinity.nodeAffinity === undefined) ops.push({ op: 'add', path: '/spec/affinity/nodeAffinity', value: na });
    else ops.push({ op: 'add', path: '/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution', value: na.requiredDuringSchedulingIgnoredDuringExecution });
  }
  ops.push({ op: 'test', path: `/spec/schedulingGates/${idx}/name`, value: SCHEDULING_GATE });
  ops.push({ op: 'remove', path: `/spec/schedulingGates/${idx}` });
  return ops;
}
