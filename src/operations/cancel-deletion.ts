// `cancel-deletion`: stop a scheduled deletion. KMS: CancelKeyDeletion, after which the key is
// Disabled (not Enabled), and the output says so. Secrets: RestoreSecret.
import { CancelKeyDeletionCommand } from "@aws-sdk/client-kms";
import { RestoreSecretCommand } from "@aws-sdk/client-secrets-manager";
import type { Context } from "../lib/context.js";
import { failure } from "../lib/errors.js";
import type { JournalVerification } from "../lib/journal/journal.js";
import { command, kmsJournalTarget, requireReason, stateAfterFailure } from "../lib/keys/common.js";
import { describeKeyId, describeState, requireKey, type KmsKeyTarget } from "../lib/keys/kms.js";
import type { OperationSpec } from "./pipeline.js";
import { awsFailure, describeSecret, resolveEntry, type Target } from "../lib/targets.js";
import type { OperationInput } from "./input.js";
import { lifecycleRender } from "./lifecycle-render.js";
import type { CancelResult } from "../lib/keys/results.js";

export async function build(ctx: Context, input: OperationInput): Promise<OperationSpec<CancelResult>> {
  const reason = requireReason(input, "cancel-deletion");
  const target = resolveEntry(ctx, input.name, ["kms-key", "secret", "signing-key"]);
  if (target.entry.kind === "kms-key") return buildKms(ctx, input, target as KmsKeyTarget, reason);
  return buildSecret(ctx, input, target, reason);
}

async function buildKms(ctx: Context, input: OperationInput, target: KmsKeyTarget, reason: string): Promise<OperationSpec<CancelResult>> {
  const key = await requireKey(ctx, target);
  const kms = ctx.aws.kms(key.region);
  return {
    operation: "cancel-deletion",
    target: key.arn,
    journalTarget: kmsJournalTarget(key),
    params: { name: target.name },
    reason,
    incident: input.incident,
    summary: `Cancel the scheduled deletion of ${target.name} (${key.keyId}) in ${key.region}; it stays disabled`,

    async preflight() {
      const now = await describeKeyId(kms, key.keyId);
      const facts = [`${target.name}: ${describeState(now)} (${key.region})`];
      if (now.KeyState !== "PendingDeletion") return { facts, noop: `${target.name} is not pending deletion (it is ${now.KeyState}): nothing to cancel.` };
      return { facts };
    },

    async execute() {
      try {
        await kms.send(new CancelKeyDeletionCommand({ KeyId: key.keyId }));
      } catch (error) {
        throw awsFailure(error, `CancelKeyDeletion ${key.keyId} in ${key.region}`);
      }
      return { id: key.keyId, kind: "kms-key", state: "Disabled" };
    },

    async verify(result): Promise<JournalVerification> {
      const meta = await describeKeyId(kms, key.keyId);
      result.state = meta.KeyState ?? "unknown";
      const passed = meta.KeyState === "Disabled" && !meta.DeletionDate;
      return {
        method: "DescribeKey: KeyState Disabled and no deletion date",
        result: passed ? "passed" : "failed",
        detail: `key ${key.keyId}: KeyState ${meta.KeyState}${meta.DeletionDate ? `, deletion date ${meta.DeletionDate.toISOString()}` : ", no deletion date"}`,
        checkedAt: new Date().toISOString(),
      };
    },

    async onFailure() {
      const state = await stateAfterFailure(ctx, key);
      return { state: state.text, next: state.metadata?.KeyState === "PendingDeletion" ? [command("cancel-deletion", target.name, { reason })] : ["dropkeys status"] };
    },

    outcomeDetails(result) {
      return { keyId: result.id, state: result.state };
    },
  };
}

async function buildSecret(ctx: Context, input: OperationInput, target: Target, reason: string): Promise<OperationSpec<CancelResult>> {
  const found = await describeSecret(ctx, target);
  if (!found.secret?.ARN) throw failure(`secret ${target.name} does not exist in ${target.region}`, { code: "target.not-found" });
  const arn = found.secret.ARN;
  const client = ctx.aws.secrets(target.region);
  return {
    operation: "cancel-deletion",
    target: arn,
    journalTarget: { name: target.name, arn, region: target.region, kind: target.entry.kind },
    params: { name: target.name },
    reason,
    incident: input.incident,
    summary: `Restore secret ${target.name} in ${target.region} (cancel its scheduled deletion)`,

    async preflight() {
      const now = await describeSecret(ctx, target);
      const facts = [`secret ${target.name} (${target.region})`];
      if (!now.secret?.DeletedDate) return { facts, noop: `${target.name} is not scheduled for deletion: nothing to cancel.` };
      return { facts };
    },

    async execute() {
      try {
        await client.send(new RestoreSecretCommand({ SecretId: arn }));
      } catch (error) {
        throw awsFailure(error, `RestoreSecret ${target.name}`);
      }
      return { id: arn, kind: target.entry.kind, state: "Active" };
    },

    async verify(): Promise<JournalVerification> {
      const now = await describeSecret(ctx, target);
      const passed = !!now.secret && !now.secret.DeletedDate;
      return {
        method: "DescribeSecret: no DeletedDate",
        result: passed ? "passed" : "failed",
        detail: passed ? `secret ${arn} restored` : `secret ${arn} is still marked deleted`,
        checkedAt: new Date().toISOString(),
      };
    },

    async onFailure() {
      return { state: "unknown: check with `dropkeys status`", next: [command("cancel-deletion", target.name, { reason })] };
    },
  };
}

/** `dropkeys apply` renders this operation as `dropkeys cancel-deletion` does. */
export const render = lifecycleRender("cancel-deletion");
