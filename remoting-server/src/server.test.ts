// Startup failures leave nothing behind: a taken gRPC port fails the start and releases the data port.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { loadConfig, type Config } from './config.js';
import { silentLogger } from '@avec/common';
import { CHECKOUT_ROOT } from './native/addon.js';
import { advertisedEndpoint, startRemotingServer } from './server.js';

const executor = process.env.AVEC_EXECUTOR ?? resolve(CHECKOUT_ROOT, 'build', 'native', 'avec-executor');

async function listenOn(port = 0): Promise<Server> {
  const s = createServer();
  await new Promise<void>((res, rej) => {
    s.once('error', rej);
    s.listen(port, '127.0.0.1', () => res());
  });
  return s;
}

const config = (argv: string[]) => (loadConfig({ argv, env: {} }) as { config: Config }).config;

test('a taken gRPC port fails the start, and the data port is released again', async () => {
  assert.ok(existsSync(executor), `executor ${executor} is missing: build it with make native`);
  const keys = await mkdtemp(join(tmpdir(), 'avec-srv-'));
  const taken = await listenOn();
  const probe = await listenOn();
  const dataPort = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  try {
    await assert.rejects(
      startRemotingServer(config(['--node-name', 'n', '--kube', 'off', '--data-listen', `127.0.0.1:${dataPort}`, '--grpc-listen', `127.0.0.1:${(taken.address() as AddressInfo).port}`,
        '--metrics-port', '0', '--backend', 'emulated', '--executor', executor, '--ticket-key-dir', keys, '--log-level', 'error']), { logger: silentLogger }),
      /EADDRINUSE|address already in use|No address added/i,
    );
    const again = await listenOn(dataPort); // would fail with EADDRINUSE if the data listener leaked
    await new Promise((r) => again.close(r));
  } finally {
    await new Promise((r) => taken.close(r));
    await rm(keys, { recursive: true, force: true });
  }
});

test('a missing executor fails the start with a message naming the flag', async () => {
  await assert.rejects(startRemotingServer(config(['--executor', '/nonexistent/avec-executor', '--kube', 'off']), { logger: silentLogger }), /--executor/);
});

test('advertised endpoint: --advertise, else a concrete listen host, else POD_IP/HOST_IP', () => {
  const c = (argv: string[]) => config(['--node-name', 'n', '--executor', '/x', ...argv]);
  assert.equal(advertisedEndpoint(c(['--advertise', 'gpu.example:9']), 7070, {}), 'gpu.example:9');
  assert.equal(advertisedEndpoint(c(['--data-listen', '10.0.0.3:7070']), 7070, { POD_IP: '1.1.1.1' }), '10.0.0.3:7070');
  assert.equal(advertisedEndpoint(c([]), 7171, { POD_IP: '10.1.1.1' }), '10.1.1.1:7171');
  assert.equal(advertisedEndpoint(c([]), 7171, { HOST_IP: 'fd00::1' }), '[fd00::1]:7171');
});
