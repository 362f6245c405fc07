// The operator's three controllers, registered on a Manager: the claim, GPU node and pod informers,
// the queues they feed, and the cross-triggers (capacity returning re-queues waiting claims; a
// claim change re-queues the pods that use it). runOperator, the controller tests and the bench
// all wire the controllers here, so they run what production runs.
import type { Keyring } from '@avec/tickets';
import { LABEL_MANAGED, claimSchema } from '@avec/api';
import type { KubeApi } from '@avec/kube';
import type { Manager } from '../manager/manager.js';
import type { OperatorMetrics } from '../metrics.js';
import { ClaimController } from './claim-controller.js';
import type { OperatorContext } from './context.js';
import { EventRecorder } from './events.js';
import { GPUNodeController } from './gpunode-controller.js';
import { NodeStore } from './node-store.js';
import { AllocationLedger } from './allocation-ledger.js';
import { PodController } from './pod-controller.js';

export interface ControllerSettings {
  identity: string;
  keyring: () => Keyring;
  heartbeatTimeoutMs: number;
  ticketTtlSeconds: number;
  retryUnplacedMs: number;
  /** Least time between two allocation-summary writes of one GPUNode (default 10 s). */
  nodeSummaryIntervalMs?: number;
  /** Per-claim session cap signed into tickets (`maxs`) when the claim sets no spec.maxSessions (default 8). */
  maxSessionsPerClaim?: number;
  claimWorkers: number;
  /** Claims that lost their GPU in a node failure are placed before claims that never had one. */
  lostClaimsFirst: boolean;
}

export interface Controllers {
  ctx: OperatorContext;
  claims: ClaimController;
  gpuNodes: GPUNodeController;
  pods: PodController;
  /** Re-queue every claim (a new signing key: every bound claim re-signs its ticket now). */
  requeueClaims(): void;
}

export function registerControllers(mgr: Manager, api: KubeApi, metrics: OperatorMetrics, s: ControllerSettings): Controllers {
  const { clock, log } = mgr;
  // Capacity may have grown (new node, node ready again, devices changed, claims released):
  // claims waiting for a GPU get another try. Binds never help, so they do not re-queue every
  // pending claim.
  const capacitySeen = new Map<string, { spec: string; ready: boolean }>();
  const onNodeChange = (name: string): void => {
    nodes.refresh(name);
    nodeQueue.add(name);
    const n = nodes.get(name);
    const prev = capacitySeen.get(name);
    const cur = n ? { spec: JSON.stringify(n.spec.devices), ready: nodes.ready(n, clock.now()) } : undefined;
    if (cur) capacitySeen.set(name, cur);
    else capacitySeen.delete(name);
    if (cur && (!prev || prev.spec !== cur.spec || (cur.ready && !prev.ready))) requeueWaiting();
  };
  // A claim released capacity (deleted, Lost, moved): waiting claims get another try, once per
  // burst of releases; the node's summary is written after the first change (then at most once per
  // interval, gpunode-controller.ts).
  const summaryIntervalMs = s.nodeSummaryIntervalMs ?? 10_000;
  let requeueScheduled = false;
  const ledger = new AllocationLedger((node, freed) => {
    nodeQueue.addAfter(node, Math.min(1_000, summaryIntervalMs));
    if (!freed || requeueScheduled) return;
    requeueScheduled = true;
    clock.setTimeout(() => {
      requeueScheduled = false;
      requeueWaiting();
    }, 100);
  });
  const requeueWaiting = (): void => {
    for (const raw of claimInf.list()) {
      const st = (raw as { status?: { phase?: string; allocation?: unknown } }).status;
      if (st?.phase !== 'Bound' && !st?.allocation) claimQueue.add(`${raw.metadata?.namespace}/${raw.metadata?.name}`);
    }
  };
  // Claims that lost their GPU: newcomers place only into what is left after them. When one is
  // placed (or deleted), the claims it held capacity from get another try.
  const lost = new Set<string>();
  const claimInf = mgr.informer(api.claims, (key, echo) => {
    const phase = (claimInf.get(key) as { status?: { phase?: string } } | undefined)?.status?.phase;
    ledger.observe(key, claimInf.get(key));
    if (phase === 'Lost') lost.add(key);
    else if (lost.delete(key) && s.lostClaimsFirst) requeueWaiting();
    // The claim controller's own status write coming back: it already acted on what it wrote (a
    // bind asks for its ticket refresh, a Lost claim to be placed again), so a second reconcile of
    // the same object would be a no-op; the claim's pods still hear of it.
    if (!echo) claimQueue.add(key);
    const [ns, name] = key.split('/');
    for (const p of podCtl.podsOfClaim(ns ?? '', name ?? '')) podQueue.add(p);
  });
  const nodeInf = mgr.informer(api.gpuNodes, onNodeChange);
  const podInf = mgr.informer(api.pods, (key) => {
    podCtl.indexPod(key);
    podQueue.add(key);
  }, `${LABEL_MANAGED}=true`);
  const nodes = new NodeStore(nodeInf, s.heartbeatTimeoutMs, ledger);
  const ctx: OperatorContext = {
    api, clock, log, metrics,
    events: new EventRecorder(api, s.identity, clock, log),
    claims: claimInf, gpuNodes: nodeInf, pods: podInf, nodes, ledger,
    keyring: s.keyring,
    heartbeatTimeoutMs: s.heartbeatTimeoutMs,
    ticketTtlSeconds: s.ticketTtlSeconds,
    retryUnplacedMs: s.retryUnplacedMs,
    nodeSummaryIntervalMs: summaryIntervalMs,
    maxSessionsPerClaim: s.maxSessionsPerClaim ?? 8,
    claimBacklog: () => claimQueue.len(),
    lostClaims: () => (s.lostClaimsFirst ? lost : []),
  };
  const claimCtl = new ClaimController(ctx);
  const podCtl = new PodController(ctx);
  const nodeCtl = new GPUNodeController(ctx, (key) => claimQueue.add(key));
  const claimQueue = mgr.controller('claim', { workers: s.claimWorkers, reconcile: (k) => claimCtl.reconcile(k), keys: () => claimInf.keys() });
  const nodeQueue = mgr.controller('gpunode', { workers: 2, reconcile: (k) => nodeCtl.reconcile(k), keys: () => nodeInf.keys() });
  const podQueue = mgr.controller('pod', { workers: 2, reconcile: (k) => podCtl.reconcile(k), keys: () => podInf.keys() });

  metrics.bind({
    claimPhases: () => {
      const m = new Map<string, number>([['Pending', 0], ['Bound', 0], ['Lost', 0]]);
      for (const raw of claimInf.list()) {
        const p = claimSchema.shape.status.safeParse((raw as { status?: unknown }).status);
        const phase = (p.success ? p.data?.phase : undefined) ?? 'Pending';
        m.set(phase, (m.get(phase) ?? 0) + 1);
      }
      return m;
    },
    oldestWaitingSeconds: () => {
      // Waiting since the last transition of Scheduled (a Lost claim waits since it lost its GPU).
      let oldest = clock.now();
      for (const raw of claimInf.list()) {
        const p = claimSchema.shape.status.safeParse((raw as { status?: unknown }).status);
        const st = p.success ? p.data : undefined;
        if (st?.phase === 'Bound') continue;
        const since = Date.parse(st?.conditions.find((c) => c.type === 'Scheduled')?.lastTransitionTime ?? String((raw.metadata as { creationTimestamp?: string } | undefined)?.creationTimestamp ?? ''));
        if (Number.isFinite(since)) oldest = Math.min(oldest, since);
      }
      return Math.max(0, (clock.now() - oldest) / 1000);
    },
    nodeAllocations: () => nodes.all().map((n) => ({
      node: n.metadata.name,
      allocatedBytes: ledger.onNode(n.metadata.name).reduce((t, a) => t + a.memoryBytes, 0),
      capacityBytes: n.spec.devices.reduce((t, d) => t + d.memoryBytes, 0),
      ready: nodes.ready(n, clock.now()),
    })),
    isLeader: () => mgr.leading,
  });

  return {
    ctx, claims: claimCtl, gpuNodes: nodeCtl, pods: podCtl,
    requeueClaims: () => {
      for (const k of claimInf.keys()) claimQueue.add(k);
    },
  };
}
