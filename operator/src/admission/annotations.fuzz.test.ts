// Property/fuzz loop over the pod-annotation parser (the webhook's input from any user who can create a
// pod): the corpus in testdata/fuzz-annotations.json and seeded random annotation maps, for AVEC_FUZZ_MS
// (default 2000) ms. parsePodAnnotations must never throw, and what it accepts must hold its invariants.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ANN_CLAIM, ANN_GPU_COMPUTE, ANN_GPU_MAX_LATENCY, ANN_GPU_MEMORY, ANN_GPU_POLICY, ANN_INLINE } from '@avec/api';
import { parsePodAnnotations, validClaimName } from './annotations.js';

const budgetMs = Number(process.env.AVEC_FUZZ_MS ?? 2000);
const seed = Number(process.env.AVEC_FUZZ_SEED ?? 0xa77);

function lcg(s: number): () => number {  // reproducible from the seed printed on failure
  let x = s >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x / 4294967296;
  };
}

const KEYS = [ANN_CLAIM, ANN_GPU_MEMORY, ANN_GPU_COMPUTE, ANN_GPU_MAX_LATENCY, ANN_GPU_POLICY, ANN_INLINE, 'other/key'];
const ATOMS = ['', ' ', '0', '1', '-1', '50', '100', '101', '1.5', '1e3', '8Gi', '512Mi', '1Ki', '1E', '0x10', 'NaN', 'Infinity',
  'nearest', 'binpack', 'spread', 'c', 'my-claim', 'a.b-c', 'UPPER', 'x'.repeat(300), '\u00e9', '\u0000', 'm', 'k', '9'.repeat(40)];

function randomValue(r: () => number): string {
  let v = '';
  for (let n = 1 + Math.floor(r() * 3); n > 0; n--) v += ATOMS[Math.floor(r() * ATOMS.length)]!;
  return v;
}

function check(ann: Record<string, string>): void {
  let res;
  try {
    res = parsePodAnnotations(ann);
  } catch (e) {
    assert.fail(`threw on ${JSON.stringify(ann)} (seed ${seed}): ${String(e)}`);
  }
  if (!res.ok) {
    assert.ok(res.message.length > 0);
    return;
  }
  const q = res.request;
  if (q.kind === 'claim') assert.equal(validClaimName(q.claim), undefined, q.claim);
  if (q.kind === 'inline') {
    const i = q.inline;
    assert.ok(Number.isFinite(i.memoryBytes) && i.memoryBytes > 0, `memory ${i.memory}`);
    assert.ok(i.computePercent === undefined || (Number.isInteger(i.computePercent) && i.computePercent >= 1 && i.computePercent <= 100));
    assert.ok(i.maxLatencyMs === undefined || (Number.isFinite(i.maxLatencyMs) && i.maxLatencyMs >= 0));
    assert.ok(i.policy === undefined || ['nearest', 'binpack', 'spread'].includes(i.policy));
  }
}

test('pod annotations: corpus and seeded random maps never throw; accepted requests hold their invariants', () => {
  const corpus = JSON.parse(readFileSync(new URL('../../src/admission/testdata/fuzz-annotations.json', import.meta.url), 'utf8')) as Array<Record<string, string>>;
  assert.ok(corpus.length >= 10);
  for (const c of corpus) check(c);
  const r = lcg(seed);
  const t0 = Date.now();
  let runs = 0, inline = 0;
  while (Date.now() - t0 < budgetMs) {
    const ann: Record<string, string> = r() < 0.5 ? { ...corpus[Math.floor(r() * corpus.length)]! } : {};
    for (let n = Math.floor(r() * 4); n > 0; n--) ann[KEYS[Math.floor(r() * KEYS.length)]!] = randomValue(r);
    check(ann);
    const res = parsePodAnnotations(ann);
    if (res.ok && res.request.kind === 'inline') inline++;
    runs++;
  }
  assert.ok(runs > 100 && inline > 0, `${runs} maps, ${inline} accepted inline requests`);
});
