import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { expectGolden } from '@avec/common';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ObservedInventory } from './observed.js';
import { labelPatch, renderGPUNode, renderHeartbeat, siteOf, specNeedsUpdate, type RenderInput } from './render.js';

const here = dirname(fileURLToPath(import.meta.url));
const srcDir = join(here, '..', '..', 'src', 'inventory');
const crdText = readFileSync(join(here, '..', '..', '..', 'crds', 'gpunodes.yaml'), 'utf8');

const inventory: ObservedInventory = {
  backend: 'cuda',
  driverVersion: 13000,
  devices: [
    { ordinal: 1, uuid: 'GPU-bbbb', model: 'NVIDIA H100 80GB HBM3', memoryBytes: 85_520_809_984, computeCapability: '9.0', emulated: false },
    { ordinal: 0, uuid: 'GPU-aaaa', model: 'NVIDIA H100 80GB HBM3', memoryBytes: 85_520_809_984, computeCapability: '9.0', emulated: false },
  ],
};
const input: RenderInput = {
  nodeName: 'gpu-1',
  site: 'edge-west',
  endpoint: '10.1.2.3:7070',
  backend: 'cuda',
  inventory,
  links: [
    { site: 'edge-west', rttMs: 0.2, source: 'measured', measuredTime: '2026-11-27T00:00:00Z' },
    { site: 'core', rttMs: 12, bandwidthMbps: 1000, source: 'declared' },
  ],
};

test('renderGPUNode matches the golden file (AVEC_UPDATE_GOLDEN=1 rewrites it)', () => {
  const got = JSON.stringify(renderGPUNode(input), null, 2) + '\n';
  const golden = join(srcDir, 'testdata', 'gpunode.golden.json');
  expectGolden(golden, got);
});

test('rendered spec fits crds/gpunodes.yaml: required fields, endpoint pattern, cc pattern', () => {
  const obj = renderGPUNode(input);
  for (const f of ['nodeName', 'endpoint', 'devices'] as const) assert.ok(obj.spec[f] !== undefined, f);
  const endpointPattern = /pattern: '(\^\(\\\[.*\$)'/.exec(crdText)?.[1];
  assert.ok(endpointPattern, 'the CRD declares an endpoint pattern');
  const re = new RegExp(endpointPattern!);
  assert.match(obj.spec.endpoint, re);
  assert.match(renderGPUNode({ ...input, endpoint: '[fd00::1]:7070' }).spec.endpoint, re);
  for (const d of obj.spec.devices) {
    assert.match(d.computeCapability, /^[0-9]+\.[0-9]+$/);
    assert.deepEqual(Object.keys(d).sort(), ['computeCapability', 'memoryBytes', 'model', 'uuid']);
  }
  for (const l of obj.spec.links) assert.ok(['measured', 'declared'].includes(l.source));
  assert.equal(obj.apiVersion, 'avec.dev/v1alpha1');
  assert.ok(crdText.includes('scope: Cluster'));
});

test('a site that is not a valid label value is not used as a label', () => {
  const obj = renderGPUNode({ ...input, site: 'edge west!' });
  assert.equal(obj.metadata.labels['avec.dev/site'], undefined);
  assert.equal(obj.spec.site, 'edge west!');
});

test('a draining node is labelled; the label patch sets and removes owned labels only', () => {
  const draining = renderGPUNode({ ...input, draining: true }).metadata.labels;
  const normal = renderGPUNode(input).metadata.labels;
  assert.equal(draining['avec.dev/draining'], 'true');
  assert.equal(normal['avec.dev/draining'], undefined);
  assert.equal(labelPatch({ ...normal, other: 'x' }, normal), undefined, 'foreign labels are not ours to touch');
  assert.deepEqual(labelPatch(normal, draining), { 'avec.dev/draining': 'true' });
  assert.deepEqual(labelPatch({ ...draining, other: 'x' }, normal), { 'avec.dev/draining': null }, 'a restarted server clears the drain mark');
  assert.deepEqual(labelPatch(undefined, normal), normal);
});

test('heartbeat patch touches only heartbeatTime and capacity', () => {
  const hb = renderHeartbeat(inventory, new Date('2026-11-27T01:02:03.456Z'));
  assert.deepEqual(hb, { status: { heartbeatTime: '2026-11-27T01:02:03Z', capacity: { memoryBytes: 2 * 85_520_809_984, devices: 2 } } });
});

test('site: config override, then avec.dev/site, then the zone label', () => {
  assert.equal(siteOf('cfg', { 'avec.dev/site': 's', 'topology.kubernetes.io/zone': 'z' }), 'cfg');
  assert.equal(siteOf(undefined, { 'avec.dev/site': 's', 'topology.kubernetes.io/zone': 'z' }), 's');
  assert.equal(siteOf(undefined, { 'topology.kubernetes.io/zone': 'z' }), 'z');
  assert.equal(siteOf(undefined, undefined), '');
  assert.equal(siteOf(undefined, { other: 'x' }, 'fallback'), 'fallback');
  assert.equal(siteOf(undefined, { 'topology.kubernetes.io/zone': 'z' }, 'fallback'), 'z');
});

test('specNeedsUpdate ignores link noise but not real changes', () => {
  const spec = renderGPUNode(input).spec;
  const withRtt = (site: string, rttMs: number) => ({ ...spec, links: spec.links.map((l) => (l.site === site ? { ...l, rttMs } : l)) });
  assert.equal(specNeedsUpdate(undefined, spec), true);
  assert.equal(specNeedsUpdate(spec, spec), false);
  assert.equal(specNeedsUpdate(withRtt('edge-west', 0.9), spec), false, '0.7 ms change under the 1 ms floor');
  assert.equal(specNeedsUpdate(withRtt('core', 13), spec), false, '1 ms of 12: under 20 %');
  assert.equal(specNeedsUpdate(withRtt('core', 20), spec), true);
  assert.equal(specNeedsUpdate({ ...spec, endpoint: '10.1.2.3:7071' }, spec), true);
  assert.equal(specNeedsUpdate({ ...spec, devices: spec.devices.slice(1) }, spec), true);
  assert.equal(specNeedsUpdate({ ...spec, links: spec.links.slice(1) }, spec), true);
});
