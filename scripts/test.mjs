#!/usr/bin/env node
// `npm test`: the whole suite with vitest, then the one-line summary CI reads ("N passed, M failed").
// Uses TEST_DATABASE_URL when set, else an embedded PostgreSQL (see tests/setup/global-setup.ts).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

const report = '.vitest-report.json';
fs.rmSync(report, { force: true });
const args = ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)];
const run = spawnSync('npx', args, { stdio: 'inherit', env: process.env });

let passed = 0;
let failed = 1;
if (fs.existsSync(report)) {
  const r = JSON.parse(fs.readFileSync(report, 'utf8'));
  passed = r.numPassedTests;
  failed = r.numFailedTests;
  // A file that failed to load has no failed test but must still fail the run.
  const brokenFiles = (r.testResults ?? []).filter((f) => f.status === 'failed' && f.assertionResults.every((a) => a.status !== 'failed')).length;
  failed += brokenFiles;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(run.status === 0 && failed === 0 ? 0 : 1);
