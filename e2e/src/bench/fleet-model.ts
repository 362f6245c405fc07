// The benchmark's synthetic edge: sites on a plane (RTT grows with distance, measured jitter), GPU
// nodes spread over them with links to every site, and a claim mix. Deterministic for a seed.
import { GIB, type GpuNodeFixture } from '../harness/gpu-nodes.js';

/** Small, fast, seeded PRNG (mulberry32) so two runs build the same cluster. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface EdgeModel {
  sites: string[];
  /** rtt[i][j] in ms between site i and site j (symmetric, 0.2 ms within a site). */
  rtt: number[][];
  nodes: GpuNodeFixture[];
}

export function buildEdge(nSites: number, nNodes: number, seed = 42): EdgeModel {
  const rnd = prng(seed);
  const sites = Array.from({ length: nSites }, (_, i) => `site-${String(i).padStart(2, '0')}`);
  // Sites in a 1,000 km square; ~1 ms RTT per 100 km of fibre plus 0.5 ms of switching.
  const pos = sites.map(() => [rnd() * 1000, rnd() * 1000] as const);
  const rtt = pos.map((p, i) => pos.map((q, j) => {
    if (i === j) return 0.2;
    const km = Math.hypot(p[0] - q[0], p[1] - q[1]);
    return Math.round((0.5 + km / 100) * 100) / 100;
  }));
  const models = [
    { model: 'NVIDIA H100 80GB HBM3', memoryBytes: 80 * GIB, computeCapability: '9.0' },
    { model: 'NVIDIA A100-SXM4-40GB', memoryBytes: 40 * GIB, computeCapability: '8.0' },
    { model: 'NVIDIA L4', memoryBytes: 24 * GIB, computeCapability: '8.9' },
  ];
  const nodes: GpuNodeFixture[] = Array.from({ length: nNodes }, (_, n) => {
    const s = n % nSites;
    const m = models[n % models.length];
    return {
      name: `gpu-${String(n).padStart(4, '0')}`,
      site: sites[s],
      endpoint: `10.${Math.floor(n / 250)}.${n % 250}.1:7400`,
      devices: Array.from({ length: 4 }, (_, d) => ({ uuid: `GPU-${n}-${d}`, ...m })),
      // Measured from this node: the matrix value with up to ±10% jitter.
      links: sites.map((site, j) => ({
        site, rttMs: Math.round(rtt[s][j] * (0.9 + rnd() * 0.2) * 100) / 100,
        bandwidthMbps: s === j ? 10_000 : 1_000, source: 'measured' as const,
      })),
    };
  });
  return { sites, rtt, nodes };
}

export interface ClaimSpec {
  memory: string;
  computePercent: number;
  placement: { site: string; policy: 'nearest' | 'binpack' | 'spread'; maxLatencyMs?: number };
}

export function claimMix(n: number, sites: string[], seed = 7): ClaimSpec[] {
  const rnd = prng(seed);
  const mem = ['1Gi', '2Gi', '4Gi', '8Gi', '16Gi'];
  const pct = [5, 10, 10, 20, 25];
  return Array.from({ length: n }, () => {
    const r = rnd();
    const policy = r < 0.7 ? 'nearest' : r < 0.85 ? 'binpack' : 'spread';
    const spec: ClaimSpec = {
      memory: mem[Math.floor(rnd() * mem.length)],
      computePercent: pct[Math.floor(rnd() * pct.length)],
      placement: { site: sites[Math.floor(rnd() * sites.length)], policy },
    };
    if (rnd() < 0.3) spec.placement.maxLatencyMs = 8;
    return spec;
  });
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}
