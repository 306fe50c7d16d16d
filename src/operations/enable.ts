// `enable`: undo a disable that was a false alarm. A key pending deletion cannot be enabled
// (cancel the deletion first). Verify: DescribeKey says Enabled and a canary round trip works.
import { EnableKeyCommand } from "@aws-sdk/client-kms";
import type { Context } from "../lib/context.js";
import { awsErrorName, failure } from "../lib/errors.js";
import type { JournalVerification } from "../lib/journal/journal.js";
import { command, kmsJournalTarget, requireReason, stateAfterFailure } from "../lib/keys/common.js";
import { canaryDecrypt, canaryEncrypt, describeKeyId, describeState, pollUntil, requireKey, resolveKmsEntry } from "../lib/keys/kms.js";
import type { OperationSpec } from "./pipeline.js";
import { awsFailure } from "../lib/targets.js";
import type { OperationInput } from "./input.js";
import { lifecycleRender } from "./lifecycle-render.js";
import type { EnableResult } from "../lib/keys/results.js";

export async function build(ctx: Context, input: OperationInput): Promise<OperationSpec<EnableResult>> {
  const reason = requireReason(input, "enable");
  const target = resolveKmsEntry(ctx, input.name);
  const key = await requireKey(ctx, target);
  const kms = ctx.aws.kms(key.region);
  let canary: string | undefined;

  return {
    operation: "enable",
    target: key.arn,
    journalTarget: kmsJournalTarget(key),
    params: { name: target.name },
    reason,
    incident: input.incident,
    summary: `Enable ${target.name} (${key.keyId}) in ${key.region} again`,

    async preflight() {
      const now = await describeKeyId(kms, key.keyId);
      const facts = [`${target.name}: ${describeState(now)} (${key.region})`];
      if (now.KeyState === "Enabled") return { facts, noop: `${target.name} is already enabled: nothing to do.` };
      if (now.KeyState === "PendingDeletion") {
        throw failure(`${target.name} is pending deletion${now.DeletionDate ? ` (on ${now.DeletionDate.toISOString()})` : ""}: a key pending deletion cannot be enabled`, {
          code: "state.pending-deletion",
          hint: `Cancel the deletion first: ${command("cancel-deletion", target.name, { reason: "..." })}; then enable it.`,
        });
      }
      if (now.KeyState !== "Disabled") {
        throw failure(`${target.name} is ${now.KeyState}: only a Disabled key can be enabled`, { code: "state.invalid" });
      }
      return { facts };
    },

    async execute() {
      try {
        await kms.send(new EnableKeyCommand({ KeyId: key.keyId }));
      } catch (error) {
        throw awsFailure(error, `EnableKey ${key.keyId} in ${key.region}`);
      }
      return { keyId: key.keyId, region: key.region };
    },

    async verify(result): Promise<JournalVerification> {
      const poll = await pollUntil(
        async () => {
          const state = (await describeKeyId(kms, result.keyId)).KeyState ?? "unknown";
          if (state !== "Enabled" || key.key.KeyUsage !== "ENCRYPT_DECRYPT") return { done: state === "Enabled", value: { state, roundTrip: "skipped" }, status: state };
          try {
            canary = await canaryEncrypt(kms, result.keyId);
            const back = await canaryDecrypt(kms, canary);
            return { done: back.outcome === "decrypted", value: { state, roundTrip: back.outcome }, status: `${state}, canary ${back.outcome}` };
          } catch (error) {
            return { done: false, value: { state, roundTrip: awsErrorName(error) ?? "error" }, status: `${state}, canary Encrypt ${awsErrorName(error)}` };
          }
        },
        { timeoutMs: ctx.policy.disableVerifyTimeout, initialDelayMs: 250 },
      );
      return {
        method: key.key.KeyUsage === "ENCRYPT_DECRYPT" ? "DescribeKey KeyState, canary Encrypt and Decrypt must succeed" : "DescribeKey KeyState",
        result: poll.done ? "passed" : "failed",
        detail: `KeyState ${poll.value.state}, canary round trip ${poll.value.roundTrip}`,
        checkedAt: new Date().toISOString(),
      };
    },

    async onFailure() {
      const state = await stateAfterFailure(ctx, key);
      return { state: state.text, next: state.metadata?.KeyState === "Enabled" ? ["dropkeys status"] : [command("enable", target.name, { reason })] };
    },

    outcomeDetails() {
      return { keyId: key.keyId, ...(canary ? { canary } : {}) };
    },
  };
}

/** `dropkeys apply` renders this operation as `dropkeys enable` does. */
export const render = lifecycleRender("enable");
