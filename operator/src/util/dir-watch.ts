// Cheap change detection for mounted Secret directories: a signature of names, sizes and mtimes
// (Secret volumes swap a ..data symlink, which changes the files' mtimes).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export function dirSignature(dir: string): string {
  try {
    return readdirSync(dir)
      .filter((n) => !n.startsWith('.'))
      .sort()
      .map((n) => {
        const s = statSync(join(dir, n));
        return `${n}:${s.size}:${s.mtimeMs}`;
      })
      .join('|');
  } catch {
    return '';
  }
}
