// Typed loader for build/addon/avec_addon.node (remoting-server/native/addon).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AvecError } from '@avec/common';

export interface ConnectionEvent {
  type: 'connection';
  id: number;
  fd: number;
  ticket: string;
  clientPid: number;
  clientHost: string;
  helloFlags: number;
  requestId: number;
  wireVersion: number;
  peerAddress: string;
  peerPort: number;
}

export interface RejectedEvent {
  type: 'rejected';
  id: number;
  reason: string;
  peerAddress: string;
  peerPort: number;
}

/** A joined connection (stripe or callback connection) the listener passed to its session's executor. */
export interface JoinedEvent {
  type: 'joined';
  id: number;
  sessionId: string;
  /** avec_stripe_join.index: a stripe's slice, or AVEC_JOIN_CALLBACKS (0xffffffff). */
  index: number;
  peerAddress: string;
  peerPort: number;
}

export type ListenerEvent = ConnectionEvent | RejectedEvent | JoinedEvent;

export interface NativeDataListener {
  start(host: string, port: number): { address: string; port: number };
  /**
   * Consumes the HELLO, answers it with `status` (with `reason`: plus avec_hello_refusal and `message`, cut
   * to AVEC_MAX_REFUSAL_MESSAGE bytes), closes. False if the id is unknown (already decided).
   */
  refuse(id: number, status: number, reason?: number, message?: string): boolean;
  /** Closes the listener's copy of the fd (after it was handed to an executor). */
  release(id: number): boolean;
  stop(): void;
  stats(): { accepted: number; handedToJs: number; rejected: number; awaitingDecision: number; joinsRouted: number; joinsRefused: number; joinChannels: number };
  /**
   * A Unix datagram pair for the joined connections of session `sessionNumber` (decimal u64: what the
   * executor puts in avec_hello_reply.session_id). The listener keeps one end; the returned descriptor is
   * the executor's --stripe-channel, to be closed here once the executor has it. Throws if the session
   * already has one.
   */
  openJoinChannel(sessionNumber: string, sessionId: string): number;
  /** The session ended: its channel closes and joins naming it are refused. False if it had none. */
  closeJoinChannel(sessionNumber: string): boolean;
}

export interface TelemetryDevice {
  index: number;
  uuid: string;
  name: string;
  memoryTotalBytes: number;
  memoryUsedBytes: number;
  gpuUtilizationPercent?: number;
  memoryUtilizationPercent?: number;
  temperatureC?: number;
  powerMilliwatts?: number;
}

export interface Telemetry {
  available: boolean;
  reason?: string;
  devices: TelemetryDevice[];
}

export interface Addon {
  DataListener: new (opts: { helloTimeoutMs?: number; maxPending?: number; maxPendingPerPeer?: number }, onEvent: (ev: ListenerEvent) => void) => NativeDataListener;
  /** NVML sample on a worker thread; NVML stays loaded between calls (a failed load is retried). */
  readTelemetry(libraryPath?: string): Promise<Telemetry>;
  /** nvmlShutdown + unload; true if NVML was loaded. */
  shutdownTelemetry(): boolean;
  parseHelloForTest(buf: Buffer): { status: string; need?: number; ticket?: string; clientPid?: number; clientHost?: string; requestId?: number; frameLength?: number };
  status: { BAD_FRAME: number; BAD_TICKET: number; VERSION: number; REFUSED: number };
  /** AVEC_REFUSAL_* of avec_wire.h. */
  refusal: Record<string, number>;
  maxRefusalMessage: number;
  wireVersion: number;
}

const here = dirname(fileURLToPath(import.meta.url));
/** remoting-server/dist/native -> the checkout root. */
export const CHECKOUT_ROOT = resolve(here, '..', '..', '..');

export function defaultAddonPaths(): string[] {
  return [
    resolve(CHECKOUT_ROOT, 'build', 'addon', 'avec_addon.node'),
    resolve(CHECKOUT_ROOT, 'remoting-server', 'native', 'addon', 'build', 'Release', 'avec_addon.node'),
  ];
}

let cached: Addon | undefined;

/** Loads the addon from `path`, AVEC_ADDON, or the checkout's build folder. */
export function loadAddon(path?: string): Addon {
  if (cached) return cached;
  const candidates = path ? [path] : process.env.AVEC_ADDON ? [process.env.AVEC_ADDON] : defaultAddonPaths();
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new AvecError('AddonMissing', `avec_addon.node not found (tried ${candidates.join(', ')}); run make build-remoting-server`);
  cached = createRequire(import.meta.url)(found) as Addon;
  return cached;
}
