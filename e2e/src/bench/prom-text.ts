// Reading figures out of a Prometheus text exposition (the operator's /metrics).

/** Mean of a histogram over all its label sets (sums and counts added up). */
export function histogramMean(metrics: string, name: string): { count: number; meanMs: number } {
  const total = (suffix: string) => [...metrics.matchAll(new RegExp(`^${name}_${suffix}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))]
    .reduce((acc, m) => acc + Number(m[1]), 0);
  const count = total('count');
  return { count, meanMs: count > 0 ? (total('sum') / count) * 1000 : NaN };
}
