// GPU node failure with real processes: two remoting servers publish their GPUNodes, a claim binds to
// one, a CUDA program runs through the shim with the claim's Secret; the server is killed, the
// operator re-binds the claim to the other node and rewrites the Secret, and the same unmodified
// program runs again with the new endpoint.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { installAvec, type AvecInstall } from '../harness/avec-install.js';
import { runCli } from '../harness/cli.js';
import { startControlPlane, type ControlPlane } from '../harness/control-plane.js';
import { nodeObject } from '../harness/gpu-nodes.js';
import type { KubeClient } from '@avec/kube';
import { startOperator, type OperatorProcess } from '../harness/operator-process.js';
import { startRemotingServer, type RemotingServerProcess } from '../harness/remoting-server-process.js';
import { REPO_ROOT } from '../harness/repo-root.js';
import { waitFor } from '../harness/wait.js';
import { claimYaml, readClaimSecret } from './fixtures.js';

const NS = 'vision';
const PROGRAM = join(REPO_ROOT, 'build', 'demo', 'avec-demo');
const SHIM = join(REPO_ROOT, 'build', 'shim', 'libcuda.so.1');

describe('GPU node failure with real remoting servers', () => {
  let cp: ControlPlane;
  let inst: AvecInstall;
  let rest: KubeClient;
  let op: OperatorProcess;
  const servers = new Map<string, RemotingServerProcess>();

  before(async () => {
    for (const f of [PROGRAM, SHIM]) assert.ok(existsSync(f), `${f} missing: make build demo-program`);
    cp = await startControlPlane({ name: 'failover' });
    inst = await installAvec(cp);
    rest = cp.rest();
    const kubeconfig = await cp.serviceAccountKubeconfig(inst.namespace, `${inst.release}-remoting-server`);
    for (const name of ['gpu-r1', 'gpu-r2']) {
      await rest.nodes.create(nodeObject(name, 'edge-r', { 'avec.dev/gpu': 'true' }));
      servers.set(name, await startRemotingServer(cp, {
        nodeName: name, site: 'edge-r', kubeconfig, ticketKeyDir: inst.ticketKeyDir, backend: 'emulated', heartbeatSeconds: 1,
      }));
    }
    op = await startOperator(cp, inst, { identity: 'op', webhookPort: inst.webhookPort, heartbeatTimeoutSeconds: 6 });
    await cp.kubectl(['create', 'namespace', NS]);
  });
  after(async () => {
    for (const s of servers.values()) await s.stop();
    await op?.stop();
    await cp?.stop();
  });

  const run = (endpoint: string, ticket: string) => runCli(PROGRAM, [], {
    check: false, timeoutMs: 60_000, env: { ...process.env, LD_PRELOAD: SHIM, AVEC_SERVER: endpoint, AVEC_TICKET: ticket },
  });

  it('re-binds the claim to the surviving server and the program runs there with the rewritten Secret', async () => {
    await cp.kubectl(['apply', '-f', '-'], { input: claimYaml('detector', NS, 'memory: 1Gi\nplacement:\n  site: edge-r') });
    await cp.kubectl(['wait', '-n', NS, '--for=jsonpath={.status.phase}=Bound', 'vgc/detector', '--timeout=60s']);
    const first = await readClaimSecret(cp, NS, 'detector', inst.ticketKeyDir);
    const dead = String(first.payload.node);
    const survivor = dead === 'gpu-r1' ? 'gpu-r2' : 'gpu-r1';
    assert.equal(first.endpoint, servers.get(dead)!.dataEndpoint);
    const ok1 = await run(first.endpoint, first.ticket);
    assert.equal(ok1.code, 0, ok1.stdout + ok1.stderr);
    assert.match(ok1.stdout, /memory: 1\.00 GiB total/, 'the session is limited to the claim');

    // A ticket for one node is refused by the other (checked locally by the remoting server).
    const wrong = await run(servers.get(survivor)!.dataEndpoint, first.ticket);
    assert.notEqual(wrong.code, 0, 'the other node must refuse a ticket bound to another node');

    servers.get(dead)!.process.signal('SIGKILL');
    await servers.get(dead)!.process.waitExit();
    const moved = await waitFor(async () => {
      const s = await readClaimSecret(cp, NS, 'detector', inst.ticketKeyDir);
      return s.payload.node === survivor ? s : undefined;
    }, { what: `Secret rewritten for ${survivor}`, timeoutMs: 45_000, intervalMs: 500 });
    assert.equal(moved.endpoint, servers.get(survivor)!.dataEndpoint);
    const claim = (await rest.claims.get('detector', NS)) as any;
    assert.equal(claim.status.phase, 'Bound');
    assert.equal(claim.status.allocation.node, survivor);

    const stale = await run(first.endpoint, first.ticket);
    assert.notEqual(stale.code, 0, 'the dead endpoint fails cleanly');
    const ok2 = await run(moved.endpoint, moved.ticket);
    assert.equal(ok2.code, 0, ok2.stdout + ok2.stderr);
    assert.match(ok2.stdout, /avec-demo: OK/);
  });
});
