// Golden-file comparison for every test that pins rendered output: AVEC_UPDATE_GOLDEN=1 (the one
// update variable) rewrites the file; otherwise a missing golden file fails, it is never created
// silently (a test that writes its own expectation checks nothing).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import assert from 'node:assert/strict';

export const UPDATE_GOLDEN_ENV = 'AVEC_UPDATE_GOLDEN';

export function expectGolden(path: string, actual: string, env: NodeJS.ProcessEnv = process.env): void {
  if (env[UPDATE_GOLDEN_ENV] === '1') {
    writeFileSync(path, actual);
    return;
  }
  assert.ok(existsSync(path), `golden file ${path} is missing: run the test with ${UPDATE_GOLDEN_ENV}=1 to create it, then review it`);
  assert.equal(actual, readFileSync(path, 'utf8'), `output differs from ${path} (${UPDATE_GOLDEN_ENV}=1 rewrites it)`);
}
