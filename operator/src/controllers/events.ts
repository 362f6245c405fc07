// core/v1 Events with machine-readable reasons, so `kubectl describe` explains a claim.
import type { KubeApi } from '@avec/kube';
import { type Logger, errorMessage } from '@avec/common';
import type { Clock } from '../kube/clock.js';

export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
}

export class EventRecorder {
  constructor(private readonly api: KubeApi, private readonly identity: string, private readonly clock: Clock, private readonly log: Logger) {}

  private inFlight = 0;
  /** Events dropped because too many were in flight (the log line is still written). */
  dropped = 0;

  /** Fire and forget, so Events never slow a reconcile; at most 64 in flight. */
  emitAsync(obj: InvolvedObject, type: 'Normal' | 'Warning', reason: string, message: string): void {
    if (this.inFlight >= 64) {
      this.dropped++;
      this.log.info('event', { namespace: obj.namespace, name: obj.name, kind: obj.kind, type, reason, message, dropped: true });
      return;
    }
    this.inFlight++;
    void this.emit(obj, type, reason, message).finally(() => this.inFlight--);
  }

  async emit(obj: InvolvedObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const ns = obj.namespace || 'default';
    const now = new Date(this.clock.now()).toISOString();
    const body = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${obj.name}.`, namespace: ns },
      involvedObject: obj,
      type,
      reason,
      message: message.slice(0, 1024),
      source: { component: 'avec-operator' },
      reportingComponent: 'avec.dev/operator',
      reportingInstance: this.identity,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    this.log.info('event', { namespace: obj.namespace, name: obj.name, kind: obj.kind, type, reason, message });
    try {
      await this.api.events.create(body, ns);
    } catch (err) {
      this.log.warn('event not recorded', { namespace: obj.namespace, name: obj.name, reason, error: errorMessage(err) });
    }
  }
}
