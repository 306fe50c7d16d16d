// Start-up cost of the CLI: median wall time and peak resident memory (RSS) of `dropkeys --help`,
// `--version`, `__complete` (one Tab press), `log verify` (a command that needs no AWS client)
// and `status` (the bundled inventory against the emulators: one DescribeKey or DescribeSecret
// per entry, loading the SDK clients it calls and no others), each next to `node -e 0` measured
// alternately in the same run, so machine noise hits all alike. Goal for --help: time ratio <= 2.5.
//   BENCH_RUNS=N           runs of each (default 15)
//   BENCH_CLI_COMPARE=DIR  also measure another checkout's bin/dropkeys (built), e.g. main's,
//                          in the same alternation: the figures that say "no worse than main".
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";
import { startEmulators } from "./aws-emulators.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const runs = Number(process.env.BENCH_RUNS ?? 15);
const work = mkdtempSync(path.join(tmpdir(), "dropkeys-bench-cli-"));
// A preload that reports the process's peak RSS (kB) on fd 3 when it exits.
const probe = path.join(work, "maxrss.cjs");
writeFileSync(probe, 'process.on("exit", () => { try { require("fs").writeSync(3, String(process.resourceUsage().maxRSS)); } catch {} });\n');

function run(args, env = {}) {
  const started = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ["--require", probe, ...args], {
    stdio: ["ignore", "ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
    cwd: work,
  });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  // status exits 4 when the inventory needs attention (here: keys not created); both are a run.
  if (r.status !== 0 && r.status !== 4) throw new Error(`${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return { ms, rssMb: Number(r.output[3]?.toString() || 0) / 1024 };
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const emulators = await startEmulators({ logDir: path.join(work, "logs") });
try {
  const policy = parse(readFileSync(path.join(root, "policy", "drop.policy.yaml"), "utf8"));
  policy.endpoints = JSON.parse(emulators.env.DROPKEYS_EMULATOR_ENDPOINTS);
  const policyFile = path.join(work, "policy.yaml");
  writeFileSync(policyFile, stringify(policy));
  const awsEnv = { AWS_ACCESS_KEY_ID: "bench", AWS_SECRET_ACCESS_KEY: "bench", AWS_MAX_ATTEMPTS: "1", CI: "true" };

  const checkouts = [["", root]];
  if (process.env.BENCH_CLI_COMPARE) checkouts.push([" (compare)", path.resolve(process.env.BENCH_CLI_COMPARE)]);
  const cases = [["node -e 0", ["-e", "0"], {}]];
  for (const [label, dir] of checkouts) {
    const bin = path.join(dir, "bin", "dropkeys");
    cases.push([`dropkeys --help${label}`, [bin, "--help"], {}]);
    cases.push([`dropkeys --version${label}`, [bin, "--version"], {}]);
    // What a shell runs on every Tab (older checkouts have no completion).
    if (!label) cases.push(["dropkeys __complete disable", [bin, "__complete", "disable", "--policy", policyFile, ""], {}]);
    cases.push([`dropkeys log verify${label}`, [bin, "log", "verify", "--journal", path.join(work, "legal")], {}]);
    cases.push([`dropkeys status${label}`, [bin, "status", "--policy", policyFile, "--journal", path.join(work, "legal"), "--json"], awsEnv]);
  }
  for (const [, args, env] of cases) run(args, env); // warm the file cache and the emulators
  const results = cases.map(() => ({ ms: [], rss: [] }));
  for (let i = 0; i < runs; i++) {
    cases.forEach(([, args, env], c) => {
      const r = run(args, env);
      results[c].ms.push(r.ms);
      results[c].rss.push(r.rssMb);
    });
  }
  const base = { ms: median(results[0].ms), rss: median(results[0].rss) };
  console.log(`cli start-up (${runs} runs each, alternating; median wall time and median peak RSS)`);
  cases.forEach(([label], c) => {
    const ms = median(results[c].ms);
    const rss = median(results[c].rss);
    const ratios = c === 0 ? "baseline" : `time ratio ${(ms / base.ms).toFixed(2)}, RSS ratio ${(rss / base.rss).toFixed(2)}${label === "dropkeys --help" ? "  (goal: time <= 2.5)" : ""}`;
    console.log(`  ${label.padEnd(30)} ${ms.toFixed(1).padStart(7)} ms  ${rss.toFixed(1).padStart(6)} MB   ${ratios}`);
  });
} finally {
  await emulators.stop();
  rmSync(work, { recursive: true, force: true });
}
