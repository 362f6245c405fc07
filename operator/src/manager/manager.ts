// The operator's manager (controller-runtime's shape): informers and controllers are registered on
// it; it runs the leader election, and once this replica leads it starts the informers, waits for
// their caches to sync, then starts each controller's workers and the periodic resync. main
// (through runOperator), the controller tests and the benchmarks all wire controllers through it.
import type { KubeApi, Resource } from '@avec/kube';
import type { Logger } from '@avec/common';
import type { Clock } from '../kube/clock.js';
import { Informer, type KubeObject } from '../kube/informer.js';
import { WorkQueue } from '../kube/work-queue.js';
import { runWorkers, type Reconciler } from '../kube/controller-loop.js';
import { LeaderElector } from '../kube/leader-elector.js';

export interface ElectionOptions {
  api: Pick<KubeApi, 'leases'>;
  namespace: string;
  lease: string;
  identity: string;
  /** Leadership lost (controller-runtime exits the process; so does main). */
  onStoppedLeading(): void;
}

export interface ManagerOptions {
  clock: Clock;
  log: Logger;
  /** Absent: this replica leads at once. */
  election?: ElectionOptions;
  /** Every controller's keys are re-queued this often (level-based safety net); 0: never. */
  resyncMs?: number;
  /** Told after each reconcile (metrics). */
  onReconciled?: (controller: string, ok: boolean) => void;
}

interface ControllerEntry {
  name: string;
  queue: WorkQueue;
  workers: number;
  reconcile: Reconciler;
  /** The keys a resync re-queues. */
  keys: () => string[];
}

export class Manager {
  private readonly informers: Informer<KubeObject>[] = [];
  private readonly controllers: ControllerEntry[] = [];
  private readonly leadingHooks: Array<() => void> = [];
  private readonly timers: Array<ReturnType<typeof setInterval>> = [];
  private elector: LeaderElector | undefined;
  private started = false;
  private stopping = false;
  private leadingNow = false;
  private syncedNow = false;

  constructor(private readonly o: ManagerOptions) {}

  get clock(): Clock {
    return this.o.clock;
  }
  get log(): Logger {
    return this.o.log;
  }
  get leading(): boolean {
    return this.leadingNow;
  }

  /** A cache of one kind; `onChange` gets the key of every object that changed. Runs while leading. */
  informer(resource: Resource, onChange: (key: string, echo?: boolean) => void, labelSelector?: string): Informer<KubeObject> {
    const inf = new Informer<KubeObject>(resource, { labelSelector, clock: this.o.clock, log: this.o.log }, onChange);
    this.informers.push(inf);
    return inf;
  }

  /** A controller: its queue (returned, so informers can feed it) and `workers` reconcile loops. */
  controller(name: string, o: { workers: number; reconcile: Reconciler; keys: () => string[] }): WorkQueue {
    const queue = new WorkQueue(this.o.clock);
    this.controllers.push({ name, queue, ...o });
    return queue;
  }

  /** Called once this replica leads and the caches are synced. */
  onLeading(fn: () => void): void {
    this.leadingHooks.push(fn);
  }

  /** A timer that lives as long as the manager. */
  every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.timers.push(t);
  }

  hasSynced(): boolean {
    return this.informers.every((i) => i.hasSynced());
  }

  /** Resolves once every informer has listed (polling the caches, as client-go's WaitForCacheSync). */
  async waitForSync(): Promise<void> {
    while (!this.hasSynced() && !this.stopping) await new Promise((r) => setTimeout(r, this.informers.length ? 20 : 0));
  }

  /** 'not leading' | 'syncing' | 'synced': for /readyz's body and logs. */
  state(): string {
    return !this.leadingNow ? 'not leading' : this.syncedNow ? 'synced' : 'syncing';
  }

  /**
   * Starts the election (or leads at once). `runWorkers: false` (tests that call reconcile
   * themselves) starts the informers and waits for them, but no workers.
   */
  async start(o: { runWorkers?: boolean } = {}): Promise<void> {
    if (this.started) return;
    this.started = true;
    const lead = (): Promise<void> => this.lead(o.runWorkers ?? true);
    const e = this.o.election;
    if (!e) return lead();
    this.elector = new LeaderElector(e.api, e.namespace, e.lease, e.identity, this.o.clock, this.o.log, {
      onStartedLeading: () => void lead(),
      onStoppedLeading: () => {
        this.leadingNow = false;
        if (!this.stopping) e.onStoppedLeading();
      },
      onNewLeader: (id) => this.o.log.info('leader observed', { leader: id, identity: e.identity }),
    });
    this.elector.start();
  }

  private async lead(withWorkers: boolean): Promise<void> {
    if (this.leadingNow) return;
    this.leadingNow = true;
    for (const inf of this.informers) void inf.run();
    // Reconcile only once the caches are filled, so placement sees every GPU node and allocation.
    await this.waitForSync();
    if (this.stopping) return;
    this.syncedNow = true;
    this.o.log.info('caches synced; controllers running', { controllers: this.controllers.map((c) => c.name) });
    for (const h of this.leadingHooks) h();
    if (!withWorkers) return;
    for (const c of this.controllers) {
      void runWorkers(c.name, c.queue, c.workers, c.reconcile, this.o.log, (ok) => this.o.onReconciled?.(c.name, ok));
    }
    if (this.o.resyncMs) this.every(this.o.resyncMs, () => this.resync());
  }

  /** Re-queue every key of every controller. */
  resync(): void {
    for (const c of this.controllers) for (const k of c.keys()) c.queue.add(k);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    await this.elector?.stop();
    for (const c of this.controllers) c.queue.shutdown();
    for (const inf of this.informers) inf.stop();
    this.leadingNow = false;
  }
}
