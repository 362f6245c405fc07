// Reading figures out of a Prometheus text exposition (the operator's /metrics).

/** Mean of a histogram over all its label sets (sums and counts added up). */
export function histogramMean(metrics: string, name: string): { count: number; meanMs: number } {
  const total = (suffix: string) => [...metrics.matchAll(new RegExp(`^${name}_${suffix}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))]
    .reduce((acc, m) => acc + Number(m[1]), 0);
  const count = total('count');
  return { count, meanMs: count > 0 ? (total('sum') / count) * 1000 : NaN };
}

/** Sum of a counter's samples grouped by the given labels (samples lacking a label group under ""). */
export function counterBy(metrics: string, name: string, labels: string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of metrics.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, 'gm'))) {
    const kv = new Map([...m[1].matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]] as const));
    const key = labels.map((l) => kv.get(l) ?? '').join(' ');
    out.set(key, (out.get(key) ?? 0) + Number(m[2]));
  }
  return out;
}
