// Prometheus metrics (prefix avec_), on a registry of our own so tests can make fresh ones.
import { Registry, Counter, Gauge, Histogram, collectDefaultMetrics } from 'prom-client';

export interface MetricSources {
  claimPhases(): Map<string, number>;
  /** Seconds the oldest Pending or Lost claim has waited (0 when none waits). */
  oldestWaitingSeconds(): number;
  nodeAllocations(): Array<{ node: string; allocatedBytes: number; capacityBytes: number; ready: boolean }>;
  isLeader(): boolean;
}

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly placementSeconds: Histogram<'policy'>;
  readonly bindLatencySeconds: Histogram;
  readonly webhookRequests: Counter<'outcome'>;
  readonly webhookSeconds: Histogram;
  readonly reconciles: Counter<'controller' | 'result'>;
  readonly kubeRequests: Counter<'verb' | 'code'>;
  readonly kubeRequestSeconds: Histogram<'verb'>;
  private sources?: MetricSources;

  constructor(defaults = false) {
    const registers = [this.registry];
    if (defaults) collectDefaultMetrics({ register: this.registry, prefix: 'avec_operator_' });
    this.placementSeconds = new Histogram({
      name: 'avec_placement_duration_seconds',
      help: 'Time of the pure placement decision for one claim',
      labelNames: ['policy'],
      buckets: [0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1],
      registers,
    });
    this.bindLatencySeconds = new Histogram({
      name: 'avec_claim_bind_latency_seconds',
      help: 'Time from claim creation to Bound',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    });
    this.webhookRequests = new Counter({ name: 'avec_webhook_requests_total', help: 'Admission requests by outcome (allowed, mutated, denied, error)', labelNames: ['outcome'], registers });
    this.webhookSeconds = new Histogram({
      name: 'avec_webhook_request_duration_seconds',
      help: 'Admission request handling time',
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5],
      registers,
    });
    this.kubeRequests = new Counter({ name: 'avec_kube_requests_total', help: 'Kubernetes API requests by verb and HTTP status (0 = transport error; 2xx counted as 200)', labelNames: ['verb', 'code'], registers });
    this.kubeRequestSeconds = new Histogram({
      name: 'avec_kube_request_duration_seconds',
      help: 'Kubernetes API request time by verb (watches excluded)',
      labelNames: ['verb'],
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.reconciles = new Counter({ name: 'avec_reconcile_total', help: 'Reconciles by controller and result', labelNames: ['controller', 'result'], registers });
    const self = this;
    new Gauge({
      name: 'avec_claims',
      help: 'VirtualGPUClaims by phase',
      labelNames: ['phase'],
      registers,
      collect() {
        this.reset();
        for (const [phase, n] of self.sources?.claimPhases() ?? []) this.set({ phase }, n);
      },
    });
    new Gauge({
      name: 'avec_claims_waiting_oldest_seconds',
      help: 'How long the oldest Pending or Lost VirtualGPUClaim has waited for a GPU (0 when none waits)',
      registers,
      collect() {
        this.set(self.sources?.oldestWaitingSeconds() ?? 0);
      },
    });
    new Gauge({
      name: 'avec_gpunode_allocated_memory_bytes',
      help: 'GPU memory allocated to claims, per GPU node',
      labelNames: ['node'],
      registers,
      collect() {
        this.reset();
        for (const n of self.sources?.nodeAllocations() ?? []) this.set({ node: n.node }, n.allocatedBytes);
      },
    });
    new Gauge({
      name: 'avec_gpunode_memory_bytes',
      help: 'GPU memory of all devices, per GPU node',
      labelNames: ['node'],
      registers,
      collect() {
        this.reset();
        for (const n of self.sources?.nodeAllocations() ?? []) this.set({ node: n.node }, n.capacityBytes);
      },
    });
    new Gauge({
      name: 'avec_gpunode_ready',
      help: '1 when the GPU node heart-beats within the timeout',
      labelNames: ['node'],
      registers,
      collect() {
        this.reset();
        for (const n of self.sources?.nodeAllocations() ?? []) this.set({ node: n.node }, n.ready ? 1 : 0);
      },
    });
    new Gauge({
      name: 'avec_operator_leader',
      help: '1 on the replica that holds the leader lease',
      registers,
      collect() {
        this.set(self.sources?.isLeader() ? 1 : 0);
      },
    });
  }

  bind(sources: MetricSources): void {
    this.sources = sources;
  }
}
