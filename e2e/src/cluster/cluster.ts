// `make cluster-up` / `make cluster-down`: the system of `make demo`, kept running for kubectl flows.
//   node e2e/dist/cluster/cluster.js up [--state DIR]     start in the background, print KUBECONFIG
//   node e2e/dist/cluster/cluster.js status [--state DIR]
//   node e2e/dist/cluster/cluster.js down [--state DIR]   stop everything, remove the state
// `up` starts `serve` detached; `serve` runs the control plane, operator and remoting server until
// SIGTERM, with its log in DIR/cluster.log and what clients need in DIR/cluster.json.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { runAll } from '../harness/cleanup.js';
import { LOCAL_NODE, LOCAL_SITE, startLocalCluster } from '../harness/local-cluster.js';
import { REPO_ROOT } from '../harness/repo-root.js';
import { VERSION } from '../version.js';

const HELP = `Usage: node e2e/dist/cluster/cluster.js up|status|down [--state DIR]

A local avec cluster for trying kubectl flows: a real kube-apiserver + etcd, avec installed with helm,
the operator and one remoting server (real GPU if present, else the emulated device) as processes.
  up      start it in the background and print the KUBECONFIG to use (make cluster-up)
  status  say whether it runs
  down    stop it and remove its state (make cluster-down)
Flags: --state DIR (default build/cluster), -h/--help, --version
`;

const stateSchema = z.object({ pid: z.number().int().positive(), kubeconfig: z.string(), server: z.string(), node: z.string(), site: z.string() });
type State = z.infer<typeof stateSchema>;

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function readState(dir: string): State | undefined {
  const f = join(dir, 'cluster.json');
  if (!existsSync(f)) return undefined;
  const p = stateSchema.safeParse(JSON.parse(readFileSync(f, 'utf8')));
  return p.success ? p.data : undefined;
}

async function serve(dir: string): Promise<number> {
  const say = (m: string): void => void process.stdout.write(`[cluster] ${m}\n`);
  const c = await startLocalCluster({ name: 'cluster', keepDir: false, step: say });
  const kubeconfig = join(dir, 'kubeconfig');
  copyFileSync(c.cp.kubeconfig, kubeconfig);
  const state: State = { pid: process.pid, kubeconfig, server: c.cp.server, node: LOCAL_NODE, site: LOCAL_SITE };
  writeFileSync(join(dir, 'cluster.json'), JSON.stringify(state, null, 2));
  say('ready');
  await new Promise<void>((resolveStop) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolveStop());
  });
  say('stopping');
  await c.stop();
  rmSync(join(dir, 'cluster.json'), { force: true });
  rmSync(kubeconfig, { force: true });
  return 0;
}

async function up(dir: string, out: (s: string) => void): Promise<number> {
  const running = readState(dir);
  if (running && alive(running.pid)) {
    out(`already running (pid ${running.pid}):\n  export KUBECONFIG=${running.kubeconfig}\n`);
    return 0;
  }
  mkdirSync(dir, { recursive: true });
  rmSync(join(dir, 'cluster.json'), { force: true });
  const log = join(dir, 'cluster.log');
  const fd = openSync(log, 'w');
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'serve', '--state', dir], { detached: true, stdio: ['ignore', fd, fd] });
  child.unref();
  for (let t = 0; t < 600; t++) {
    const s = readState(dir);
    if (s) {
      out(`avec cluster running (pid ${s.pid}; API server ${s.server}; GPU node ${s.node} in site ${s.site}).
  export KUBECONFIG=${s.kubeconfig}
  kubectl get gpunodes
  kubectl apply -f operator/examples/claim.yaml && kubectl get vgc -A -o wide
Log: ${log}. Stop it: make cluster-down
`);
      return 0;
    }
    if (child.exitCode !== null || !alive(child.pid!)) break;
    await sleep(200);
  }
  out(`the cluster did not come up; last lines of ${log}:\n${readFileSync(log, 'utf8').split('\n').slice(-20).join('\n')}\n`);
  if (child.pid && alive(child.pid)) process.kill(child.pid, 'SIGTERM');
  return 1;
}

async function down(dir: string, out: (s: string) => void): Promise<number> {
  const s = readState(dir);
  if (!s || !alive(s.pid)) {
    rmSync(join(dir, 'cluster.json'), { force: true });
    out('no avec cluster running\n');
    return 0;
  }
  process.kill(s.pid, 'SIGTERM');
  for (let t = 0; t < 300 && alive(s.pid); t++) await sleep(100);
  if (alive(s.pid)) {
    out(`pid ${s.pid} did not stop within 30 s; see ${join(dir, 'cluster.log')}\n`);
    return 1;
  }
  out('avec cluster stopped\n');
  return 0;
}

export async function clusterMain(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { state: { type: 'string' }, help: { type: 'boolean', short: 'h' }, version: { type: 'boolean' } } });
  if (values.help) return out(HELP), 0;
  if (values.version) return out(`avec cluster ${VERSION}\n`), 0;
  const dir = resolve(values.state ?? join(REPO_ROOT, 'build', 'cluster'));
  switch (positionals[0]) {
    case 'up':
      return up(dir, out);
    case 'down':
      return down(dir, out);
    case 'serve':
      return serve(dir);
    case 'status': {
      const s = readState(dir);
      out(s && alive(s.pid) ? `running (pid ${s.pid})\n  export KUBECONFIG=${s.kubeconfig}\n` : 'no avec cluster running\n');
      return 0;
    }
    default:
      out(positionals[0] ? `unknown command "${positionals[0]}"\n\n${HELP}` : HELP);
      return 2;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  clusterMain(process.argv.slice(2), (s) => process.stdout.write(s)).then(
    (code) => process.exit(code),
    async (err: unknown) => {
      process.stderr.write(`[cluster] ${err instanceof Error ? err.message : String(err)}\n`);
      await runAll();
      process.exit(1);
    },
  );
}
