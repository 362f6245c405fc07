// The placement benchmark at toy size, so a broken benchmark is found by `make test`, not on the
// day the figures are needed. The report goes to a temp dir, never over bench/results/.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '../harness/cli.js';
import { REPO_ROOT } from '../harness/repo-root.js';

describe('make bench-placement (smoke size)', () => {
  it('binds every claim, reports its figures and finds no double allocation', async () => {
    const out = mkdtempSync(join(tmpdir(), 'avec-bench-'));
    try {
      const res = await runCli(process.execPath, [join(REPO_ROOT, 'e2e', 'dist', 'bench', 'placement-bench.js')], {
        check: false, timeoutMs: 240_000,
        env: { ...process.env, AVEC_BENCH_CLAIMS: '60', AVEC_BENCH_NODES: '12', AVEC_BENCH_SITES: '4', AVEC_BENCH_PACED: '5',
          AVEC_BENCH_PACED_RATE: '10', AVEC_BENCH_SUMMARY_SETTLE_S: '0', AVEC_BENCH_RESULTS_DIR: out },
      });
      assert.equal(res.code, 0, res.stdout + res.stderr);
      assert.match(res.stdout, /RESULT burst: placed\/s=[\d.]+ bound=60\/60 .* duplicates=0/);
      assert.match(res.stdout, /RESULT paced \(10\/s\): bound=5\/5/);
      const [file] = readdirSync(out);
      const md = readFileSync(join(out, file), 'utf8');
      assert.match(md, /claims placed \(Bound\) per second \| \*\*[\d.]+\*\*/);
      assert.match(md, /final phases \| Bound: 65\b/, 'the raw-create claims are gone before the operator starts');
      assert.match(md, /raw API server create rate, same kind and clients, no operator running \(measured in this run, before the burst\) \| \d+ \/s/);
      assert.match(md, /\*\*bind rate \/ the clients' create rate in this burst\*\* \(issue 10.8 target >= 80%\) \| \*\*\d+%\*\*/);
      assert.match(md, /\*\*bind rate \/ raw API server create rate\*\* \(against the ceiling with no operator\) \| \*\*\d+%\*\*/);
      assert.match(md, /\| operator \| [\d.]+ \|/, 'CPU per claim of the operator during the burst');
      assert.match(md, /\| PUT virtualgpuclaims status \| [\d.]+ \|/);
      assert.match(md, /\*\*operator's writes\*\* \(total less the benchmark's create\) \| \*\*[\d.]+\*\*/);
      assert.match(md, /\| <= 3 operator API writes per claim \| [\d.]+ \| (met|\*\*not met\*\*) \|/);
      assert.match(md, /"benchmark":"placement-pure"/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
