// GPUNode publishing against a real kube-apiserver + etcd (the e2e harness, e2e/dist/harness): the
// rendered object passes the CRD's schema, heartbeats land in status, and the operator's status fields
// (conditions, allocations) survive our merge patches.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { SiteLink } from '../links/links.js';
import { KubeClient, PatchStrategy, readKubeconfig } from '@avec/kube';
import { loadConfig, type Config } from '../config.js';
import { silentLogger } from '@avec/common';
import { CHECKOUT_ROOT } from '../native/addon.js';
import { startRemotingServer } from '../server.js';
import { createMetrics } from '../metrics.js';
import { kubeGPUNodeApi } from './gpunode-api.js';
import type { ObservedInventory } from './observed.js';
import { GPUNodePublisher } from './publisher.js';

interface ControlPlane {
  kubeconfig: string;
  server: string;
  stop(): Promise<void>;
}

/** The API server's port: something at "the site" that accepts TCP connections, for the link probe. */
const cpPort = (cp: ControlPlane) => new URL(cp.server).port;

const harness = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'e2e', 'dist', 'harness', 'control-plane.js')).href;

const inventory: ObservedInventory = {
  backend: 'emulated',
  driverVersion: 13000,
  devices: [{ ordinal: 0, uuid: 'GPU-00000000-0000-0000-0000-000000000001', model: 'avec emulated device', memoryBytes: 16 << 30, computeCapability: '9.0', emulated: true }],
};

describe('GPUNode publisher against a real API server', () => {
  let cp: ControlPlane;
  let rest: KubeClient;

  before(async () => {
    const mod = (await import(harness)) as { startControlPlane: () => Promise<ControlPlane> };
    cp = await mod.startControlPlane();
    rest = new KubeClient(readKubeconfig(cp.kubeconfig));
    await rest.nodes.create({
      apiVersion: 'v1', kind: 'Node',
      metadata: { name: 'gpu-pub', labels: { 'topology.kubernetes.io/zone': 'zone-a', 'avec.dev/site': 'edge-1' } },
    });
  });

  after(async () => {
    await cp?.stop();
  });

  it('the whole server publishes its executor-described devices, advertised endpoint and measured links', async () => {
    const executor = process.env.AVEC_EXECUTOR ?? resolve(CHECKOUT_ROOT, 'build', 'native', 'avec-executor');
    const keys = await mkdtemp(join(tmpdir(), 'avec-kube-keys-'));
    const r = loadConfig({
      argv: ['--node-name', 'gpu-srv', '--kubeconfig', cp.kubeconfig, '--data-listen', '127.0.0.1:0', '--grpc-listen', '127.0.0.1:0', '--metrics-port', '0',
        '--advertise', 'gpu-srv.example:7070', '--site', 'edge-9', '--backend', 'emulated', '--executor', executor, '--ticket-key-dir', keys,
        '--heartbeat-seconds', '1', '--log-level', 'error', '--link', `edge-9=127.0.0.1:${cpPort(cp)}`, '--link', 'core=,40,1000'],
      env: {},
    });
    const server = await startRemotingServer((r as { config: Config }).config, { logger: silentLogger });
    try {
      type Obj = { spec: { site: string; endpoint: string; devices: Array<{ uuid: string; model: string }>; links: Array<{ site: string; source: string; rttMs: number; bandwidthMbps?: number }> }; status?: { heartbeatTime?: string } };
      let o: Obj | undefined;
      const deadline = Date.now() + 15_000;
      while (!o?.status?.heartbeatTime) {
        if (Date.now() > deadline) throw new Error('no GPUNode heartbeat');
        await new Promise((res) => setTimeout(res, 100));
        o = await rest.gpuNodes.get('gpu-srv').then((x) => x as unknown as Obj).catch(() => undefined);
      }
      assert.equal(o.spec.site, 'edge-9');
      assert.equal(o.spec.endpoint, 'gpu-srv.example:7070');
      assert.deepEqual(o.spec.devices.map((d) => d.uuid), server.inventory.devices.map((d) => d.uuid));
      assert.match(o.spec.devices[0]!.model, /emulated/);
      const byName = Object.fromEntries(o.spec.links.map((l) => [l.site, l]));
      assert.equal(byName['edge-9']?.source, 'measured');
      assert.deepEqual(byName.core, { site: 'core', rttMs: 40, bandwidthMbps: 1000, source: 'declared' });

      // Shutting down drains, and the GPUNode says so at once (placement can skip it).
      await server.shutdown(1000);
      const drained = (await rest.gpuNodes.get('gpu-srv')) as unknown as { metadata: { labels: Record<string, string> } };
      assert.equal(drained.metadata.labels['avec.dev/draining'], 'true');

      // The next server on that node (not draining) clears the mark.
      const next = new GPUNodePublisher({
        api: kubeGPUNodeApi(rest), nodeName: 'gpu-srv', endpoint: 'gpu-srv.example:7070', inventory: () => server.inventory, links: () => [],
        heartbeatMs: 1000, logger: silentLogger, metrics: createMetrics(), draining: () => false,
      });
      await next.syncOnce();
      const again = (await rest.gpuNodes.get('gpu-srv')) as unknown as { metadata: { labels: Record<string, string> } };
      assert.equal(again.metadata.labels['avec.dev/draining'], undefined);
      assert.equal(again.metadata.labels['avec.dev/backend'], 'emulated');
    } finally {
      await server.shutdown(1000);
      await rm(keys, { recursive: true, force: true });
    }
  });

  it('creates the GPUNode, heart-beats into status and leaves the operator fields alone', async () => {
    let links: SiteLink[] = [{ site: 'edge-1', rttMs: 0.3, source: 'measured' }];
    let clock = new Date('2026-11-27T00:00:00Z');
    const metrics = createMetrics();
    const pub = new GPUNodePublisher({
      api: kubeGPUNodeApi(rest), nodeName: 'gpu-pub', endpoint: '127.0.0.1:7070', inventory: () => inventory, links: () => links,
      heartbeatMs: 1000, logger: silentLogger, metrics, now: () => clock,
    });
    await pub.syncOnce();
    type Obj = { metadata: { generation: number; labels: Record<string, string> }; spec: Record<string, unknown>; status: Record<string, unknown> };
    let o = (await rest.gpuNodes.get('gpu-pub')) as unknown as Obj;
    assert.equal(o.spec.nodeName, 'gpu-pub');
    assert.equal(o.spec.site, 'edge-1', 'avec.dev/site label beats the zone');
    assert.equal(o.spec.endpoint, '127.0.0.1:7070');
    assert.deepEqual(o.spec.devices, [{ uuid: inventory.devices[0]!.uuid, model: 'avec emulated device', memoryBytes: 16 << 30, computeCapability: '9.0' }]);
    assert.equal(o.status.heartbeatTime, '2026-11-27T00:00:00Z');
    assert.deepEqual(o.status.capacity, { memoryBytes: 16 << 30, devices: 1 });
    assert.equal(o.metadata.labels['avec.dev/site'], 'edge-1');
    const gen = o.metadata.generation;

    // The operator writes its status fields.
    const opStatus = {
      conditions: [{ type: 'Ready', status: 'True', reason: 'HeartbeatFresh', lastTransitionTime: '2026-11-27T00:00:01Z' }],
      allocations: [{ claimUID: 'u1', claim: 'ns/c', memoryBytes: 1024, computePercent: 50, deviceUUID: inventory.devices[0]!.uuid }],
      allocatedMemoryBytes: 1024,
    };
    await rest.gpuNodes.patchStatus('gpu-pub', { status: opStatus }, PatchStrategy.MergePatch);

    // A heartbeat with link noise: status moves, spec (and generation) does not.
    clock = new Date('2026-11-27T00:00:10Z');
    links = [{ site: 'edge-1', rttMs: 0.5, source: 'measured' }];
    await pub.syncOnce();
    o = (await rest.gpuNodes.get('gpu-pub')) as unknown as Obj;
    assert.equal(o.status.heartbeatTime, '2026-11-27T00:00:10Z');
    assert.deepEqual(o.status.conditions, opStatus.conditions);
    assert.deepEqual(o.status.allocations, opStatus.allocations);
    assert.equal(o.status.allocatedMemoryBytes, 1024);
    assert.equal(o.metadata.generation, gen, 'measurement noise does not rewrite the spec');

    // A real change in links rewrites the spec.
    links = [{ site: 'edge-1', rttMs: 0.5, source: 'measured' }, { site: 'core', rttMs: 25, source: 'declared' }];
    await pub.syncOnce();
    o = (await rest.gpuNodes.get('gpu-pub')) as unknown as Obj;
    assert.equal((o.spec.links as unknown[]).length, 2);
    assert.ok(o.metadata.generation > gen);
    assert.match(await metrics.registry.getSingleMetricAsString('avec_gpunode_heartbeats_total'), /result="ok"\} 3/);
  });
});
