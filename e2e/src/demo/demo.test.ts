// `make demo` as a test: the whole chain (kubectl apply -> Bound -> Secret -> CUDA program through
// the shim against the remoting server's executor) must succeed and say what it did.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '../harness/cli.js';
import { REPO_ROOT } from '../harness/repo-root.js';

describe('make demo', () => {
  it('prints its numbered steps, not build output, and runs the CUDA demo program through the shim on a claim bound by the operator', async () => {
    const program = join(REPO_ROOT, 'build', 'demo', 'avec-demo');
    assert.ok(existsSync(program), `${program} missing: make demo-program`);
    // The README's command itself (the build is up to date here, so this is the set-up check + the demo).
    const res = await runCli('make', ['--no-print-directory', 'demo'], { check: false, timeoutMs: 400_000, env: { ...process.env, MAKEFLAGS: '' } });
    const out = res.stdout + res.stderr;
    const lines = out.trimEnd().split('\n');
    const steps = lines.filter((l) => /^\[demo\s+[\d.]+s\] \d+\. /.test(l));
    assert.ok(steps.length >= 12 && steps.length <= 16, `${steps.length} steps:\n${out}`);
    for (const l of lines) {
      assert.ok(/^\[(demo|avec)\b/.test(l) || /^\s{6}\|/.test(l), `a line that is neither a step nor shown output: ${l}`);
    }
    assert.equal(res.code, 0, out);
    assert.match(out, /claim is Bound/);
    assert.match(out, /demo\s+Bound\s+gpu-\S+\s+edge-demo\s+2Gi/);
    assert.match(out, /memcpy round trip: \d+ bytes host->device->host, identical/);
    assert.match(out, /memory: 2\.00 GiB total/, 'the device reports the claim\'s memory limit');
    assert.match(out, /avec-demo: OK \((emulated device|GPU)\)/);
    if (/emulated/.test(out)) assert.match(out, /emulated device cannot run kernels/);
    assert.match(out, /0 allocation\(s\), 0 bytes allocated/);
    assert.match(out, /demo complete/);
  });
});
