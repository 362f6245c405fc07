import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatHostPort, parseHostPort } from './host-port.js';

test('parseHostPort accepts names, IPv4, bracketed IPv6 and a bare port', () => {
  assert.deepEqual(parseHostPort('gpu-1.example:7070'), { host: 'gpu-1.example', port: 7070 });
  assert.deepEqual(parseHostPort('10.0.0.5:1'), { host: '10.0.0.5', port: 1 });
  assert.deepEqual(parseHostPort('[::1]:9000'), { host: '::1', port: 9000 });
  assert.deepEqual(parseHostPort(':7070'), { host: '0.0.0.0', port: 7070 });
});

test('parseHostPort refuses malformed endpoints', () => {
  for (const bad of ['host', 'host:', 'host:70000', '::1:80', 'a:b', '']) {
    assert.throws(() => parseHostPort(bad), /host:port|out of range/, bad);
  }
});

test('formatHostPort brackets IPv6 literals', () => {
  assert.equal(formatHostPort({ host: '::1', port: 5 }), '[::1]:5');
  assert.equal(formatHostPort({ host: 'a', port: 5 }), 'a:5');
});
