// `make demo`: the whole system on one machine, narrated one line per step. A real kube-apiserver +
// etcd, avec installed with helm, the operator and a remoting server as processes, a claim applied
// with kubectl, and an unmodified CUDA program run through the shim with the claim's endpoint and
// ticket. Exit code 0 only if every step, including the CUDA program, succeeded.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { installAvec } from '../harness/avec-install.js';
import { runAll } from '../harness/cleanup.js';
import { startControlPlane } from '../harness/control-plane.js';
import { nodeObject } from '../harness/gpu-nodes.js';
import { startOperator } from '../harness/operator-process.js';
import { startRemotingServer } from '../harness/remoting-server-process.js';
import { REPO_ROOT } from '../harness/repo-root.js';
import { waitFor } from '../harness/wait.js';
import { isStatus } from '@avec/kube';

const NS = 'demo';
const SITE = 'edge-demo';
const NODE = `gpu-${hostname().toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 40)}`;
const t0 = Date.now();
let stepNo = 0;

function step(msg: string): void {
  stepNo++;
  process.stdout.write(`[demo ${String(((Date.now() - t0) / 1000).toFixed(1)).padStart(5)}s] ${stepNo}. ${msg}\n`);
}
function show(text: string): void {
  for (const line of text.trimEnd().split('\n')) process.stdout.write(`      | ${line}\n`);
}

const CLAIM = `apiVersion: avec.dev/v1alpha1
kind: VirtualGPUClaim
metadata:
  name: demo
  namespace: ${NS}
spec:
  memory: 2Gi
  computePercent: 50
  placement:
    site: ${SITE}
    policy: nearest
`;

async function runProgram(program: string, env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(program, [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const relay = (d: Buffer) => show(d.toString());
    child.stdout.on('data', relay);
    child.stderr.on('data', relay);
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(code ?? 1);
    });
  });
}

async function main(): Promise<number> {
  const program = process.argv[2] ?? join(REPO_ROOT, 'build', 'demo', 'avec-demo');
  const shim = join(REPO_ROOT, 'build', 'shim', 'libcuda.so.1');
  for (const f of [program, shim, join(REPO_ROOT, 'build', 'native', 'avec-executor')]) {
    if (!existsSync(f)) throw new Error(`${f} is missing: run make build (make demo does)`);
  }

  step('control plane: starting etcd and kube-apiserver (built from their Go modules) on loopback');
  const cp = await startControlPlane({ name: 'demo' });
  const version = JSON.parse((await cp.kubectl(['version', '-o', 'json'])).stdout).serverVersion.gitVersion;
  step(`control plane: kube-apiserver ${version} ready at ${cp.server}, CRDs virtualgpuclaims.avec.dev and gpunodes.avec.dev established`);

  step('helm install avec charts/avec (RBAC, webhook, ticket keys; the operator runs here as a process)');
  const inst = await installAvec(cp);
  show((await cp.helm(['list', '-n', inst.namespace])).stdout);

  step(`operator: starting as ServiceAccount ${inst.namespace}/${inst.operatorServiceAccount} (leader election on)`);
  const op = await startOperator(cp, inst, { identity: 'demo-operator', webhookPort: inst.webhookPort, heartbeatTimeoutSeconds: 30 });

  step(`remoting server: starting as GPU node ${NODE} in site ${SITE} (--backend auto: real GPU if present, else emulated)`);
  const rest = cp.rest();
  await rest.nodes.create(nodeObject(NODE, SITE, { 'avec.dev/gpu': 'true' }));
  const rsKubeconfig = await cp.serviceAccountKubeconfig(inst.namespace, `${inst.release}-remoting-server`);
  const rs = await startRemotingServer(cp, { nodeName: NODE, site: SITE, kubeconfig: rsKubeconfig, ticketKeyDir: inst.ticketKeyDir });
  await waitFor(async () => {
    const gn: any = await rest.gpuNodes.get(NODE).catch((e) => (isStatus(e, 404) ? undefined : Promise.reject(e)));
    return gn?.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True') ? gn : undefined;
  }, { what: `GPUNode ${NODE} Ready`, timeoutMs: 60_000 });
  step(`remoting server: published GPUNode ${NODE}; the operator marked it Ready`);
  show((await cp.kubectl(['get', 'gpunodes', '-o', 'wide'])).stdout);

  step('kubectl apply a VirtualGPUClaim (2Gi, 50% compute, nearest to edge-demo)');
  await cp.kubectl(['create', 'namespace', NS]);
  show(CLAIM);
  show((await cp.kubectl(['apply', '-f', '-'], { input: CLAIM })).stdout);
  await cp.kubectl(['wait', '-n', NS, '--for=jsonpath={.status.phase}=Bound', 'vgc/demo', '--timeout=60s']);
  step('claim is Bound:');
  show((await cp.kubectl(['get', 'vgc', '-n', NS])).stdout);

  const secret = JSON.parse((await cp.kubectl(['get', 'secret', 'avec-claim-demo', '-n', NS, '-o', 'json'])).stdout);
  const endpoint = Buffer.from(secret.data.endpoint, 'base64').toString();
  const ticket = Buffer.from(secret.data.ticket, 'base64').toString();
  step(`Secret avec-claim-demo: endpoint=${endpoint} ticket=${ticket.slice(0, 18)}... (${ticket.length} chars, HMAC-signed)`);

  step(`running ${program.replace(REPO_ROOT + '/', '')} with LD_PRELOAD=build/shim/libcuda.so.1 AVEC_SERVER=${endpoint} AVEC_TICKET=<ticket>`);
  const code = await runProgram(program, { ...process.env, LD_PRELOAD: shim, AVEC_SERVER: endpoint, AVEC_TICKET: ticket });
  step(code === 0 ? 'CUDA program finished: OK' : `CUDA program FAILED (exit ${code})`);

  step('cleanup: deleting the claim (its allocation is released)');
  await cp.kubectl(['delete', 'vgc', 'demo', '-n', NS, '--wait=true', '--timeout=30s']);
  const gn: any = await rest.gpuNodes.get(NODE);
  show(`GPUNode ${NODE}: ${(gn.status?.allocations ?? []).length} allocation(s), ${gn.status?.allocatedMemoryBytes ?? 0} bytes allocated`);
  step('cleanup: stopping remoting server, operator and control plane');
  await rs.stop();
  await op.stop();
  await cp.stop();
  step(code === 0 ? 'demo complete' : 'demo failed');
  return code === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  async (err: unknown) => {
    process.stderr.write(`[demo] FAILED: ${err instanceof Error ? err.message : String(err)}\n`);
    process.stderr.write('[demo] set AVEC_E2E_KEEP=1 to keep the logs of every process (path printed by the harness)\n');
    await runAll();
    process.exit(1);
  },
);
