// Uninstall: claims carry no finalizer (their status holds the allocation), so a claim deleted after
// `helm uninstall` goes at once. A claim an operator before 0.2 left with its finalizer can still be
// deleted: `release-claims` refuses while an operator holds the Lease; after `helm uninstall` it
// removes the finalizer and the pending deletion completes.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { installAvec, type AvecInstall } from '../harness/avec-install.js';
import { runCli } from '../harness/cli.js';
import { startControlPlane, type ControlPlane } from '../harness/control-plane.js';
import { GpuNodeFleet } from '../harness/gpu-nodes.js';
import { startOperator, type OperatorProcess } from '../harness/operator-process.js';
import { REPO_ROOT } from '../harness/repo-root.js';
import { waitFor } from '../harness/wait.js';
import { claimYaml, edgeFleet } from './fixtures.js';

const NS = 'apps';

describe('uninstall', () => {
  let cp: ControlPlane;
  let inst: AvecInstall;
  let fleet: GpuNodeFleet;
  let op: OperatorProcess | undefined;

  before(async () => {
    cp = await startControlPlane({ name: 'uninstall' });
    inst = await installAvec(cp);
    fleet = new GpuNodeFleet(cp.rest(), 1_000);
    for (const n of edgeFleet()) await fleet.add(n);
    await cp.kubectl(['create', 'namespace', NS]);
    op = await startOperator(cp, inst, { identity: 'op-u', webhookPort: inst.webhookPort });
  });
  after(async () => {
    fleet?.stop();
    await op?.stop();
    await cp?.stop();
  });

  const releaseClaims = (...args: string[]) =>
    runCli(process.execPath, [join(REPO_ROOT, 'operator', 'dist', 'main.js'), 'release-claims', '--kubeconfig', cp.kubeconfig, ...args], { check: false });
  const phase = async (name: string): Promise<string | undefined> =>
    JSON.parse((await cp.kubectl(['get', 'vgc', name, '-n', NS, '-o', 'json'])).stdout).status?.phase;

  it('a claim deleted after helm uninstall goes at once; one left with the legacy finalizer is released by release-claims (refused while the operator runs)', async () => {
    await cp.kubectl(['apply', '-f', '-'], { input: claimYaml('job', NS, 'memory: 4Gi') });
    // As an operator before 0.2 left its claims: with the finalizer avec.dev/release-allocation.
    await cp.kubectl(['apply', '-f', '-'], { input: claimYaml('legacy', NS, 'memory: 2Gi').replace('metadata:\n', 'metadata:\n  finalizers: [avec.dev/release-allocation]\n') });
    await waitFor(async () => ((await phase('job')) === 'Bound' ? true : undefined), { what: 'job Bound' });

    const refused = await releaseClaims();
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /the avec operator op-u holds the Lease avec-system\/avec-operator: delete claims normally/);

    await op!.stop(); // a graceful stop releases the Lease
    op = undefined;
    await cp.helm(['uninstall', inst.release, '--namespace', inst.namespace, '--wait', '--timeout=2m']);
    await cp.kubectl(['delete', 'vgc', 'job', '-n', NS, '--wait=true', '--timeout=30s']);
    await cp.kubectl(['delete', 'vgc', 'legacy', '-n', NS, '--wait=false']);
    // Nobody removes the legacy finalizer now: that claim stays, marked for deletion.
    const stuck = JSON.parse((await cp.kubectl(['get', 'vgc', 'legacy', '-n', NS, '-o', 'json'])).stdout);
    assert.ok(stuck.metadata.deletionTimestamp, 'deletion pending');
    assert.deepEqual(stuck.metadata.finalizers, ['avec.dev/release-allocation']);

    const released = await releaseClaims('--deleting-only');
    assert.equal(released.code, 0, released.stderr);
    assert.match(released.stdout, /released apps\/legacy \(its deletion now completes\)/);
    await waitFor(async () => ((await cp.kubectl(['get', 'vgc', 'legacy', '-n', NS, '--ignore-not-found', '-o', 'name'])).stdout.trim() === '' ? true : undefined),
      { what: 'legacy deleted' });
    const again = await releaseClaims();
    assert.match(again.stdout, /no claim holds the finalizer/);
  });
});
