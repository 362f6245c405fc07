// `make demo`: the whole system on one machine, narrated one line per step. A real kube-apiserver +
// etcd, avec installed with helm, the operator and a remoting server as processes, a claim applied
// with kubectl, and an unmodified CUDA program run through the shim with the claim's endpoint and
// ticket. Exit code 0 only if every step, including the CUDA program, succeeded.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runAll } from '../harness/cleanup.js';
import { LOCAL_NODE as NODE, LOCAL_SITE as SITE, startLocalCluster } from '../harness/local-cluster.js';
import { REPO_ROOT } from '../harness/repo-root.js';
import { waitFor } from '../harness/wait.js';

const NS = 'demo';
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

  const { cp, rs, op } = await startLocalCluster({ name: 'demo', step, show });
  const rest = cp.rest();

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
  // The GPUNode's allocation summary follows the claims within --node-summary-interval-seconds.
  const gn: any = await waitFor(async () => {
    const n: any = await rest.gpuNodes.get(NODE);
    return (n.status?.allocations ?? []).length === 0 ? n : undefined;
  }, { what: `GPUNode ${NODE} summary without the claim`, timeoutMs: 30_000, intervalMs: 250 }).catch(() => rest.gpuNodes.get(NODE));
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
