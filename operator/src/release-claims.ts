// `node operator/dist/main.js release-claims`: makes VirtualGPUClaims deletable when the operator is
// gone for good (uninstalled before its claims were deleted). Removes the avec.dev/release-allocation
// finalizer, which only the operator removes once it has released the claim's GPU allocation.
// Refuses while an operator holds the leader Lease (that operator releases claims itself), unless
// --force. The GPUNodes' stale allocations are cleaned by the next operator that runs (orphans).
import { parseArgs } from 'node:util';
import { FINALIZER, objectMetaSchema } from '@avec/api';
import { AvecError } from '@avec/common';
import { KubeClient, PatchStrategy, isStatus, listAll, loadKubeConfig, type KubeApi } from '@avec/kube';

export const RELEASE_HELP = `Usage: node operator/dist/main.js release-claims [flags]

Removes the ${FINALIZER} finalizer from VirtualGPUClaims so that they can be deleted when the
avec operator is gone for good (e.g. after helm uninstall). While an operator runs, delete claims
normally instead: it releases their GPUs and removes the finalizer itself.

Flags:
  --kubeconfig FILE      kubeconfig (default: $KUBECONFIG, in-cluster, ~/.kube/config)
  -n, --namespace NS     only claims in NS (default: all namespaces)
  --operator-namespace NS  where the operator's leader Lease lives (default avec-system)
  --lease-name NAME      the Lease (default avec-operator)
  --deleting-only        only claims already being deleted (default: every claim with the finalizer)
  --force                even while an operator holds the Lease
  -h, --help
`;

export interface ReleaseOptions {
  namespace?: string;
  operatorNamespace: string;
  leaseName: string;
  deletingOnly: boolean;
  force: boolean;
  now?: () => number;
}

/** Who holds the Lease now, if anyone (a released or expired Lease counts as nobody). */
async function liveHolder(api: Pick<KubeApi, 'leases'>, o: ReleaseOptions): Promise<string | undefined> {
  let lease: { spec?: { holderIdentity?: string; renewTime?: string; leaseDurationSeconds?: number } };
  try {
    lease = (await api.leases.get(o.leaseName, o.operatorNamespace)) as typeof lease;
  } catch (err) {
    if (isStatus(err, 404)) return undefined;
    throw err;
  }
  const s = lease.spec ?? {};
  if (!s.holderIdentity) return undefined;
  const renewed = Date.parse(s.renewTime ?? '');
  const expires = renewed + (s.leaseDurationSeconds ?? 15) * 1000;
  return Number.isFinite(renewed) && expires > (o.now ?? Date.now)() ? s.holderIdentity : undefined;
}

/** Returns the "namespace/name" of every claim whose finalizer was removed. */
export async function releaseClaims(api: Pick<KubeApi, 'claims' | 'leases'>, o: ReleaseOptions, out: (line: string) => void): Promise<string[]> {
  const holder = await liveHolder(api, o);
  if (holder && !o.force) {
    throw new AvecError('OperatorRunning', `the avec operator ${holder} holds the Lease ${o.operatorNamespace}/${o.leaseName}: delete claims normally (it releases them), or pass --force`);
  }
  const released: string[] = [];
  const list = await listAll(api.claims, {}, o.namespace);
  for (const raw of list.items) {
    const meta = objectMetaSchema.parse(raw.metadata);
    const fins = meta.finalizers ?? [];
    if (!fins.includes(FINALIZER) || (o.deletingOnly && meta.deletionTimestamp === undefined)) continue;
    const key = `${meta.namespace}/${meta.name}`;
    await api.claims.patch(meta.name, { metadata: { resourceVersion: meta.resourceVersion, finalizers: fins.filter((f) => f !== FINALIZER) } }, PatchStrategy.MergePatch, meta.namespace);
    out(`released ${key}${meta.deletionTimestamp !== undefined ? ' (its deletion now completes)' : ''}\n`);
    released.push(key);
  }
  if (released.length === 0) out('no claim holds the finalizer\n');
  return released;
}

/** The subcommand: parses flags, runs, returns the exit code. */
export async function releaseClaimsMain(argv: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        kubeconfig: { type: 'string' },
        namespace: { type: 'string', short: 'n' },
        'operator-namespace': { type: 'string', default: 'avec-system' },
        'lease-name': { type: 'string', default: 'avec-operator' },
        'deleting-only': { type: 'boolean', default: false },
        force: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    err(`release-claims: ${(e as Error).message}\n\n${RELEASE_HELP}`);
    return 2;
  }
  if (values.help) {
    out(RELEASE_HELP);
    return 0;
  }
  const api = new KubeClient(loadKubeConfig(values.kubeconfig));
  await releaseClaims(api, {
    namespace: values.namespace, operatorNamespace: values['operator-namespace'], leaseName: values['lease-name'],
    deletingOnly: values['deleting-only'], force: values.force,
  }, out);
  return 0;
}
