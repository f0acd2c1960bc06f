// Sums every workspace's jest --json report into the one line CI reads: "N passed, N failed".
// Exits non-zero on any failure, on a suite that failed to run, or on a workspace with no report.
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
/** One line per failed test of a jest --json report: where, its full name, and the first line of what it reported. */
function failedTests(workspace, report) {
  return report.testResults.flatMap((suite) => [
    // A suite that failed outside its tests (it did not run, or a hook such as afterAll threw).
    ...(suite.status === 'failed' && !suite.assertionResults.some((test) => test.status === 'failed') ? [`${workspace}: ${path.relative(root, suite.name)}: ${firstLine(suite.message)}`] : []),
    ...suite.assertionResults
      .filter((test) => test.status === 'failed')
      .map((test) => `${workspace}: ${path.relative(root, suite.name)}: ${test.fullName}: ${firstLine(test.failureMessages.join('\n'))}`),
  ]);
}
/** What a failure message says before its stack, without terminal colours, on one line of at most 400 characters. */
function firstLine(message = '') {
  const lines = message
    .replace(/\u001b\[[0-9;]*m/g, '')
    .split('\n')
    .map((l) => l.trim());
  const stack = lines.findIndex((l) => /^at .*(\(.*:\d+:\d+\)|:\d+:\d+)$/.test(l));
  const said = lines.slice(0, stack >>> 0).filter((l) => l !== '');
  const line = said.slice(0, 6).join(' / ');
  return line.length > 400 ? `${line.slice(0, 397)}...` : line;
}

let passed = 0;
let failed = 0;
const problems = [];
for (const group of ['apps', 'packages']) {
  for (const name of fs.readdirSync(path.join(root, group))) {
    const dir = path.join(root, group, name);
    if (!fs.existsSync(path.join(dir, 'package.json'))) continue;
    // A workspace without a test script has its tests elsewhere (apps/console: the browser tests in apps/frontend).
    const scripts = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).scripts ?? {};
    if (scripts.test === undefined) continue;
    const report = path.join(dir, '.jest-report.json');
    if (!fs.existsSync(report)) {
      problems.push(`${group}/${name}: no test report (the suite did not run)`);
      failed++;
      continue;
    }
    const r = JSON.parse(fs.readFileSync(report, 'utf8'));
    passed += r.numPassedTests;
    failed += r.numFailedTests;
    problems.push(...failedTests(`${group}/${name}`, r));
    if (r.numRuntimeErrorTestSuites > 0) {
      problems.push(`${group}/${name}: ${r.numRuntimeErrorTestSuites} suite(s) failed to run`);
      failed += r.numRuntimeErrorTestSuites;
    }
    if (r.numTotalTests === 0) problems.push(`${group}/${name}: ran no test`);
  }
}
// node --test suites (TAP): the benchmark's pure parts, and infra/scripts' self-tests of check.js.
for (const [name, file] of [['bench/test', 'bench/.test-report.tap'], ['infra/scripts', 'infra/.test-report.tap']]) {
  const tap = path.join(root, file);
  if (!fs.existsSync(tap)) {
    problems.push(`${name}: no test report (the suite did not run)`);
    failed++;
    continue;
  }
  const text = fs.readFileSync(tap, 'utf8');
  const count = (key) => Number((new RegExp(`^# ${key} (\\d+)$`, 'm').exec(text) ?? [])[1] ?? NaN);
  if (Number.isNaN(count('pass')) || Number.isNaN(count('fail'))) {
    problems.push(`${name}: no TAP summary (the suite did not run)`);
    failed++;
  } else {
    passed += count('pass');
    failed += count('fail');
  }
}

// infra/scripts/check.js: one check, by its exit status.
if (process.argv[3] !== undefined) {
  if (Number(process.argv[3]) === 0) passed++;
  else {
    problems.push('infra/scripts/check.js failed');
    failed++;
  }
}

// A test task that failed without its jest report saying so (killed, crashed after writing) still fails the run.
const turboStatus = Number(process.argv[2] ?? 0);
if (turboStatus !== 0 && failed === 0) {
  problems.push(`the test runner exited with status ${turboStatus}`);
  failed++;
}
for (const p of problems) console.log(p);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
