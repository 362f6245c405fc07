// avec.v1.Control handlers (proto/avec/v1/control.proto).
import * as grpc from '@grpc/grpc-js';
import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { admitTicket, type AdmissionContext } from '../data-plane.js';
import type { Logger } from '@avec/common';
import type { Metrics } from '../metrics.js';
import type { ObservedInventory } from '../inventory/observed.js';
import type { Telemetry } from '../native/addon.js';
import type { SessionInfo, SessionManager } from '../sessions/session-manager.js';
import type { HealthState } from './health-service.js';

export const CONTROL_SERVICE = 'avec.v1.Control';

export interface ControlDeps {
  admission: AdmissionContext;
  sessions: SessionManager;
  health: HealthState;
  metrics: Metrics;
  logger: Logger;
  nodeName: string;
  site: () => string;
  dataEndpoint: () => string;
  inventory: () => ObservedInventory | undefined;
  telemetry: () => Telemetry | undefined;
  pendingTtlSeconds: number;
  adminToken?: string;
  nowSeconds: () => number;
}

const openSchema = z.object({ ticket: z.string().min(1).max(4096) });
const closeSchema = z.object({ session_id: z.string().min(1).max(32), grace_seconds: z.number().int().min(0).max(3600).default(0) });
const listSchema = z.object({ claim: z.string().max(320).default(''), include_ended: z.boolean().default(false) });
const statsSchema = z.object({ session_id: z.string().min(1).max(32) });
const drainSchema = z.object({ wait_seconds: z.number().int().min(0).max(86400).default(0), kill_after_wait: z.boolean().default(false) });

type Handler = (call: grpc.ServerUnaryCall<unknown, unknown>) => Promise<unknown>;

class RpcError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

function parse<T>(schema: z.ZodType<T>, req: unknown): T {
  const r = schema.safeParse(req);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new RpcError(grpc.status.INVALID_ARGUMENT, i ? `${i.path.join('.')}: ${i.message}` : 'invalid request');
  }
  return r.data;
}

export function sessionToProto(s: SessionInfo): Record<string, unknown> {
  return {
    session_id: s.id, claim: s.claim, claim_uid: s.claimUid, state: s.state, source: s.source,
    device_ordinal: s.deviceOrdinal, device_uuid: s.deviceUuid, memory_limit_bytes: String(s.memoryLimit),
    compute_percent: s.computePercent, client_pid: s.clientPid ?? 0, client_host: s.clientHost ?? '', peer: s.peer ?? '',
    executor_pid: s.executorPid ?? 0, created_at_unix_ms: String(s.createdAtMs), started_at_unix_ms: String(s.startedAtMs ?? 0),
    ended_at_unix_ms: String(s.endedAtMs ?? 0), exit_code: typeof s.exitCode === 'number' ? s.exitCode : -1,
    exit_signal: s.exitSignal ?? '', exit_result: s.exitResult ?? '', frames: String(s.counters.frames),
    bytes_in: String(s.counters.bytesIn), bytes_out: String(s.counters.bytesOut),
    memory_used_bytes: String(s.counters.memoryUsedBytes), last_event: s.lastEvent ?? '', info_only: s.infoOnly,
  };
}

export function controlHandlers(deps: ControlDeps): grpc.UntypedServiceImplementation {
  const requireAdmin = (call: grpc.ServerUnaryCall<unknown, unknown>) => {
    if (!deps.adminToken) return;
    const got = String(call.metadata.get('authorization')[0] ?? '');
    const want = `Bearer ${deps.adminToken}`;
    const a = Buffer.from(got);
    const b = Buffer.from(want);
    if (a.length !== b.length || !timingSafeEqual(a, b)) throw new RpcError(grpc.status.UNAUTHENTICATED, 'admin token required');
  };

  const handlers: Record<string, Handler> = {
    async OpenSession(call) {
      const { ticket } = parse(openSchema, call.request);
      const r = admitTicket(deps.admission, ticket);
      if (!r.ok) {
        deps.metrics.admissionRefusals.inc({ reason: r.reason });
        const code = r.reason.startsWith('ticket-') ? grpc.status.UNAUTHENTICATED : r.reason === 'draining' ? grpc.status.UNAVAILABLE : grpc.status.RESOURCE_EXHAUSTED;
        throw new RpcError(code, `${r.reason}: ${r.message}`);
      }
      const s = deps.sessions.reserve(r.decision, r.claimUid, ticket);
      deps.logger.info('session reserved over gRPC', { session: s.id, claim: s.claim });
      return {
        session_id: s.id, data_endpoint: deps.dataEndpoint(), memory_limit_bytes: String(s.memoryLimit),
        compute_percent: s.computePercent, device_ordinal: s.deviceOrdinal, device_uuid: s.deviceUuid,
        expires_at_unix: String(deps.nowSeconds() + deps.pendingTtlSeconds),
      };
    },
    async CloseSession(call) {
      requireAdmin(call);
      const req = parse(closeSchema, call.request);
      const known = deps.sessions.get(req.session_id);
      if (!known) return { found: false };
      const s = await deps.sessions.close(req.session_id, req.grace_seconds > 0 ? req.grace_seconds * 1000 : undefined);
      return { found: true, session: s && sessionToProto(s) };
    },
    async ListDevices() {
      const inv = deps.inventory();
      const tel = deps.telemetry();
      return {
        backend: inv?.backend ?? '', node_name: deps.nodeName, site: deps.site(), data_endpoint: deps.dataEndpoint(),
        telemetry_available: tel?.available ?? false,
        devices: (inv?.devices ?? []).map((d) => {
          const t = tel?.devices.find((x) => x.uuid === d.uuid);
          return {
            ordinal: d.ordinal, uuid: d.uuid, model: d.model, memory_bytes: String(d.memoryBytes), compute_capability: d.computeCapability,
            emulated: d.emulated,
            ...(t && {
              memory_used_bytes: String(t.memoryUsedBytes),
              ...(t.gpuUtilizationPercent !== undefined && { utilization_percent: t.gpuUtilizationPercent }),
              ...(t.temperatureC !== undefined && { temperature_c: t.temperatureC }),
              ...(t.powerMilliwatts !== undefined && { power_milliwatts: t.powerMilliwatts }),
            }),
          };
        }),
      };
    },
    async ListSessions(call) {
      const req = parse(listSchema, call.request);
      const sessions = deps.sessions.list({ claim: req.claim || undefined, includeEnded: req.include_ended });
      return { sessions: sessions.map(sessionToProto), draining: deps.sessions.draining };
    },
    async GetSessionStats(call) {
      const req = parse(statsSchema, call.request);
      const s = deps.sessions.get(req.session_id);
      if (!s) throw new RpcError(grpc.status.NOT_FOUND, `no session ${req.session_id}`);
      return sessionToProto(s);
    },
    async Drain(call) {
      requireAdmin(call);
      const req = parse(drainSchema, call.request);
      deps.sessions.draining = true;
      deps.health.set(CONTROL_SERVICE, 'NOT_SERVING');
      deps.logger.info('draining', { waitSeconds: req.wait_seconds, killAfterWait: req.kill_after_wait });
      if (req.wait_seconds === 0 && !req.kill_after_wait) {
        return { sessions_remaining: deps.sessions.liveClaims().length, sessions_killed: 0 };
      }
      const r = req.kill_after_wait
        ? await deps.sessions.drain(req.wait_seconds * 1000)
        : await waitForSessions(deps.sessions, req.wait_seconds * 1000);
      return { sessions_remaining: deps.sessions.liveClaims().length, sessions_killed: 'killed' in r ? r.killed : 0 };
    },
  };

  const out: grpc.UntypedServiceImplementation = {};
  for (const [name, h] of Object.entries(handlers)) {
    out[name] = (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      h(call).then(
        (res) => cb(null, res),
        (e: unknown) => {
          if (e instanceof RpcError) cb({ code: e.code, details: e.message });
          else {
            deps.logger.error('control call failed', { method: name, error: e instanceof Error ? e.message : String(e) });
            cb({ code: grpc.status.INTERNAL, details: 'internal error' });
          }
        },
      );
    };
  }
  return out;
}

/** Waits (without killing) until no session is live or `ms` passed. */
async function waitForSessions(sessions: SessionManager, ms: number): Promise<{ waited: true }> {
  const deadline = Date.now() + ms;
  while (sessions.liveClaims().length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, Math.min(100, Math.max(1, deadline - Date.now()))));
  }
  return { waited: true };
}
