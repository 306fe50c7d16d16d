// `sync-key-policy KEY` (rule `generate`): PutKeyPolicy with the key policy `generate` would write
// from today's role bindings. The approvers see the diff against AWS and sign the new policy's
// SHA-256; the verification reads the policy back and compares digests.
import { PutKeyPolicyCommand } from "@aws-sdk/client-kms";
import { sha256Hex } from "../lib/canonical.js";
import type { Context } from "../lib/context.js";
import type { JournalVerification } from "../lib/journal/journal.js";
import { command, kmsJournalTarget } from "../lib/keys/common.js";
import { diffKeyPolicy, expectedKeyPolicy, keyPolicyText } from "../lib/keys/key-policy.js";
import { keyPolicyDrift, keyPolicyManaged, readKeyPolicy, SYNC_OPERATION } from "../lib/keys/drift.js";
import { requireKey, resolveKmsEntry } from "../lib/keys/kms.js";
import type { OperationSpec } from "./pipeline.js";
import { awsFailure } from "../lib/targets.js";
import { grantRender } from "./grants-render.js";
import type { OperationInput } from "./input.js";
import type { SyncKeyPolicyResult } from "../lib/keys/results.js";

export async function build(ctx: Context, input: OperationInput): Promise<OperationSpec<SyncKeyPolicyResult>> {
  const target = resolveKmsEntry(ctx, input.name);
  const key = await requireKey(ctx, target);
  const kms = ctx.aws.kms(key.region);
  const text = keyPolicyText(expectedKeyPolicy(ctx.policy, target.entry, key.arn));
  const digest = sha256Hex(text);
  const drift = await keyPolicyDrift(ctx, target.entry, key.region, key.keyId, key.arn);
  const changes = drift.diff.lines;
  const managed = keyPolicyManaged(ctx.journal().entries(), key.keyId);

  return {
    operation: SYNC_OPERATION,
    rule: "generate",
    target: key.arn,
    journalTarget: kmsJournalTarget(key),
    // The approvers sign the digest of the new key policy and the diff they were shown.
    params: { name: target.name, keyId: key.keyId, keyPolicySha256: digest, changes },
    reason: input.reason?.trim() || undefined,
    incident: input.incident,
    summary: `Put the policy's key policy on ${target.name} (${key.keyId}, ${key.region})${managed ? "" : ", a key made outside dropkeys"}: ${changes.length} change${changes.length === 1 ? "" : "s"}\n${changes.map((l) => `    ${l}`).join("\n")}`,

    async preflight() {
      const facts = [`Key policy sha256 ${digest}`, ...changes];
      if (!changes.length) return { facts, noop: `The key policy of ${target.name} already matches the role bindings: nothing to do.` };
      return { facts };
    },

    async execute() {
      try {
        await kms.send(new PutKeyPolicyCommand({ KeyId: key.keyId, PolicyName: "default", Policy: text }));
      } catch (error) {
        throw awsFailure(error, `PutKeyPolicy ${target.name} (${key.keyId}) in ${key.region}`);
      }
      return { keyId: key.keyId, region: key.region, keyPolicySha256: digest, changes };
    },

    async verify(result): Promise<JournalVerification> {
      const back = await readKeyPolicy(kms, result.keyId);
      const left = diffKeyPolicy(back, expectedKeyPolicy(ctx.policy, target.entry, key.arn)).lines;
      return {
        method: "GetKeyPolicy: the key policy read back matches the role bindings",
        result: left.length ? "failed" : "passed",
        detail: left.length ? `still differs: ${left.join("; ")}` : `key policy in AWS matches (sha256 ${digest.slice(0, 16)}…)`,
        checkedAt: new Date().toISOString(),
      };
    },

    async onFailure() {
      return { state: `the key policy of ${target.name} is as before (PutKeyPolicy replaces it whole or not at all)`, next: [command(SYNC_OPERATION, target.name)] };
    },

    outcomeDetails(result) {
      return { keyId: result.keyId, keyPolicySha256: result.keyPolicySha256, changes: result.changes.length };
    },
  };
}

/** `dropkeys apply` renders this operation as `dropkeys sync-key-policy` does. */
export const render = grantRender;
