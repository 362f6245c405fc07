// Sessions on this node: one executor process per admitted data connection, supervised here
// (exit codes, kill on close/drain, counters from the executor's stderr JSON lines).
import { spawn as nodeSpawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, readFileSync } from 'node:fs';
import type { Logger, LogLevel } from '@avec/common';
import type { Metrics } from '../metrics.js';
import type { AdmissionDecision } from './admission.js';
import {
  applyCounters, opDelta, parseExecutorLine, parseOps, splitLines, type OpFigures, type SessionCounters,
} from './executor-log.js';
import type { OrphanExecutor } from './orphan-executors.js';
import { sessionNumber } from './session-number.js';

export type SessionState = 'pending' | 'running' | 'closing' | 'exited';
/** 'gone': an adopted executor (orphan-executors.ts) ended; its exit status is not ours to read. */
export type ExitResult = 'clean' | 'error' | 'killed' | 'crashed' | 'gone';

export interface SessionInfo {
  id: string;
  claim: string;
  claimUid: string;
  state: SessionState;
  source: 'data-plane' | 'grpc' | 'adopted';
  infoOnly: boolean;
  deviceOrdinal: number;
  deviceUuid: string;
  memoryLimit: number;
  computePercent: number;
  clientPid?: number;
  clientHost?: string;
  peer?: string;
  executorPid?: number;
  createdAtMs: number;
  startedAtMs?: number;
  endedAtMs?: number;
  exitCode?: number | null;
  exitSignal?: string | null;
  exitResult?: ExitResult;
  counters: SessionCounters;
  lastEvent?: string;
}

export interface ClaimUsage {
  sessions: number;
  memoryLimitBytes: number;
  memoryUsedBytes: number;
  hostMemoryBytes: number;
}

export type Admitted = Extract<AdmissionDecision, { admit: true }>;

export interface DataConnection {
  fd: number;
  infoOnly?: boolean;
  ticket: string;
  clientPid: number;
  clientHost: string;
  peerAddress: string;
  peerPort: number;
}

export type SpawnFn = (cmd: string, args: string[], opts: SpawnOptions) => ChildProcess;

/**
 * Where a session's joined connections (stripes, the callback connection) come from: the data listener
 * keeps one end of a datagram pair per session and passes each join it routes over it (SCM_RIGHTS).
 */
export interface JoinChannels {
  /** The executor's end (a descriptor this process closes once the executor has it). Throws on failure. */
  open(sessionNumber: string, sessionId: string): number;
  close(sessionNumber: string): void;
}

export interface SessionManagerOptions {
  executor: string;
  backend: 'cuda' | 'emulated' | 'auto';
  moduleCacheDir?: string;
  executorLogLevel: LogLevel;
  closeGraceMs: number;
  pendingTtlMs: number;
  logger: Logger;
  metrics: Metrics;
  spawnFn?: SpawnFn;
  /** Without it executors get no --stripe-channel: no stripes, no host functions. */
  joinChannels?: JoinChannels;
  now?: () => number;
  newId?: () => string;
  /** Ended sessions kept for GetSessionStats. */
  historySize?: number;
}

interface Entry {
  info: SessionInfo;
  ticketHash?: string;
  child?: ChildProcess;
  killRequested?: boolean;
  pendingTimer?: NodeJS.Timeout;
  exited?: Promise<void>;
  /** The executor's last cumulative per-opcode figures (deltas become the per-claim counters). */
  ops: Map<string, OpFigures>;
  /** An adopted executor (not our child): polled until its pid is gone. */
  adoptedTimer?: NodeJS.Timeout;
  /** Its join channel's key (sessionNumber(id)) while the listener holds one for it. */
  joinKey?: string;
}

/** A random 52-bit id in decimal: fits the wire's u64 and survives JavaScript numbers. */
export function randomSessionId(): string {
  const b = randomBytes(8);
  return String(Number(b.readBigUInt64LE() & 0xfffffffffffffn) || 1);
}

const ticketHash = (t: string) => createHash('sha256').update(t).digest('hex');

/** Running (a zombie nobody reaped yet has ended: an adopted executor's parent is init, not us). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function signalPid(pid: number | undefined, sig: NodeJS.Signals): void {
  try {
    if (pid) process.kill(pid, sig);
  } catch {
    // already gone
  }
}

export class SessionManager {
  private readonly live = new Map<string, Entry>();
  private readonly history: SessionInfo[] = [];
  private readonly now: () => number;
  private readonly newId: () => string;
  private readonly spawnFn: SpawnFn;
  draining = false;

  constructor(private readonly opts: SessionManagerOptions) {
    this.now = opts.now ?? Date.now;
    this.newId = opts.newId ?? randomSessionId;
    this.spawnFn = opts.spawnFn ?? nodeSpawn;
  }

  /** What admission counts: running and pending sessions (adopted ones included). */
  liveClaims(): Array<{ claim: string; claimUid: string; infoOnly: boolean }> {
    return [...this.live.values()].filter((e) => e.info.state !== 'exited').map((e) => ({ claim: e.info.claim, claimUid: e.info.claimUid, infoOnly: e.info.infoOnly }));
  }

  /**
   * Counts executors a previous server process left running (orphan-executors.ts) as live sessions
   * of their claims until they exit, so a restart never resets the session caps. Their claim is known
   * by uid only (`claim` reads "uid:<uid>"); admission counts sessions by claim uid.
   */
  adopt(orphans: ReadonlyArray<OrphanExecutor>, pollMs = 1_000): void {
    for (const o of orphans) {
      if (this.live.has(o.sessionId)) continue;
      const info: SessionInfo = {
        ...this.newInfo({ admit: true, claim: `uid:${o.claimUid}`, deviceOrdinal: o.deviceOrdinal, deviceUuid: '', memoryLimit: o.memoryLimit, computePercent: o.computePercent }, o.claimUid, 'adopted', 'running'),
        id: o.sessionId, executorPid: o.pid, startedAtMs: this.now(),
      };
      const e: Entry = { info, ops: new Map() };
      e.exited = new Promise((done) => {
        e.adoptedTimer = setInterval(() => {
          if (pidAlive(o.pid)) return;
          clearInterval(e.adoptedTimer);
          this.finish(e, { result: 'gone' });
          this.opts.logger.info('adopted executor ended', { session: info.id, claimUid: o.claimUid, executorPid: o.pid });
          done();
        }, pollMs);
        e.adoptedTimer.unref();
      });
      this.live.set(info.id, e);
      this.opts.logger.warn('adopted an executor left running by a previous server process; it counts against its claim until it exits', { session: info.id, claimUid: o.claimUid, executorPid: o.pid });
    }
    this.updateGauges();
  }

  /** Per-claim totals over live sessions (what the claim holds on this node right now). */
  claimUsage(): Map<string, ClaimUsage> {
    const out = new Map<string, ClaimUsage>();
    for (const { info } of this.live.values()) {
      const u = out.get(info.claim) ?? { sessions: 0, memoryLimitBytes: 0, memoryUsedBytes: 0, hostMemoryBytes: 0 };
      u.sessions++;
      u.memoryLimitBytes += info.memoryLimit;
      u.memoryUsedBytes += info.counters.memoryUsedBytes;
      u.hostMemoryBytes += info.counters.hostMemoryBytes;
      out.set(info.claim, u);
    }
    return out;
  }

  list(filter: { claim?: string; includeEnded?: boolean } = {}): SessionInfo[] {
    const all = [...[...this.live.values()].map((e) => e.info), ...(filter.includeEnded ? this.history : [])];
    return all.filter((s) => !filter.claim || s.claim === filter.claim).map((s) => ({ ...s, counters: { ...s.counters } }));
  }

  get(id: string): SessionInfo | undefined {
    const s = this.live.get(id)?.info ?? this.history.find((h) => h.id === id);
    return s && { ...s, counters: { ...s.counters } };
  }

  /** OpenSession: reserves a session for a data connection that will present the same ticket. */
  reserve(decision: Admitted, claimUid: string, ticket: string): SessionInfo {
    const info = this.newInfo(decision, claimUid, 'grpc', 'pending');
    const entry: Entry = { info, ticketHash: ticketHash(ticket), ops: new Map() };
    entry.pendingTimer = setTimeout(() => {
      if (entry.info.state !== 'pending') return;
      this.opts.logger.info('pending session expired without a data connection', { session: info.id, claim: info.claim });
      this.finish(entry, { result: 'clean' });
    }, this.opts.pendingTtlMs);
    entry.pendingTimer.unref();
    this.live.set(info.id, entry);
    this.updateGauges();
    return { ...info };
  }

  /**
   * Starts the executor for an admitted data connection. Resolves once the process exists (the caller
   * then closes its copy of the fd); rejects if it cannot be started (the caller refuses the HELLO).
   */
  start(conn: DataConnection, decision: Admitted, claimUid: string): Promise<SessionInfo> {
    const hash = ticketHash(conn.ticket);
    let entry = conn.infoOnly ? undefined : [...this.live.values()].find((e) => e.info.state === 'pending' && e.ticketHash === hash && e.info.claim === decision.claim);
    if (entry) {
      clearTimeout(entry.pendingTimer);
      entry.ticketHash = undefined; // a reservation is taken by exactly one connection
    } else {
      entry = { info: { ...this.newInfo(decision, claimUid, 'data-plane', 'pending'), infoOnly: conn.infoOnly ?? false }, ops: new Map() };
      this.live.set(entry.info.id, entry);
    }
    const e = entry;
    const info = e.info;
    Object.assign(info, { clientPid: conn.clientPid, clientHost: conn.clientHost, peer: `${conn.peerAddress}:${conn.peerPort}` });
    const args = [
      '--fd', '3',
      '--session-id', info.id,
      '--memory-limit', String(decision.memoryLimit),
      '--backend', this.opts.backend,
      '--device', String(decision.deviceOrdinal),
      // the ticket's compute share; the executor refuses it where it cannot be enforced (no MPS daemon)
      ...(decision.computePercent < 100 ? ['--compute-percent', String(decision.computePercent)] : []),
      // CUDA IPC handles open only between sessions of the same claim
      '--ipc-scope', `claim:${claimUid}`,
      '--log-level', this.opts.executorLogLevel,
    ];
    if (this.opts.moduleCacheDir) args.push('--module-cache', this.opts.moduleCacheDir);
    const log = this.opts.logger.child({ session: info.id, claim: info.claim });
    const channel = conn.infoOnly ? undefined : this.openJoinChannel(e, log);
    if (channel !== undefined) args.push('--stripe-channel', '4');
    const stdio: SpawnOptions['stdio'] = ['ignore', 'pipe', 'pipe', conn.fd, ...(channel !== undefined ? [channel] : [])];
    return new Promise((resolve, reject) => {
      let child: ChildProcess;
      try {
        child = this.spawnFn(this.opts.executor, args, { stdio });
      } catch (err) {
        this.finish(e, { result: 'error' });
        reject(err);
        return;
      } finally {
        // The executor has its own copy (or never will): ours would keep the channel open after it exits.
        if (channel !== undefined) closeSync(channel);
      }
      e.child = child;
      let spawned = false;
      e.exited = new Promise((done) => {
        child.once('close', (code, signal) => {
          this.finish(e, { code, signal, result: this.classify(e, code, signal) });
          log.info('executor exited', { code, signal, result: e.info.exitResult, ...e.info.counters });
          done();
        });
      });
      child.once('error', (err) => {
        if (!spawned) {
          this.finish(e, { result: 'error' });
          reject(err);
        } else {
          log.error('executor process error', { error: err.message });
        }
      });
      child.once('spawn', () => {
        spawned = true;
        info.state = 'running';
        info.executorPid = child.pid;
        info.startedAtMs = this.now();
        this.opts.metrics.sessionsTotal.inc();
        this.updateGauges();
        log.info('session started', { executorPid: child.pid, device: decision.deviceOrdinal, memoryLimit: decision.memoryLimit, clientPid: conn.clientPid, clientHost: conn.clientHost, peer: info.peer });
        resolve({ ...info });
      });
      this.pipeLogs(e, child, log);
    });
  }

  /** The executor's end of a new join channel, or undefined (the session then offers no stripes). */
  private openJoinChannel(e: Entry, log: Logger): number | undefined {
    const channels = this.opts.joinChannels;
    if (!channels) return undefined;
    const key = String(sessionNumber(e.info.id));
    try {
      const fd = channels.open(key, e.info.id);
      e.joinKey = key;
      return fd;
    } catch (err) {
      log.warn('no join channel: the session offers no stripes or host functions', { error: (err as Error).message });
      return undefined;
    }
  }

  /** Ends a session: a pending one is dropped, a running executor gets SIGTERM, then SIGKILL after the grace. */
  async close(id: string, graceMs = this.opts.closeGraceMs): Promise<SessionInfo | undefined> {
    const e = this.live.get(id);
    if (!e) return this.get(id);
    if (e.info.state === 'pending' && !e.child) {
      this.finish(e, { result: 'clean' });
      return this.get(id);
    }
    await this.terminate(e, graceMs);
    return this.get(id);
  }

  /** Stops admitting (the flag admission reads), waits up to `waitMs` for sessions to end, kills the rest. */
  async drain(waitMs: number, graceMs = this.opts.closeGraceMs): Promise<{ ended: number; killed: number }> {
    this.draining = true;
    const before = this.live.size;
    const all = [...this.live.values()];
    for (const e of all) if (e.info.state === 'pending' && !e.child) this.finish(e, { result: 'clean' });
    const running = [...this.live.values()];
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((r) => (timer = setTimeout(() => r(true), waitMs)));
    const allDone = Promise.all(running.map((e) => e.exited ?? Promise.resolve())).then(() => false);
    const expired = await Promise.race([allDone, timedOut]);
    clearTimeout(timer);
    let killed = 0;
    if (expired) {
      const left = [...this.live.values()];
      killed = left.length;
      await Promise.all(left.map((e) => this.terminate(e, graceMs)));
    }
    return { ended: before - killed, killed };
  }

  private async terminate(e: Entry, graceMs: number): Promise<void> {
    if (e.info.source === 'adopted' && e.info.state !== 'exited') {
      e.killRequested = true;
      e.info.state = 'closing';
      signalPid(e.info.executorPid, 'SIGTERM');
      const t = setTimeout(() => signalPid(e.info.executorPid, 'SIGKILL'), graceMs);
      const keepAlive = setInterval(() => {}, 1_000); // the poll is unref'd; a caller waiting here keeps the process up
      await e.exited;
      clearTimeout(t);
      clearInterval(keepAlive);
      return;
    }
    if (!e.child || e.info.state === 'exited') return;
    e.killRequested = true;
    e.info.state = 'closing';
    e.child.kill('SIGTERM');
    const t = setTimeout(() => e.child?.kill('SIGKILL'), graceMs);
    await e.exited;
    clearTimeout(t);
  }

  private classify(e: Entry, code: number | null, signal: NodeJS.Signals | null): ExitResult {
    if (code === 0) return 'clean';
    if (signal) return e.killRequested ? 'killed' : 'crashed';
    return 'error';
  }

  private newInfo(d: Admitted, claimUid: string, source: SessionInfo['source'], state: SessionState): SessionInfo {
    return {
      id: this.newId(), claim: d.claim, claimUid, state, source, infoOnly: false, deviceOrdinal: d.deviceOrdinal, deviceUuid: d.deviceUuid,
      memoryLimit: d.memoryLimit, computePercent: d.computePercent, createdAtMs: this.now(),
      counters: { frames: 0, bytesIn: 0, bytesOut: 0, memoryUsedBytes: 0, hostMemoryBytes: 0 },
    };
  }

  /** Per-claim request and byte counters from the executor's cumulative `ops` figures. */
  private countOps(e: Entry, value: unknown): void {
    const claim = e.info.claim;
    const { sessionRequests, sessionOpBytes } = this.opts.metrics;
    for (const [op, now] of parseOps(value)) {
      const d = opDelta(e.ops.get(op), now);
      e.ops.set(op, now);
      if (d.roundTrips) sessionRequests.inc({ claim, op, kind: 'round_trip' }, d.roundTrips);
      if (d.frames > d.roundTrips) sessionRequests.inc({ claim, op, kind: 'batched' }, d.frames - d.roundTrips);
      if (d.bytesIn) sessionOpBytes.inc({ claim, op, direction: 'in' }, d.bytesIn);
      if (d.bytesOut) sessionOpBytes.inc({ claim, op, direction: 'out' }, d.bytesOut);
    }
  }

  private pipeLogs(e: Entry, child: ChildProcess, log: Logger): void {
    child.stdout?.resume(); // the executor has nothing to say on stdout in --fd mode; never let it block
    let rest = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      const split = splitLines(rest, chunk);
      rest = split.rest;
      for (const text of split.lines) {
        const line = parseExecutorLine(text);
        if (!line) continue;
        const before = e.info.counters;
        e.info.counters = applyCounters(before, line);
        e.info.lastEvent = line.event;
        this.opts.metrics.sessionBytes.inc({ direction: 'in' }, e.info.counters.bytesIn - before.bytesIn);
        this.opts.metrics.sessionBytes.inc({ direction: 'out' }, e.info.counters.bytesOut - before.bytesOut);
        if (line.fields.ops !== undefined) this.countOps(e, line.fields.ops);
        if (e.info.counters.hostMemoryBytes !== before.hostMemoryBytes) this.updateGauges();
        // Periodic counters are for bookkeeping, not for the log at info level.
        const level = line.event === 'session_stats' && line.level === 'info' ? 'debug' : line.level;
        log[level](`executor: ${line.event}`, line.fields);
      }
    });
  }

  private finish(e: Entry, end: { code?: number | null; signal?: string | null; result: ExitResult }): void {
    if (!this.live.has(e.info.id)) return;
    clearTimeout(e.pendingTimer);
    clearInterval(e.adoptedTimer);
    if (e.joinKey !== undefined) this.opts.joinChannels?.close(e.joinKey);
    e.joinKey = undefined;
    const wasRunning = e.child !== undefined && e.info.startedAtMs !== undefined;
    Object.assign(e.info, { state: 'exited', endedAtMs: this.now(), exitCode: end.code, exitSignal: end.signal, exitResult: end.result });
    if (wasRunning) this.opts.metrics.executorExits.inc({ result: end.result });
    this.live.delete(e.info.id);
    this.history.push(e.info);
    if (this.history.length > (this.opts.historySize ?? 256)) this.history.shift();
    this.updateGauges();
  }

  private updateGauges(): void {
    const count = (s: SessionState) => [...this.live.values()].filter((e) => e.info.state === s).length;
    for (const s of ['pending', 'running', 'closing'] as const) this.opts.metrics.sessionsActive.set({ state: s }, count(s));
    // Per-claim gauges: reset so claims without sessions disappear instead of lingering at their last value.
    const { claimSessions, claimMemoryLimit, claimHostMemory } = this.opts.metrics;
    claimSessions.reset();
    claimMemoryLimit.reset();
    claimHostMemory.reset();
    for (const [claim, u] of this.claimUsage()) {
      claimSessions.set({ claim }, u.sessions);
      claimMemoryLimit.set({ claim }, u.memoryLimitBytes);
      claimHostMemory.set({ claim }, u.hostMemoryBytes);
    }
  }
}
