#!/usr/bin/env node
// avec remoting server entry point: parse config, start, drain on SIGTERM/SIGINT.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HELP, loadConfig } from './config.js';
import { errorMessage, createLogger } from '@avec/common';
import { startRemotingServer } from './server.js';
import { VERSION } from './version.js';

async function main(): Promise<number> {
  const bootLogger = createLogger({ component: 'remoting-server' });
  let result;
  try {
    result = loadConfig({ argv: process.argv.slice(2), env: process.env, repoRoot: resolve(dirname(fileURLToPath(import.meta.url)), '..', '..') });
  } catch (e) {
    process.stderr.write(`${errorMessage(e)}\n\nRun with --help for the flags.\n`);
    return 2;
  }
  if (result.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (result.version) {
    process.stdout.write(`avec remoting server ${VERSION}\n`);
    return 0;
  }
  const config = result.config;
  const logger = createLogger({ level: config.logLevel, component: 'remoting-server' });
  let server;
  try {
    server = await startRemotingServer(config, { logger });
  } catch (e) {
    bootLogger.error('cannot start', { error: errorMessage(e) });
    return 1;
  }
  await new Promise<void>((res) => {
    const stop = (signal: string) => {
      logger.info('shutting down', { signal, drainSeconds: config.drainSeconds });
      void server.shutdown(config.drainSeconds * 1000).then(res);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`fatal: ${errorMessage(e)}\n`);
    process.exit(1);
  },
);
