// User flows against the real API server and the real operator process (running as the chart's
// ServiceAccount, so the chart's RBAC is exercised too): claims applied with kubectl, schema refusal,
// webhook injection + scheduling gate, GPU node failure and re-placement, deletion.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { installAvec, type AvecInstall } from '../harness/avec-install.js';
import { startControlPlane, type ControlPlane } from '../harness/control-plane.js';
import { GIB, GpuNodeFleet } from '../harness/gpu-nodes.js';
import { isStatus, type KubeClient } from '@avec/kube';
import { startOperator, type OperatorProcess } from '../harness/operator-process.js';
import { schedulePending } from '../harness/scheduler-stand-in.js';
import { waitFor } from '../harness/wait.js';
import { REPO_ROOT } from '../harness/repo-root.js';
import { join } from 'node:path';
import { claimYaml, condition, edgeFleet, readClaimSecret } from './fixtures.js';

const NS = 'apps';
const CLAIMS = `/apis/avec.dev/v1alpha1/namespaces/${NS}/virtualgpuclaims`;
const GPUNODES = '/apis/avec.dev/v1alpha1/gpunodes';

describe('operator user flows', () => {
  let cp: ControlPlane;
  let inst: AvecInstall;
  let rest: KubeClient;
  let fleet: GpuNodeFleet;
  let op: OperatorProcess;

  before(async () => {
    cp = await startControlPlane({ name: 'claims' });
    inst = await installAvec(cp);
    rest = cp.rest();
    fleet = new GpuNodeFleet(rest, 1_000);
    for (const n of edgeFleet()) await fleet.add(n);
    await cp.kubectl(['create', 'namespace', NS]);
    op = await startOperator(cp, inst, { identity: 'op-0', webhookPort: inst.webhookPort, heartbeatTimeoutSeconds: 8 });
  });
  after(async () => {
    fleet?.stop();
    await op?.stop();
    await cp?.stop();
  });

  const claim = (name: string): Promise<any> => rest.claims.get(name, NS);
  const waitPhase = (name: string, phase: string, timeoutMs = 30_000) =>
    waitFor(async () => {
      const c = await claim(name);
      return c.status?.phase === phase ? c : undefined;
    }, { what: `claim ${name} phase ${phase}`, timeoutMs });

  it('binds a claim applied with kubectl, with conditions, printer columns, a Secret and a valid ticket', async () => {
    await cp.kubectl(['apply', '-f', '-'], {
      input: claimYaml('infer', NS, 'memory: 8Gi\ncomputePercent: 50\nplacement:\n  site: edge-a\n  policy: nearest'),
    });
    await cp.kubectl(['wait', '-n', NS, '--for=jsonpath={.status.phase}=Bound', 'vgc/infer', '--timeout=30s']);
    const c = await claim('infer');
    assert.equal(c.status.allocation.node, 'gpu-a1', 'nearest GPU to edge-a');
    assert.equal(c.status.allocation.memoryBytes, 8 * GIB);
    assert.equal(c.status.allocation.endpoint, '10.0.1.1:7400');
    assert.equal(c.status.observedGeneration, c.metadata.generation);
    for (const type of ['Scheduled', 'Ready']) {
      const cond = condition(c, type);
      assert.equal(cond?.status, 'True', `${type}: ${JSON.stringify(cond)}`);
      assert.equal(cond?.observedGeneration, c.metadata.generation);
      assert.ok(cond?.lastTransitionTime && cond.reason);
    }
    assert.equal(c.metadata.finalizers, undefined, 'no finalizer: the claim status holds the allocation, deletion never waits');

    const table = (await cp.kubectl(['get', 'vgc', '-n', NS])).stdout.split('\n');
    assert.match(table[0], /^NAME\s+PHASE\s+NODE\s+SITE\s+MEMORY\s+LATENCY\(MS\)\s+REASON\s+AGE/);
    assert.match(table[1], /^infer\s+Bound\s+gpu-a1\s+edge-a\s+8Gi\s+0\.3\s+Placed\s+\d+s/);

    const s = await readClaimSecret(cp, NS, 'infer', inst.ticketKeyDir);
    assert.equal(s.endpoint, '10.0.1.1:7400');
    assert.equal(s.claim, `${NS}/infer`);
    assert.equal(s.payload.node, 'gpu-a1');
    assert.equal(s.payload.mem, 8 * GIB);
    assert.equal(s.payload.cpct, 50);
    assert.equal(s.payload.maxs, 8, 'the per-claim session cap (--max-sessions-per-claim) is signed into the ticket');
    assert.equal(s.payload.uid, c.metadata.uid);

    // The GPUNode's allocation summary follows the claim (written about a second after the bind).
    await waitFor(async () => {
      const gn = await rest.gpuNodes.get(`gpu-a1`) as any;
      return (gn.status.allocations ?? []).some((a: any) => a.claimUID === c.metadata.uid && a.memoryBytes === 8 * GIB) || undefined;
    }, { what: 'allocation summary on gpu-a1' });
    // A claim bound at once is told by its conditions, not by an Event (no Event on the success path).
    const describe = (await cp.kubectl(['describe', 'vgc', 'infer', '-n', NS])).stdout;
    assert.match(describe, /Reason:\s+Bound/);
    assert.doesNotMatch(describe, /Normal\s+Bound/);
  });

  it('refuses a spec change of a Bound claim (CEL rule on the CRD)', async () => {
    const res = await cp.kubectl(['patch', 'vgc', 'infer', '-n', NS, '--type=merge', '-p', '{"spec":{"memory":"16Gi"}}'], { check: false });
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /spec is immutable while the claim is Bound/);
    assert.equal((await claim('infer')).spec.memory, '8Gi');
  });

  it('refuses invalid claims at the API server with a clear message', async () => {
    const bad = await cp.kubectl(['apply', '-f', '-'], { check: false, input: claimYaml('bad', NS, 'memory: 0\ncomputePercent: 150') });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /memory must be a positive quantity/);
    assert.match(bad.stderr, /computePercent/);
    const noSite = await cp.kubectl(['apply', '-f', '-'], { check: false, input: claimYaml('bad2', NS, 'memory: 1Gi\nplacement:\n  maxLatencyMs: 5') });
    assert.notEqual(noSite.code, 0);
    assert.match(noSite.stderr, /maxLatencyMs needs placement\.site/);
    assert.equal(await rest.claims.get('bad', NS).catch((e) => (isStatus(e, 404) ? undefined : Promise.reject(e))), undefined);
  });

  it('refuses bad sites, absurd sizes and latency budgets, repeating what was typed', async () => {
    const tries: Array<[string, string, RegExp]> = [
      ['site-space', 'memory: 1Gi\nplacement:\n  site: "EDGE A!/x"', /a site is a label value .*got "EDGE A!\/x"/],
      ['site-empty', 'memory: 1Gi\nplacement:\n  site: ""', /a site is a label value .*got ""/],
      ['sites-item', 'memory: 1Gi\nplacement:\n  sites: [edge-a, "bad site"]', /a site is a label value .*got "bad site"/],
      ['huge-mem', 'memory: 900Ei', /memory must be a positive quantity of at most 16Ti.*got "900Ei"/],
      ['word-mem', 'memory: lots', /memory must be a positive quantity.*got "lots"/],
      ['far', 'memory: 1Gi\nplacement:\n  site: edge-a\n  maxLatencyMs: 1e300', /maxLatencyMs.*less than or equal to 60000/],
    ];
    for (const [name, spec, want] of tries) {
      const r = await cp.kubectl(['apply', '-f', '-'], { check: false, input: claimYaml(name, NS, spec) });
      assert.notEqual(r.code, 0, `${name} was accepted`);
      assert.match(r.stderr, want, name);
    }
    // Zone-style sites with capitals and underscores are label values too: accepted.
    await cp.kubectl(['apply', '-f', '-'], { input: claimYaml('zone-site', NS, 'memory: 1Gi\nplacement:\n  site: us-East_1.a') });
    await cp.kubectl(['delete', 'vgc', 'zone-site', '-n', NS]);
  });

  it('refuses pods whose GPU annotations would be ignored, saying which and why', async () => {
    const pod = (name: string, annotations: string, extra = '') => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: ${NS}
  annotations:
${annotations}
spec:
${extra}  containers:
    - name: main
      image: busybox:1.37
`;
    const computeOnly = await cp.kubectl(['apply', '-f', '-'], { check: false, input: pod('compute-only', '    avec.dev/gpu-compute-percent: "50"') });
    assert.notEqual(computeOnly.code, 0, 'a compute annotation without memory reaches the webhook and is refused');
    assert.match(computeOnly.stderr, /avec\.dev\/gpu-compute-percent needs avec\.dev\/gpu-memory/);
    const policyOnly = await cp.kubectl(['apply', '-f', '-'], { check: false, input: pod('policy-only', '    avec.dev/gpu-policy: binpack') });
    assert.match(policyOnly.stderr, /avec\.dev\/gpu-policy needs avec\.dev\/gpu-memory/);
    const noSite = await cp.kubectl(['apply', '-f', '-'], { check: false, input: pod('latency-no-site', '    avec.dev/gpu-memory: 1Gi\n    avec.dev/gpu-max-latency-ms: "5"') });
    assert.notEqual(noSite.code, 0);
    assert.match(noSite.stderr, /avec\.dev\/gpu-max-latency-ms needs the pod's site/);
    const withSite = await cp.kubectl(['apply', '--dry-run=server', '-f', '-'], {
      input: pod('latency-site', '    avec.dev/gpu-memory: 1Gi\n    avec.dev/gpu-max-latency-ms: "5"', '  nodeSelector:\n    avec.dev/site: edge-a\n'),
    });
    assert.equal(withSite.code, 0, 'with a site the same annotations are accepted');
    for (const n of ['compute-only', 'policy-only', 'latency-no-site']) {
      assert.equal(await rest.pods.get(n, NS).catch((e) => (isStatus(e, 404) ? undefined : Promise.reject(e))), undefined, n);
    }
  });

  it('explains why a claim that fits nowhere stays Pending (condition + Warning event)', async () => {
    await cp.kubectl(['apply', '-f', '-'], { input: claimYaml('huge', NS, 'memory: 500Gi') });
    const c = await waitFor(async () => {
      const x = await claim('huge');
      return condition(x, 'Scheduled')?.status === 'False' ? x : undefined;
    }, { what: 'huge claim Scheduled=False' });
    assert.equal(c.status.phase, 'Pending');
    const reason = String(condition(c, 'Scheduled')?.reason);
    assert.match(reason, /^[A-Z][A-Za-z]+$/, 'machine-readable reason');
    await waitFor(async () => /Warning/.test((await cp.kubectl(['describe', 'vgc', 'huge', '-n', NS])).stdout), { what: 'Warning event on huge' });
    // kubectl get says why without describe; -o wide adds the message; GPU nodes show memory for humans.
    const table = (await cp.kubectl(['get', 'vgc', 'huge', '-n', NS])).stdout;
    assert.match(table.split('\n')[0]!, /\bREASON\b/);
    assert.match(table.split('\n')[1]!, new RegExp(`\\bPending\\b.*\\b${reason}\\b`));
    const wide = (await cp.kubectl(['get', 'vgc', 'huge', '-n', NS, '-o', 'wide'])).stdout;
    assert.match(wide.split('\n')[0]!, /\bCOMPUTE\b.*\bDEVICE\b.*\bENDPOINT\b.*\bMESSAGE\b/);
    const nodes = (await cp.kubectl(['get', 'gpunodes', 'gpu-a1'])).stdout.split('\n');
    assert.match(nodes[0]!, /\bCAPACITY\b\s+FREE\b/);
    assert.match(nodes[1]!, /\b80Gi\s+\d+(\.\d)?[GT]i\b/, 'capacity and free in binary units');
    await cp.kubectl(['delete', 'vgc', 'huge', '-n', NS, '--wait=true', '--timeout=30s']);
  });

  it('mutates and gates an annotated pod, then lifts the gate once its claim is bound', async () => {
    assert.equal((await schedulePending(rest, NS)).size, 0);
    // The claim asks for a site with no GPU yet, so the pod stays gated until one appears.
    await cp.kubectl(['apply', '-f', '-'], { input: claimYaml('trainer', NS, 'memory: 4Gi\nplacement:\n  sites: [edge-c]') });
    await cp.kubectl(['apply', '-f', '-'], {
      input: `apiVersion: v1
kind: Pod
metadata:
  name: trainer
  namespace: ${NS}
  annotations:
    avec.dev/claim: trainer
spec:
  containers:
    - name: main
      image: busybox:1.37
      command: [sleep, "3600"]
`,
    });
    let pod = await rest.pods.get('trainer', NS) as any;
    assert.deepEqual(pod.spec.schedulingGates, [{ name: 'avec.dev/claim-bound' }]);
    assert.ok(pod.spec.initContainers?.some((c: any) => c.image.includes('shim')), 'shim init container');
    const env = pod.spec.containers[0].env as Array<{ name: string; value?: string }>;
    assert.match(env.find((e) => e.name === 'LD_PRELOAD')?.value ?? '', /libcuda\.so\.1/);
    assert.ok(pod.spec.volumes.some((v: any) => v.secret?.secretName === 'avec-claim-trainer'));
    assert.ok(pod.spec.containers[0].volumeMounts.some((m: any) => m.mountPath === '/var/run/avec/claim'));
    const gated = (await cp.kubectl(['get', 'pod', 'trainer', '-n', NS])).stdout;
    assert.match(gated, /SchedulingGated/);
    assert.equal((await schedulePending(rest, NS)).has(`${NS}/trainer`), false, 'a gated pod is not scheduled');

    await fleet.add({ name: 'gpu-c1', site: 'edge-c', endpoint: '10.0.3.1:7400', links: [{ site: 'edge-c', rttMs: 0.4 }] });
    await waitPhase('trainer', 'Bound');
    pod = await waitFor(async () => {
      const p = await rest.pods.get('trainer', NS) as any;
      return (p.spec.schedulingGates ?? []).length === 0 ? p : undefined;
    }, { what: 'scheduling gate lifted' });
    const terms = pod.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
    assert.ok(JSON.stringify(terms).includes('edge-c'), `affinity narrowed to edge-c: ${JSON.stringify(terms)}`);
    // With the narrowed affinity a scheduler can only place the pod in the GPU's site.
    const placed = await schedulePending(rest, NS);
    assert.equal(placed.get(`${NS}/trainer`), 'gpu-c1', `scheduled: ${JSON.stringify([...placed])}`);
  });

  it('creates a pod-owned claim for an inline avec.dev/gpu-memory annotation', async () => {
    await cp.kubectl(['apply', '-f', '-'], {
      input: `apiVersion: v1
kind: Pod
metadata:
  name: notebook
  namespace: ${NS}
  annotations:
    avec.dev/gpu-memory: 2Gi
    avec.dev/gpu-compute-percent: "25"
spec:
  nodeSelector:
    topology.kubernetes.io/zone: edge-b
  containers:
    - name: main
      image: busybox:1.37
`,
    });
    const pod = await rest.pods.get('notebook', NS) as any;
    const claimName = pod.metadata.annotations['avec.dev/claim'] ?? 'notebook-gpu';
    const c = await waitPhase(claimName, 'Bound');
    assert.equal(c.spec.memory, '2Gi');
    assert.equal(c.spec.computePercent, 25);
    assert.ok(c.metadata.ownerReferences?.some((o: any) => o.kind === 'Pod' && o.name === 'notebook'), 'owned by the pod');
    assert.match(c.status.allocation.node, /^gpu-b/, 'placed in the pod\'s own site');
    await waitFor(async () => {
      const p = await rest.pods.get('notebook', NS) as any;
      return (p.spec.schedulingGates ?? []).length === 0 ? p : undefined;
    }, { what: 'notebook gate lifted' });
    const placed = await schedulePending(rest, NS);
    assert.match(placed.get(`${NS}/notebook`) ?? '', /^gpu-b/, 'the pod keeps its own site');
  });

  it('creates no claim for a server-side dry run (the webhook declares sideEffects NoneOnDryRun)', async () => {
    const res = await cp.kubectl(['run', 'dry', '-n', NS, '--image=busybox:1.37', '--annotations=avec.dev/gpu-memory=1Gi',
      '--dry-run=server', '-o', 'json']);
    const pod = JSON.parse(res.stdout);
    assert.ok(pod.spec.initContainers?.length, 'the dry-run pod is mutated');
    assert.equal(await rest.claims.get('dry-gpu', NS).catch((e) => (isStatus(e, 404) ? undefined : Promise.reject(e))), undefined);
    const all = await rest.claims.list({}, NS);
    assert.equal(all.items.filter((c: any) => c.metadata.name.startsWith('dry')).length, 0);
  });

  it('refuses a pod with an invalid annotation, saying what is wrong', async () => {
    const res = await cp.kubectl(['run', 'broken', '-n', NS, '--image=busybox:1.37', '--annotations=avec.dev/gpu-memory=lots'], { check: false });
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /denied the request/);
    assert.match(res.stderr, /gpu-memory/);
  });

  it('re-places the claims of a GPU node that stops heart-beating and rewrites their Secrets', async () => {
    await cp.kubectl(['apply', '-f', '-'], { input: claimYaml('edge-job', NS, 'memory: 10Gi\ncomputePercent: 50\nplacement:\n  site: edge-b\n  sites: [edge-b]') });
    const first = await waitPhase('edge-job', 'Bound');
    const dead = first.status.allocation.node as string;
    const survivor = dead === 'gpu-b1' ? 'gpu-b2' : 'gpu-b1';
    const before = await readClaimSecret(cp, NS, 'edge-job', inst.ticketKeyDir);
    fleet.silence(dead);
    const gn = await waitFor(async () => {
      const n = await rest.gpuNodes.get(`${dead}`) as any;
      return condition(n, 'Ready')?.status === 'False' ? n : undefined;
    }, { what: `${dead} Ready=False`, timeoutMs: 30_000 });
    assert.match(String(condition(gn, 'Ready')?.reason), /Heartbeat/);
    const moved = await waitFor(async () => {
      const c = await claim('edge-job');
      return c.status?.phase === 'Bound' && c.status.allocation?.node === survivor ? c : undefined;
    }, { what: `edge-job re-bound to ${survivor}`, timeoutMs: 30_000 });
    const s = await waitFor(async () => {
      const x = await readClaimSecret(cp, NS, 'edge-job', inst.ticketKeyDir);
      return x.payload.node === survivor ? x : undefined;
    }, { what: 'Secret rewritten' });
    assert.equal(s.endpoint, moved.status.allocation.endpoint);
    assert.notEqual(s.endpoint, before.endpoint);
    const events = (await cp.kubectl(['get', 'events', '-n', NS, '--field-selector', 'involvedObject.name=edge-job', '-o', 'json'])).stdout;
    assert.ok(JSON.parse(events).items.length >= 2, 'events tell the story');
  });

  it('gives a claim that lost its GPU its capacity back before a newcomer takes it', async () => {
    const dev = [{ uuid: 'GPU-p1', model: 'NVIDIA L4', memoryBytes: 16 * GIB, computeCapability: '8.9' }];
    await fleet.add({ name: 'gpu-p1', site: 'edge-p', endpoint: '10.0.9.1:7400', devices: dev, links: [{ site: 'edge-p', rttMs: 0.3, source: 'measured' }] });
    const spec = 'memory: 12Gi\nplacement:\n  site: edge-p\n  sites: [edge-p]';
    await cp.kubectl(['apply', '-f', '-'], { input: claimYaml('running', NS, spec) });
    await waitPhase('running', 'Bound');
    fleet.silence('gpu-p1');
    await waitPhase('running', 'Lost');
    await cp.kubectl(['apply', '-f', '-'], { input: claimYaml('newcomer', NS, spec) });
    await waitFor(async () => (condition(await claim('newcomer'), 'Scheduled')?.status === 'False' ? true : undefined), { what: 'newcomer waits' });
    await fleet.resume('gpu-p1');
    const back = await waitPhase('running', 'Bound');
    assert.equal(back.status.allocation.node, 'gpu-p1', 'the lost claim got its GPU back');
    // Give the newcomer every chance to take the capacity: it must not.
    await new Promise((r) => setTimeout(r, 2_000));
    const n = await claim('newcomer');
    assert.notEqual(n.status?.phase, 'Bound');
    assert.match(String(condition(n, 'Scheduled')?.reason), /CapacityHeldForLostClaims|InsufficientMemory|NoReadyNode|NoNodeInSite/);
    await cp.kubectl(['delete', 'vgc', 'running', 'newcomer', '-n', NS, '--wait=true', '--timeout=30s']);
  });

  it('applies operator/examples/claim.yaml as a new user would: its namespace, claim and gated pod', async () => {
    await cp.kubectl(['apply', '-f', join(REPO_ROOT, 'operator', 'examples', 'claim.yaml')]);
    const pod = await rest.pods.get('openpose', 'vision') as any;
    assert.equal(pod.metadata.annotations['avec.dev/injected'], 'true', 'the webhook injected the shim');
    const bound = await waitFor(async () => {
      const c = await rest.claims.get('openpose', 'vision') as any;
      return c.status?.phase === 'Bound' ? c : undefined;
    }, { what: 'example claim Bound' });
    assert.equal(bound.status.allocation.node, 'gpu-a1', 'the H100 in edge-a, within 5 ms');
    await waitFor(async () => (((await rest.pods.get('openpose', 'vision')) as any).spec.schedulingGates ?? []).length === 0 || undefined, { what: 'gate lifted' });
    // (Not the namespace: no namespace controller runs in the test control plane to finish deleting it.)
    await cp.kubectl(['delete', 'pod/openpose', 'vgc/openpose', '-n', 'vision', '--wait=true', '--timeout=60s']);
  });

  it('releases the allocation when a claim is deleted', async () => {
    const c = await claim('infer');
    const uid = c.metadata.uid;
    await waitFor(async () => {
      const n = await rest.gpuNodes.get(`gpu-a1`) as any;
      return (n.status.allocations ?? []).some((a: any) => a.claimUID === uid) || undefined;
    }, { what: 'allocation summary on gpu-a1' });
    await cp.kubectl(['delete', 'vgc', 'infer', '-n', NS, '--wait=true', '--timeout=30s']);
    // The summary follows the claims (the truth): what the Bound claims on gpu-a1 hold, infer gone.
    // (Comparing with the summary before the delete would race other claims deleted just before.)
    const boundOnA1 = async (): Promise<number> => {
      const all: any = await rest.claims.list({});
      return all.items.filter((x: any) => x.status?.phase === 'Bound' && x.status.allocation?.node === 'gpu-a1')
        .reduce((t: number, x: any) => t + x.status.allocation.memoryBytes, 0);
    };
    const after = await waitFor(async () => {
      const n = await rest.gpuNodes.get(`gpu-a1`) as any;
      const gone = !(n.status.allocations ?? []).some((a: any) => a.claimUID === uid);
      return gone && n.status.allocatedMemoryBytes === (await boundOnA1()) ? n : undefined;
    }, { what: 'allocation released on gpu-a1, summary equal to its Bound claims' });
    assert.ok(!(after.status.allocations ?? []).some((a: any) => a.claimUID === uid));
  });

  it('serves avec_ metrics', async () => {
    const text = await op.metrics();
    assert.match(text, /^avec_claims\{[^}]*phase="Bound"[^}]*\} [1-9]/m);
    assert.match(text, /^avec_webhook_requests_total\{[^}]*\} [1-9]/m);
    assert.match(text, /^avec_operator_leader(\{[^}]*\})? 1$/m);
  });
});
