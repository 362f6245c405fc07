// Pure placement micro-benchmark: 10,000 claims across 1,000 GPU nodes in 50 sites with a latency
// matrix. Prints placements/s of placeAll (no API server involved). Run: make bench-placement-pure
import { placeAll } from '../placement/place.js';
import type { ClaimRequest, NodeView } from '../placement/model.js';

const GiB = 2 ** 30;
const SITES = 50, NODES = 1000, CLAIMS = 10_000, DEVICES_PER_NODE = 4;
let seed = 42;
const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);

// Sites on a plane; RTT grows with distance (0.2 ms within a site, up to ~40 ms across).
const pos = Array.from({ length: SITES }, () => [rnd() * 100, rnd() * 100]);
const rtt = (a: number, b: number): number => (a === b ? 0.2 : 1 + Math.hypot(pos[a][0] - pos[b][0], pos[a][1] - pos[b][1]) / 3.5);

const nodes: NodeView[] = Array.from({ length: NODES }, (_, i) => {
  const site = i % SITES;
  const links = new Map<string, number>();
  for (let s = 0; s < SITES; s++) links.set(`site-${s}`, rtt(site, s));
  return {
    name: `gpu-${String(i).padStart(4, '0')}`,
    site: `site-${site}`,
    endpoint: `10.${site}.${i >> 8}.${i & 255}:7100`,
    ready: true,
    devices: Array.from({ length: DEVICES_PER_NODE }, (_, d) => ({
      uuid: `GPU-${i}-${d}`,
      model: d % 2 ? 'NVIDIA H100 80GB HBM3' : 'NVIDIA A100-SXM4-40GB',
      computeCapability: d % 2 ? '9.0' : '8.0',
      memoryBytes: (d % 2 ? 80 : 40) * GiB,
      freeMemoryBytes: (d % 2 ? 80 : 40) * GiB,
      freeComputePercent: 100,
    })),
    rttMs: links,
  };
});

const policies = ['nearest', 'binpack', 'spread'] as const;
const claims: ClaimRequest[] = Array.from({ length: CLAIMS }, (_, i) => ({
  key: `ns-${i % 100}/claim-${i}`,
  uid: `uid-${i}`,
  memoryBytes: [1, 2, 4, 8, 16][i % 5] * GiB,
  computePercent: [10, 25, 50][i % 3],
  site: `site-${Math.floor(rnd() * SITES)}`,
  sites: i % 10 === 0 ? [`site-${i % SITES}`, `site-${(i + 1) % SITES}`] : [],
  siteMode: i % 20 === 0 ? 'Preferred' : 'Required',
  maxLatencyMs: i % 4 === 0 ? 15 : undefined,
  policy: policies[i % 3],
  models: [],
  minComputeCapability: i % 7 === 0 ? '9.0' : undefined,
  createdAt: new Date(1_790_000_000_000 + i * 1000).toISOString(),
}));

placeAll(claims.slice(0, 200), nodes); // warm-up
const runs: number[] = [];
let placed = 0;
for (let r = 0; r < 3; r++) {
  const t0 = process.hrtime.bigint();
  const out = placeAll(claims, nodes);
  runs.push(Number(process.hrtime.bigint() - t0) / 1e9);
  placed = [...out.values()].filter((d) => d.ok).length;
}
const best = Math.min(...runs);
console.log(JSON.stringify({
  benchmark: 'placement-pure',
  claims: CLAIMS, nodes: NODES, sites: SITES, devicesPerNode: DEVICES_PER_NODE,
  placed, unplaced: CLAIMS - placed,
  secondsPerRun: runs.map((s) => Number(s.toFixed(3))),
  placementsPerSecond: Math.round(CLAIMS / best),
  microsecondsPerClaim: Number(((best / CLAIMS) * 1e6).toFixed(1)),
  node: process.version,
}));
