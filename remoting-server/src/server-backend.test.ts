// The executor backend a server serves: pinned to what --describe observed unless --backend was set; and a
// server that cannot start an executor tells the client so (REFUSED, EXECUTOR_FAILED). A stand-in executor
// (a shell script) plays a GPU node: it describes a CUDA device and records the arguments of each session.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, test } from 'node:test';
import { loadConfig, type Config } from './config.js';
import type { ObservedInventory } from './inventory/observed.js';
import { createLogger } from '@avec/common';
import { startRemotingServer, type RunningServer } from './server.js';
import { chooseExecutorBackend } from './sessions/executor-backend.js';
import { signTicket } from '@avec/tickets';
import { connectTcp, decodeHelloReply, encodeHello, FrameReader } from './wire/hello-client.js';
import { REFUSAL_CODES, STATUS_REFUSED } from './wire/refusal.js';

const inv = (backend: 'cuda' | 'emulated', emulatedDevice = backend === 'emulated'): ObservedInventory => ({
  backend, driverVersion: 13000, devices: [{ ordinal: 0, uuid: 'GPU-1', model: 'm', memoryBytes: 1 << 30, computeCapability: '9.0', emulated: emulatedDevice }],
});

test('chooseExecutorBackend: unset pins the observed backend; a configured one (auto included) is kept', () => {
  assert.deepEqual(chooseExecutorBackend(undefined, inv('cuda')), { backend: 'cuda', source: 'observed' });
  assert.deepEqual(chooseExecutorBackend(undefined, inv('emulated')), { backend: 'emulated', source: 'observed' });
  assert.deepEqual(chooseExecutorBackend(undefined, inv('cuda', true)), { backend: 'emulated', source: 'observed' }, 'an emulated device is never served as cuda');
  assert.deepEqual(chooseExecutorBackend('auto', inv('cuda')), { backend: 'auto', source: 'configured' });
  assert.deepEqual(chooseExecutorBackend('emulated', inv('emulated')), { backend: 'emulated', source: 'configured' });
  assert.deepEqual(chooseExecutorBackend('cuda', inv('cuda')), { backend: 'cuda', source: 'configured' });
});

const key = Buffer.alloc(32, 0x33);
const nowS = () => Math.floor(Date.now() / 1000);
const ticket = (claim: string) =>
  signTicket({ v: 1, kid: 'k1', uid: 'u', ns: 'ns', claim, node: 'gpu-fake', dev: '', mem: 1 << 20, cpct: 100, iat: nowS() - 5, exp: nowS() + 600 }, key);

// --describe: a CUDA device (what `--backend auto` finds on a working GPU node). A session: record argv
// and exit (the client then sees the connection close; only the arguments matter here).
const FAKE_EXECUTOR = `#!/bin/sh
for a in "$@"; do [ "$a" = --describe ] && { echo '{"backend":"cuda","emulated":false,"driver_version":13000,"devices":[{"ordinal":0,"name":"Fake GPU","uuid":"GPU-fake","total_mem":8589934592,"cc_major":9,"cc_minor":0}]}'; exit 0; }; done
echo "$*" >> "$(dirname "$0")/sessions.log"
`;

async function helloReply(port: number, t: string) {
  const socket = await connectTcp('127.0.0.1', port);
  const reader = new FrameReader(socket);
  socket.write(encodeHello({ ticket: t }));
  const frame = await reader.next();
  await reader.closed();
  socket.destroy();
  return frame ? decodeHelloReply(frame) : undefined;
}

async function waitForText(path: string, pattern: RegExp, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await readFile(path, 'utf8').catch(() => '');
    if (pattern.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern} in ${path}: ${JSON.stringify(text)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const variant of [
  { name: 'no --backend: executors are pinned to the backend observed at start-up (cuda)', argv: [] as string[], want: 'cuda', source: 'observed' },
  { name: 'an explicit --backend auto is passed as is', argv: ['--backend', 'auto'], want: 'auto', source: 'configured' },
]) {
  describe(variant.name, () => {
    let dir: string;
    let server: RunningServer;
    const lines: string[] = [];

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'avec-backend-'));
      await writeFile(join(dir, 'k1'), key);
      await writeFile(join(dir, 'executor'), FAKE_EXECUTOR);
      await chmod(join(dir, 'executor'), 0o755);
      const r = loadConfig({
        argv: ['--node-name', 'gpu-fake', '--kube', 'off', '--data-listen', '127.0.0.1:0', '--grpc-listen', '127.0.0.1:0', '--metrics-port', '0',
          '--ticket-key-dir', dir, '--executor', join(dir, 'executor'), '--close-grace-seconds', '1', ...variant.argv],
        env: {},
      });
      const logger = createLogger({ level: 'info', component: 'test', sink: (l) => lines.push(l) });
      server = await startRemotingServer((r as { config: Config }).config, { logger });
    });

    after(async () => {
      await server?.shutdown(1000);
      await rm(dir, { recursive: true, force: true });
    });

    it(`serves --backend ${variant.want} and logs it`, async () => {
      assert.deepEqual(server.executorBackend, { backend: variant.want, source: variant.source });
      const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'executor backend');
      assert.ok(logged, lines.join('\n'));
      assert.equal(logged.backend, variant.want);
      assert.equal(logged.source, variant.source);
      await helloReply(server.dataPort, ticket('a'));
      const log = await waitForText(join(dir, 'sessions.log'), /--fd 3/);
      assert.match(log, new RegExp(`--backend ${variant.want} `), log);
    });

    it('an executor that cannot be started: the client gets REFUSED with EXECUTOR_FAILED', async () => {
      await chmod(join(dir, 'executor'), 0o644); // spawn now fails with EACCES
      const reply = await helloReply(server.dataPort, ticket('b'));
      assert.ok(reply);
      assert.equal(reply.status, STATUS_REFUSED);
      assert.equal(reply.refusal?.reason, REFUSAL_CODES.EXECUTOR_FAILED);
      assert.equal(reply.refusal?.message, 'the server could not start a session executor', 'no paths or errno reach the client');
      assert.match(await server.metrics.registry.getSingleMetricAsString('avec_admission_refusals_total'), /reason="executor-failed"\} 1/);
      await chmod(join(dir, 'executor'), 0o755);
    });
  });
}
