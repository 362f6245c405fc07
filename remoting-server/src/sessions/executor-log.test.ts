import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyCounters, opDelta, parseExecutorLine, parseOps, splitLines } from './executor-log.js';

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

test('ops: the per-opcode figures parse, and malformed or oversized input is skipped', () => {
  const ops = parseOps('MEM_ALLOC:2:2:96:80,LAUNCH:10:0:960:0');
  assert.deepEqual(ops.get('MEM_ALLOC'), { frames: 2, roundTrips: 2, bytesIn: 96, bytesOut: 80 });
  assert.equal(ops.get('LAUNCH')?.frames, 10);
  assert.equal(parseOps('bad name:1:1:1:1,X:1:2:3,Y:1:-1:0:0,Z:1:1:1:1e400,OK:1:0:24:0').size, 1, 'only OK survives');
  assert.equal(parseOps(42).size, 0);
  assert.equal(parseOps('A'.repeat(20000)).size, 0);
  assert.equal(parseOps(Array.from({ length: 300 }, (_, i) => `OP${i}:1:0:1:0`).join(',')).size, 128);
  assert.deepEqual(opDelta({ frames: 2, roundTrips: 1, bytesIn: 10, bytesOut: 5 }, { frames: 5, roundTrips: 1, bytesIn: 30, bytesOut: 4 }),
    { frames: 3, roundTrips: 0, bytesIn: 20, bytesOut: 0 }, 'never negative');
  assert.deepEqual(opDelta(undefined, { frames: 1, roundTrips: 1, bytesIn: 2, bytesOut: 3 }), { frames: 1, roundTrips: 1, bytesIn: 2, bytesOut: 3 });
});
