// What every controller shares: the API, caches, clock, logger, metrics, events and the keyring.
import type { KubeApi } from '@avec/kube';
import type { Clock } from '../kube/clock.js';
import type { Informer, KubeObject } from '../kube/informer.js';
import type { Logger } from '@avec/common';
import type { OperatorMetrics } from '../metrics.js';
import type { EventRecorder } from './events.js';
import type { NodeStore } from './node-store.js';
import type { AllocationLedger } from './allocation-ledger.js';
import type { Keyring } from '@avec/tickets';

export interface OperatorContext {
  api: KubeApi;
  clock: Clock;
  log: Logger;
  metrics: OperatorMetrics;
  events: EventRecorder;
  claims: Informer<KubeObject>;
  gpuNodes: Informer<KubeObject>;
  pods: Informer<KubeObject>;
  nodes: NodeStore;
  /** What every claim holds, derived from the claims' status (plus binds in flight). */
  ledger: AllocationLedger;
  keyring: () => Keyring;
  heartbeatTimeoutMs: number;
  ticketTtlSeconds: number;
  /** How long an unplaceable claim waits before it is tried again (capacity changes also retrigger it). */
  retryUnplacedMs: number;
  /** Least time between two allocation-summary writes of one GPUNode (its status is a summary of the ledger). */
  nodeSummaryIntervalMs: number;
  /** Claims waiting in the claim controller's queue (GPUNode summaries yield to binds while there are any). */
  claimBacklog: () => number;
  /** Session cap signed into a ticket (`maxs`) for claims without spec.maxSessions. */
  maxSessionsPerClaim: number;
  /** Keys of the claims that lost their GPU and wait to be placed again (placed before newcomers). */
  lostClaims: () => Iterable<string>;
}

