// Drill stage: the key lifecycle. Generate the inventory's KMS keys and JWT_SECRET with the demo
// approvers, then a compromise: disable drop-kyc-key under an incident, follow the incident's
// checklist and deadlines, schedule the old key's deletion and move the alias to a replacement.
import { approve } from "./approvers.mjs";

const INCIDENT = "INC-DRILL-KYC";
const COMPROMISED = "drop-kyc-key";

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
  approve(
    drill,
    ["disable", COMPROMISED, "--reason", "role credentials with kms:Decrypt leaked in a CI log", "--incident", INCIDENT, "--detected-at", detectedAt],
    ["alem"],
    { title: `Disable ${COMPROMISED} (one Security Lead or the CISO)`, runWith: "command" },
  );
  drill.step("Disabling it again says so and changes nothing", ["disable", COMPROMISED, "--reason", "runbook step repeated", "--incident", INCIDENT]);
  drill.step("The incident: checklist, deadlines in Europe/Oslo, timeline", ["incident", "show", INCIDENT]);
  drill.step("Scope assessed: mark step 2 done", ["incident", "done", INCIDENT, "2", "--note", "KYC documents in S3 only; no other data under this key"]);

  drill.note("The old key is destroyed after the waiting period; its alias moves to a new key.");
  drill.step("A deletion window of 6 days is refused before anyone is asked (exit 2)", ["schedule-deletion", COMPROMISED, "--days", "6", "--reason", "replaced"], { expect: [2] });
  drill.step("From a script, the alias must be confirmed (exit 2 without --confirm)", ["schedule-deletion", COMPROMISED, "--days", "7", "--reason", "replaced"], { expect: [2] });
  approve(
    drill,
    ["schedule-deletion", COMPROMISED, "--days", "7", "--reason", `compromised in ${INCIDENT}`, "--incident", INCIDENT, "--confirm", `alias/${COMPROMISED}`],
    ["alice", "alem"],
    { title: `Schedule the deletion of ${COMPROMISED} (drop-key-admin + CISO)`, runWith: "command" },
  );
  drill.step("generate on an alias whose key is pending deletion offers the two ways out", ["generate", COMPROMISED], { expect: [1] });
  approve(drill, ["generate", COMPROMISED, "--move-alias", "--reason", `replacement after ${INCIDENT}`, "--incident", INCIDENT], ["alice", "alem"], { title: "Create the replacement key and move the alias", runWith: "command" });
  drill.step("The incident now", ["incident", "show", INCIDENT]);
  drill.step("Every incident in the journal", ["incident", "list"]);
}
