// Keeps this node's GPUNode current: spec when it changes, status.heartbeatTime/capacity every period.
import { statusOf } from '@avec/kube';
import { errorMessage, type Logger } from '@avec/common';
import type { SiteLink } from '../links/links.js';
import type { Metrics } from '../metrics.js';
import type { GPUNodeApi } from './gpunode-api.js';
import type { ObservedInventory } from './observed.js';
import { labelPatch, renderGPUNode, renderHeartbeat, siteOf, specNeedsUpdate } from './render.js';

export interface PublisherOptions {
  api: GPUNodeApi;
  nodeName: string;
  siteOverride?: string;
  defaultSite?: string;
  endpoint: string;
  inventory: () => ObservedInventory;
  links: () => SiteLink[];
  heartbeatMs: number;
  draining?: () => boolean;
  logger: Logger;
  metrics: Metrics;
  now?: () => Date;
}

export class GPUNodePublisher {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private lastSite = '';
  private lastError = '';

  constructor(private readonly opts: PublisherOptions) {
    this.lastSite = opts.siteOverride ?? opts.defaultSite ?? '';
  }

  site(): string {
    return this.lastSite;
  }

  /** One reconcile: create or update the spec where needed, then write the heartbeat. */
  async syncOnce(): Promise<void> {
    const { api, nodeName, logger } = this.opts;
    const now = (this.opts.now ?? (() => new Date()))();
    try {
      const labels = this.opts.siteOverride ? undefined : await api.nodeLabels(nodeName).catch((e: unknown) => {
        // Without RBAC for Nodes the site just stays unset (or configured); never fatal.
        logger.debug('cannot read the Node labels', { node: nodeName, error: errorMessage(e) });
        return undefined;
      });
      this.lastSite = siteOf(this.opts.siteOverride, labels, this.opts.defaultSite);
      const inventory = this.opts.inventory();
      const desired = renderGPUNode({ nodeName, site: this.lastSite, endpoint: this.opts.endpoint, inventory, links: this.opts.links(), backend: inventory.backend, draining: this.opts.draining?.() });
      const current = await api.getGPUNode(nodeName);
      if (!current) {
        await api.createGPUNode(desired).catch(async (e: unknown) => {
          if (statusOf(e) !== 409) throw e; // created meanwhile: patch instead
          await api.patchGPUNode(nodeName, { metadata: { labels: desired.metadata.labels }, spec: desired.spec });
        });
        logger.info('GPUNode created', { name: nodeName, site: this.lastSite, devices: desired.spec.devices.length });
      } else {
        const labelChanges = labelPatch(current.labels, desired.metadata.labels);
        if (labelChanges || specNeedsUpdate(current.spec, desired.spec)) {
          await api.patchGPUNode(nodeName, { metadata: { labels: labelChanges ?? {} }, spec: desired.spec });
          logger.info('GPUNode updated', { name: nodeName, site: this.lastSite, labels: labelChanges });
        }
      }
      await api.patchGPUNodeStatus(nodeName, renderHeartbeat(inventory, now));
      this.opts.metrics.heartbeats.inc({ result: 'ok' });
      if (this.lastError) logger.info('GPUNode heartbeat recovered', { name: nodeName });
      this.lastError = '';
    } catch (e) {
      this.opts.metrics.heartbeats.inc({ result: 'error' });
      const msg = errorMessage(e);
      // Log a failure once per distinct message, not every period.
      if (msg !== this.lastError) logger.error('GPUNode publish failed', { name: nodeName, status: statusOf(e), error: msg });
      this.lastError = msg;
    }
  }

  start(): void {
    const tick = () => {
      this.running = this.syncOnce().finally(() => {
        this.running = undefined;
        if (this.timer !== undefined) this.timer = setTimeout(tick, this.opts.heartbeatMs);
      });
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    const t = this.timer;
    this.timer = undefined;
    clearTimeout(t);
    await this.running;
  }
}
