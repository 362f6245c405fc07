// The shared test vectors of docs/tickets.md: every verifier in the project must agree with them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { Keyring } from './keyring.js';
import { verifyTicket } from './ticket.js';

const vectorsPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'docs', 'ticket-vectors.json');

const fileSchema = z.object({
  format: z.literal('avec1'),
  keyring: z.record(z.string(), z.string()),
  current: z.string(),
  vectors: z
    .array(
      z.object({
        name: z.string(),
        now: z.number(),
        node: z.string(),
        ticket: z.string(),
        valid: z.boolean(),
        payload: z.record(z.string(), z.unknown()).optional(),
        reason: z.string().optional(),
      }),
    )
    .min(10),
});

test('docs/ticket-vectors.json: every vector gets the documented verdict', () => {
  const file = fileSchema.parse(JSON.parse(readFileSync(vectorsPath, 'utf8')));
  const keys = new Map(Object.entries(file.keyring).map(([kid, b64]) => [kid, new Uint8Array(Buffer.from(b64, 'base64'))]));
  const keyring = new Keyring(keys, file.current);
  let valid = 0;
  let refused = 0;
  for (const v of file.vectors) {
    const verdict = verifyTicket(v.ticket, { keyring, nodeName: v.node, nowSeconds: v.now });
    if (v.valid) {
      assert.equal(verdict.ok, true, `${v.name}: ${verdict.ok ? '' : verdict.message}`);
      if (verdict.ok) {
        // Every known field as documented; the vectors' payloads hold exactly the known fields.
        for (const [k, want] of Object.entries(verdict.payload)) assert.deepEqual(want, v.payload?.[k], `${v.name}: ${k}`);
        assert.deepEqual(verdict.payload, v.payload, v.name);
      }
      valid++;
    } else {
      assert.equal(verdict.ok, false, v.name);
      if (!verdict.ok) assert.equal(verdict.reason, v.reason, `${v.name}: ${verdict.message}`);
      refused++;
    }
  }
  assert.ok(valid > 0 && refused > 0, 'the vectors cover both outcomes');
});
