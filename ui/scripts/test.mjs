#!/usr/bin/env node
// Runs the UI tests (Vitest, jsdom) and prints a final line `UI: N passed, N failed` for CI.
// Exits non-zero when any test fails or Vitest itself fails (then the line still appears).

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const dir = mkdtempSync(join(tmpdir(), "fluxdesk-ui-test-"));
const report = join(dir, "vitest.json");

const run = spawnSync(
  process.execPath,
  [join(root, "node_modules/vitest/vitest.mjs"), "run", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`, ...process.argv.slice(2)],
  { cwd: root, stdio: "inherit", env: { ...process.env, FORCE_COLOR: process.env.FORCE_COLOR ?? "0" } },
);

let passed = 0;
let failed = 0;
try {
  const json = JSON.parse(readFileSync(report, "utf8"));
  passed = json.numPassedTests ?? 0;
  failed = json.numFailedTests ?? 0;
  // A suite that fails to load has no tests: count it as a failure so CI never sees "0 failed".
  for (const file of json.testResults ?? []) {
    if (file.status === "failed" && (file.assertionResults ?? []).length === 0) failed += 1;
  }
} catch (err) {
  console.error(`could not read the Vitest JSON report: ${err instanceof Error ? err.message : err}`);
  failed = Math.max(failed, 1);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (run.status !== 0 && failed === 0) failed = 1;

console.log(`UI: ${passed} passed, ${failed} failed`);
process.exit(failed > 0 || run.status !== 0 ? 1 : 0);
