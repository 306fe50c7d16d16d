// The key-lifecycle drill against the local AWS emulators: every step is a real `dropkeys`
// command, shown with its output, as a security engineer would run it from a runbook. The
// stages are scripts/drill/NN-*.mjs, run in order; each gets the drill context below.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseDocument, stringify } from "yaml";
import { startEmulators } from "./aws-emulators.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const bin = path.join(root, "bin", "dropkeys");
const work = mkdtempSync(path.join(tmpdir(), "dropkeys-drill-"));
const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

const emulators = await startEmulators({ logDir: path.join(work, "emulator-logs") });
const policyFile = path.join(work, "dropkeys.policy.yaml");
const env = { ...process.env, ...emulators.env, DROPKEYS_JOURNAL: path.join(work, "legal"), DROPKEYS_POLICY: policyFile, CI: "true" };
delete env.NO_COLOR;
let failed = false;

const drill = {
  root,
  work,
  env,
  emulators,
  bin,
  policyFile,
  bold,
  /** The policy in use, as a plain object; change it and call writePolicy(). */
  policy: parseDocument(readFileSync(path.join(root, "policy", "drop.policy.yaml"), "utf8")).toJS(),
  writePolicy() {
    writeFileSync(policyFile, stringify(drill.policy));
  },
  /** A heading and a line of explanation between steps. */
  note(text) {
    console.log(`\n${text}`);
  },
  /** Run one dropkeys command as a person would type it; returns {status, stdout} (stdout is also shown). */
  step(title, args, { expect = [0], input, show = true } = {}) {
    console.log(`\n${bold(`== ${title}`)}\n$ dropkeys ${args.map(quote).join(" ")}`);
    const r = spawnSync(process.execPath, [bin, ...args], { cwd: work, env, input: input ?? "", encoding: "utf8" });
    if (show) process.stdout.write(r.stdout);
    process.stdout.write(r.stderr);
    if (!expect.includes(r.status)) {
      console.log(`!! unexpected exit code ${r.status} (expected ${expect.join(" or ")})`);
      failed = true;
    } else console.log(`(exit ${r.status})`);
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  },
  fail(message) {
    console.log(`!! ${message}`);
    failed = true;
  },
};

function quote(arg) {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;
}

try {
  console.log(`${bold("dropkeys drill")} in ${work}`);
  console.log(`Emulators: moto ${emulators.motoUrl}, KMS ${Object.entries(emulators.kmsUrls).map(([r, u]) => `${r} ${u}`).join(", ")}`);
  drill.policy.endpoints = emulators.endpoints;
  drill.writePolicy();
  const stages = readdirSync(path.join(root, "scripts", "drill")).filter((f) => /^\d+-.*\.mjs$/.test(f)).sort();
  for (const stage of stages) {
    const module = await import(pathToFileURL(path.join(root, "scripts", "drill", stage)).href);
    await module.default(drill);
  }
  console.log(`\n${bold("Drill finished.")} Journal: ${path.join(work, "legal")} (internkontroll.jsonl, internkontroll.md)`);
} finally {
  await emulators.stop();
}
process.exitCode = failed ? 1 : 0;
