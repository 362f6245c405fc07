// The I/O half of leader election: every retry period read the Lease, decide (leader-election.ts),
// write with the read resourceVersion. A conflict means someone else wrote first: just retry.
import { isStatus, type KubeApi } from '@avec/kube';
import type { Clock } from './clock.js';
import { type Logger, errorMessage } from '@avec/common';
import { decide, observe, mustStepDown, released, DEFAULT_TIMINGS, type ElectionTimings, type LeaseRecord, type Observation } from './leader-election.js';

interface LeaseObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: LeaseRecord;
}

export interface LeaderCallbacks {
  onStartedLeading(): void;
  onStoppedLeading(): void;
  onNewLeader?(identity: string): void;
}

export class LeaderElector {
  private obs: Observation | undefined;
  private lastRenewMs = 0;
  private leading = false;
  private stopped = false;
  private timer: unknown;
  private lastSeenHolder = '';
  private current: LeaseObject | undefined;

  constructor(
    private readonly api: Pick<KubeApi, 'leases'>,
    private readonly namespace: string,
    private readonly name: string,
    private readonly identity: string,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly cb: LeaderCallbacks,
    private readonly t: ElectionTimings = DEFAULT_TIMINGS,
  ) {}

  isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    void this.tick();
  }

  private schedule(ms: number): void {
    if (!this.stopped) this.timer = this.clock.setTimeout(() => void this.tick(), ms);
  }

  /** One round; exported for tests through start()/the clock. */
  async tick(): Promise<void> {
    if (this.stopped) return;
    const now = this.clock.now();
    try {
      let lease: LeaseObject | undefined;
      try {
        lease = (await this.api.leases.get(this.name, this.namespace)) as LeaseObject;
      } catch (err) {
        if (!isStatus(err, 404)) throw err;
      }
      this.current = lease;
      this.obs = observe(this.obs, lease?.spec, now);
      const holder = lease?.spec?.holderIdentity ?? '';
      if (holder && holder !== this.lastSeenHolder) {
        this.lastSeenHolder = holder;
        this.cb.onNewLeader?.(holder);
      }
      const action = decide(this.identity, this.obs, now, this.t);
      if (action.kind === 'wait') {
        if (this.leading) this.lose('another replica holds the lease');
      } else {
        const body: LeaseObject = {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.name, namespace: this.namespace, ...(lease ? { resourceVersion: lease.metadata.resourceVersion } : {}) },
          spec: action.record,
        };
        const written = action.kind === 'create'
          ? ((await this.api.leases.create(body, this.namespace)) as LeaseObject)
          : ((await this.api.leases.replace(this.name, body, this.namespace)) as LeaseObject);
        this.current = written;
        this.obs = observe(this.obs, written.spec, now);
        this.lastRenewMs = now;
        if (!this.leading) {
          this.leading = true;
          this.lastSeenHolder = this.identity;
          this.log.info('became leader', { lease: `${this.namespace}/${this.name}`, identity: this.identity, takeover: action.kind === 'update' && action.takeover });
          this.cb.onStartedLeading();
        }
      }
    } catch (err) {
      if (!isStatus(err, 409)) this.log.warn('lease update failed', { lease: `${this.namespace}/${this.name}`, error: errorMessage(err) });
    }
    if (this.leading && mustStepDown(this.lastRenewMs, this.clock.now(), this.t)) this.lose('could not renew the lease within the deadline');
    this.schedule(this.t.retryPeriodMs);
  }

  private lose(why: string): void {
    this.leading = false;
    this.log.warn('lost leadership', { lease: `${this.namespace}/${this.name}`, identity: this.identity, why });
    this.cb.onStoppedLeading();
  }

  /** Stop; a leader releases the lease so a successor takes over without waiting for expiry. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.clock.clearTimeout(this.timer);
    if (this.leading && this.current?.spec) {
      try {
        await this.api.leases.replace(this.name, { ...this.current, spec: released(this.current.spec, this.clock.now()) }, this.namespace);
      } catch (err) {
        this.log.warn('lease release failed', { error: errorMessage(err) });
      }
      this.leading = false;
    }
  }
}
