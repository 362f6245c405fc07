import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HELP, loadConfig, parseLinkFlag, type Config } from './config.js';

function load(argv: string[], env: Record<string, string> = {}, files: Record<string, string> = {}): Config {
  const r = loadConfig({ argv, env, readFile: (p) => files[p] ?? (() => { throw new Error('ENOENT'); })(), repoRoot: '/repo' });
  assert.ok(!r.help && !r.version);
  return (r as { config: Config }).config;
}

test('defaults: standalone-friendly ports, checkout executor, backend not set (detected and pinned at start-up)', () => {
  const c = load([], { NODE_NAME: 'gpu-1' });
  assert.equal(c.nodeName, 'gpu-1');
  assert.deepEqual(c.dataListen, { host: '0.0.0.0', port: 7070 });
  assert.deepEqual(c.grpcListen, { host: '0.0.0.0', port: 7071 });
  assert.equal(c.executor, '/repo/build/native/avec-executor');
  assert.equal(c.backend, undefined);
  assert.equal(c.heartbeatSeconds, 10);
  assert.equal(c.advertise, undefined);
});

test('precedence: flags over env over file over defaults', () => {
  const files = { '/c.json': JSON.stringify({ heartbeatSeconds: 3, backend: 'cuda', site: 'file-site', links: [{ site: 'b', rttMs: 4 }] }) };
  const c = load(['--config', '/c.json', '--backend', 'emulated', '--data-listen', '127.0.0.1:9000'], { NODE_NAME: 'n', AVEC_BACKEND: 'cuda', AVEC_SITE: 'env-site' }, files);
  assert.equal(c.heartbeatSeconds, 3, 'file');
  assert.equal(c.site, 'env-site', 'env beats file');
  assert.equal(c.backend, 'emulated', 'flag beats env');
  assert.deepEqual(c.dataListen, { host: '127.0.0.1', port: 9000 });
  assert.deepEqual(c.links, [{ site: 'b', rttMs: 4 }]);
});

test('--link flags replace links and parse declared fallbacks', () => {
  const c = load(['--node-name', 'n', '--link', 'east=10.0.0.1:7070,2.5,1000', '--link', 'west=,40']);
  assert.deepEqual(c.links, [
    { site: 'east', probe: '10.0.0.1:7070', rttMs: 2.5, bandwidthMbps: 1000 },
    { site: 'west', rttMs: 40 },
  ]);
  assert.throws(() => parseLinkFlag('west='), /probe endpoint or a declared RTT/);
  assert.throws(() => parseLinkFlag('nonsense'), /SITE=HOST:PORT/);
});

test('invalid values are refused with the offending key named', () => {
  assert.throws(() => load(['--backend', 'gpu']), /backend/);
  assert.throws(() => load(['--grpc-listen', 'nowhere']), /grpcListen.*host:port/s);
  assert.throws(() => load(['--heartbeat-seconds', '0']), /heartbeatSeconds/);
  assert.throws(() => load(['--metrics-port', '70000']), /metricsPort/);
  assert.throws(() => load(['--no-such-flag', 'x']), /Unknown option/);
  assert.throws(() => load(['--config', '/c.json'], {}, { '/c.json': '{"typo": 1}' }), /Unrecognized key|typo/);
  assert.throws(() => load(['--config', '/missing.json']), /cannot read --config/);
});

test('--help is recognised and documents every flag it parses', () => {
  assert.deepEqual(loadConfig({ argv: ['--help'], env: {} }), { help: true });
  assert.deepEqual(loadConfig({ argv: ['--version'], env: {} }), { help: false, version: true });
  for (const flag of ['--node-name', '--kubeconfig', '--data-listen', '--advertise', '--grpc-listen', '--metrics-port', '--executor', '--backend', '--ticket-key-dir', '--site', '--heartbeat-seconds', '--link']) {
    assert.ok(HELP.includes(flag), flag);
  }
});
