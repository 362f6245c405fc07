// Which --backend every session's executor gets. Pure: the configured value and the start-up inventory in,
// the choice and why out.
import type { ObservedInventory } from '../inventory/observed.js';

export type BackendSetting = 'cuda' | 'emulated' | 'auto';

export interface ExecutorBackend {
  backend: BackendSetting;
  /** `configured`: the operator's --backend, passed as is; `observed`: pinned to what --describe found. */
  source: 'configured' | 'observed';
}

/**
 * An explicit --backend wins, `auto` included (the operator asked each executor to decide). Unset, the
 * server pins the backend observed at start-up: with `auto` per session, a GPU node whose driver fails
 * quietly would serve the emulated device without anyone noticing; pinned to `cuda`, those sessions fail.
 */
export function chooseExecutorBackend(configured: BackendSetting | undefined, observed: ObservedInventory): ExecutorBackend {
  if (configured !== undefined) return { backend: configured, source: 'configured' };
  const emulated = observed.backend === 'emulated' || observed.devices.some((d) => d.emulated);
  return { backend: emulated ? 'emulated' : 'cuda', source: 'observed' };
}
