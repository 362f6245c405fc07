// The executor logs one JSON object per line on stderr (see native/executor/src/log.h). Cumulative
// counters in those lines (frames, bytes_in, bytes_out, ...) become the session's stats.
import type { LogLevel } from '@avec/common';

export interface ExecutorLine {
  level: LogLevel;
  event: string;
  fields: Record<string, unknown>;
}

export interface SessionCounters {
  frames: number;
  bytesIn: number;
  bytesOut: number;
  memoryUsedBytes: number;
  /** Resident host memory of the executor process (its session_stats/session_end `host_rss`). */
  hostMemoryBytes: number;
}

/** Executor field name -> counter. Several spellings are accepted for memory in use. */
const COUNTER_FIELDS: Record<string, keyof SessionCounters> = {
  frames: 'frames',
  bytes_in: 'bytesIn',
  bytes_out: 'bytesOut',
  mem_used: 'memoryUsedBytes',
  memory_used: 'memoryUsedBytes',
  allocated_bytes: 'memoryUsedBytes',
  host_rss: 'hostMemoryBytes',
};
/** Levels, not totals: the latest value stands even when it is lower. */
const LEVEL_COUNTERS = new Set<keyof SessionCounters>(['memoryUsedBytes', 'hostMemoryBytes']);

const LEVELS = new Set(['error', 'warn', 'info', 'debug']);

/** Parses one stderr line; non-JSON lines come back as `event: "stderr"` with the text. */
export function parseExecutorLine(line: string): ExecutorLine | undefined {
  const text = line.trim();
  if (text === '') return undefined;
  if (text.startsWith('{')) {
    try {
      const o = JSON.parse(text) as unknown;
      if (typeof o === 'object' && o !== null && !Array.isArray(o)) {
        const rec = o as Record<string, unknown>;
        const level = typeof rec.level === 'string' && LEVELS.has(rec.level) ? (rec.level as LogLevel) : 'info';
        const event = typeof rec.event === 'string' ? rec.event : typeof rec.msg === 'string' ? rec.msg : 'log';
        const fields: Record<string, unknown> = { ...rec };
        for (const k of ['ts', 'level', 'event', 'component', 'msg']) delete fields[k];
        return { level, event, fields };
      }
    } catch {
      // fall through: not JSON after all
    }
  }
  return { level: 'warn', event: 'stderr', fields: { text: text.slice(0, 2000) } };
}

/** Applies a line's counters (cumulative values: a counter never goes backwards). */
export function applyCounters(c: SessionCounters, line: ExecutorLine): SessionCounters {
  const next = { ...c };
  for (const [field, key] of Object.entries(COUNTER_FIELDS)) {
    const v = line.fields[field];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) continue;
    next[key] = LEVEL_COUNTERS.has(key) ? v : Math.max(next[key], v);
  }
  return next;
}

/** Splits a byte stream into lines; returns complete lines and the unfinished rest. */
export function splitLines(pending: string, chunk: string): { lines: string[]; rest: string } {
  const parts = (pending + chunk).split('\n');
  const rest = parts.pop() ?? '';
  // A runaway line without newlines must not grow without bound.
  return { lines: parts, rest: rest.length > 65536 ? '' : rest };
}

/** One opcode's cumulative figures from the executor's `ops` field (the server's side of AVEC_STATS). */
export interface OpFigures {
  frames: number;
  roundTrips: number;
  bytesIn: number;
  bytesOut: number;
}

const OP_NAME = /^[A-Z0-9_]{1,32}$/;

/**
 * Parses `ops` ("NAME:frames:round_trips:bytes_in:bytes_out,..."). Malformed entries are skipped, and at
 * most 128 opcodes are kept: the line comes from a process that serves untrusted clients.
 */
export function parseOps(value: unknown): Map<string, OpFigures> {
  const out = new Map<string, OpFigures>();
  if (typeof value !== 'string' || value.length > 16384) return out;
  for (const entry of value.split(',')) {
    const [name, ...nums] = entry.split(':');
    const n = nums.map(Number);
    if (!OP_NAME.test(name ?? '') || n.length !== 4 || !n.every((x) => Number.isSafeInteger(x) && x >= 0)) continue;
    if (out.size >= 128) break;
    out.set(name!, { frames: n[0]!, roundTrips: n[1]!, bytesIn: n[2]!, bytesOut: n[3]! });
  }
  return out;
}

/** What changed between two cumulative readings of one opcode (never negative). */
export function opDelta(before: OpFigures | undefined, after: OpFigures): OpFigures {
  const d = (k: keyof OpFigures) => Math.max(0, after[k] - (before?.[k] ?? 0));
  return { frames: d('frames'), roundTrips: d('roundTrips'), bytesIn: d('bytesIn'), bytesOut: d('bytesOut') };
}
