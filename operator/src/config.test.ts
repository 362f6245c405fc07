import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, helpText, FLAGS } from './config.js';

test('flags: forms, defaults, env fallback, validation messages', () => {
  const c = parseConfig(['--ticket-key-dir=/k', '--webhook-port', '0', '--leader-elect=false', '--heartbeat-timeout-seconds=6'], {});
  assert.equal(c.ticketKeyDir, '/k');
  assert.equal(c.webhookPort, 0);
  assert.equal(c.leaderElect, false);
  assert.equal(c.heartbeatTimeoutSeconds, 6);
  assert.equal(c.metricsPort, 8080);
  assert.equal(c.webhookPath, '/mutate-pods');
  const e = parseConfig(['--webhook-port=0'], { AVEC_OPERATOR_TICKET_KEY_DIR: '/env', AVEC_OPERATOR_WORKERS: '8' });
  assert.equal(e.ticketKeyDir, '/env');
  assert.equal(e.workers, 8);
  assert.equal(parseConfig(['--leader-elect', '--ticket-key-dir=/k', '--webhook-port=0'], {}).leaderElect, true);
  assert.throws(() => parseConfig(['--webhook-port=0'], {}), /--ticket-key-dir is required/);
  assert.throws(() => parseConfig(['--ticket-key-dir=/k', '--metrics-port=70000', '--webhook-port=0'], {}), /--metrics-port=70000/);
  assert.throws(() => parseConfig(['--nope'], {}), /unknown flag --nope/);
  assert.throws(() => parseConfig(['--ticket-key-dir=/k'], {}), /--webhook-cert-dir is required/);
  assert.equal(parseConfig(['--help'], {}).help, true);
});

test('--help lists every flag', () => {
  const h = helpText();
  for (const name of Object.keys(FLAGS)) assert.ok(h.includes(`--${name}`), name);
});
