// Generates wire-constants.ts from wire/avec_wire.h, the one definition of the data-plane protocol:
// the TypeScript side (hello client, data-plane glue) takes its magic, version, opcodes, flags and
// frame sizes from the header instead of restating them. wire-gen.test.ts fails when the generated
// file is stale. Regenerate: node remoting-server/dist/wire/wire-gen.js (make gen-wire-ts).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const HEADER = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'wire', 'avec_wire.h');
export const GENERATED = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'wire', 'wire-constants.ts');

/** TypeScript name <- the header's #define or enum member. */
const VALUES: Record<string, string> = {
  WIRE_MAGIC: 'AVEC_WIRE_MAGIC',
  WIRE_VERSION: 'AVEC_WIRE_VERSION',
  F_REPLY: 'AVEC_F_REPLY',
  OP_HELLO: 'AVEC_OP_HELLO',
  OP_GOODBYE: 'AVEC_OP_GOODBYE',
  OP_PING: 'AVEC_OP_PING',
  HELLO_INFO_ONLY: 'AVEC_HELLO_INFO_ONLY',
  DEV_ATTR_SLOTS: 'AVEC_DEV_ATTR_SLOTS',
  STATUS_BAD_TICKET: 'AVEC_STATUS_BAD_TICKET',
  STATUS_REFUSED: 'AVEC_STATUS_REFUSED',
  MAX_REFUSAL_MESSAGE: 'AVEC_MAX_REFUSAL_MESSAGE',
  OP_CALLBACK_ATTACH: 'AVEC_OP_CALLBACK_ATTACH',
  OP_STRIPE_ATTACH: 'AVEC_OP_STRIPE_ATTACH',
  HELLO_STRIPES: 'AVEC_HELLO_STRIPES',
  HELLO_STRIPES_SHIFT: 'AVEC_HELLO_STRIPES_SHIFT',
  HELLO_STRIPE_JOIN: 'AVEC_HELLO_STRIPE_JOIN',
  HELLO_CALLBACKS: 'AVEC_HELLO_CALLBACKS',
  FEATURE_STRIPES: 'AVEC_FEATURE_STRIPES',
  FEATURE_CALLBACKS: 'AVEC_FEATURE_CALLBACKS',
  STRIPE_TOKEN_BYTES: 'AVEC_STRIPE_TOKEN_BYTES',
  JOIN_CALLBACKS: 'AVEC_JOIN_CALLBACKS',
};
/** TypeScript name <- the struct whose size the header pins with AVEC_STATIC_ASSERT. */
const SIZES: Record<string, string> = {
  FRAME_HEADER_BYTES: 'avec_frame_hdr',
  HELLO_BYTES: 'avec_hello',
  HELLO_REPLY_BYTES: 'avec_hello_reply',
  HELLO_REFUSAL_BYTES: 'avec_hello_refusal',
  DEVICE_INFO_BYTES: 'avec_device_info',
  HELLO_EXT_BYTES: 'avec_hello_ext',
  STRIPE_JOIN_BYTES: 'avec_stripe_join',
};

function numberOf(text: string, name: string): number {
  const def = new RegExp(`#define ${name}\\s+(0x[0-9a-fA-F]+|\\d+)u?\\b`).exec(text) ?? new RegExp(`\\b${name}\\s*=\\s*(0x[0-9a-fA-F]+|\\d+)\\s*,`).exec(text);
  if (!def) throw new Error(`${name} not found in avec_wire.h`);
  return Number(def[1]);
}

function sizeOf(text: string, struct: string): number {
  const m = new RegExp(`AVEC_STATIC_ASSERT\\(sizeof\\(${struct}\\) == ([^,]+),`).exec(text);
  if (!m) throw new Error(`no size assertion for ${struct} in avec_wire.h`);
  // The asserted expression uses only integers, + and *, and AVEC_* constants.
  const expr = m[1]!.replace(/AVEC_[A-Z0-9_]+/g, (n) => String(numberOf(text, n)));
  if (!/^[\d\s+*]+$/.test(expr)) throw new Error(`size expression of ${struct} is not plain arithmetic: ${m[1]}`);
  return expr.split('+').reduce((sum, term) => sum + term.split('*').reduce((p, f) => p * Number(f.trim()), 1), 0);
}

export function renderWireConstants(headerText: string): string {
  const lines = [
    '// GENERATED from wire/avec_wire.h by wire-gen.ts: do not edit (node remoting-server/dist/wire/wire-gen.js).',
    ...Object.entries(VALUES).map(([ts, c]) => `export const ${ts} = ${c.includes('MAGIC') ? `0x${numberOf(headerText, c).toString(16)}` : numberOf(headerText, c)}; // ${c}`),
    ...Object.entries(SIZES).map(([ts, s]) => `export const ${ts} = ${sizeOf(headerText, s)}; // sizeof(${s})`),
  ];
  return lines.join('\n') + '\n';
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(GENERATED, renderWireConstants(readFileSync(HEADER, 'utf8')));
  process.stdout.write(`wrote ${GENERATED}\n`);
}
