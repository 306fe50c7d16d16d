// `schedule-deletion`: destruction (POLICY.md §6). KMS keys: ScheduleKeyDeletion with a 7-30 day
// waiting period, then verify PendingDeletion, the deletion date, and that a canary ciphertext no
// longer decrypts. Secrets: DeleteSecret with the same recovery window. The journal entries carry
// key id, dates, reason, verification method and result, and actor (internkontroll.md renders them).
import { LookupEventsCommand } from "@aws-sdk/client-cloudtrail";
import { ScheduleKeyDeletionCommand } from "@aws-sdk/client-kms";
import { DeleteSecretCommand, GetSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import type { Context } from "../lib/context.js";
import { awsErrorName, failure, usageError } from "../lib/errors.js";
import type { JournalVerification } from "../lib/journal/journal.js";
import { command, kmsJournalTarget, requireReason, stateAfterFailure } from "../lib/keys/common.js";
import { canaryDecrypt, canaryEncrypt, canaryEncryptAttempt, canaryFromJournal, describeKeyId, describeState, pollUntil, requireKey, type KmsKeyTarget } from "../lib/keys/kms.js";
import type { OperationSpec } from "./pipeline.js";
import { registerSecret } from "../lib/sensitive.js";
import { aliasOf, awsFailure, describeSecret, resolveEntry, type Target } from "../lib/targets.js";
import { formatLocal } from "../lib/time.js";
import type { OperationInput } from "./input.js";
import { lifecycleRender } from "./lifecycle-render.js";
import type { ScheduleResult } from "../lib/keys/results.js";

export const MIN_DAYS = 7;
export const MAX_DAYS = 30;
export const DEFAULT_DAYS = 30;

/** The waiting period: an integer 7-30 (AWS's bounds), else exit 2 before anyone is asked. */
export function parseDays(value: unknown): number {
  if (value === undefined) return DEFAULT_DAYS;
  const days = typeof value === "number" ? value : Number(String(value).trim());
  if (!Number.isInteger(days) || days < MIN_DAYS || days > MAX_DAYS) {
    throw usageError(`--days must be a whole number from ${MIN_DAYS} to ${MAX_DAYS}, got ${String(value)}`, {
      code: "usage.deletion-window",
      hint: `AWS keeps a key ${MIN_DAYS}-${MAX_DAYS} days before deleting it; the policy's default is ${DEFAULT_DAYS}.`,
    });
  }
  return days;
}

/** What a person types to confirm a deletion: the key's alias (or the secret's name). */
export function confirmationText(target: Target): string {
  return target.entry.kind === "kms-key" ? aliasOf(target.name) : target.name;
}

export function confirmationMatches(target: Target, typed: string): boolean {
  const t = typed.trim();
  return t === confirmationText(target) || t === target.name;
}

export function ruleFor(target: Target): string {
  return target.entry.litigationHold ? "schedule-deletion-under-hold" : "schedule-deletion";
}

export async function build(ctx: Context, input: OperationInput): Promise<OperationSpec<ScheduleResult>> {
  const reason = requireReason(input, "schedule-deletion");
  const target = resolveEntry(ctx, input.name, ["kms-key", "secret", "signing-key"]);
  const days = parseDays(input.params.days);
  if (target.entry.kind === "kms-key") return buildKms(ctx, input, target as KmsKeyTarget, days, reason);
  return buildSecret(ctx, input, target, days, reason);
}

async function buildKms(ctx: Context, input: OperationInput, target: KmsKeyTarget, days: number, reason: string): Promise<OperationSpec<ScheduleResult>> {
  const key = await requireKey(ctx, target);
  const kms = ctx.aws.kms(key.region);
  const again = command("schedule-deletion", target.name, { days, reason, confirm: aliasOf(target.name), ...(input.incident ? { incident: input.incident } : {}) });
  return {
    operation: "schedule-deletion",
    rule: ruleFor(target),
    target: key.arn,
    journalTarget: kmsJournalTarget(key),
    params: { name: target.name, days },
    reason,
    incident: input.incident,
    summary: `Schedule DELETION of ${target.name} (${key.keyId}) in ${key.region} after ${days} days${target.entry.litigationHold ? " (under litigation hold)" : ""}`,

    async preflight() {
      const now = await describeKeyId(kms, key.keyId);
      const facts = [`${target.name}: ${describeState(now)} (${key.region})`];
      if (now.KeyState === "PendingDeletion") {
        return { facts, noop: `${target.name} is already pending deletion${now.DeletionDate ? `, deletion on ${formatLocal(now.DeletionDate)}` : ""}: nothing to do.` };
      }
      facts.push(await lastDecrypt(ctx, key.region, key.arn));
      facts.push(`Deletion would be on about ${formatLocal(new Date(Date.now() + days * 86_400_000))}; until then \`dropkeys cancel-deletion ${target.name}\` can undo it`);
      if (target.entry.litigationHold) facts.push("Under litigation hold: Legal must approve too");
      const warnings =
        now.KeyState === "Enabled"
          ? [`${target.name} is still enabled: whatever it encrypted becomes unreadable once it is deleted. Disabling it first shows who still needs it.`]
          : [];
      return { facts, warnings };
    },

    async execute() {
      // A ciphertext made while the key works, to prove after scheduling that it no longer decrypts.
      let canary: string | undefined;
      let canarySource = "none: no canary ciphertext kept for this key";
      const state = (await describeKeyId(kms, key.keyId).catch(() => key.key)).KeyState;
      if (state === "Enabled" && key.key.KeyUsage === "ENCRYPT_DECRYPT") {
        try {
          canary = await canaryEncrypt(kms, key.keyId);
          canarySource = "made just before scheduling";
        } catch (error) {
          canarySource = `none: canary Encrypt failed (${awsErrorName(error) ?? "error"})`;
        }
      }
      if (!canary) {
        canary = canaryFromJournal(ctx, key.keyId);
        if (canary) canarySource = "kept in the journal (from generate, disable or enable)";
      }
      let deletionDate: Date | undefined;
      try {
        const out = await kms.send(new ScheduleKeyDeletionCommand({ KeyId: key.keyId, PendingWindowInDays: days }));
        deletionDate = out.DeletionDate;
      } catch (error) {
        throw awsFailure(error, `ScheduleKeyDeletion ${key.keyId} in ${key.region}`);
      }
      return { id: key.keyId, deletionDate: (deletionDate ?? new Date(Date.now() + days * 86_400_000)).toISOString(), days, canary, canarySource };
    },

    async verify(result): Promise<JournalVerification> {
      // The new state can take a moment to reach every KMS host: poll, bounded like a disable.
      const poll = await pollUntil(
        async () => {
          const meta = await describeKeyId(kms, key.keyId);
          const check = result.canary ? await canaryDecrypt(kms, result.canary, key.keyId) : await canaryEncryptAttempt(kms, key.keyId);
          const done = meta.KeyState === "PendingDeletion" && !!meta.DeletionDate && check.outcome === "refused";
          return { done, value: { meta, check }, status: `${meta.KeyState}, ${check.outcome}` };
        },
        { timeoutMs: ctx.policy.disableVerifyTimeout, initialDelayMs: 250 },
      );
      const { meta, check } = poll.value;
      const date = meta.DeletionDate?.toISOString();
      const what = result.canary ? "canary Decrypt" : "Encrypt";
      const refused = check.outcome === "refused";
      const passed = poll.done;
      return {
        method: `DescribeKey (KeyState, DeletionDate), then a ${what} that must be refused (DisabledException or KMSInvalidStateException)`,
        result: passed ? "passed" : "failed",
        detail:
          `key ${key.keyId}: KeyState ${meta.KeyState}, deletion date ${date ?? "missing"}; ` +
          `${what} ${refused ? `refused (${check.error})` : check.outcome === "decrypted" ? "STILL SUCCEEDED" : `failed unexpectedly (${check.error})`} at ${check.at}` +
          (result.canary ? ` (canary ${result.canarySource})` : ` (${result.canarySource})`),
        checkedAt: new Date().toISOString(),
        keyId: key.keyId,
        deletionDate: date,
      };
    },

    async onFailure() {
      const state = await stateAfterFailure(ctx, key);
      return {
        state: state.text,
        next: state.metadata?.KeyState === "PendingDeletion" ? [`dropkeys status`] : [again],
      };
    },

    outcomeDetails(result) {
      return { keyId: result.id, deletionDate: result.deletionDate, days: result.days, canarySource: result.canarySource };
    },
  };
}

async function buildSecret(ctx: Context, input: OperationInput, target: Target, days: number, reason: string): Promise<OperationSpec<ScheduleResult>> {
  const found = await describeSecret(ctx, target);
  if (!found.secret?.ARN) {
    throw failure(`secret ${target.name} does not exist in ${target.region}`, { code: "target.not-found" });
  }
  const arn = found.secret.ARN;
  const client = ctx.aws.secrets(target.region);
  return {
    operation: "schedule-deletion",
    rule: ruleFor(target),
    target: arn,
    journalTarget: { name: target.name, arn, region: target.region, kind: target.entry.kind },
    params: { name: target.name, days },
    reason,
    incident: input.incident,
    summary: `Schedule DELETION of secret ${target.name} in ${target.region} after a ${days}-day recovery window`,

    async preflight() {
      const now = await describeSecret(ctx, target);
      const facts = [`secret ${target.name} (${target.region})${now.secret?.LastAccessedDate ? `, last read ${formatLocal(now.secret.LastAccessedDate)}` : ""}`];
      if (now.secret?.DeletedDate) return { facts, noop: `${target.name} is already scheduled for deletion (marked ${formatLocal(now.secret.DeletedDate)}): nothing to do.` };
      return { facts };
    },

    async execute() {
      try {
        const out = await client.send(new DeleteSecretCommand({ SecretId: arn, RecoveryWindowInDays: days }));
        return { id: arn, deletionDate: (out.DeletionDate ?? new Date(Date.now() + days * 86_400_000)).toISOString(), days, canarySource: "secret: GetSecretValue must be refused" };
      } catch (error) {
        throw awsFailure(error, `DeleteSecret ${target.name}`);
      }
    },

    async verify(result): Promise<JournalVerification> {
      const now = await describeSecret(ctx, target);
      let read: string;
      try {
        const value = await client.send(new GetSecretValueCommand({ SecretId: arn, VersionStage: "AWSCURRENT" }));
        // Still readable: the value must never go anywhere, so register it before dropping it.
        if (value.SecretString) registerSecret(value.SecretString);
        read = "STILL SUCCEEDED";
      } catch (error) {
        read = `refused (${awsErrorName(error) ?? "error"})`;
      }
      const passed = !!now.secret?.DeletedDate && read.startsWith("refused");
      return {
        method: "DescribeSecret (DeletedDate), then a GetSecretValue that must be refused",
        result: passed ? "passed" : "failed",
        detail: `secret ${arn}: ${now.secret?.DeletedDate ? `marked deleted ${now.secret.DeletedDate.toISOString()}` : "not marked deleted"}, deletion date ${result.deletionDate}; GetSecretValue ${read}`,
        checkedAt: new Date().toISOString(),
        deletionDate: result.deletionDate,
      };
    },

    async onFailure() {
      const now = await describeSecret(ctx, target).catch(() => undefined);
      return {
        state: now === undefined ? "unknown: Secrets Manager could not be asked" : now.secret?.DeletedDate ? `${target.name} is scheduled for deletion` : `${target.name} still exists and is not scheduled for deletion`,
        next: [command("schedule-deletion", target.name, { days, reason, confirm: target.name })],
      };
    },

    outcomeDetails(result) {
      return { deletionDate: result.deletionDate, days: result.days };
    },
  };
}

/** When CloudTrail last saw a Decrypt with this key: a key still in use should not be deleted blindly. */
async function lastDecrypt(ctx: Context, region: string, arn: string): Promise<string> {
  try {
    const out = await ctx.aws.cloudtrail(region).send(
      new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: "ResourceName", AttributeValue: arn }], MaxResults: 50 }),
      { abortSignal: AbortSignal.timeout(5_000) },
    );
    const decrypt = (out.Events ?? []).find((e) => e.EventName === "Decrypt" || e.EventName === "GenerateDataKey");
    if (decrypt?.EventTime) return `Last ${decrypt.EventName} seen by CloudTrail: ${formatLocal(decrypt.EventTime)} by ${decrypt.Username ?? "unknown"}`;
    return `CloudTrail shows no Decrypt with this key among its ${out.Events?.length ?? 0} most recent events (90 days at most)`;
  } catch (error) {
    const name = awsErrorName(error) ?? "error";
    // An endpoint without LookupEvents (an emulator, a proxy) answers with something that is not JSON.
    return `Last decrypt: unknown (CloudTrail LookupEvents ${name === "SyntaxError" ? "is not available at this endpoint" : `failed: ${name}`})`;
  }
}

/** `dropkeys apply` renders this operation as `dropkeys schedule-deletion` does. */
export const render = lifecycleRender("schedule-deletion");
