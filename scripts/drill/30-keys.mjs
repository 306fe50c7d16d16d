// Drill stage: the key lifecycle. Generate the inventory's KMS keys and JWT_SECRET with the demo
// approvers, then a compromise: disable drop-kyc-key under an incident, follow the incident's
// checklist and deadlines, schedule the old key's deletion and move the alias to a replacement.
import { copyFileSync, existsSync } from "node:fs";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { approve, keyFile } from "./approvers.mjs";

const INCIDENT = "INC-DRILL-KYC";
const COMPROMISED = "drop-kyc-key";
let requests = 0;

/** --request-out, one signature per approver, then the command itself runs the signed request (its own report). */
function approved(drill, args, approverNames, title) {
  const request = path.join(drill.work, `keys-request-${++requests}.json`);
  const asked = drill.step(`${title}: write the approval request`, [...args, "--request-out", request]);
  if (asked.status !== 0 || !existsSync(request)) return asked;
  const sigs = [];
  for (const name of approverNames) {
    const copy = request.replace(/\.json$/, `.${name}.json`);
    copyFileSync(request, copy);
    console.log(`$ ssh-keygen -Y sign -n dropkeys-approval -f ${path.relative(drill.work, keyFile(drill, name))} ${path.basename(copy)}   # ${name}`);
    const signed = spawnSync("ssh-keygen", ["-q", "-Y", "sign", "-n", "dropkeys-approval", "-f", keyFile(drill, name), copy], { encoding: "utf8" });
    if (signed.status !== 0) drill.fail(`ssh-keygen failed: ${signed.stderr}`);
    sigs.push("--approval", `${copy}.sig`);
  }
  // Flags that are not part of the request (the deletion's --confirm) are passed again.
  const local = args.includes("--confirm") ? ["--confirm", args[args.indexOf("--confirm") + 1]] : [];
  return drill.step(`${title}: run it with ${approverNames.join(" + ")}'s approval`, [args[0], args[1], "--request", request, ...sigs, ...local]);
}

export default async function keysStage(drill) {
  drill.note(drill.bold("Key lifecycle: generate, revoke after a compromise, destroy"));
  const kmsKeys = drill.policy.inventory.filter((e) => e.kind === "kms-key").map((e) => e.name);
  drill.step("What generating a KMS key would do (dry run: no approval asked, nothing changed)", ["generate", kmsKeys[0], "--dry-run"]);
  drill.step("From cron, generating without approvals is refused at once", ["generate", kmsKeys[0]], { expect: [3] });
  for (const name of kmsKeys) {
    approve(drill, ["generate", name, "--reason", "drill: initial key setup"], ["alice", "alem"], { title: `Generate ${name} (drop-key-admin + CISO)` });
  }
  drill.step("Running generate again creates nothing (exit 0)", ["generate", "drop-backup-key"]);
  approve(drill, ["generate", "JWT_SECRET", "--reason", "drill: the JWT signing secret"], ["alem"], { title: "Generate JWT_SECRET (Security Lead or CISO; the value is never shown)" });
  drill.step("A second generate of a secret is refused: rotate it instead", ["generate", "JWT_SECRET"], { expect: [1] });

  drill.note(drill.bold(`A compromise: ${COMPROMISED}'s ARN and a role's credentials leaked in a CI log 20 minutes ago.`));
  drill.step("Without a reason nothing happens (exit 2)", ["disable", COMPROMISED], { expect: [2] });
  const detectedAt = new Date(Date.now() - 20 * 60_000).toISOString();
  approved(
    drill,
    ["disable", COMPROMISED, "--reason", "role credentials with kms:Decrypt leaked in a CI log", "--incident", INCIDENT, "--detected-at", detectedAt],
    ["alem"],
    `Disable ${COMPROMISED} (one Security Lead or the CISO)`,
  );
  drill.step("Disabling it again says so and changes nothing", ["disable", COMPROMISED, "--reason", "runbook step repeated", "--incident", INCIDENT]);
  drill.step("The incident: checklist, deadlines in Europe/Oslo, timeline", ["incident", "show", INCIDENT]);
  drill.step("Scope assessed: mark step 2 done", ["incident", "done", INCIDENT, "2", "--note", "KYC documents in S3 only; no other data under this key"]);

  drill.note("The old key is destroyed after the waiting period; its alias moves to a new key.");
  drill.step("A deletion window of 6 days is refused before anyone is asked (exit 2)", ["schedule-deletion", COMPROMISED, "--days", "6", "--reason", "replaced"], { expect: [2] });
  drill.step("From a script, the alias must be confirmed (exit 2 without --confirm)", ["schedule-deletion", COMPROMISED, "--days", "7", "--reason", "replaced"], { expect: [2] });
  approved(
    drill,
    ["schedule-deletion", COMPROMISED, "--days", "7", "--reason", `compromised in ${INCIDENT}`, "--incident", INCIDENT, "--confirm", `alias/${COMPROMISED}`],
    ["alice", "alem"],
    `Schedule the deletion of ${COMPROMISED} (drop-key-admin + CISO)`,
  );
  drill.step("generate on an alias whose key is pending deletion offers the two ways out", ["generate", COMPROMISED], { expect: [1] });
  approved(drill, ["generate", COMPROMISED, "--move-alias", "--reason", `replacement after ${INCIDENT}`, "--incident", INCIDENT], ["alice", "alem"], "Create the replacement key and move the alias");
  drill.step("The incident now", ["incident", "show", INCIDENT]);
  drill.step("Every incident in the journal", ["incident", "list"]);
}
