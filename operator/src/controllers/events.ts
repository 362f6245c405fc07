// core/v1 Events with machine-readable reasons, so `kubectl describe` explains a claim.
import type { KubeApi } from '../kube/client.js';
import { eventsPath } from '../kube/paths.js';
import type { Logger } from '../util/log.js';
import { errorMessage } from '../util/errors.js';
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
      await this.api.request('POST', eventsPath(ns), body);
    } catch (err) {
      this.log.warn('event not recorded', { namespace: obj.namespace, name: obj.name, reason, error: errorMessage(err) });
    }
  }
}
