// Benchmark (`npm run bench`): does reading for audit-changes cost audit-decrypts its speed? On
// the synthetic archive of bench-audit.mjs (KMS, Secrets Manager and other services' records),
// alternately, best of BENCH_CHANGES_RUNS (default 2) each: audit-decrypts alone (the baseline),
// audit-decrypts --also-changes (both audits in one pass), and audit-changes alone.
// BENCH_CHANGES_MB sets the archive size (default 1100 MB uncompressed).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { generateSmallFiles, runAuditCli } from "./bench-audit.mjs";

function run(command, archive, policy, journal, extra = []) {
  const { seconds, doc, rssMb } = runAuditCli([command, "--source", archive, "--since", "30d", "--policy", policy, "--journal", journal, ...extra]);
  return { seconds, rssMb, bytes: doc.read.bytes, files: doc.read.files };
}

const targetMb = Number(process.env.BENCH_CHANGES_MB ?? 1100);
const runs = Math.max(1, Number(process.env.BENCH_CHANGES_RUNS ?? 2));
const work = mkdtempSync(path.join(tmpdir(), "dropkeys-bench-changes-"));
try {
  const archive = path.join(work, "archive");
  // Files of about 2 MB (bench-audit's record mix): the size of one record is measured on a probe.
  const probe = generateSmallFiles(path.join(work, "probe"), { count: 1, records: 200 });
  const records = Math.max(1, Math.round(2e6 / (probe.bytes / probe.records)));
  const count = Math.max(1, Math.ceil((targetMb * 1e6) / (records * (probe.bytes / probe.records))));
  const stats = generateSmallFiles(archive, { count, records, end: new Date(Date.now() - 3_600_000), kmsShare: 0.33 });
  console.log(`audit-changes: synthetic archive of ${stats.files} files, ${(stats.bytes / 1e6).toFixed(0)} MB uncompressed, ${stats.records} records`);
  const policy = path.join(work, "bench.policy.yaml");
  writeFileSync(policy, "version: 1\ninventory:\n  - { name: JWT_SECRET, kind: secret, rotation: annual }\n");
  const journal = path.join(work, "legal");
  const results = { decrypts: [], both: [], changes: [] };
  for (let i = 0; i < runs; i++) {
    results.decrypts.push(run("audit-decrypts", archive, policy, journal, ["--all-keys"]));
    results.both.push(run("audit-decrypts", archive, policy, journal, ["--all-keys", "--also-changes"]));
    results.changes.push(run("audit-changes", archive, policy, journal));
  }
  const best = (xs) => xs.reduce((a, b) => (b.seconds < a.seconds ? b : a));
  const base = best(results.decrypts);
  const mb = base.bytes / 1e6;
  const line = (label, x) =>
    `  ${label.padEnd(34)} ${x.seconds.toFixed(2).padStart(7)} s  ${(mb / x.seconds).toFixed(1).padStart(7)} MB/s  ${(x.seconds / base.seconds).toFixed(2)}x the baseline's time  peak RSS ${x.rssMb.toFixed(0)} MB`;
  console.log(`  (best of ${runs} alternating runs each)`);
  console.log(line("audit-decrypts (baseline)", base));
  console.log(line("audit-decrypts --also-changes", best(results.both)));
  console.log(line("audit-changes", best(results.changes)));
  const separate = best(results.decrypts).seconds + best(results.changes).seconds;
  console.log(`  one pass for both: ${best(results.both).seconds.toFixed(2)} s against ${separate.toFixed(2)} s for the two audits run one after the other (${(best(results.both).seconds / separate).toFixed(2)}x)`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
