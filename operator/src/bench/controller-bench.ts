// Operator-side cost of binding claims, without an API server: the claim controller against the
// in-memory fake (testing/fake-kube.ts), one claim at a time. Prints ms and CPU ms per bind (the
// fake's own copying is included, so this is an upper bound). Run: make bench-operator-fake
// Sizes: node operator/dist/bench/controller-bench.js [gpuNodes=1000] [claims=2000]
import { FakeKube } from '../testing/fake-kube.js';
import { ManualClock } from '../kube/clock.js';
import { Manager } from '../manager/manager.js';
import { registerControllers } from '../controllers/register.js';
import { OperatorMetrics } from '../metrics.js';
import { Keyring } from '@avec/tickets';
import { silentLogger } from '@avec/common';

const N = Number(process.argv[2] ?? 1000);
const C = Number(process.argv[3] ?? 2000);
const SITES = 50;
const api = new FakeKube();
api.lagWatch = false;
const T0 = Date.now();
const clock = new ManualClock(T0);
for (let i = 0; i < N; i++) {
  api.put('gpunodes', {
    metadata: { name: `g${i}` },
    spec: {
      nodeName: `g${i}`, site: `s${i % SITES}`, endpoint: `10.0.${i >> 8}.${i & 255}:7070`,
      devices: [0, 1, 2, 3].map((d) => ({ uuid: `GPU-${i}-${d}`, model: 'H100', memoryBytes: 80 * 2 ** 30, computeCapability: '9.0' })),
      links: Array.from({ length: SITES }, (_, s) => ({ site: `s${s}`, rttMs: Math.abs(s - (i % SITES)) + 0.2, source: 'measured' })),
    },
    status: { heartbeatTime: new Date(T0).toISOString(), allocations: [], conditions: [] },
  });
}
for (let i = 0; i < C; i++) {
  api.put('virtualgpuclaims', { metadata: { name: `c${i}`, namespace: 'ns', generation: 1 }, spec: { memory: '2Gi', computePercent: 10, placement: { site: `s${i % SITES}`, policy: (['nearest', 'binpack', 'spread'] as const)[i % 3] } } });
}
// Wired as production wires it (manager + registerControllers); the bench calls reconcile itself.
const mgr = new Manager({ clock, log: silentLogger });
const { claims: ctl } = registerControllers(mgr, api, new OperatorMetrics(), {
  identity: 'bench', keyring: () => new Keyring(new Map([['k', Buffer.alloc(32, 1)]])),
  heartbeatTimeoutMs: 30_000, ticketTtlSeconds: 3600, retryUnplacedMs: 30_000, claimWorkers: 1, lostClaimsFirst: true,
});
await mgr.start({ runWorkers: false });
const t0 = process.hrtime.bigint();
const cpu0 = process.cpuUsage();
for (let i = 0; i < C; i++) await ctl.reconcile(`ns/c${i}`);
const sec = Number(process.hrtime.bigint() - t0) / 1e9;
const cpu = process.cpuUsage(cpu0);
const bound = api.list('virtualgpuclaims').filter((c) => (c.status as { phase?: string } | undefined)?.phase === 'Bound').length;
console.log(JSON.stringify({
  benchmark: 'operator-bind-fake-api', gpuNodes: N, claims: C, bound, requestsPerBind: Number((api.requests / C).toFixed(2)),
  msPerBind: Number(((sec * 1000) / C).toFixed(2)), cpuMsPerBind: Number(((cpu.user + cpu.system) / 1000 / C).toFixed(2)), node: process.version,
}));
await mgr.stop();
