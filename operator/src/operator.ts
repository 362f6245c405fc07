// Wires the operator together: servers every replica runs (webhook, health, metrics) and the
// controllers only the leader runs. main.ts parses flags and calls runOperator().
import * as http from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { OperatorConfig } from './config.js';
import { createLogger, type Logger, errorMessage } from '@avec/common';
import { OperatorMetrics } from './metrics.js';
import { KeyringWatcher, dirSignature } from '@avec/tickets';
import { WebhookServer } from './admission/webhook-server.js';
import { SelfManagedCerts } from './admission/self-managed-certs.js';
import { KubeClient, type KubeApi } from '@avec/kube';
import { realClock, type Clock } from './kube/clock.js';
import { Informer, type KubeObject } from './kube/informer.js';
import { WorkQueue } from './kube/work-queue.js';
import { runWorkers } from './kube/controller-loop.js';
import { LeaderElector } from './kube/leader-elector.js';
import { NodeStore } from './controllers/node-store.js';
import { EventRecorder } from './controllers/events.js';
import { ClaimController } from './controllers/claim-controller.js';
import { GPUNodeController } from './controllers/gpunode-controller.js';
import { PodController } from './controllers/pod-controller.js';
import type { OperatorContext } from './controllers/context.js';
import { LABEL_MANAGED, claimSchema } from '@avec/api';

export interface RunningOperator {
  stop(): Promise<void>;
}

function serveHttp(port: number, host: string, handler: http.RequestListener): Promise<http.Server> {
  const s = http.createServer(handler);
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(port, host, () => resolve(s));
  });
}

export async function runOperator(cfg: OperatorConfig, opts: { log?: Logger; clock?: Clock; api?: KubeApi } = {}): Promise<RunningOperator> {
  const log = opts.log ?? createLogger({ component: 'operator' });
  const clock = opts.clock ?? realClock;
  const metrics = new OperatorMetrics(true);
  // A new signing key re-queues the claims (set once the controllers run); the first read must succeed.
  let onRotate = (): void => {};
  const keyring = new KeyringWatcher({ dir: cfg.ticketKeyDir, logger: log, onRotate: () => onRotate() });
  log.info('starting', { identity: cfg.identity, namespace: cfg.namespace, leaderElect: cfg.leaderElect, kids: keyring.load().kids() });
  let api: KubeApi;
  if (opts.api) api = opts.api;
  else {
    const client = KubeClient.load(cfg.kubeconfig);
    client.observe = (verb, code, seconds) => {
      metrics.kubeRequests.inc({ verb, code: String(code) });
      metrics.kubeRequestSeconds.observe({ verb }, seconds);
    };
    api = client;
  }
  const timers: Array<ReturnType<typeof setInterval>> = [];
  const every = (ms: number, fn: () => void): void => {
    const t = setInterval(fn, ms);
    t.unref();
    timers.push(t);
  };

  // --- webhook (every replica) ---
  let webhook: WebhookServer | undefined;
  let webhookUp = false;
  let selfCerts: SelfManagedCerts | undefined;
  if (cfg.webhookPort !== 0) {
    let tls: { cert: string; key: string };
    if (cfg.webhookCertMode === 'dir') {
      const dir = cfg.webhookCertDir!;
      const read = (): { cert: string; key: string } => ({ cert: readFileSync(join(dir, 'tls.crt'), 'utf8'), key: readFileSync(join(dir, 'tls.key'), 'utf8') });
      tls = read();
      let sig = dirSignature(dir);
      every(10_000, () => {
        const s = dirSignature(dir);
        if (s === sig) return;
        sig = s;
        try {
          webhook?.setTls(read());
          log.info('webhook certificate reloaded', { dir });
        } catch (err) {
          log.error('webhook certificate reload failed', { dir, error: errorMessage(err) });
        }
      });
    } else {
      selfCerts = new SelfManagedCerts(api, {
        namespace: cfg.namespace, secretName: cfg.webhookCertSecret, service: cfg.webhookService,
        webhookConfigName: cfg.webhookConfigName, clock, log,
      });
      tls = await selfCerts.ensure();
      every(60_000, () => {
        selfCerts!.ensure().then((t) => webhook?.setTls(t)).catch((err) => log.error('webhook certificate refresh failed', { error: errorMessage(err) }));
      });
    }
    webhook = new WebhookServer({
      port: cfg.webhookPort,
      host: cfg.webhookHost,
      path: cfg.webhookPath,
      tls,
      inject: { shimImage: cfg.shimImage, imagePullPolicy: cfg.shimPullPolicy, randomSuffix: () => randomBytes(4).toString('hex').slice(0, 5) },
      log,
      metrics,
    });
    const port = await webhook.listen();
    webhookUp = true;
    log.info('webhook serving', { port, path: cfg.webhookPath, certMode: cfg.webhookCertMode });
  }

  // --- controllers (leader only) ---
  const claimQueue = new WorkQueue(clock);
  const nodeQueue = new WorkQueue(clock);
  const podQueue = new WorkQueue(clock);
  let ctx: OperatorContext | undefined;
  let leading = false;
  let controllersStarted = false;
  const informerOpts = (labelSelector?: string) => ({ labelSelector, clock, log });
  const capacitySeen = new Map<string, { spec: string; ready: boolean; mem: number; cpct: number }>();

  const startControllers = (): void => {
    if (controllersStarted) return;
    controllersStarted = true;
    let claimCtl: ClaimController;
    let podCtl: PodController;
    const claims = new Informer<KubeObject>(api.claims, informerOpts(), (key) => {
      claimQueue.add(key);
      const [ns, name] = key.split('/');
      for (const p of podCtl.podsOfClaim(ns, name)) podQueue.add(p);
    });
    const gpuNodes = new Informer<KubeObject>(api.gpuNodes, informerOpts(), (name) => {
      nodes.refresh(name);
      nodeQueue.add(name);
      // Capacity may have grown (new node, node ready again, devices changed, allocations released):
      // claims waiting for a GPU get another try. Allocations being added never help, so binds
      // do not re-queue every pending claim.
      const n = nodes.get(name);
      const prev = capacitySeen.get(name);
      const cur = n
        ? { spec: JSON.stringify(n.spec.devices), ready: nodes.ready(n, clock.now()), mem: (n.status?.allocations ?? []).reduce((s, a) => s + a.memoryBytes, 0), cpct: (n.status?.allocations ?? []).reduce((s, a) => s + a.computePercent, 0) }
        : undefined;
      if (cur) capacitySeen.set(name, cur);
      else capacitySeen.delete(name);
      if (cur && (!prev || prev.spec !== cur.spec || (cur.ready && !prev.ready) || cur.mem < prev.mem || cur.cpct < prev.cpct)) {
        for (const raw of claims.list()) {
          const st = (raw as { status?: { phase?: string; allocation?: unknown } }).status;
          if (st?.phase !== 'Bound' && !st?.allocation) claimQueue.add(`${raw.metadata?.namespace}/${raw.metadata?.name}`);
        }
      }
    });
    const pods = new Informer<KubeObject>(api.pods, informerOpts(`${LABEL_MANAGED}=true`), (key) => {
      podCtl.indexPod(key);
      podQueue.add(key);
    });
    const nodes = new NodeStore(gpuNodes, cfg.heartbeatTimeoutSeconds * 1000);
    ctx = {
      api, clock, log, metrics,
      events: new EventRecorder(api, cfg.identity, clock, log),
      claims, gpuNodes, pods, nodes,
      keyring: () => keyring.refresh(),
      heartbeatTimeoutMs: cfg.heartbeatTimeoutSeconds * 1000,
      ticketTtlSeconds: cfg.ticketTtlSeconds,
      retryUnplacedMs: cfg.retryUnplacedSeconds * 1000,
    };
    claimCtl = new ClaimController(ctx);
    podCtl = new PodController(ctx);
    const nodeCtl = new GPUNodeController(ctx, (key) => claimQueue.add(key));
    for (const inf of [claims, gpuNodes, pods]) void inf.run();
    const counted = (name: string) => (ok: boolean) => metrics.reconciles.inc({ controller: name, result: ok ? 'success' : 'error' });
    // Reconcile only once the caches are filled, so placement sees every GPU node and allocation.
    const waitSynced = async (): Promise<void> => {
      while (!(claims.hasSynced() && gpuNodes.hasSynced() && pods.hasSynced())) await new Promise((r) => setTimeout(r, 100));
    };
    void waitSynced().then(() => {
      log.info('caches synced; controllers running', { claims: claims.keys().length, gpuNodes: gpuNodes.keys().length, pods: pods.keys().length });
      void runWorkers('claim', claimQueue, cfg.workers, (k) => claimCtl.reconcile(k), log, counted('claim'));
      void runWorkers('gpunode', nodeQueue, 2, (k) => nodeCtl.reconcile(k), log, counted('gpunode'));
      void runWorkers('pod', podQueue, 2, (k) => podCtl.reconcile(k), log, counted('pod'));
    });
    // A new signing key: every bound claim re-signs its ticket now rather than at the next resync.
    onRotate = () => {
      for (const k of claims.keys()) claimQueue.add(k);
    };
    every(30_000, () => keyring.refresh());
    every(cfg.resyncSeconds * 1000, () => {
      for (const k of claims.keys()) claimQueue.add(k);
      for (const k of gpuNodes.keys()) nodeQueue.add(k);
      for (const k of pods.keys()) podQueue.add(k);
    });
    metrics.bind({
      claimPhases: () => {
        const m = new Map<string, number>([['Pending', 0], ['Bound', 0], ['Lost', 0]]);
        for (const raw of claims.list()) {
          const p = claimSchema.shape.status.safeParse((raw as { status?: unknown }).status);
          const phase = (p.success ? p.data?.phase : undefined) ?? 'Pending';
          m.set(phase, (m.get(phase) ?? 0) + 1);
        }
        return m;
      },
      nodeAllocations: () => nodes.all().map((n) => ({
        node: n.metadata.name,
        allocatedBytes: (n.status?.allocations ?? []).reduce((s, a) => s + a.memoryBytes, 0),
        capacityBytes: n.spec.devices.reduce((s, d) => s + d.memoryBytes, 0),
        ready: nodes.ready(n, clock.now()),
      })),
      isLeader: () => leading,
    });
  };
  metrics.bind({ claimPhases: () => new Map(), nodeAllocations: () => [], isLeader: () => leading });

  let elector: LeaderElector | undefined;
  let exiting = false;
  if (cfg.leaderElect) {
    elector = new LeaderElector(api, cfg.namespace, cfg.leaseName, cfg.identity, clock, log, {
      onStartedLeading: () => {
        leading = true;
        startControllers();
      },
      onStoppedLeading: () => {
        leading = false;
        // As controller-runtime does: a replica that lost the lease exits and restarts clean.
        if (!exiting) {
          log.error('leadership lost; exiting so a fresh process rejoins the election', { identity: cfg.identity });
          process.exit(1);
        }
      },
      onNewLeader: (id) => log.info('leader observed', { leader: id, identity: cfg.identity }),
    });
    elector.start();
  } else {
    leading = true;
    startControllers();
  }

  // --- health and metrics (every replica) ---
  const health = await serveHttp(cfg.healthPort, '0.0.0.0', (req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/healthz') {
      res.writeHead(200).end('ok');
    } else if (path === '/readyz') {
      // Readiness gates Service traffic, i.e. the webhook, which needs no cache: ready once it serves.
      // The controllers' state is reported in the body for humans.
      const synced = ctx ? (ctx.claims.hasSynced() && ctx.gpuNodes.hasSynced() && ctx.pods.hasSynced() ? 'synced' : 'syncing') : 'not leading';
      const ok = cfg.webhookPort === 0 || webhookUp;
      res.writeHead(ok ? 200 : 503).end(`${ok ? 'ok' : 'webhook not serving'}; controllers: ${synced}`);
    } else res.writeHead(404).end();
  });
  const metricsSrv = await serveHttp(cfg.metricsPort, '0.0.0.0', (req, res) => {
    if ((req.url ?? '').split('?')[0] !== '/metrics') return void res.writeHead(404).end();
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'Content-Type': metrics.registry.contentType }).end(text),
      (err) => res.writeHead(500).end(errorMessage(err)),
    );
  });
  log.info('serving health and metrics', { healthPort: cfg.healthPort, metricsPort: cfg.metricsPort });

  return {
    async stop(): Promise<void> {
      exiting = true;
      for (const t of timers) clearInterval(t);
      await elector?.stop();
      for (const q of [claimQueue, nodeQueue, podQueue]) q.shutdown();
      ctx?.claims.stop();
      ctx?.gpuNodes.stop();
      ctx?.pods.stop();
      await webhook?.close();
      for (const s of [health, metricsSrv]) {
        s.closeAllConnections();
        await new Promise((r) => s.close(r));
      }
      log.info('stopped', { identity: cfg.identity });
    },
  };
}
