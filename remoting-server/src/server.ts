// Composition of the remoting server from a validated Config: keyring, inventory, sessions, data plane,
// gRPC control API, metrics, and (when a cluster is reachable) GPUNode publishing and link measurement.
import { constants, readFileSync } from 'node:fs';
import { access } from 'node:fs/promises';
import type { Server as HttpServer } from 'node:http';
import { hostname } from 'node:os';
import { inClusterKubeConfig, KubeClient, readKubeconfig } from '@avec/kube';
import type { Config } from './config.js';
import { CONTROL_SERVICE } from './control/control-service.js';
import { startGrpcServer, stopGrpcServer } from './control/grpc-server.js';
import { HealthState } from './control/health-service.js';
import { DataPlane, type AdmissionContext } from './data-plane.js';
import { AvecError, errorMessage, type Logger } from '@avec/common';
import { formatHostPort } from './host-port.js';
import { kubeGPUNodeApi } from './inventory/gpunode-api.js';
import { describeDevices, type ObservedInventory } from './inventory/observed.js';
import { GPUNodePublisher } from './inventory/publisher.js';
import { measureLinks, resolveLinks, type SiteLink } from './links/links.js';
import { startMetricsServer } from './metrics-server.js';
import { createMetrics, recordTelemetry, type Metrics } from './metrics.js';
import { loadAddon, type Addon, type Telemetry } from './native/addon.js';
import { chooseExecutorBackend, type ExecutorBackend } from './sessions/executor-backend.js';
import { SessionManager } from './sessions/session-manager.js';
import { findOrphanExecutors } from './sessions/orphan-executors.js';
import { KeyringWatcher } from '@avec/tickets';

export interface RunningServer {
  dataPort: number;
  grpcPort: number;
  metricsPort: number;
  endpoint: string;
  metrics: Metrics;
  sessions: SessionManager;
  inventory: ObservedInventory;
  /** The --backend every executor gets, and whether it was configured or pinned from the inventory. */
  executorBackend: ExecutorBackend;
  keyring: KeyringWatcher;
  /** Stop admitting, wait up to drainMs for sessions, kill the rest, close everything. */
  shutdown(drainMs: number): Promise<void>;
}

export interface ServerDeps {
  logger: Logger;
  addon?: Addon;
  nowSeconds?: () => number;
  metrics?: Metrics;
}

/** The endpoint shims are told to use: --advertise, else POD_IP/HOST_IP or the hostname, with the data port. */
export function advertisedEndpoint(config: Config, dataPort: number, env: NodeJS.ProcessEnv): string {
  if (config.advertise) return formatHostPort(config.advertise);
  const listenHost = config.dataListen.host;
  const host = listenHost !== '0.0.0.0' && listenHost !== '::' ? listenHost : env.POD_IP || env.HOST_IP || hostname();
  return formatHostPort({ host, port: dataPort });
}

export async function startRemotingServer(config: Config, deps: ServerDeps): Promise<RunningServer> {
  const { logger } = deps;
  const metrics = deps.metrics ?? createMetrics({ defaultMetrics: true });
  const nowSeconds = deps.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  try {
    await access(config.executor, constants.X_OK);
  } catch {
    throw new AvecError('ExecutorMissing', `executor ${config.executor} is not an executable file (--executor)`);
  }
  const addon = deps.addon ?? loadAddon(config.addon);
  const adminToken = config.adminTokenFile ? readFileSync(config.adminTokenFile, 'utf8').trim() : undefined;
  if (adminToken === '') throw new AvecError('BadAdminToken', `--admin-token-file ${config.adminTokenFile} is empty`);

  // What has started so far, stopped in reverse if a later step fails (e.g. the gRPC port is taken).
  const started: Array<() => unknown> = [];
  try {
    return await startParts();
  } catch (e) {
    for (const stop of started.reverse()) await Promise.resolve(stop()).catch(() => {});
    throw e;
  }

  async function startParts(): Promise<RunningServer> {
    const keyring = new KeyringWatcher({ dir: config.ticketKeyDir, logger: logger.child({ component: 'keyring' }), invalid: 'skip' });
    await keyring.start();
    started.push(() => keyring.stop());
    if (keyring.keyring.size === 0) logger.warn('no ticket keys loaded: every session will be refused', { dir: config.ticketKeyDir });

    const inventory = await describeDevices(config.executor, config.backend ?? 'auto');
    logger.info('device inventory', { backend: inventory.backend, devices: inventory.devices.map((d) => `${d.ordinal}:${d.uuid}:${d.model}`) });
    const executorBackend = chooseExecutorBackend(config.backend, inventory);
    logger.info('executor backend', { backend: executorBackend.backend, source: executorBackend.source, observed: inventory.backend });
    if (executorBackend.source === 'observed' && executorBackend.backend === 'emulated') {
      logger.warn('no usable GPU found at start-up: serving the emulated device (sessions cannot run kernels)');
    }
    let telemetry: Telemetry | undefined;
    const refreshTelemetry = () =>
      addon.readTelemetry().then(
        (t) => {
          telemetry = t;
          recordTelemetry(metrics, t);
        },
        (e: unknown) => logger.debug('telemetry failed', { error: errorMessage(e) }),
      );
    await refreshTelemetry();
    const telemetryTimer = setInterval(() => void refreshTelemetry(), config.heartbeatSeconds * 1000);
    telemetryTimer.unref();
    started.push(() => {
      clearInterval(telemetryTimer);
      addon.shutdownTelemetry();
    });

    const sessions = new SessionManager({
      executor: config.executor,
      backend: executorBackend.backend,
      moduleCacheDir: config.moduleCacheDir,
      // At least info: the executor's session_end line carries the session's counters.
      executorLogLevel: config.logLevel === 'debug' ? 'debug' : 'info',
      closeGraceMs: config.closeGraceSeconds * 1000,
      pendingTtlMs: config.pendingSessionSeconds * 1000,
      logger: logger.child({ component: 'sessions' }),
      metrics,
      // Stripes and the callback connection join through the data listener (started below, before any session).
      joinChannels: { open: (n, id) => dataPlane.joinChannels.open(n, id), close: (n) => dataPlane.joinChannels.close(n) },
    });
    // Executors a crashed predecessor left running still serve their clients: count them (caps survive a restart).
    sessions.adopt(findOrphanExecutors(config.executor));
    const admission: AdmissionContext = {
      nodeName: config.nodeName,
      keyring: () => keyring.keyring,
      devices: () => inventory.devices,
      limits: { maxSessions: config.maxSessions, maxSessionsPerClaim: config.maxSessionsPerClaim },
      sessions,
      nowSeconds,
    };
    const dataPlane = new DataPlane({ addon, ctx: admission, metrics, logger: logger.child({ component: 'data-plane' }), helloTimeoutMs: config.helloTimeoutMs });
    const bound = dataPlane.start(config.dataListen.host, config.dataListen.port);
    started.push(() => dataPlane.stop());
    const endpoint = advertisedEndpoint(config, bound.port, process.env);

    // Links: measured periodically where probes are configured, declared values otherwise.
    let links: SiteLink[] = resolveLinks(config.links, new Map(), new Date());
    const refreshLinks = async () => {
      const measured = await measureLinks(config.links);
      links = resolveLinks(config.links, measured, new Date());
      for (const l of links) metrics.linkRttMs.set({ site: l.site, source: l.source }, l.rttMs);
    };
    let linkTimer: NodeJS.Timeout | undefined;
    if (config.links.some((l) => l.probe)) {
      await refreshLinks();
      linkTimer = setInterval(() => void refreshLinks(), config.linkProbeSeconds * 1000);
      linkTimer.unref();
      started.push(() => clearInterval(linkTimer));
    }

    let publisher: GPUNodePublisher | undefined;
    if (config.kube !== 'off') {
      // $KUBECONFIG is already folded into config.kubeconfig; no ~/.kube/config fallback: without
      // either, the server runs standalone.
      const target = config.kubeconfig ? readKubeconfig(config.kubeconfig) : inClusterKubeConfig();
      if (target) {
        publisher = new GPUNodePublisher({
          api: kubeGPUNodeApi(new KubeClient(target)), nodeName: config.nodeName, siteOverride: config.site, defaultSite: config.defaultSite, endpoint,
          inventory: () => inventory, links: () => links, heartbeatMs: config.heartbeatSeconds * 1000, draining: () => sessions.draining,
          logger: logger.child({ component: 'gpunode' }), metrics,
        });
        publisher.start();
        const p = publisher;
        started.push(() => p.stop());
        logger.info('publishing GPUNode', { apiServer: target.getCurrentCluster()?.server, heartbeatSeconds: config.heartbeatSeconds });
      } else {
        logger.info('no kubeconfig and not in a cluster: standalone, GPUNode not published');
      }
    }

    const health = new HealthState();
    const grpcStarted = await startGrpcServer(config.grpcListen, {
      admission, sessions, health, metrics, logger: logger.child({ component: 'control' }), nodeName: config.nodeName,
      site: () => publisher?.site() ?? config.site ?? config.defaultSite ?? '', dataEndpoint: () => endpoint, inventory: () => inventory,
      telemetry: () => telemetry, pendingTtlSeconds: config.pendingSessionSeconds, adminToken, nowSeconds,
    });
    started.push(() => stopGrpcServer(grpcStarted.server));
    let metricsServer: HttpServer | undefined;
    let metricsPort = 0;
    if (config.metricsPort !== 0) {
      const m = await startMetricsServer({
        host: '0.0.0.0', port: config.metricsPort, registry: metrics.registry,
        ready: () => (sessions.draining ? { ready: false, reason: 'draining' } : { ready: true }),
      });
      metricsServer = m.server;
      metricsPort = m.port;
    }
    logger.info('remoting server ready', { node: config.nodeName, endpoint, data: bound, grpcPort: grpcStarted.port, metricsPort, backend: executorBackend.backend });

    let shuttingDown: Promise<void> | undefined;
    const shutdown = (drainMs: number) =>
      (shuttingDown ??= (async () => {
        sessions.draining = true;
        health.set(CONTROL_SERVICE, 'NOT_SERVING');
        dataPlane.stop();
        const published = publisher?.syncOnce(); // tell placement at once, not at the next heartbeat
        const r = await sessions.drain(drainMs);
        await published;
        logger.info('sessions drained', r);
        clearInterval(telemetryTimer);
        if (linkTimer) clearInterval(linkTimer);
        await publisher?.stop();
        keyring.stop();
        addon.shutdownTelemetry();
        await stopGrpcServer(grpcStarted.server);
        await new Promise((res) => (metricsServer ? metricsServer.close(res) : res(undefined)));
      })());

    return { dataPort: bound.port, grpcPort: grpcStarted.port, metricsPort, endpoint, metrics, sessions, inventory, executorBackend, keyring, shutdown };
  }
}
