import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { measureLinks, measureRtt, resolveLinks } from './links.js';

test('measureRtt times TCP connects to a real listener; a closed port is an error', async () => {
  const server = createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  try {
    let t = 0;
    const fakeClock = () => (t += 5); // every connect "takes" 5 ms on the injected clock
    const m = await measureRtt(`127.0.0.1:${port}`, { attempts: 3, now: fakeClock });
    assert.deepEqual(m, { ok: true, rttMs: 5 });
    const real = await measureRtt(`127.0.0.1:${port}`);
    assert.ok(real.ok && real.rttMs >= 0 && real.rttMs < 1000);
  } finally {
    await new Promise((r) => server.close(r));
  }
  const closed = await measureRtt(`127.0.0.1:${port}`, { attempts: 1, timeoutMs: 500 });
  assert.equal(closed.ok, false);
});

test('resolveLinks: measured beats declared, declared is the fallback, neither means no link', async () => {
  const now = new Date('2026-11-27T00:00:00.000Z');
  const targets = [
    { site: 'a', probe: '127.0.0.1:1', rttMs: 9 },
    { site: 'b', probe: '127.0.0.1:1', rttMs: 30, bandwidthMbps: 100 },
    { site: 'c', probe: '127.0.0.1:1' },
    { site: 'd', rttMs: 2 },
  ];
  const measured = new Map([
    ['a', { ok: true as const, rttMs: 1.5 }],
    ['b', { ok: false as const, error: 'refused' }],
    ['c', { ok: false as const, error: 'refused' }],
  ]);
  assert.deepEqual(resolveLinks(targets, measured, now), [
    { site: 'a', rttMs: 1.5, source: 'measured', measuredTime: '2026-11-27T00:00:00Z' },
    { site: 'b', rttMs: 30, bandwidthMbps: 100, source: 'declared' },
    { site: 'd', rttMs: 2, source: 'declared' },
  ]);
  const m = await measureLinks([{ site: 'x', rttMs: 1 }]);
  assert.equal(m.size, 0, 'targets without a probe are not measured');
});
