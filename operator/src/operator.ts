// Wires the operator together: what every replica serves (webhook, health, metrics) and the manager
// that runs the controllers on the leader. main.ts parses flags and calls runOperator().
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
import { Manager } from './manager/manager.js';
import { serveProbes } from './manager/probes.js';
import { registerControllers } from './controllers/register.js';

export interface RunningOperator {
  stop(): Promise<void>;
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

  // --- controllers (leader only), on the manager ---
  const mgr = new Manager({
    clock, log,
    resyncMs: cfg.resyncSeconds * 1000,
    onReconciled: (controller, ok) => metrics.reconciles.inc({ controller, result: ok ? 'success' : 'error' }),
    election: cfg.leaderElect
      ? {
          api, namespace: cfg.namespace, lease: cfg.leaseName, identity: cfg.identity,
          // As controller-runtime does: a replica that lost the lease exits and restarts clean.
          onStoppedLeading: () => {
            log.error('leadership lost; exiting so a fresh process rejoins the election', { identity: cfg.identity });
            process.exit(1);
          },
        }
      : undefined,
  });
  // The key directory is looked at (readdir + stat, on the event loop) at most once a second, not at
  // every bind: a rotated key is used within a second (and re-queues every claim, onRotate).
  let keyringCheckedAt = Number.NEGATIVE_INFINITY;
  const currentKeyring = () => {
    const now = clock.now();
    if (now - keyringCheckedAt < 1_000) return keyring.keyring;
    keyringCheckedAt = now;
    return keyring.refresh();
  };
  const controllers = registerControllers(mgr, api, metrics, {
    identity: cfg.identity,
    keyring: currentKeyring,
    heartbeatTimeoutMs: cfg.heartbeatTimeoutSeconds * 1000,
    ticketTtlSeconds: cfg.ticketTtlSeconds,
    retryUnplacedMs: cfg.retryUnplacedSeconds * 1000,
    nodeSummaryIntervalMs: cfg.nodeSummaryIntervalSeconds * 1000,
    maxSessionsPerClaim: cfg.maxSessionsPerClaim,
    claimWorkers: cfg.workers,
    lostClaimsFirst: cfg.lostClaimsFirst,
  });
  // A new signing key: every bound claim re-signs its ticket now rather than at the next resync.
  mgr.onLeading(() => {
    onRotate = () => controllers.requeueClaims();
  });
  mgr.every(30_000, () => keyring.refresh());
  await mgr.start();

  // --- health and metrics (every replica) ---
  // Readiness gates Service traffic, i.e. the webhook, which needs no cache: ready once it serves.
  // The controllers' state is reported in the body for humans.
  const probes = await serveProbes({
    healthPort: cfg.healthPort, metricsPort: cfg.metricsPort, registry: metrics.registry,
    ready: () => {
      const ok = cfg.webhookPort === 0 || webhookUp;
      return { ok, body: `${ok ? 'ok' : 'webhook not serving'}; controllers: ${mgr.state()}` };
    },
  });
  log.info('serving health and metrics', { healthPort: cfg.healthPort, metricsPort: cfg.metricsPort });

  return {
    async stop(): Promise<void> {
      for (const t of timers) clearInterval(t);
      await mgr.stop();
      await webhook?.close();
      await probes.close();
      log.info('stopped', { identity: cfg.identity });
    },
  };
}
