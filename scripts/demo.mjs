// The key-lifecycle drill against the local AWS emulators: every step is a real `dropkeys`
// command, shown with its output, as a security engineer would run it from a runbook.
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { CreateAliasCommand, CreateKeyCommand, EnableKeyRotationCommand, KMSClient } from "@aws-sdk/client-kms";
import { stringify } from "yaml";
import { startEmulators } from "./aws-emulators.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const bin = path.join(root, "bin", "dropkeys");
const work = mkdtempSync(path.join(tmpdir(), "dropkeys-drill-"));
const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

const emulators = await startEmulators({ logDir: path.join(work, "emulator-logs") });
const env = { ...process.env, ...emulators.env, DROPKEYS_JOURNAL: path.join(work, "legal"), DROPKEYS_POLICY: path.join(work, "dropkeys.policy.yaml") };
let failed = false;

/** Run one dropkeys command as a person would type it; returns its exit code. */
function step(title, args, { expect = [0] } = {}) {
  console.log(`\n${bold(`== ${title}`)}\n$ dropkeys ${args.join(" ")}`);
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: work, env, stdio: "inherit" });
  if (!expect.includes(r.status)) {
    console.log(`!! unexpected exit code ${r.status} (expected ${expect.join(" or ")})`);
    failed = true;
  } else console.log(`(exit ${r.status})`);
  return r.status;
}

try {
  console.log(bold("dropkeys drill") + ` in ${work}\nEmulators: moto ${emulators.motoUrl}, local-kms ${Object.entries(emulators.kmsUrls).map(([r, u]) => `${r} ${u}`).join(", ")}`);

  // The policy: the bundled Drop policy, pointed at the emulators.
  const { parseDocument } = await import("yaml");
  const { readFileSync } = await import("node:fs");
  const policy = parseDocument(readFileSync(path.join(root, "policy", "drop.policy.yaml"), "utf8")).toJS();
  policy.endpoints = JSON.parse(emulators.env.DROPKEYS_EMULATOR_ENDPOINTS);
  writeFileSync(env.DROPKEYS_POLICY, stringify(policy));
  step("Check the policy", ["policy", "check"]);

  // Stage 1 (foundation): the inventory's KMS keys are created in the emulator directly.
  for (const entry of policy.inventory.filter((e) => e.kind === "kms-key")) {
    const region = entry.region ?? policy.region;
    const kms = new KMSClient({ region, endpoint: emulators.kmsUrls[region], credentials: { accessKeyId: "test", secretAccessKey: "test" } });
    const key = await kms.send(new CreateKeyCommand({ Description: entry.purpose }));
    await kms.send(new CreateAliasCommand({ AliasName: `alias/${entry.name}`, TargetKeyId: key.KeyMetadata.KeyId }));
    await kms.send(new EnableKeyRotationCommand({ KeyId: key.KeyMetadata.KeyId }));
  }
  console.log("\n(created the inventory's KMS keys in the emulator directly)");

  step("Status of every key (missing secrets are findings: exit 4)", ["status"], { expect: [0, 4] });
  step("What will be overdue in 400 days", ["status", "--at", "400d"], { expect: [4] });
  step("Verify the internkontroll journal", ["log", "verify"]);

  console.log(`\n${bold("Drill finished.")} Journal: ${path.join(work, "legal")} (internkontroll.jsonl, internkontroll.md)`);
} finally {
  await emulators.stop();
}
process.exitCode = failed ? 1 : 0;
