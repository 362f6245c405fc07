// Shared by the tests: a logger that drops everything.
import type { KeyringLogger } from './keyring-watcher.js';

export const silentLogger: KeyringLogger = { info: () => {}, warn: () => {}, error: () => {} };
