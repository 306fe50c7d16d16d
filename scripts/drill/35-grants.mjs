// Drill stage: an access grant. A service gets Decrypt on drop-national-id-key for a short time
// (Security Lead + system owner), the grant is listed, it expires, and cron retires it.
import { approve } from "./approvers.mjs";

const KEY = "drop-national-id-key";
const SERVICE = "arn:aws:iam::123456789012:role/drop-kyc-worker";

export default async function grantsStage(drill) {
  drill.note(drill.bold("Access grants: a service gets a key for a while, then loses it"));
  drill.step("The worker role is in none of the key's roles: without a reason, refused (exit 2)", ["grant", KEY, "--to", SERVICE, "--operations", "Decrypt", "--expires", "8s"], { expect: [2] });
  approve(
    drill,
    ["grant", KEY, "--to", SERVICE, "--operations", "Decrypt", "--encryption-context", "purpose=kyc-migration", "--expires", "8s", "--reason", "drill: one-off KYC migration job"],
    ["alem", "alice"],
    { title: `Grant ${SERVICE} Decrypt on ${KEY} for 8 seconds (security-lead + system-owner)` },
  );
  drill.step("The grants on the key", ["grants", KEY]);
  drill.step("Nothing has expired yet: cron retires nothing", ["grant", "--retire-expired"]);
  drill.note("(waiting 9 seconds for the grant to expire)");
  await new Promise((resolve) => setTimeout(resolve, 9_000));
  drill.step("Expired now", ["grants", KEY]);
  drill.step("From cron: retire every dropkeys grant past its expiry (no approval: it only narrows access)", ["grant", "--retire-expired"]);
  drill.step("Gone", ["grants", KEY]);
}
