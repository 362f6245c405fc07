// Two operator replicas: exactly one leads (Lease + avec_operator_leader), only the leader binds,
// and when the leader dies without releasing the lease the other takes over and keeps binding.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { installAvec, type AvecInstall } from '../harness/avec-install.js';
import { startControlPlane, type ControlPlane } from '../harness/control-plane.js';
import { GpuNodeFleet } from '../harness/gpu-nodes.js';
import type { KubeClient } from '@avec/kube';
import { startOperator, type OperatorProcess } from '../harness/operator-process.js';
import { waitFor } from '../harness/wait.js';
import { claimYaml, edgeFleet } from './fixtures.js';

const NS = 'team';

async function isLeader(op: OperatorProcess): Promise<boolean | undefined> {
  if (!op.process.running) return false;
  const m = /^avec_operator_leader(?:\{[^}]*\})? ([01])$/m.exec(await op.metrics().catch(() => ''));
  return m ? m[1] === '1' : undefined;
}

describe('two operator replicas', () => {
  let cp: ControlPlane;
  let inst: AvecInstall;
  let rest: KubeClient;
  let fleet: GpuNodeFleet;
  const ops: OperatorProcess[] = [];

  before(async () => {
    cp = await startControlPlane({ name: 'leader-election' });
    inst = await installAvec(cp);
    rest = cp.rest();
    fleet = new GpuNodeFleet(rest, 2_000);
    for (const n of edgeFleet()) await fleet.add(n);
    await cp.kubectl(['create', 'namespace', NS]);
    ops.push(await startOperator(cp, inst, { identity: 'replica-a', webhookPort: inst.webhookPort }));
    ops.push(await startOperator(cp, inst, { identity: 'replica-b' }));
  });
  after(async () => {
    fleet?.stop();
    for (const op of ops) await op.stop();
    await cp?.stop();
  });

  const leases = async () => (await rest.leases.list({}, inst.namespace)).items as any[];
  const bound = (name: string, timeoutMs = 30_000) => cp.kubectl(['wait', '-n', NS, '--for=jsonpath={.status.phase}=Bound',
    `vgc/${name}`, `--timeout=${Math.round(timeoutMs / 1000)}s`]);

  let leader: OperatorProcess;
  let follower: OperatorProcess;

  it('elects exactly one leader, recorded in a Lease with the 15 s duration', async () => {
    const holder = await waitFor(async () => {
      const l = (await leases()).find((x) => ['replica-a', 'replica-b'].includes(x.spec?.holderIdentity));
      return l?.spec.holderIdentity as string | undefined;
    }, { what: 'a lease holder' });
    const lease = (await leases()).find((x) => x.spec?.holderIdentity === holder);
    assert.equal(lease.spec.leaseDurationSeconds, 15);
    leader = ops.find((o) => o.identity === holder)!;
    follower = ops.find((o) => o.identity !== holder)!;
    await waitFor(async () => (await isLeader(leader)) === true, { what: 'leader metric on the leader' });
    assert.equal(await isLeader(follower), false, 'the follower must not report leadership');
  });

  it('binds claims through the leader', async () => {
    await cp.kubectl(['apply', '-f', '-'], { input: claimYaml('before-failover', NS, 'memory: 1Gi') });
    await bound('before-failover');
  });

  it('fails over to the other replica when the leader dies', async () => {
    const t0 = Date.now();
    await leader.kill();
    await waitFor(async () => (await leases()).some((x) => x.spec?.holderIdentity === follower.identity),
      { what: `${follower.identity} to take the lease`, timeoutMs: 40_000, intervalMs: 500 });
    const takeoverS = (Date.now() - t0) / 1000;
    assert.ok(takeoverS <= 30, `takeover took ${takeoverS} s`);
    await waitFor(async () => (await isLeader(follower)) === true, { what: 'new leader metric' });
    await cp.kubectl(['apply', '-f', '-'], { input: claimYaml('after-failover', NS, 'memory: 1Gi') });
    await bound('after-failover');
    const c = JSON.parse((await cp.kubectl(['get', 'vgc', 'after-failover', '-n', NS, '-o', 'json'])).stdout);
    assert.ok(c.status.allocation.node);
  });

  it('hands over at once when the leader stops gracefully (lease released)', async () => {
    const next = await startOperator(cp, inst, { identity: 'replica-c' });
    ops.push(next);
    const t0 = Date.now();
    await follower.stop();
    await waitFor(async () => (await leases()).some((x) => x.spec?.holderIdentity === 'replica-c'),
      { what: 'replica-c to take the lease', timeoutMs: 20_000, intervalMs: 250 });
    const s = (Date.now() - t0) / 1000;
    assert.ok(s < 10, `graceful handover took ${s} s (expected well under the 15 s lease duration)`);
  });
});
