// A scheduler stand-in for a control plane without kube-scheduler: binds pending pods to Nodes the
// way the real scheduler filters them (scheduling gates, nodeSelector, required node affinity), so
// tests can check where a pod whose affinity the operator narrowed would land. No scoring: the
// first matching Node by name wins.
import type { KubeClient } from '@avec/kube';

interface Expr { key: string; operator: string; values?: string[] }
interface PodView {
  metadata: { name: string; namespace: string };
  spec: {
    nodeName?: string;
    schedulingGates?: Array<{ name: string }>;
    nodeSelector?: Record<string, string>;
    affinity?: { nodeAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms?: Array<{ matchExpressions?: Expr[] }> } } };
  };
}
interface NodeView { metadata: { name: string; labels?: Record<string, string> } }

export function exprMatches(e: Expr, labels: Record<string, string>): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, e.key);
  switch (e.operator) {
    case 'In': return has && (e.values ?? []).includes(labels[e.key]);
    case 'NotIn': return !has || !(e.values ?? []).includes(labels[e.key]);
    case 'Exists': return has;
    case 'DoesNotExist': return !has;
    default: return false;
  }
}

/** Pure: whether a pod may run on a node (gates aside). Terms are ORed, expressions ANDed. */
export function nodeFits(pod: PodView, node: NodeView): boolean {
  const labels = node.metadata.labels ?? {};
  for (const [k, v] of Object.entries(pod.spec.nodeSelector ?? {})) if (labels[k] !== v) return false;
  const terms = pod.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (!terms || terms.length === 0) return true;
  return terms.some((t) => (t.matchExpressions ?? []).every((e) => exprMatches(e, labels)));
}

/** Binds every schedulable pending pod; returns "namespace/name -> node" for those bound. */
export async function schedulePending(rest: KubeClient, namespace?: string): Promise<Map<string, string>> {
  const pods = (await rest.pods.list({}, namespace)).items as unknown as PodView[];
  const nodes = ((await rest.nodes.list()).items as unknown as NodeView[]).sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
  const bound = new Map<string, string>();
  for (const pod of pods) {
    if (pod.spec.nodeName || (pod.spec.schedulingGates ?? []).length > 0) continue;
    const node = nodes.find((n) => nodeFits(pod, n));
    if (!node) continue;
    const { name, namespace: ns } = pod.metadata;
    await rest.core.createNamespacedPodBinding({
      name, namespace: ns,
      body: { apiVersion: 'v1', kind: 'Binding', metadata: { name, namespace: ns }, target: { apiVersion: 'v1', kind: 'Node', name: node.metadata.name } },
    });
    bound.set(`${ns}/${name}`, node.metadata.name);
  }
  return bound;
}
