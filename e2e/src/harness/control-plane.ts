// The test control plane: etcd + kube-apiserver on loopback with a throwaway PKI, a kubeconfig in a
// temp dir, the project's CRDs installed, and kubectl/helm bound to it. Usable from node:test
// suites and from the demo; stop() (or any signal) tears everything down.
import { KubeClient, readKubeconfig } from '@avec/kube';
import { copyFileSync, mkdtempSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { onTeardown, type TeardownHandle } from './cleanup.js';
import { runCli, type CliOptions, type CliResult } from './cli.js';
import { startEtcd, type Etcd } from './etcd.js';
import { startKubeApiServer, type KubeApiServer } from './kube-apiserver.js';
import { writeKubeconfig } from './kubeconfig.js';
import { log } from './log.js';
import { TestPki } from './pki.js';
import { REPO_ROOT } from './repo-root.js';
import { kubeBinary } from './toolchain.js';
import { waitFor } from './wait.js';

export interface ControlPlaneOptions {
  /** Names build/e2e-logs/<name>/, where every process log is copied at stop() for post-mortems. */
  name?: string;
  /** Install the CRDs (charts/avec/crds/*.yaml) and wait until they are Established. Default true. */
  installCrds?: boolean;
  /** Keep the temp dir (logs, certs, etcd data) after stop(). Default: AVEC_E2E_KEEP=1. */
  keepDir?: boolean;
  apiServerArgs?: string[];
}

export class ControlPlane {
  readonly kubeconfig: string;
  private readonly teardown: TeardownHandle;

  constructor(
    readonly dir: string,
    readonly pki: TestPki,
    readonly etcd: Etcd,
    readonly apiServer: KubeApiServer,
    keepDir: boolean,
    logName?: string,
  ) {
    this.kubeconfig = writeKubeconfig(join(dir, 'kubeconfig'), {
      server: apiServer.url, caFile: pki.ca.cert,
      user: { certFile: apiServer.admin.cert, keyFile: apiServer.admin.key },
    });
    this.teardown = onTeardown('control plane', async () => {
      await apiServer.process.stop();
      await etcd.process.stop();
      if (logName) saveLogs(dir, join(REPO_ROOT, 'build', 'e2e-logs', logName));
      if (keepDir) log('info', 'control plane dir kept', { dir });
      else rmSync(dir, { recursive: true, force: true });
    }, () => {
      if (!keepDir) rmSync(dir, { recursive: true, force: true });
    });
  }

  get server(): string {
    return this.apiServer.url;
  }

  /** Environment for tools that talk to this cluster (their caches kept in the temp dir). */
  toolEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return {
      ...process.env,
      KUBECONFIG: this.kubeconfig,
      KUBECACHEDIR: join(this.dir, 'kube-cache'),
      HELM_CACHE_HOME: join(this.dir, 'helm', 'cache'),
      HELM_CONFIG_HOME: join(this.dir, 'helm', 'config'),
      HELM_DATA_HOME: join(this.dir, 'helm', 'data'),
      ...extra,
    };
  }

  kubectl(args: string[], opts: CliOptions = {}): Promise<CliResult> {
    return runCli(kubeBinary('kubectl'), args, { cwd: REPO_ROOT, ...opts, env: this.toolEnv(opts.env) });
  }

  helm(args: string[], opts: CliOptions = {}): Promise<CliResult> {
    return runCli(kubeBinary('helm'), args, { cwd: REPO_ROOT, ...opts, env: this.toolEnv(opts.env) });
  }

  /** A client-node client with the admin identity (from this cluster's kubeconfig). */
  rest(): KubeClient {
    return new KubeClient(readKubeconfig(this.kubeconfig));
  }

  async installCrds(crdDir = join(REPO_ROOT, 'charts', 'avec', 'crds')): Promise<void> {
    await this.kubectl(['apply', '--server-side', '-f', crdDir]);
    await this.kubectl(['wait', '--for=condition=Established', '--timeout=60s',
      'crd/virtualgpuclaims.avec.dev', 'crd/gpunodes.avec.dev']);
    // Established comes before the watch cache is ready ("429 storage is (re)initializing").
    const rest = this.rest();
    await waitFor(async () => {
      await rest.gpuNodes.list({ limit: 1 });
      await rest.claims.list({ limit: 1 });
      return true;
    }, { what: 'avec.dev resources to be served', timeoutMs: 60_000, intervalMs: 100 });
  }

  /** A kubeconfig for a ServiceAccount, with a token from the TokenRequest API. */
  async serviceAccountKubeconfig(namespace: string, name: string): Promise<string> {
    const { stdout } = await this.kubectl(['create', 'token', name, '-n', namespace, '--duration=2h']);
    return writeKubeconfig(join(this.dir, `kubeconfig-${namespace}-${name}`), {
      server: this.apiServer.url, caFile: this.pki.ca.cert, user: { token: stdout.trim() }, namespace,
    });
  }

  stop(): Promise<void> {
    return this.teardown.run();
  }
}

function saveLogs(from: string, to: string): void {
  try {
    rmSync(to, { recursive: true, force: true });
    mkdirSync(to, { recursive: true });
    for (const f of readdirSync(from)) if (f.endsWith('.log')) copyFileSync(join(from, f), join(to, f));
  } catch (err) {
    log('warn', 'could not save logs', { from, to, error: String(err) });
  }
}

export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const keepDir = opts.keepDir ?? process.env.AVEC_E2E_KEEP === '1';
  const dir = mkdtempSync(join(tmpdir(), 'avec-e2e-'));
  mkdirSync(join(dir, 'pki'));
  const removeDir = onTeardown('control plane dir', () => {
    if (!keepDir) rmSync(dir, { recursive: true, force: true });
  });
  const t0 = Date.now();
  let etcd: Etcd | undefined;
  try {
    const pki = await TestPki.create(join(dir, 'pki'));
    etcd = await startEtcd(dir);
    const apiServer = await startKubeApiServer({ dir, pki, etcdUrl: etcd.url, extraArgs: opts.apiServerArgs });
    const cp = new ControlPlane(dir, pki, etcd, apiServer, keepDir, opts.name);
    if (opts.installCrds ?? true) await cp.installCrds();
    log('info', 'control plane ready', { server: apiServer.url, dir, ms: Date.now() - t0 });
    removeDir.cancel();
    return cp;
  } catch (err) {
    await etcd?.process.stop();
    await removeDir.run();
    throw err;
  }
}
