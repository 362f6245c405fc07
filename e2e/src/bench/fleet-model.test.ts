// The benchmark's synthetic edge must be deterministic, symmetric and fit the claim mix.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GIB } from '../harness/gpu-nodes.js';
import { buildEdge, claimMix, percentile } from './fleet-model.js';

describe('placement benchmark model', () => {
  const edge = buildEdge(50, 1000);

  it('builds 1,000 nodes over 50 sites, each with a link to every site', () => {
    assert.equal(edge.sites.length, 50);
    assert.equal(edge.nodes.length, 1000);
    assert.equal(new Set(edge.nodes.map((n) => n.site)).size, 50);
    for (const n of edge.nodes) assert.equal(n.links?.length, 50);
    assert.equal(new Set(edge.nodes.map((n) => n.endpoint)).size, 1000, 'distinct endpoints');
  });

  it('has a symmetric RTT matrix with the home site the nearest', () => {
    for (let i = 0; i < 50; i++) {
      assert.equal(edge.rtt[i][i], 0.2);
      for (let j = 0; j < 50; j++) {
        assert.equal(edge.rtt[i][j], edge.rtt[j][i]);
        if (i !== j) assert.ok(edge.rtt[i][j] > 0.5);
      }
    }
  });

  it('is deterministic for a seed', () => {
    assert.deepEqual(buildEdge(5, 20, 1), buildEdge(5, 20, 1));
    assert.notDeepEqual(buildEdge(5, 20, 1).rtt, buildEdge(5, 20, 2).rtt);
    assert.deepEqual(claimMix(100, edge.sites), claimMix(100, edge.sites));
  });

  it('asks for less memory and compute than the fleet has', () => {
    const claims = claimMix(10_000, edge.sites);
    const mem = claims.reduce((s, c) => s + Number(c.memory.replace('Gi', '')) * GIB, 0);
    const cap = edge.nodes.reduce((s, n) => s + (n.devices ?? []).reduce((t, d) => t + d.memoryBytes, 0), 0);
    assert.ok(mem < cap / 2, `claims ${mem / GIB} GiB vs fleet ${cap / GIB} GiB`);
    const compute = claims.reduce((s, c) => s + c.computePercent, 0);
    assert.ok(compute < 4000 * 100 / 2);
    const nearest = claims.filter((c) => c.placement.policy === 'nearest').length / claims.length;
    assert.ok(nearest > 0.65 && nearest < 0.75);
  });

  it('computes nearest-rank percentiles', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(percentile(xs, 50), 50);
    assert.equal(percentile(xs, 99), 99);
    assert.equal(percentile(xs, 100), 100);
    assert.ok(Number.isNaN(percentile([], 50)));
  });
});
