// Structured logging for the harness: one JSON line per event on stderr; AVEC_E2E_LOG=debug|info|warn.
const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;
type Level = keyof typeof LEVELS;

function threshold(): number {
  const v = (process.env.AVEC_E2E_LOG ?? 'warn') as Level;
  return LEVELS[v] ?? LEVELS.warn;
}

export function log(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
  if (LEVELS[level] < threshold()) return;
  process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level, component: 'e2e', msg, ...fields }) + '\n');
}
