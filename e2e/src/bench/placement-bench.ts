// `make bench-placement`: 10,000 VirtualGPUClaims across 1,000 GPUNodes in 50 sites (measured-latency
// matrix) against the real kube-apiserver and the real operator. Reports claims placed per second,
// creation->Bound latency percentiles, the operator's own placement time, and the pure placement
// benchmark (operator/dist/bench/placement-bench.js) run on the same machine, into
// bench/results/placement-<date>.md. Sizes: AVEC_BENCH_CLAIMS / _NODES / _SITES / _CONCURRENCY.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { z } from 'zod';
import { listAll } from '@avec/kube';
import { installAvec } from '../harness/avec-install.js';
import { startControlPlane } from '../harness/control-plane.js';
import { gpuNodeObject, heartbeat } from '../harness/gpu-nodes.js';
import { startOperator } from '../harness/operator-process.js';
import { REPO_ROOT } from '../harness/repo-root.js';
import { waitFor } from '../harness/wait.js';
import { buildEdge, claimMix, percentile } from './fleet-model.js';
import { writeReport } from './placement-report.js';
import { counterBy, histogramMean } from './prom-text.js';
import { cpuBetween, cpuSnapshot } from './proc-cpu.js';

// Sizes come from the environment, validated once here.
const count = (d: number) => z.coerce.number().int().min(0).default(d);
const benchEnv = z.object({
  AVEC_BENCH_CLAIMS: count(10_000),
  AVEC_BENCH_NODES: count(1_000).refine((n) => n > 0, 'needs at least one GPU node'),
  AVEC_BENCH_SITES: count(50).refine((n) => n > 0, 'needs at least one site'),
  AVEC_BENCH_CONCURRENCY: count(16).refine((n) => n > 0, 'needs at least one client'),
  AVEC_BENCH_PACED: count(300),
  AVEC_BENCH_PACED_RATE: z.coerce.number().positive().default(5),
  AVEC_BENCH_TIMEOUT_S: count(1_500),
  /** Seconds to wait, once the GPUNode summaries hold every Bound claim, before the API writes are counted (0: do not wait for the summaries). */
  AVEC_BENCH_SUMMARY_SETTLE_S: count(5),
  /** Operator flags added to the harness's, space-separated (e.g. `--workers=32`). */
  AVEC_BENCH_OPERATOR_ARGS: z.string().default(''),
  /** Node.js flags for the operator process, space-separated (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`). */
  AVEC_BENCH_OPERATOR_NODE_ARGS: z.string().default(''),
  /** kube-apiserver flags added to the harness's, space-separated (e.g. `--profiling=true` for /debug/pprof). */
  AVEC_BENCH_APISERVER_ARGS: z.string().default(''),
  /** Where the report goes (the smoke test points it at a temp dir). */
  AVEC_BENCH_RESULTS_DIR: z.string().min(1).optional(),
}).parse(process.env);
const N_CLAIMS = benchEnv.AVEC_BENCH_CLAIMS;
const N_NODES = benchEnv.AVEC_BENCH_NODES;
const N_SITES = benchEnv.AVEC_BENCH_SITES;
const CONCURRENCY = benchEnv.AVEC_BENCH_CONCURRENCY;
const N_PACED = benchEnv.AVEC_BENCH_PACED;
const PACED_RATE = benchEnv.AVEC_BENCH_PACED_RATE;
const TIMEOUT_MS = benchEnv.AVEC_BENCH_TIMEOUT_S * 1000;
const SUMMARY_SETTLE_MS = benchEnv.AVEC_BENCH_SUMMARY_SETTLE_S * 1000;
const N_NAMESPACES = 10;

const say = (msg: string) => process.stdout.write(`[bench-placement] ${msg}\n`);

async function pool<T>(items: T[], concurrency: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  }));
}

/** What the operator writes for a bound claim, in size and shape (an HMAC ticket is ~360 characters). */
function rawBindSecret(c: any, i: number): object {
  const b64 = (x: string) => Buffer.from(x).toString('base64');
  return {
    apiVersion: 'v1', kind: 'Secret', type: 'avec.dev/claim',
    metadata: { name: `avec-claim-${c.metadata.name}`, labels: { 'app.kubernetes.io/managed-by': 'avec-operator', 'avec.dev/claim': c.metadata.name },
      ownerReferences: [{ apiVersion: 'avec.dev/v1alpha1', kind: 'VirtualGPUClaim', name: c.metadata.name, uid: c.metadata.uid, controller: true }] },
    data: { endpoint: b64(`10.0.${i >> 8 & 255}.${i & 255}:7400`), ticket: b64(`avt1.${'x'.repeat(300)}.${'y'.repeat(43)}`), claim: b64(`bench-raw/${c.metadata.name}`) },
  };
}

/** The status write the operator sends: identity and status only (operator/src/kube/status-writer.ts). */
function rawStatusBody(c: any, status: object): object {
  const { name, namespace, uid, resourceVersion } = c.metadata;
  return { apiVersion: c.apiVersion, kind: c.kind, metadata: { name, namespace, uid, resourceVersion }, status };
}

function rawBoundStatus(i: number): object {
  const t = new Date().toISOString();
  return {
    phase: 'Bound', observedGeneration: 1, secretName: `avec-claim-raw-${i}`,
    allocation: { node: `gpu-${i % 1000}`, site: 'site-0', deviceUUID: `GPU-${i}`, endpoint: '10.0.0.1:7400', memoryBytes: 2 ** 30, computePercent: 10, latencyMs: 1, boundTime: t },
    conditions: [
      { type: 'Scheduled', status: 'True', reason: 'Placed', message: `placed on gpu-${i % 1000} (site site-0), device GPU-${i}`, lastTransitionTime: t, observedGeneration: 1 },
      { type: 'Ready', status: 'True', reason: 'Bound', message: 'secret avec-claim-x holds endpoint 10.0.0.1:7400 and a ticket', lastTransitionTime: t, observedGeneration: 1 },
    ],
  };
}

async function main(): Promise<void> {
  const model = buildEdge(N_SITES, N_NODES);
  const claims = claimMix(N_CLAIMS, model.sites);
  say(`${N_CLAIMS} claims, ${N_NODES} GPU nodes (4 GPUs each), ${N_SITES} sites; client concurrency ${CONCURRENCY}`);

  const cp = await startControlPlane({ name: 'bench-placement', apiServerArgs: benchEnv.AVEC_BENCH_APISERVER_ARGS.split(' ').filter(Boolean) });
  const inst = await installAvec(cp);
  const rest = cp.rest();
  try {
    let t = Date.now();
    await pool(model.nodes, CONCURRENCY, async (n) => {
      await rest.gpuNodes.create(gpuNodeObject(n));
      await heartbeat(rest, n.name);
    });
    say(`published ${N_NODES} GPUNodes in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    for (let i = 0; i < N_NAMESPACES; i++) await rest.namespaces.create({ metadata: { name: `bench-${i}` } });

    // The API server's own create throughput for the same kind and clients, before any operator runs:
    // what the operator's bind rate is measured against (issue 10: bind >= 80% of the create rate).
    const nRaw = Math.min(2_000, N_CLAIMS);
    await rest.namespaces.create({ metadata: { name: 'bench-raw' } });
    const tRaw = Date.now();
    const rawClaims: any[] = new Array(nRaw);
    await pool(claims.slice(0, nRaw), CONCURRENCY, async (spec, i) => {
      rawClaims[i] = await rest.claims.create({ apiVersion: 'avec.dev/v1alpha1', kind: 'VirtualGPUClaim', metadata: { name: `raw-${i}`, namespace: 'bench-raw' }, spec }, 'bench-raw');
    });
    const rawCreatePerSecond = nRaw / ((Date.now() - tRaw) / 1000);
    // The same clients doing, per claim, the two writes the operator's bind does (its Secret and the
    // Bound status): the API server's ceiling for binding, with no operator in the way.
    const tSecret = Date.now();
    await pool(rawClaims, CONCURRENCY, async (c, i) => {
      await rest.secrets.create(rawBindSecret(c, i), 'bench-raw');
    });
    const rawSecretPerSecond = nRaw / ((Date.now() - tSecret) / 1000);
    const tStatus = Date.now();
    await pool(rawClaims, CONCURRENCY, async (c, i) => {
      await rest.claims.replaceStatus(c.metadata.name, rawStatusBody(c, rawBoundStatus(i)), 'bench-raw');
    });
    const rawStatusPerSecond = nRaw / ((Date.now() - tStatus) / 1000);
    const rawBindCeiling = 1 / (1 / rawCreatePerSecond + 1 / rawSecretPerSecond + 1 / rawStatusPerSecond);
    say(`raw API server: ${rawSecretPerSecond.toFixed(0)} Secret creates/s, ${rawStatusPerSecond.toFixed(0)} Bound status writes/s; create+Secret+status ceiling ${rawBindCeiling.toFixed(0)} claims/s`);
    await rest.custom.deleteCollectionNamespacedCustomObject({ group: 'avec.dev', version: 'v1alpha1', namespace: 'bench-raw', plural: 'virtualgpuclaims' });
    await rest.core.deleteCollectionNamespacedSecret({ namespace: 'bench-raw' });
    await waitFor(async () => ((await rest.claims.list({ limit: 1 }, 'bench-raw')).items.length === 0 ? true : undefined), { what: 'raw claims deleted', timeoutMs: 300_000 });
    say(`raw API server create throughput (no operator): ${rawCreatePerSecond.toFixed(0)} claims/s over ${nRaw}`);

    const op = await startOperator(cp, inst, {
      identity: 'bench', heartbeatTimeoutSeconds: 3_600, extraArgs: benchEnv.AVEC_BENCH_OPERATOR_ARGS.split(' ').filter(Boolean), nodeArgs: benchEnv.AVEC_BENCH_OPERATOR_NODE_ARGS.split(' ').filter(Boolean), env: { AVEC_LOG: process.env.AVEC_BENCH_OPERATOR_LOG ?? 'warn' } });
    await waitFor(async () => /^avec_operator_leader(?:\{[^}]*\})? 1$/m.test(await op.metrics()), { what: 'operator leadership', timeoutMs: 60_000 });
    await waitFor(async () => {
      const l: any = await listAll(rest.gpuNodes);
      return l.items.filter((n: any) => n.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True')).length === N_NODES;
    }, { what: 'all GPUNodes Ready', timeoutMs: 300_000, intervalMs: 1_000 });
    say('operator leads; all GPUNodes Ready');

    const created = new Map<string, number>();
    const boundAt = new Map<string, number>();
    const rv = (await rest.claims.list({ limit: 1 })).metadata?.resourceVersion ?? '';
    // One cluster-wide watch, re-opened from the last resourceVersion if the server ends it.
    let lastRv = rv as string;
    const stopWatch = new AbortController();
    let watchEnds = 0;
    const openWatch = () => {
      const done = rest.claims.watch({ resourceVersion: lastRv }, (type, o) => {
        const obj = o as any;
        if (obj?.metadata?.resourceVersion) lastRv = obj.metadata.resourceVersion;
        const key = `${obj?.metadata?.namespace}/${obj?.metadata?.name}`;
        if ((type === 'MODIFIED' || type === 'ADDED') && obj?.status?.phase === 'Bound' && !boundAt.has(key)) boundAt.set(key, Date.now());
      }, stopWatch.signal);
      void done.catch(() => undefined).then(() => {
        if (stopWatch.signal.aborted) return;
        watchEnds++;
        openWatch();
      });
    };
    openWatch();

    const WRITE_LABELS = ['verb', 'resource', 'subresource'];
    const apiWrites = async () => counterBy(await rest.getText('/metrics').catch(() => ''), 'apiserver_request_total', WRITE_LABELS);
    const writesBefore = await apiWrites();
    // Where the CPU goes during the burst (2 vCPUs shared by all four): ms per claim of each process.
    const pids = { 'kube-apiserver': cp.apiServer.process.pid, etcd: cp.etcd.process.pid, operator: op.process.pid, 'benchmark clients': process.pid };
    const cpuStart = cpuSnapshot(pids);
    const tStart = Date.now();
    await pool(claims, CONCURRENCY, async (spec, i) => {
      const ns = `bench-${i % N_NAMESPACES}`;
      const name = `claim-${String(i).padStart(5, '0')}`;
      await rest.claims.create({ apiVersion: 'avec.dev/v1alpha1', kind: 'VirtualGPUClaim', metadata: { name, namespace: ns }, spec }, ns);
      created.set(`${ns}/${name}`, Date.now());
    });
    const tCreated = Date.now();
    say(`created ${N_CLAIMS} claims in ${((tCreated - tStart) / 1000).toFixed(1)} s (${(N_CLAIMS / ((tCreated - tStart) / 1000)).toFixed(0)}/s)`);
    let lastLog = 0;
    await waitFor(() => {
      if (Date.now() - lastLog > 10_000) {
        lastLog = Date.now();
        say(`  ${boundAt.size}/${N_CLAIMS} Bound after ${((Date.now() - tStart) / 1000).toFixed(0)} s`);
      }
      return boundAt.size >= N_CLAIMS ? true : undefined;
    }, { what: 'all claims Bound', timeoutMs: TIMEOUT_MS, intervalMs: 250 }).catch((e) => say(String(e)));
    const tEnd = Math.max(...boundAt.values());
    const cpu = cpuBetween(cpuStart, cpuSnapshot(pids), boundAt.size);
    say(`CPU during the burst, ms per claim: ${Object.entries(cpu.perUnitMs).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}; machine busy ${(100 * cpu.machineBusy).toFixed(0)}%`);
    // The operator writes GPUNode allocation summaries after the binds (not while claims wait, then
    // at most once per node per --node-summary-interval-seconds): wait until they hold every Bound
    // claim, so that their writes are counted too.
    let summaryLagS = NaN;
    if (SUMMARY_SETTLE_MS > 0) {
      const summarised = async (): Promise<number> => {
        const l: any = await listAll(rest.gpuNodes);
        return l.items.reduce((n: number, g: any) => n + (g.status?.allocations?.length ?? 0), 0);
      };
      await waitFor(async () => ((await summarised()) >= boundAt.size ? true : undefined),
        { what: 'GPUNode summaries holding every Bound claim', timeoutMs: 120_000, intervalMs: 500 }).catch((e) => say(String(e)));
      summaryLagS = (Date.now() - tEnd) / 1000;
      say(`GPUNode summaries complete ${summaryLagS.toFixed(1)} s after the last bind; waiting ${SUMMARY_SETTLE_MS / 1000} s more for stragglers`);
      await new Promise((r) => setTimeout(r, SUMMARY_SETTLE_MS));
    }
    const writesAfter = await apiWrites();
    const writes = [...writesAfter.entries()]
      .filter(([k]) => /^(POST|PUT|PATCH|DELETE) /.test(k))
      .map(([k, v]) => [k.trim(), (v - (writesBefore.get(k) ?? 0)) / Math.max(1, boundAt.size)] as const)
      .filter(([, v]) => v >= 0.01)
      .sort((a, b) => b[1] - a[1]);

    // Phase 2: claims arriving at a steady rate below capacity, on the full cluster: the latency a
    // user sees when the operator is not working off a backlog.
    const pacedCreated = new Map<string, number>();
    if (N_PACED > 0) {
      say(`paced phase: ${N_PACED} more claims at ${PACED_RATE}/s`);
      const paced = claimMix(N_PACED, model.sites, 99);
      const tP = Date.now();
      await Promise.all(paced.map(async (spec, i) => {
        await new Promise((r) => setTimeout(r, tP + (i * 1000) / PACED_RATE - Date.now()));
        const ns = `bench-${i % N_NAMESPACES}`;
        const name = `paced-${String(i).padStart(4, '0')}`;
        await rest.claims.create({ apiVersion: 'avec.dev/v1alpha1', kind: 'VirtualGPUClaim', metadata: { name, namespace: ns }, spec }, ns);
        pacedCreated.set(`${ns}/${name}`, Date.now());
      }));
      await waitFor(() => [...pacedCreated.keys()].every((k) => boundAt.has(k)) || undefined,
        { what: 'paced claims Bound', timeoutMs: 300_000, intervalMs: 250 }).catch((e) => say(String(e)));
    }
    const pacedLat = [...pacedCreated.entries()].filter(([k]) => boundAt.has(k)).map(([k, c]) => boundAt.get(k)! - c).sort((a, b) => a - b);
    // When the slowest paced claims were created (seconds into the paced phase): clustered means a
    // stall of something (a GC, a relist, a compaction); spread means steady queueing.
    const pacedStart = Math.min(...pacedCreated.values());
    const pacedSlowest = [...pacedCreated.entries()].filter(([k]) => boundAt.has(k))
      .map(([k, c]) => ({ at: (c - pacedStart) / 1000, ms: boundAt.get(k)! - c })).sort((a, b) => b.ms - a.ms).slice(0, 5);
    if (pacedSlowest.length) say(`paced: slowest ${pacedSlowest.map((x) => `${x.ms} ms at ${x.at.toFixed(1)} s`).join(', ')}`);

    stopWatch.abort();
    if (watchEnds) say(`(the claim watch was re-opened ${watchEnds} time(s))`);

    const lat = [...created.entries()].filter(([k]) => boundAt.has(k)).map(([k, c]) => boundAt.get(k)! - c).sort((a, b) => a - b);
    const all: any = await listAll(rest.claims);
    const phases: Record<string, number> = {};
    const reasons: Record<string, number> = {};
    for (const c of all.items) {
      const phase = c.status?.phase ?? 'none';
      phases[phase] = (phases[phase] ?? 0) + 1;
      if (phase !== 'Bound') {
        const sc = (c.status?.conditions ?? []).find((x: any) => x.type === 'Scheduled');
        const r = `${phase}/${sc?.reason ?? 'no condition'}`;
        reasons[r] = (reasons[r] ?? 0) + 1;
      }
    }
    if (Object.keys(reasons).length) say(`not Bound: ${JSON.stringify(reasons)}`);
    // Double allocation check: every Bound claim appears exactly once across the nodes' allocations.
    const nodes: any = await listAll(rest.gpuNodes);
    const allocCount = new Map<string, number>();
    for (const n of nodes.items) for (const a of n.status?.allocations ?? []) allocCount.set(a.claimUID, (allocCount.get(a.claimUID) ?? 0) + 1);
    const dup = [...allocCount.values()].filter((v) => v > 1).length;
    const metrics = await op.metrics();
    const placement = histogramMean(metrics, 'avec_placement_duration_seconds');
    const bindLatency = histogramMean(metrics, 'avec_claim_bind_latency_seconds');
    await op.stop();

    say('pure placement benchmark (operator/dist/bench/placement-bench.js)');
    const pure = execFileSync(process.execPath, [join(REPO_ROOT, 'operator', 'dist', 'bench', 'placement-bench.js')], { encoding: 'utf8' }).trim();

    const secs = (tEnd - tStart) / 1000;
    const burstBound = lat.length;
    const r = {
      placedPerSecond: burstBound / secs, seconds: secs, bound: burstBound,
      pacedN: pacedLat.length, pacedP50: percentile(pacedLat, 50), pacedP99: percentile(pacedLat, 99), pacedMax: pacedLat[pacedLat.length - 1] ?? NaN,
      p50: percentile(lat, 50), p90: percentile(lat, 90), p99: percentile(lat, 99), max: lat[lat.length - 1],
      createPerSecond: N_CLAIMS / ((tCreated - tStart) / 1000),
      rawCreatePerSecond, rawSecretPerSecond, rawStatusPerSecond, rawBindCeiling, summaryLagS,
    };
    say(`RESULT burst: placed/s=${r.placedPerSecond.toFixed(1)} bound=${r.bound}/${N_CLAIMS} p50=${r.p50}ms p99=${r.p99}ms max=${r.max}ms duplicates=${dup}`);
    say(`RESULT ratios: bind/clients' create ${(100 * r.placedPerSecond / r.createPerSecond).toFixed(0)}% (${r.createPerSecond.toFixed(0)}/s), bind/raw create ${(100 * r.placedPerSecond / rawCreatePerSecond).toFixed(0)}% (${rawCreatePerSecond.toFixed(0)}/s)`);
    say(`RESULT paced (${PACED_RATE}/s): bound=${r.pacedN}/${N_PACED} p50=${r.pacedP50}ms p99=${r.pacedP99}ms max=${r.pacedMax}ms`);
    say(`pure: ${pure.split('\n').pop()}`);
    const file = writeReport({
      sizes: { claims: N_CLAIMS, nodes: N_NODES, sites: N_SITES, namespaces: N_NAMESPACES, concurrency: CONCURRENCY,
        paced: N_PACED, pacedRate: PACED_RATE, resultsDir: benchEnv.AVEC_BENCH_RESULTS_DIR },
      r, phases, dup, placement, bindLatency, writes, cpu, operatorArgs: benchEnv.AVEC_BENCH_OPERATOR_ARGS, pure: pure.split('\n').pop() ?? '',
      pacedSlowest: pacedSlowest.map((x) => `${x.ms} ms (created ${x.at.toFixed(1)} s into the phase)`).join(', '),
    });
    say(`wrote ${file}`);
  } finally {
    await cp.stop();
  }
}

main().then(() => process.exit(0), (err) => {
  process.stderr.write(`[bench-placement] FAILED: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
