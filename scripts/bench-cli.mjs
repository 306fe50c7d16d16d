// Start-up cost of the CLI: median wall time of `dropkeys --help` against `node -e 0`, measured
// alternately in the same process so machine noise hits both alike. Goal: ratio <= 2.5.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const runs = Number(process.env.BENCH_RUNS ?? 25);
const bin = path.join(root, "bin", "dropkeys");

function time(args) {
  const started = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { stdio: "ignore" });
  if (r.status !== 0) throw new Error(`${args.join(" ")} exited ${r.status}`);
  return Number(process.hrtime.bigint() - started) / 1e6;
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// Warm the file cache once; then alternate so both see the same conditions.
time(["-e", "0"]);
time([bin, "--help"]);
const baseline = [];
const help = [];
const version = [];
for (let i = 0; i < runs; i++) {
  baseline.push(time(["-e", "0"]));
  help.push(time([bin, "--help"]));
  version.push(time([bin, "--version"]));
}
const b = median(baseline);
const h = median(help);
const v = median(version);
console.log(`cli start-up (${runs} runs each, median wall time)`);
console.log(`  node -e 0            ${b.toFixed(1)} ms`);
console.log(`  dropkeys --help      ${h.toFixed(1)} ms   ratio ${(h / b).toFixed(2)} (goal <= 2.5)`);
console.log(`  dropkeys --version   ${v.toFixed(1)} ms   ratio ${(v / b).toFixed(2)}`);
