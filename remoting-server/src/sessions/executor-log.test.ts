import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyCounters, parseExecutorLine, splitLines } from './executor-log.js';

test('executor JSON lines parse into level, event and fields', () => {
  const l = parseExecutorLine('{"ts":"x","level":"warn","component":"avec-executor","pid":7,"event":"session-end","frames":12,"bytes_in":300}');
  assert.deepEqual(l, { level: 'warn', event: 'session-end', fields: { pid: 7, frames: 12, bytes_in: 300 } });
  assert.deepEqual(parseExecutorLine('segfault at 0'), { level: 'warn', event: 'stderr', fields: { text: 'segfault at 0' } });
  assert.equal(parseExecutorLine('   '), undefined);
  assert.equal(parseExecutorLine('{"level":"bogus"}')?.level, 'info');
});

test('counters are cumulative and ignore garbage', () => {
  let c = { frames: 0, bytesIn: 0, bytesOut: 0, memoryUsedBytes: 0, hostMemoryBytes: 0 };
  c = applyCounters(c, parseExecutorLine('{"event":"stats","frames":10,"bytes_in":100,"bytes_out":5,"mem_used":4096}')!);
  c = applyCounters(c, parseExecutorLine('{"event":"stats","frames":8,"bytes_in":"lots","bytes_out":-1,"mem_used":0}')!);
  assert.deepEqual(c, { frames: 10, bytesIn: 100, bytesOut: 5, memoryUsedBytes: 0, hostMemoryBytes: 0 });
  c = applyCounters(c, parseExecutorLine('{"event":"session_stats","host_rss":9000}')!);
  c = applyCounters(c, parseExecutorLine('{"event":"session_stats","host_rss":7000}')!);
  assert.equal(c.hostMemoryBytes, 7000, 'host memory is a level: the latest value stands');
});

test('splitLines keeps partial lines for the next chunk', () => {
  const a = splitLines('', '{"a":1}\n{"b"');
  assert.deepEqual(a, { lines: ['{"a":1}'], rest: '{"b"' });
  const b = splitLines(a.rest, ':2}\n');
  assert.deepEqual(b, { lines: ['{"b":2}'], rest: '' });
});
