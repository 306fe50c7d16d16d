// The README's fault figure: runs the fault tests (test/faults) and adds up what they count.
// Each test injects a fault, asserts the clear state after it (error names the cause, journal
// verifies, every acknowledged entry still there, the next command recovers), and counts it as
// recovered only when those assertions passed. A lost entry fails its test, so a run with failed
// tests prints no figure.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const tally = path.join(mkdtempSync(path.join(tmpdir(), "dropkeys-faults-")), "tally.jsonl");
const run = spawnSync("npx", ["vitest", "run", "test/faults"], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, DROPKEYS_FAULT_TALLY: tally }, maxBuffer: 64 * 1024 * 1024 });
const output = run.stdout.toString();
process.stdout.write(output);
// The exit status alone is not trusted: the summary line says whether any test failed.
if (run.status !== 0 || /Tests\s.*\d+ failed/.test(output.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g"), ""))) {
  console.error("fault tests failed: no figure");
  process.exit(1);
}
const rows = existsSync(tally) ? readFileSync(tally, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l)) : [];
const sum = (k) => rows.reduce((n, r) => n + r[k], 0);
for (const r of rows) console.log(`  ${r.file}: ${r.injected} injected, ${r.recovered} recovered`);
console.log(`${sum("injected")} faults injected, ${sum("recovered")} recovered, ${sum("lost")} entries lost`);
