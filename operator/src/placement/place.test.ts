import { test } from 'node:test';
import assert from 'node:assert/strict';
import { placeClaim, placeAll, siteLatencies } from './place.js';
import { nodeViewFrom, claimRequestFrom, isHeartbeatFresh, type ClaimRequest, type NodeView } from './model.js';
import { gpuNodeSchema, claimSchema } from '@avec/api';

const GiB = 2 ** 30;

function node(name: string, site: string, devs: Array<[string, number, number?, string?, string?]>, rtt: Record<string, number> = {}, ready = true): NodeView {
  return {
    name,
    site,
    endpoint: `${name}:7100`,
    ready,
    devices: devs.map(([uuid, freeGiB, freeCompute = 100, model = 'H100', cc = '9.0']) => ({
      uuid,
      model,
      computeCapability: cc,
      memoryBytes: 80 * GiB,
      freeMemoryBytes: freeGiB * GiB,
      freeComputePercent: freeCompute,
    })),
    rttMs: new Map(Object.entries(rtt)),
  };
}

function req(over: Partial<ClaimRequest> = {}): ClaimRequest {
  return {
    key: 'ns/c',
    uid: 'u',
    memoryBytes: 8 * GiB,
    computePercent: 100,
    sites: [],
    siteMode: 'Required',
    policy: 'nearest',
    models: [],
    createdAt: '',
    ...over,
  };
}

const edge = [
  node('a1', 'a', [['GPU-a1', 40]], { a: 0.2, b: 3, c: 9 }),
  node('b1', 'b', [['GPU-b1', 70]], { a: 3, b: 0.1, c: 5 }),
  node('c1', 'c', [['GPU-c1', 10]], { a: 9, b: 5, c: 0.3 }),
];

test('nearest: lowest RTT from the claim site', () => {
  const d = placeClaim(req({ site: 'c', memoryBytes: 8 * GiB }), edge);
  assert.deepEqual(d, { ok: true, node: 'c1', site: 'c', deviceUUID: 'GPU-c1', endpoint: 'c1:7100', latencyMs: 0.3, memoryBytes: 8 * GiB, computePercent: 100 });
  // c1 has only 10 GiB: a 16 GiB claim goes to the next nearest (b1 at 5 ms).
  const d2 = placeClaim(req({ site: 'c', memoryBytes: 16 * GiB }), edge);
  assert.equal(d2.ok && d2.node, 'b1');
  assert.equal(d2.ok && d2.latencyMs, 5);
});

test('binpack picks the fullest device that fits; spread the emptiest', () => {
  assert.equal((placeClaim(req({ policy: 'binpack' }), edge) as { node: string }).node, 'c1');
  assert.equal((placeClaim(req({ policy: 'spread' }), edge) as { node: string }).node, 'b1');
});

test('required sites restrict; preferred sites rank first but fall back', () => {
  const r = placeClaim(req({ site: 'a', sites: ['b', 'c'], siteMode: 'Required' }), edge);
  assert.equal(r.ok && r.node, 'b1');
  const none = placeClaim(req({ sites: ['z'] }), edge);
  assert.deepEqual(none.ok ? null : none.reason, 'NoNodeInSite');
  const pref = placeClaim(req({ site: 'a', sites: ['c'], siteMode: 'Preferred' }), edge);
  assert.equal(pref.ok && pref.node, 'c1');
  const prefFull = placeClaim(req({ site: 'a', sites: ['c'], siteMode: 'Preferred', memoryBytes: 30 * GiB }), edge);
  assert.equal(prefFull.ok && prefFull.node, 'a1');
});

test('maxLatencyMs: inclusive bound, unknown latency excluded, reason NoNodeWithinLatency', () => {
  const ok = placeClaim(req({ site: 'c', maxLatencyMs: 5, memoryBytes: 16 * GiB }), edge);
  assert.equal(ok.ok && ok.node, 'b1');
  const tooFar = placeClaim(req({ site: 'c', maxLatencyMs: 4.9, memoryBytes: 16 * GiB }), edge);
  assert.equal(tooFar.ok ? '' : tooFar.reason, 'InsufficientMemory'); // c1 is within 0.3 ms but too small
  const none = placeClaim(req({ site: 'zz', maxLatencyMs: 100 }), edge);
  assert.equal(none.ok ? '' : none.reason, 'NoNodeWithinLatency');
  assert.match(none.ok ? '' : none.message, /within 100 ms of site zz/);
  // Same site without a measured link counts as 0 ms.
  const local = placeClaim(req({ site: 'x', maxLatencyMs: 0 }), [node('x1', 'x', [['GPU-x', 10]])]);
  assert.equal(local.ok && local.latencyMs, 0);
});

test('selectors: model and minimum compute capability', () => {
  const nodes = [
    node('n1', 's', [['GPU-1', 80, 100, 'A100', '8.0']]),
    node('n2', 's', [['GPU-2', 20, 100, 'H100', '9.0']]),
  ];
  assert.equal((placeClaim(req({ minComputeCapability: '8.6', policy: 'spread' }), nodes) as { node: string }).node, 'n2');
  assert.equal((placeClaim(req({ models: ['A100'] }), nodes) as { node: string }).node, 'n1');
  const r = placeClaim(req({ models: ['L4'], minComputeCapability: '8.9' }), nodes);
  assert.equal(r.ok ? '' : r.reason, 'NoMatchingGPU');
  assert.match(r.ok ? '' : r.message, /model in \[L4\] and compute capability >= 8\.9/);
  // 10.0 > 9.0 numerically, not lexically.
  const cc10 = placeClaim(req({ minComputeCapability: '10.0' }), [node('n3', 's', [['GPU-3', 80, 100, 'B200', '10.0']]), ...nodes]);
  assert.equal(cc10.ok && cc10.node, 'n3');
});

test('capacity edges: exact fit, one byte over, zero free, compute', () => {
  const n = [node('n', 's', [['GPU', 8]])];
  assert.equal(placeClaim(req({ memoryBytes: 8 * GiB }), n).ok, true);
  const over = placeClaim(req({ memoryBytes: 8 * GiB + 1 }), n);
  assert.equal(over.ok ? '' : over.reason, 'InsufficientMemory');
  assert.match(over.ok ? '' : over.message, /largest free 8Gi/);
  assert.equal(placeClaim(req({ memoryBytes: 1 }), [node('z', 's', [['GPU', 0]])]).ok, false);
  const cpu = placeClaim(req({ computePercent: 60 }), [node('n', 's', [['GPU', 80, 50]])]);
  assert.equal(cpu.ok ? '' : cpu.reason, 'InsufficientCompute');
  assert.equal(placeClaim(req({ computePercent: 50 }), [node('n', 's', [['GPU', 80, 50]])]).ok, true);
  const notReady = placeClaim(req(), [node('n', 's', [['GPU', 80]], {}, false)]);
  assert.equal(notReady.ok ? '' : notReady.reason, 'NoReadyNode');
  assert.equal((placeClaim(req(), []) as { reason: string }).reason, 'NoReadyNode');
});

test('placeAll: consumes capacity, never overcommits, oldest claim first', () => {
  const nodes = [node('n1', 's', [['GPU-1', 20]]), node('n2', 's', [['GPU-2', 10]])];
  const reqs = [1, 2, 3, 4].map((i) => req({ key: `ns/c${i}`, createdAt: `2026-01-0${i}T00:00:00Z`, memoryBytes: 8 * GiB, computePercent: 10, policy: 'binpack' }));
  const out = placeAll(reqs.reverse(), nodes);
  assert.deepEqual([...out.keys()], ['ns/c1', 'ns/c2', 'ns/c3', 'ns/c4']);
  const placed = [...out.values()].map((d) => (d.ok ? d.node : d.reason));
  assert.deepEqual(placed, ['n2', 'n1', 'n1', 'InsufficientMemory']);
  assert.equal(nodes[0].devices[0].freeMemoryBytes, 20 * GiB, 'input not modified');
});

test('determinism: same decisions under any permutation of claims, nodes and devices', () => {
  let seed = 7;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const nodes: NodeView[] = [];
  for (let i = 0; i < 30; i++) {
    const devs: Array<[string, number]> = [];
    for (let d = 0; d < 3; d++) devs.push([`GPU-${i}-${d}`, 8 * (1 + (i % 4))]);
    nodes.push(node(`n${String(i).padStart(2, '0')}`, `s${i % 5}`, devs, { s0: i % 3, s1: 2, s2: (i * 7) % 5 }));
  }
  const reqs: ClaimRequest[] = [];
  for (let i = 0; i < 120; i++) {
    reqs.push(req({ key: `ns/c${i}`, memoryBytes: (1 + (i % 7)) * GiB, policy: (['nearest', 'binpack', 'spread'] as const)[i % 3], site: `s${i % 3}` }));
  }
  const shuffle = <T>(a: T[]): T[] => {
    const b = [...a];
    for (let i = b.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [b[i], b[j]] = [b[j], b[i]];
    }
    return b;
  };
  const base = JSON.stringify([...placeAll(reqs, nodes)]);
  for (let k = 0; k < 5; k++) {
    const pn = shuffle(nodes).map((n) => ({ ...n, devices: shuffle(n.devices) }));
    assert.equal(JSON.stringify([...placeAll(shuffle(reqs), pn)]), base);
  }
});

test('nearest-first visits with precomputed latencies decide exactly as visiting every node (every policy, limits, sites, unknown links, full devices)', () => {
  let seed = 11;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const nodes: NodeView[] = [];
  for (let i = 0; i < 40; i++) {
    const rtt: Record<string, number> = {};
    for (const s of ['s0', 's1', 's2', 's3']) if (rnd() < 0.8) rtt[s] = Math.round(rnd() * 200) / 10;
    nodes.push(node(`n${String(i).padStart(2, '0')}`, `s${i % 4}`, [[`GPU-${i}-0`, Math.floor(rnd() * 40)], [`GPU-${i}-1`, Math.floor(rnd() * 40), Math.floor(rnd() * 100)]], rtt, rnd() < 0.9));
  }
  for (let i = 0; i < 300; i++) {
    const site = i % 7 === 0 ? undefined : `s${i % 5}`; // s4: no node's site, some links unknown
    const r = req({
      key: `ns/c${i}`, memoryBytes: (1 + (i % 9)) * GiB, computePercent: 1 + (i % 50), site,
      policy: (['nearest', 'binpack', 'spread'] as const)[i % 3],
      maxLatencyMs: i % 4 === 0 ? Math.round(rnd() * 150) / 10 : undefined,
      sites: i % 6 === 0 ? ['s1', 's2'] : [], siteMode: i % 12 === 0 ? 'Preferred' : 'Required',
    });
    assert.deepEqual(placeClaim(r, nodes, siteLatencies(nodes, site ?? 's0')), placeClaim(r, nodes), `claim ${i}`);
  }
});

test('nodeViewFrom subtracts allocations per device; measured links win; heartbeat freshness', () => {
  const gn = gpuNodeSchema.parse({
    metadata: { name: 'g1' },
    spec: {
      nodeName: 'g1', site: 'a', endpoint: '10.0.0.1:7100',
      devices: [{ uuid: 'GPU-1', model: 'H100', memoryBytes: 80 * GiB, computeCapability: '9.0' }],
      links: [{ site: 'b', rttMs: 4, source: 'measured' }],
    },
    status: {
      heartbeatTime: '2026-01-01T00:00:00Z',
      allocations: [
        { claimUID: 'u1', claim: 'n/c1', memoryBytes: 10 * GiB, computePercent: 30, deviceUUID: 'GPU-1' },
        { claimUID: 'u2', claim: 'n/c2', memoryBytes: 5 * GiB, computePercent: 20, deviceUUID: 'GPU-1' },
      ],
    },
  });
  const v = nodeViewFrom(gn, true);
  assert.equal(v.devices[0].freeMemoryBytes, 65 * GiB);
  assert.equal(v.devices[0].freeComputePercent, 50);
  assert.equal(nodeViewFrom(gn, true, 'u1').devices[0].freeMemoryBytes, 75 * GiB);
  assert.equal(v.rttMs.get('b'), 4);
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(isHeartbeatFresh(gn, t0 + 30_000, 30_000), true);
  assert.equal(isHeartbeatFresh(gn, t0 + 30_001, 30_000), false);
});

test('claimRequestFrom applies CR defaults and parses memory', () => {
  const c = claimSchema.parse({ metadata: { name: 'c', namespace: 'n', uid: 'u' }, spec: { memory: '1536Mi' } });
  const r = claimRequestFrom(c);
  assert.equal(r.memoryBytes, 1536 * 2 ** 20);
  assert.equal(r.computePercent, 100);
  assert.equal(r.policy, 'nearest');
  assert.equal(r.siteMode, 'Required');
  assert.equal(r.key, 'n/c');
});
