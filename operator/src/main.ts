// Entry point: node operator/dist/main.js --help | --version | release-claims --help
import { parseConfig, helpText } from './config.js';
import { runOperator } from './operator.js';
import { createLogger, AvecError, errorMessage } from '@avec/common';
import { KeyringError } from '@avec/tickets';
import { releaseClaimsMain } from './release-claims.js';
import { VERSION } from './version.js';

const log = createLogger({ component: 'operator' });
if (process.argv[2] === 'release-claims') {
  const code = await releaseClaimsMain(process.argv.slice(3), (s) => process.stdout.write(s), (s) => process.stderr.write(s)).catch((err: unknown) => {
    process.stderr.write(`release-claims: ${errorMessage(err)}\n`);
    return 1;
  });
  process.exit(code);
}
let cfg;
try {
  cfg = parseConfig(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`${errorMessage(err)}\n`);
  process.exit(2);
}
if (cfg.help) {
  process.stdout.write(helpText() + '\n');
  process.exit(0);
}
if (cfg.version) {
  process.stdout.write(`avec operator ${VERSION}\n`);
  process.exit(0);
}
try {
  const op = await runOperator(cfg, { log });
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    const hard = setTimeout(() => process.exit(1), 10_000);
    hard.unref();
    op.stop().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
} catch (err) {
  log.error('operator failed to start', { code: err instanceof AvecError || err instanceof KeyringError ? err.code : undefined, error: errorMessage(err) });
  process.exit(1);
}
