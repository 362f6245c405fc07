// Data-plane admission: the addon's listener peeks each HELLO; here the ticket is verified, policy is
// applied, and the connection is either handed to a new executor or refused with BAD_TICKET.
import { errorMessage } from './errors.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import type { Addon, ConnectionEvent, ListenerEvent, NativeDataListener } from './native/addon.js';
import { decideAdmission, type AdmissionLimits, type DeviceView } from './sessions/admission.js';
import type { SessionManager } from './sessions/session-manager.js';
import { verifyTicket, type Keyring } from './tickets/ticket.js';

/** CUDA_ERROR_UNKNOWN: the HELLO status when the server itself fails (executor did not start). */
export const STATUS_SERVER_FAILURE = 999;

export interface AdmissionContext {
  nodeName: string;
  keyring: () => Keyring;
  devices: () => ReadonlyArray<DeviceView>;
  limits: AdmissionLimits;
  sessions: SessionManager;
  nowSeconds: () => number;
}

export type AdmitResult =
  | { ok: true; decision: Extract<ReturnType<typeof decideAdmission>, { admit: true }>; claimUid: string }
  | { ok: false; reason: string; message: string };

/** Ticket + policy, shared by the data plane and the gRPC OpenSession. */
/** AVEC_HELLO_INFO_ONLY in avec_wire.h. */
export const HELLO_INFO_ONLY = 0x1;

export function admitTicket(ctx: AdmissionContext, ticket: string, infoOnly = false): AdmitResult {
  const verdict = verifyTicket(ticket, { keyring: ctx.keyring(), nodeName: ctx.nodeName, nowSeconds: ctx.nowSeconds() });
  if (!verdict.ok) return { ok: false, reason: `ticket-${verdict.reason}`, message: verdict.message };
  const decision = decideAdmission({
    payload: verdict.payload,
    infoOnly,
    draining: ctx.sessions.draining,
    liveSessions: ctx.sessions.liveClaims(),
    devices: ctx.devices(),
    limits: ctx.limits,
  });
  if (!decision.admit) return { ok: false, reason: decision.reason, message: decision.message };
  return { ok: true, decision, claimUid: verdict.payload.uid };
}

export interface DataPlaneOptions {
  addon: Addon;
  ctx: AdmissionContext;
  metrics: Metrics;
  logger: Logger;
  helloTimeoutMs: number;
}

export class DataPlane {
  private listener?: NativeDataListener;

  constructor(private readonly opts: DataPlaneOptions) {}

  start(host: string, port: number): { address: string; port: number } {
    const { addon, helloTimeoutMs } = this.opts;
    this.listener = new addon.DataListener({ helloTimeoutMs }, (ev) => this.onEvent(ev));
    const bound = this.listener.start(host, port);
    this.opts.logger.info('data plane listening', bound);
    return bound;
  }

  stop(): void {
    this.listener?.stop();
    this.listener = undefined;
  }

  private onEvent(ev: ListenerEvent): void {
    if (ev.type === 'rejected') {
      this.opts.metrics.admissionRefusals.inc({ reason: `frame-${ev.reason}` });
      this.opts.logger.info('data connection rejected before admission', { reason: ev.reason, peer: `${ev.peerAddress}:${ev.peerPort}` });
      return;
    }
    this.opts.metrics.dataConnections.inc();
    this.admit(ev).catch((e: unknown) => {
      // Never let one connection take the server down; the connection is refused if still undecided.
      this.opts.logger.error('admission failed', { error: errorMessage(e) });
      this.listener?.refuse(ev.id, STATUS_SERVER_FAILURE);
    });
  }

  private async admit(ev: ConnectionEvent): Promise<void> {
    const listener = this.listener;
    if (!listener) return;
    const peer = `${ev.peerAddress}:${ev.peerPort}`;
    const infoOnly = (ev.helloFlags & HELLO_INFO_ONLY) !== 0;
    const result = admitTicket(this.opts.ctx, ev.ticket, infoOnly);
    if (!result.ok) {
      this.opts.metrics.admissionRefusals.inc({ reason: result.reason });
      this.opts.logger.warn('session refused', { reason: result.reason, detail: result.message, peer, clientHost: ev.clientHost, clientPid: ev.clientPid });
      listener.refuse(ev.id, this.opts.addon.status.BAD_TICKET);
      return;
    }
    try {
      await this.opts.ctx.sessions.start({ ...ev, infoOnly }, result.decision, result.claimUid);
      listener.release(ev.id);
    } catch (e) {
      this.opts.metrics.admissionRefusals.inc({ reason: 'executor-failed' });
      this.opts.logger.error('cannot start the executor', { error: errorMessage(e), peer });
      listener.refuse(ev.id, STATUS_SERVER_FAILURE);
    }
  }

  stats(): ReturnType<NativeDataListener['stats']> | undefined {
    return this.listener?.stats();
  }
}
