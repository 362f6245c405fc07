// Data-plane admission: the addon's listener peeks each HELLO; here the ticket is verified, policy is
// applied, and the connection is either handed to a new executor or refused: BAD_TICKET for ticket
// problems, REFUSED otherwise, each with a reason code and a message the client logs (wire/refusal.ts).
import { HELLO_INFO_ONLY } from './wire/wire-constants.js';
import { errorMessage, type Logger } from '@avec/common';
import type { Metrics } from './metrics.js';
import type { Addon, ConnectionEvent, ListenerEvent, NativeDataListener } from './native/addon.js';
import { decideAdmission, type AdmissionLimits, type DeviceView } from './sessions/admission.js';
import type { JoinChannels, SessionManager } from './sessions/session-manager.js';
import { verifyTicket, type Keyring } from '@avec/tickets';
import { helloRefusal, type RefusalReason } from './wire/refusal.js';

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
  | { ok: false; reason: RefusalReason; message: string };

/** Ticket + policy, shared by the data plane and the gRPC OpenSession. */
/** AVEC_HELLO_INFO_ONLY in avec_wire.h. */
export { HELLO_INFO_ONLY };

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

  /** The listener's per-session channels for joined connections (SessionManager's joinChannels). */
  readonly joinChannels: JoinChannels = {
    open: (sessionNumber, sessionId) => {
      if (!this.listener) throw new Error('the data listener is not running');
      return this.listener.openJoinChannel(sessionNumber, sessionId);
    },
    close: (sessionNumber) => void this.listener?.closeJoinChannel(sessionNumber),
  };

  private onEvent(ev: ListenerEvent): void {
    if (ev.type === 'joined') {
      this.opts.logger.debug('joined connection passed to its session', { session: ev.sessionId, index: ev.index, peer: `${ev.peerAddress}:${ev.peerPort}` });
      return;
    }
    if (ev.type === 'rejected') {
      this.opts.metrics.admissionRefusals.inc({ reason: `frame-${ev.reason}` });
      this.opts.logger.info('data connection rejected before admission', { reason: ev.reason, peer: `${ev.peerAddress}:${ev.peerPort}` });
      return;
    }
    this.opts.metrics.dataConnections.inc();
    this.admit(ev).catch((e: unknown) => {
      // Never let one connection take the server down; the connection is refused if still undecided.
      this.opts.logger.error('admission failed', { error: errorMessage(e) });
      this.refuse(ev.id, 'server-error', 'the server failed while admitting the session');
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
      this.refuse(ev.id, result.reason, result.message);
      return;
    }
    try {
      await this.opts.ctx.sessions.start({ ...ev, infoOnly }, result.decision, result.claimUid);
      listener.release(ev.id);
    } catch (e) {
      this.opts.metrics.admissionRefusals.inc({ reason: 'executor-failed' });
      this.opts.logger.error('cannot start the executor', { error: errorMessage(e), peer });
      // The cause (paths, errno) stays in the server log; the client learns only that it was the server.
      this.refuse(ev.id, 'executor-failed', 'the server could not start a session executor');
    }
  }

  private refuse(id: number, reason: RefusalReason, message: string): void {
    const r = helloRefusal(reason, message);
    this.listener?.refuse(id, r.status, r.code, r.message);
  }

  stats(): ReturnType<NativeDataListener['stats']> | undefined {
    return this.listener?.stats();
  }
}
