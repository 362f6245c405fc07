import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { histogramMean } from './prom-text.js';

describe('histogramMean', () => {
  it('adds up every label set of the histogram and nothing else', () => {
    const text = [
      '# HELP x_seconds help',
      'x_seconds_bucket{policy="nearest",le="0.001"} 1',
      'x_seconds_sum{policy="nearest"} 0.006',
      'x_seconds_count{policy="nearest"} 3',
      'x_seconds_sum{policy="spread"} 0.002',
      'x_seconds_count{policy="spread"} 1',
      'x_seconds_other_sum 100',
      'y_seconds_count 50',
    ].join('\n');
    const m = histogramMean(text, 'x_seconds');
    assert.equal(m.count, 4);
    assert.ok(Math.abs(m.meanMs - 2) < 1e-9);
  });
  it('is NaN for a histogram with no observations', () => {
    assert.ok(Number.isNaN(histogramMean('', 'x').meanMs));
  });
});

describe('counterBy', () => {
  it('groups samples by the chosen labels', async () => {
    const { counterBy } = await import('./prom-text.js');
    const text = [
      'r_total{verb="POST",resource="secrets",code="201"} 5',
      'r_total{verb="POST",resource="secrets",code="409"} 1',
      'r_total{verb="PUT",resource="gpunodes",subresource="status",code="200"} 7',
      'r_total_other{verb="POST"} 100',
    ].join('\n');
    const m = counterBy(text, 'r_total', ['verb', 'resource', 'subresource']);
    assert.equal(m.get('POST secrets '), 6);
    assert.equal(m.get('PUT gpunodes status'), 7);
    assert.equal(m.size, 2);
  });
});
