// Kubernetes resource quantities (memory) <-> bytes. Fractional byte values round up, as the
// API server's Quantity.Value() does.
import { AvecError } from '@avec/common';

const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };
const QUANTITY = /^([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$/;

/** Parse a quantity (string like "8Gi" or a JSON integer) into a whole number of bytes. */
export function parseQuantityBytes(q: string | number): number {
  if (typeof q === 'number') {
    if (!Number.isFinite(q)) throw new AvecError('InvalidQuantity', `quantity ${q} is not a finite number`);
    return checkSafe(Math.ceil(q), String(q));
  }
  const m = QUANTITY.exec(q.trim());
  if (!m) {
    throw new AvecError('InvalidQuantity', `"${q}" is not a quantity (examples: 8Gi, 512Mi, 1073741824)`);
  }
  const [, sign, digits, suffix = ''] = m;
  let mult: number;
  if (suffix in BINARY) mult = BINARY[suffix];
  else if (suffix in DECIMAL) mult = DECIMAL[suffix];
  else mult = 10 ** Number(suffix.slice(1));
  const v = Number(digits) * mult * (sign === '-' ? -1 : 1);
  // Guard against binary float noise (e.g. 0.1Gi) before rounding up.
  const rounded = Math.abs(v - Math.round(v)) < 1e-6 ? Math.round(v) : Math.ceil(v);
  return checkSafe(rounded, q);
}

function checkSafe(v: number, q: string): number {
  if (!Number.isSafeInteger(v)) throw new AvecError('InvalidQuantity', `quantity "${q}" is out of range`);
  return v;
}

/** Bytes as the shortest exact binary quantity (e.g. 8589934592 -> "8Gi"). */
export function formatBytes(bytes: number): string {
  for (const s of ['Ei', 'Pi', 'Ti', 'Gi', 'Mi', 'Ki']) {
    const m = BINARY[s];
    if (bytes !== 0 && bytes % m === 0) return `${bytes / m}${s}`;
  }
  return String(bytes);
}

/** Bytes for humans: the largest binary unit that keeps a value >= 1, one decimal at most (85899345920 -> "80Gi", 1.5 GiB -> "1.5Gi"). */
export function humanBytes(bytes: number): string {
  const units: Array<[string, number]> = [['Ti', 2 ** 40], ['Gi', 2 ** 30], ['Mi', 2 ** 20], ['Ki', 2 ** 10]];
  for (const [u, n] of units) {
    if (Math.abs(bytes) >= n) return `${Number((bytes / n).toFixed(1))}${u}`;
  }
  return String(bytes);
}
