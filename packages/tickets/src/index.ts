export * from './ticket.js';
export * from './keyring.js';
export * from './keyring-watcher.js';
export { KeyringError } from './errors.js';
