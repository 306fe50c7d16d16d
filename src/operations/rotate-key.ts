// `rotate-key`: manual rotation of a KMS key (RotateKeyOnDemand), drop-key-admin proposes and the
// CISO approves. Verified through ListKeyRotations. KMS allows at most 10 on-demand rotations
// per key: that limit is said plainly (before asking anyone, when the history shows it), and a
// LimitExceededException is never retried as if it were throttling.
import { RotateKeyOnDemandCommand } from "@aws-sdk/client-kms";
import type { Context } from "../lib/context.js";
import { awsErrorName, failure } from "../lib/errors.js";
import { command, kmsJournalTarget, requireReason, stateAfterFailure } from "../lib/keys/common.js";
import { describeKeyId, describeState, listRotations, pollUntil, requireKey, resolveKmsEntry, sendWithoutLimitRetry } from "../lib/keys/kms.js";
import type { OperationSpec } from "./pipeline.js";
import { awsFailure } from "../lib/targets.js";
import { formatLocal } from "../lib/time.js";
import type { OperationInput } from "./input.js";
import { lifecycleRender } from "./lifecycle-render.js";
import type { RotateResult } from "../lib/keys/results.js";

export const ON_DEMAND_LIMIT = 10;
/** A second on-demand rotation this soon is taken for a repeated command, not a new decision. */
const RECENT_ROTATION_MS = 3_600_000;

export async function build(ctx: Context, input: OperationInput): Promise<OperationSpec<RotateResult>> {
  const reason = requireReason(input, "rotate-key");
  const target = resolveKmsEntry(ctx, input.name);
  const key = await requireKey(ctx, target);
  const kms = ctx.aws.kms(key.region);
  let onDemandBefore = 0;

  return {
    operation: "rotate-key",
    target: key.arn,
    journalTarget: kmsJournalTarget(key),
    params: { name: target.name },
    reason,
    incident: input.incident,
    summary: `Rotate the key material of ${target.name} (${key.keyId}) in ${key.region} now (RotateKeyOnDemand)`,

    async preflight() {
      const now = await describeKeyId(kms, key.keyId);
      const facts = [`${target.name}: ${describeState(now)} (${key.region})`];
      if (now.KeyState !== "Enabled") {
        throw failure(`${target.name} is ${now.KeyState}: only an enabled key can be rotated`, {
          code: "state.invalid",
          hint: now.KeyState === "Disabled" ? `Enable it first (${command("enable", target.name, { reason: "..." })}), or generate a replacement.` : undefined,
        });
      }
      if (now.KeySpec !== "SYMMETRIC_DEFAULT" || now.Origin !== "AWS_KMS") {
        throw failure(`${target.name} is ${now.KeySpec} with ${now.Origin} key material: KMS rotates only symmetric keys it generated`, { code: "rotation.unsupported" });
      }
      const rotations = await listRotations(kms, key.keyId).catch((error: unknown) => {
        throw awsFailure(error, `ListKeyRotations ${key.keyId}`);
      });
      const onDemand = rotations.filter((r) => r.RotationType === "ON_DEMAND");
      onDemandBefore = onDemand.length;
      facts.push(`${rotations.length} rotation(s) so far, ${onDemand.length} of them on demand (KMS allows ${ON_DEMAND_LIMIT})`);
      if (rotations[0]?.RotationDate) facts.push(`last rotation ${formatLocal(rotations[0].RotationDate)} (${rotations[0].RotationType})`);
      if (onDemand.length >= ON_DEMAND_LIMIT) {
        throw failure(`${target.name} has used all ${ON_DEMAND_LIMIT} on-demand rotations KMS allows per key`, {
          code: "rotation.limit",
          hint: "Automatic rotation keeps working. For fresh key material now, generate a replacement key and re-encrypt.",
        });
      }
      const last = onDemand[0]?.RotationDate;
      if (last && Date.now() - last.getTime() < RECENT_ROTATION_MS) {
        return { facts, noop: `${target.name} was rotated on demand at ${formatLocal(last)}, less than an hour ago: not rotating again.` };
      }
      return { facts };
    },

    async execute() {
      const requestedAt = new Date().toISOString();
      try {
        await sendWithoutLimitRetry(kms, new RotateKeyOnDemandCommand({ KeyId: key.keyId }), `RotateKeyOnDemand ${key.keyId}`);
      } catch (error) {
        if (awsErrorName(error) === "DropkeysError") throw error;
        throw awsFailure(error, `RotateKeyOnDemand ${key.keyId} in ${key.region}`);
      }
      return { keyId: key.keyId, region: key.region, requestedAt, onDemandBefore };
    },

    async verify(result) {
      // AWS lists an on-demand rotation once it completes (usually seconds): wait for it, bounded.
      const progress = ctx.out.progress(`waiting for KMS to list the rotation of ${target.name}`);
      const poll = await pollUntil(
        async () => {
          const onDemand = (await listRotations(kms, result.keyId)).filter((r) => r.RotationType === "ON_DEMAND");
          return { done: onDemand.length > result.onDemandBefore, value: onDemand, status: `${onDemand.length} on-demand rotation(s) listed` };
        },
        { timeoutMs: ctx.policy.disableVerifyTimeout, initialDelayMs: 250, onWait: (_a, elapsed, last) => progress.update(`waiting for KMS to list the rotation (${Math.round(elapsed / 1000)} s: ${last})`) },
      );
      progress.done();
      const onDemand = poll.value;
      const newest = onDemand[0]?.RotationDate;
      const passed = poll.done;
      return {
        method: "ListKeyRotations: a new ON_DEMAND rotation is listed",
        result: passed ? "passed" : "failed",
        detail: passed
          ? `${onDemand.length} on-demand rotation(s) now (was ${result.onDemandBefore}), newest ${newest?.toISOString()}; ${ON_DEMAND_LIMIT - onDemand.length} left`
          : `no new on-demand rotation listed (still ${onDemand.length})`,
        checkedAt: new Date().toISOString(),
        onDemandRotations: onDemand.length,
      };
    },

    async onFailure(error) {
      const state = await stateAfterFailure(ctx, key);
      if ((error as { code?: string }).code === "aws.LimitExceededException") {
        return { state: `${state.text}; the key was not rotated: the on-demand limit is reached`, next: ["dropkeys status"] };
      }
      return { state: `${state.text}; whether it was rotated: check with ListKeyRotations (\`dropkeys status\`)`, next: [command("rotate-key", target.name, { reason })] };
    },

    outcomeDetails(result) {
      return { keyId: result.keyId, onDemandBefore: result.onDemandBefore };
    },
  };
}

/** `dropkeys apply` renders this operation as `dropkeys rotate-key` does. */
export const render = lifecycleRender("rotate-key");
