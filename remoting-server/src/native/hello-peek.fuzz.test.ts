// Property/fuzz loop over the listener's HELLO peek (addon hello-peek.cc, the first code that reads
// untrusted bytes on a GPU node): the corpus in src/testdata/hello-fuzz and seeded mutations of valid
// HELLOs, every prefix length included, for AVEC_FUZZ_MS (default 2000) ms. The parser must never crash,
// must classify a valid HELLO and all its prefixes consistently, and may call a frame complete only when
// its lengths agree with the bytes. (The executor's own decoder is fuzzed by libFuzzer: make fuzz-native.)
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { encodeHello } from '../wire/hello-client.js';
import { loadAddon } from './addon.js';

const addon = loadAddon();
const budgetMs = Number(process.env.AVEC_FUZZ_MS ?? 2000);
const seed = Number(process.env.AVEC_FUZZ_SEED ?? 0x4e11);
const STATUSES = ['need-more', 'complete', 'bad-magic', 'bad-opcode', 'bad-length', 'ticket-too-long', 'bad-version', 'bad-client-host'];

function prng(s: number): () => number {  // a 32-bit xorshift; the seed reproduces a failure
  let x = s >>> 0 || 7;
  return () => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x / 4294967296;
  };
}

function classify(b: Buffer) {
  try {
    const r = addon.parseHelloForTest(b);
    assert.ok(STATUSES.includes(r.status), r.status);
    if (r.status === 'complete') {
      assert.ok(b.length >= 104 && r.frameLength! <= b.length, 'complete only with the whole frame present');
      assert.equal(b.readUInt32LE(20), r.frameLength! - 24, 'payload_len agrees');
      assert.equal(r.frameLength, 104 + b.readUInt32LE(36), 'ticket_len agrees');
    }
    if (r.status === 'need-more') assert.ok(r.need! > b.length && r.need! <= 104 + 4096, `need ${r.need} for ${b.length}`);
    return r;
  } catch (e) {
    assert.fail(`input ${b.toString('hex')} (seed ${seed}): ${String(e)}`);
  }
}

test('HELLO peek: every prefix of a valid HELLO needs more, the whole is complete', () => {
  const h = encodeHello({ ticket: 'avec1.x.y', clientPid: 7, clientHost: 'h', requestId: 3 });
  for (let n = 0; n < h.length; n++) assert.equal(classify(h.subarray(0, n)).status, 'need-more', `prefix ${n}`);
  assert.equal(classify(h).status, 'complete');
});

test('HELLO peek: corpus and seeded mutations never crash and stay consistent', () => {
  const dir = new URL('../../src/testdata/hello-fuzz/', import.meta.url);
  const corpus = readdirSync(dir).map((f) => readFileSync(new URL(f, dir)));
  assert.ok(corpus.length >= 4);
  for (const c of corpus) classify(c);
  const r = prng(seed);
  const t0 = Date.now();
  let runs = 0;
  const seen = new Set<string>();
  while (Date.now() - t0 < budgetMs) {
    let b = Buffer.from(r() < 0.5 ? corpus[Math.floor(r() * corpus.length)]! : encodeHello({ ticket: 't'.repeat(Math.floor(r() * 300)) }));
    for (let n = 1 + Math.floor(r() * 4); n > 0; n--) {
      const at = Math.floor(r() * Math.max(1, b.length));
      const op = Math.floor(r() * 4);
      if (op === 0 && b.length) b[at] = Math.floor(r() * 256);
      else if (op === 1 && b.length >= at + 4) b.writeUInt32LE(Math.floor(r() * 4294967296) >>> (Math.floor(r() * 4) * 8), at);
      else if (op === 2) b = b.subarray(0, at);
      else b = Buffer.concat([b, Buffer.alloc(Math.floor(r() * 64), Math.floor(r() * 256))]);
    }
    seen.add(classify(b).status);
    runs++;
  }
  assert.ok(runs > 100, `${runs} inputs`);
  assert.ok(seen.has('complete') && seen.has('bad-length') && seen.has('need-more'), [...seen].join(','));
});
