// Drill stage: register two approvers (SSH keys made now), see that nothing can be approved
// until the list is sealed, seal it with both signatures, and show the refusals.
import { approve, createDemoApprovers, keyFile } from "./approvers.mjs";
import path from "node:path";

export default async function approversStage(drill) {
  drill.note(drill.bold("Approvers: a real two-person rule"));
  drill.policy.approvers = createDemoApprovers(drill);
  drill.writePolicy();
  drill.note("alem (CISO, security-lead) and alice (drop-key-admin, dpo, system-owner) are in the policy; the list is not yet trusted.");
  drill.step("The registry, not sealed yet", ["approvers", "list"]);
  drill.step("From cron (no terminal), a seal without approvals is refused at once", ["approvers", "seal"], { expect: [3] });

  // One approver with `dropkeys approve`, to show the command; the helper uses plain ssh-keygen.
  const request = path.join(drill.work, "seal-request.json");
  drill.step("Write the seal request", ["approvers", "seal", "--reason", "register the security team", "--request-out", request]);
  drill.step("alem approves with dropkeys", ["approve", request, "--as", "alem", "--key", keyFile(drill, "alem"), "--out", path.join(drill.work, "alem.sig")]);
  drill.step("One signature is not two people", ["apply", request, "--approval", path.join(drill.work, "alem.sig")], { expect: [3] });
  drill.step("The same person twice is still one", ["apply", request, "--approval", path.join(drill.work, "alem.sig"), "--approval", path.join(drill.work, "alem.sig")], { expect: [3] });

  approve(drill, ["approvers", "seal", "--reason", "register the security team"], ["alem", "alice"], { title: "Seal the approvers registry" });
  drill.step("Sealed", ["approvers", "status"]);
  drill.step("Every recorded approval re-verifies", ["log", "verify", "--approvals"]);
}
