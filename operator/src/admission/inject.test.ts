// Golden-file tests of the admission patch: testdata/<case>.pod.json -> testdata/<case>.golden.json
// (the decision and, when allowed, the pod after applying the patch). UPDATE_GOLDEN=1 rewrites them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { expectGolden } from '@avec/common';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mutatePod, type InjectConfig } from './inject.js';
import { applyPatch } from './json-patch.js';
import { parsePodAnnotations } from './annotations.js';
import { inlineClaimFor } from './inline-claim.js';
import { podHasOwnPlacement } from './pod-site.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '../../src/admission/testdata');
const cfg: InjectConfig = { shimImage: 'registry.local/avec/shim:0.1.0', imagePullPolicy: 'IfNotPresent', randomSuffix: () => 'x7k2q' };

const cases = readdirSync(dir).filter((f) => f.endsWith('.pod.json')).sort();

test('golden files exist for every case', () => {
  assert.ok(cases.length >= 10, `only ${cases.length} cases`);
});

for (const file of cases) {
  const name = file.replace(/\.pod\.json$/, '');
  test(`admission golden: ${name}`, () => {
    const input = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { namespace: string; pod: unknown };
    const decision = mutatePod(input.pod, input.namespace, cfg);
    const result = decision.allowed ? { decision, pod: applyPatch(input.pod, decision.patch) } : { decision };
    const goldenPath = join(dir, `${name}.golden.json`);
    const text = JSON.stringify(result, null, 2) + '\n';
    expectGolden(goldenPath, text);
    // Re-running the webhook on its own output changes nothing (reinvocation is idempotent).
    if (decision.allowed && decision.patch.length > 0) {
      const again = mutatePod(result.pod, input.namespace, cfg);
      assert.deepEqual(again, { allowed: true, patch: [], warnings: [] });
    }
  });
}

test('annotation errors say what is wrong', () => {
  const msg = (a: Record<string, string>): string => {
    const r = parsePodAnnotations(a);
    return r.ok ? 'ok' : r.message;
  };
  assert.match(msg({ 'avec.dev/gpu-memory': 'lots' }), /"lots" is not a quantity/);
  assert.match(msg({ 'avec.dev/gpu-memory': '0' }), /greater than zero/);
  assert.match(msg({ 'avec.dev/gpu-memory': '1Gi', 'avec.dev/gpu-compute-percent': '101' }), /1 to 100/);
  assert.match(msg({ 'avec.dev/gpu-memory': '1Gi', 'avec.dev/gpu-policy': 'fastest' }), /nearest, binpack, spread/);
  assert.match(msg({ 'avec.dev/gpu-memory': '1Gi', 'avec.dev/gpu-max-latency-ms': '-1' }), /from 0 to 60000/);
  assert.match(msg({ 'avec.dev/gpu-compute-percent': '50' }), /needs avec.dev\/gpu-memory/);
  assert.match(msg({ 'avec.dev/claim': 'Bad_Name' }), /DNS-1123/);
  assert.match(msg({ 'avec.dev/claim': 'c', 'avec.dev/gpu-memory': '1Gi' }), /exclusive/);
  assert.equal(msg({}), 'ok');
});

test('inlineClaimFor: from the mutated pod, with the pod site', () => {
  const ann = { 'avec.dev/claim': 'web-gpu', 'avec.dev/inline-claim': 'true', 'avec.dev/gpu-memory': '2Gi', 'avec.dev/gpu-compute-percent': '30', 'avec.dev/gpu-max-latency-ms': '5' };
  assert.deepEqual(inlineClaimFor(ann, { nodeSelector: { 'topology.kubernetes.io/zone': 'edge-1' } }), {
    name: 'web-gpu',
    spec: { memory: '2Gi', computePercent: 30, placement: { site: 'edge-1', maxLatencyMs: 5 } },
  });
  assert.equal(inlineClaimFor({ 'avec.dev/claim': 'x' }, {}), undefined);
  assert.equal(podHasOwnPlacement({ nodeSelector: { 'avec.dev/site': 's' } }), true);
  assert.equal(podHasOwnPlacement({ nodeSelector: { 'kubernetes.io/os': 'linux' } }), false);
});
