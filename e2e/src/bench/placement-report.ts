// The placement benchmark's report: bench/results/placement-<date>.md with the commit and machine.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../harness/repo-root.js';

export interface BenchSizes {
  claims: number;
  nodes: number;
  sites: number;
  namespaces: number;
  concurrency: number;
  paced: number;
  pacedRate: number;
  resultsDir?: string;
}

export function writeReport(x: {
  sizes: BenchSizes;
  r: Record<string, number>; phases: Record<string, number>; dup: number;
  placement: { count: number; meanMs: number }; bindLatency: { count: number; meanMs: number }; pure: string;
  writes: ReadonlyArray<readonly [string, number]>;
  /** The slowest paced claims and when they were created. */
  pacedSlowest?: string;
  /** CPU ms per claim of each process during the burst, and the machine's busy share. */
  cpu?: { perUnitMs: Record<string, number>; machineBusy: number };
  /** Operator flags the benchmark added (AVEC_BENCH_OPERATOR_ARGS). */
  operatorArgs?: string;
}): string {
  const now = new Date().toISOString();
  const date = now.slice(0, 10);
  const stamp = `${date}-${now.slice(11, 13)}${now.slice(14, 16)}`;
  const git = (args: string[]) => { try { return execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' }).trim(); } catch { return 'unknown'; } };
  const commit = git(['rev-parse', '--short', 'HEAD']) + (git(['status', '--porcelain', '--', 'operator', 'e2e', 'packages', 'charts/avec/crds']) ? ' (+ uncommitted changes)' : '');
  const cpu = cpus()[0]?.model ?? 'unknown';
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  let pureObj: Record<string, unknown> = {};
  try { pureObj = JSON.parse(x.pure); } catch { /* keep raw */ }
  const { r } = x;
  const total = x.writes.reduce((a, [, v]) => a + v, 0);
  const own = x.writes.filter(([k]) => k === 'POST virtualgpuclaims').reduce((a, [, v]) => a + v, 0);
  const opWrites = total - own;
  const toRaw = r.rawCreatePerSecond ? r.placedPerSecond / r.rawCreatePerSecond : NaN;
  const toCreate = r.placedPerSecond / r.createPerSecond;
  const pct = (v: number): string => (Number.isFinite(v) ? `${(100 * v).toFixed(0)}%` : 'n/a');
  const cpuRows = x.cpu
    ? Object.entries(x.cpu.perUnitMs).map(([k, v]) => `| ${k} | ${v.toFixed(2)} |`).join('\n')
      + `\n| **all four** | **${Object.values(x.cpu.perUnitMs).reduce((a, b) => a + b, 0).toFixed(2)}** |\n| machine busy during the burst (all ${cpus().length} vCPUs) | ${pct(x.cpu.machineBusy)} |`
    : '';
  const met = (ok: boolean): string => (ok ? 'met' : '**not met**');
  const md = `# Placement benchmark, ${date}

- commit: \`${commit}\`
- machine: ${cpus().length} vCPU (${cpu}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node.js ${process.version}; load average at the end ${load}
  (the machine is shared with other work: absolute figures are pessimistic)
- control plane: kube-apiserver v1.34 + etcd 3.6 on loopback (e2e harness; etcd with \`--unsafe-no-fsync\`)
- operator: \`operator/dist/main.js\` as the chart's ServiceAccount, leader election on, one replica${x.operatorArgs ? `; flags added by the benchmark: \`${x.operatorArgs}\`` : ' (default flags)'}
- workload: ${x.sizes.claims} VirtualGPUClaims in ${x.sizes.namespaces} namespaces, created by ${x.sizes.concurrency} concurrent clients;
  ${x.sizes.nodes} GPUNodes (4 GPUs each: H100 80 GB / A100 40 GB / L4 24 GB), ${x.sizes.sites} sites, every node with a measured
  link to every site (RTT from site distance, ±10% jitter); claims 1–16 GiB, 5–25% compute, policies
  70% nearest / 15% binpack / 15% spread, 30% with maxLatencyMs 8

## Against the real API server

| figure | value |
|---|---|
| **burst**: ${x.sizes.claims} claims created as fast as ${x.sizes.concurrency} clients can | |
| claims placed (Bound) per second | **${r.placedPerSecond.toFixed(1)}** (${r.bound} claims in ${r.seconds.toFixed(1)} s from the first create) |
| creation -> Bound latency p50 | ${r.p50} ms |
| creation -> Bound latency p90 | ${r.p90} ms |
| creation -> Bound latency **p99** | **${r.p99} ms** |
| creation -> Bound latency max | ${r.max} ms |
| claim creation rate of the benchmark's clients in this burst (operator running) | ${r.createPerSecond.toFixed(0)} /s |
| raw API server create rate, same kind and clients, no operator running (measured in this run, before the burst) | ${r.rawCreatePerSecond?.toFixed(0) ?? 'n/a'} /s |
| **bind rate / the clients' create rate in this burst** (issue 10.8 target >= 80%) | **${pct(toCreate)}** |
| **bind rate / raw API server create rate** (against the ceiling with no operator) | **${pct(toRaw)}** |
| raw API server rate of the bind's own writes, same clients, no operator: Secret creates / Bound status writes | ${r.rawSecretPerSecond?.toFixed(0) ?? 'n/a'} /s / ${r.rawStatusPerSecond?.toFixed(0) ?? 'n/a'} /s |
| API server ceiling for create + Secret + status per claim (1 / (1/create + 1/Secret + 1/status)) | ${r.rawBindCeiling?.toFixed(0) ?? 'n/a'} claims/s |
| **bind rate / that ceiling** (how close the operator gets to what the API server allows) | **${r.rawBindCeiling ? ((100 * r.placedPerSecond) / r.rawBindCeiling).toFixed(0) : 'n/a'}%** |
| **paced**: then ${x.sizes.paced} claims at ${x.sizes.pacedRate}/s on the full cluster | |
| creation -> Bound latency p50 | ${r.pacedP50} ms |
| creation -> Bound latency **p99** | **${r.pacedP99} ms** |
| creation -> Bound latency max | ${r.pacedMax} ms (${r.pacedN} of ${x.sizes.paced} Bound) |
| slowest paced claims | ${x.pacedSlowest || 'n/a'} |
| final phases | ${Object.entries(x.phases).map(([k, v]) => `${k}: ${v}`).join(', ')} |
| claims allocated on more than one node | ${x.dup} |
| operator placement time per claim (avec_placement_duration_seconds mean) | ${x.placement.meanMs.toFixed(3)} ms over ${x.placement.count} placements |
| operator bind latency (avec_claim_bind_latency_seconds mean) | ${x.bindLatency.meanMs.toFixed(1)} ms over ${x.bindLatency.count} |

Latency is measured by the benchmark client: from the create call returning to the watch event that
shows \`status.phase: Bound\`. ${toCreate < 0.95
    ? 'In this burst the clients created claims faster than the operator bound them, so burst latency is mostly\nqueueing (it grows with the claim\'s position in the backlog)'
    : 'In this burst the operator kept pace with the clients, so burst latency is the wait of each request in\nan API server that has no CPU to spare'}; the paced phase shows the latency of a claim arriving when
there is no backlog.

API writes per Bound claim during the burst (kube-apiserver \`apiserver_request_total\`, all clients:
the benchmark's own create is the \`POST virtualgpuclaims\` row):

| verb resource [subresource] | per claim |
|---|---|
${x.writes.map(([k, v]) => `| ${k} | ${v.toFixed(2)} |`).join('\n')}
| **total** | **${total.toFixed(2)}** |
| (GPUNode summaries held every Bound claim ${Number.isFinite(r.summaryLagS) ? `${r.summaryLagS.toFixed(1)} s` : 'n/a'} after the last bind; counted) | |
| **operator's writes** (total less the benchmark's create) | **${opWrites.toFixed(2)}** |

${cpuRows ? `CPU per Bound claim during the burst (from the first create to the last bind; /proc, user + system):

| process | CPU ms per claim |
|---|---|
${cpuRows}

` : ''}## Issue 10 finding 8: targets, measured in this run

| target | measured | |
|---|---|---|
| bind throughput >= 80% of the create rate (the benchmark's clients, same burst) | ${r.placedPerSecond.toFixed(1)} /s vs ${r.createPerSecond.toFixed(0)} /s = ${pct(toCreate)} | ${met(toCreate >= 0.8)} |
| (same 80%, against the raw API server create rate with no operator, measured in this run) | ${r.placedPerSecond.toFixed(1)} /s vs ${r.rawCreatePerSecond?.toFixed(0) ?? 'n/a'} /s = ${pct(toRaw)} | ${met(toRaw >= 0.8)} |
| <= 3 operator API writes per claim | ${opWrites.toFixed(2)} | ${met(opWrites <= 3)} |
| paced creation -> Bound p99 < 100 ms | ${r.pacedP99} ms | ${met(r.pacedP99 < 100)} |

## Pure placement (no API server), same machine, same run

\`make bench-placement-pure\` (operator/dist/bench/placement-bench.js):

\`\`\`
${x.pure}
\`\`\`
${pureObj.microsecondsPerClaim !== undefined ? `\nPure placement: ${String(pureObj.microsecondsPerClaim)} µs per claim (${String(pureObj.placementsPerSecond)} placements/s).\n` : ''}`;
  const dir = x.sizes.resultsDir ?? join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `placement-${stamp}.md`);
  writeFileSync(file, md);
  return file;
}

