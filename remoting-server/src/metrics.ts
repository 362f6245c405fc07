// Prometheus metrics (prom-client, `avec_` prefix) on a registry of our own, so tests can make fresh ones.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { VERSION } from './version.js';

export interface Metrics {
  registry: Registry;
  sessionsActive: Gauge<'state'>;
  sessionsTotal: Counter;
  admissionRefusals: Counter<'reason'>;
  executorExits: Counter<'result'>;
  sessionBytes: Counter<'direction'>;
  sessionRequests: Counter<'claim' | 'op' | 'kind'>;
  sessionOpBytes: Counter<'claim' | 'op' | 'direction'>;
  dataConnections: Counter;
  heartbeats: Counter<'result'>;
  linkRttMs: Gauge<'site' | 'source'>;
  claimSessions: Gauge<'claim'>;
  claimMemoryLimit: Gauge<'claim'>;
  claimHostMemory: Gauge<'claim'>;
  deviceMemoryUsed: Gauge<'uuid'>;
  deviceUtilization: Gauge<'uuid'>;
  deviceTemperature: Gauge<'uuid'>;
  devicePower: Gauge<'uuid'>;
}

export function createMetrics(opts: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'avec_remoting_server_' });
  const registers = [registry];
  new Gauge({ name: 'avec_remoting_server_build_info', help: 'Version of the running remoting server (always 1)', labelNames: ['version'], registers }).set({ version: VERSION }, 1);
  return {
    registry,
    sessionsActive: new Gauge({ name: 'avec_sessions_active', help: 'Sessions on this node by state (pending = opened over gRPC, waiting for its data connection)', labelNames: ['state'], registers }),
    sessionsTotal: new Counter({ name: 'avec_sessions_total', help: 'Sessions admitted since start', registers }),
    admissionRefusals: new Counter({ name: 'avec_admission_refusals_total', help: 'Data-plane connections and OpenSession calls refused, by reason', labelNames: ['reason'], registers }),
    executorExits: new Counter({ name: 'avec_executor_exits_total', help: 'Executor processes that ended, by result (clean, error, killed)', labelNames: ['result'], registers }),
    sessionBytes: new Counter({ name: 'avec_session_bytes_total', help: 'Bytes moved by sessions as reported by their executors (htod, dtoh)', labelNames: ['direction'], registers }),
    sessionRequests: new Counter({ name: 'avec_session_requests_total', help: 'Data-plane requests of each claim\'s sessions by opcode and kind (batched = fire-and-forget, round_trip = the client waited): the server\'s side of AVEC_STATS', labelNames: ['claim', 'op', 'kind'], registers }),
    sessionOpBytes: new Counter({ name: 'avec_session_op_bytes_total', help: 'Data-plane bytes of each claim\'s sessions by opcode and direction (in = from the client)', labelNames: ['claim', 'op', 'direction'], registers }),
    dataConnections: new Counter({ name: 'avec_data_connections_total', help: 'Data-plane connections whose HELLO arrived complete', registers }),
    heartbeats: new Counter({ name: 'avec_gpunode_heartbeats_total', help: 'GPUNode heartbeat writes by result', labelNames: ['result'], registers }),
    claimSessions: new Gauge({ name: 'avec_claim_sessions', help: 'Live sessions per claim (<namespace>/<name>) on this node', labelNames: ['claim'], registers }),
    claimMemoryLimit: new Gauge({ name: 'avec_claim_memory_limit_bytes', help: 'Sum of the memory limits of the live sessions of each claim on this node', labelNames: ['claim'], registers }),
    claimHostMemory: new Gauge({ name: 'avec_claim_host_memory_bytes', help: 'Resident host memory of the executor processes of each claim\'s live sessions on this node (their last stats line)', labelNames: ['claim'], registers }),
    deviceMemoryUsed: new Gauge({ name: 'avec_device_memory_used_bytes', help: 'Device memory in use (NVML), all processes', labelNames: ['uuid'], registers }),
    deviceUtilization: new Gauge({ name: 'avec_device_utilization_percent', help: 'GPU utilisation over the last sample period (NVML)', labelNames: ['uuid'], registers }),
    deviceTemperature: new Gauge({ name: 'avec_device_temperature_celsius', help: 'GPU temperature (NVML)', labelNames: ['uuid'], registers }),
    devicePower: new Gauge({ name: 'avec_device_power_watts', help: 'GPU power draw (NVML)', labelNames: ['uuid'], registers }),
    linkRttMs: new Gauge({ name: 'avec_link_rtt_ms', help: 'Round-trip time to each site (measured TCP connect, or declared)', labelNames: ['site', 'source'], registers }),
  };
}

/** Device gauges from one telemetry sample (absent values leave no series behind). */
export function recordTelemetry(m: Metrics, t: { available: boolean; devices: ReadonlyArray<{ uuid: string; memoryUsedBytes: number; gpuUtilizationPercent?: number; temperatureC?: number; powerMilliwatts?: number }> }): void {
  for (const g of [m.deviceMemoryUsed, m.deviceUtilization, m.deviceTemperature, m.devicePower]) g.reset();
  if (!t.available) return;
  for (const d of t.devices) {
    m.deviceMemoryUsed.set({ uuid: d.uuid }, d.memoryUsedBytes);
    if (d.gpuUtilizationPercent !== undefined) m.deviceUtilization.set({ uuid: d.uuid }, d.gpuUtilizationPercent);
    if (d.temperatureC !== undefined) m.deviceTemperature.set({ uuid: d.uuid }, d.temperatureC);
    if (d.powerMilliwatts !== undefined) m.devicePower.set({ uuid: d.uuid }, d.powerMilliwatts / 1000);
  }
}
