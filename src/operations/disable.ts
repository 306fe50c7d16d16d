// `disable`: emergency revocation of a KMS key (POLICY.md §5 step 3). DisableKey, then verify by
// polling until DescribeKey says Disabled and a canary Encrypt and Decrypt both fail: AWS applies
// DisableKey eventually, so the verification waits (with backoff, up to disableVerifyTimeout).
import { DisableKeyCommand } from "@aws-sdk/client-kms";
import type { Context } from "../lib/context.js";
import { awsErrorName, usageError } from "../lib/errors.js";
import type { JournalVerification } from "../lib/journal/journal.js";
import { command, kmsJournalTarget, requireReason, stateAfterFailure } from "../lib/keys/common.js";
import { canaryDecrypt, canaryEncrypt, canaryEncryptAttempt, describeKeyId, describeState, pollUntil, requireKey, resolveKmsEntry } from "../lib/keys/kms.js";
import { deadlinesFrom, isValidIncidentId, newIncidentId } from "../lib/incident/incident.js";
import type { OperationSpec } from "./pipeline.js";
import type { OperationInput } from "./input.js";
import { formatLocal } from "../lib/time.js";
import { awsFailure } from "../lib/targets.js";
import { lifecycleRender } from "./lifecycle-render.js";
import type { DisableResult } from "../lib/keys/results.js";

export function resolveIncident(ctx: Context, input: OperationInput, detectedAt: Date): string {
  const incident = input.incident ?? newIncidentId(detectedAt, ctx.policy.timezone);
  if (!isValidIncidentId(incident)) {
    throw usageError(`--incident "${incident}" is not an incident id`, { hint: "Use letters, digits, '-', '_' or '.', e.g. INC-20261123-1405." });
  }
  return incident;
}

function incidentDetectedAt(ctx: Context, incident: string): string | undefined {
  const found = ctx.journal().entries().find((e) => e.incident === incident && typeof e.params?.detectedAt === "string");
  return found?.params?.detectedAt as string | undefined;
}

export function detectedAtParam(value: unknown): string {
  if (value === undefined) return new Date().toISOString();
  const date = typeof value === "string" ? new Date(value) : undefined;
  if (!date || Number.isNaN(date.getTime())) throw usageError(`detectedAt "${String(value)}" is not a time`);
  return date.toISOString();
}

export async function build(ctx: Context, input: OperationInput): Promise<OperationSpec<DisableResult>> {
  const reason = requireReason(input, "disable");
  const target = resolveKmsEntry(ctx, input.name);
  // A disable under an existing incident keeps that incident's detection time, so its deadlines hold.
  const detectedAt = detectedAtParam(input.params.detectedAt ?? (input.incident ? incidentDetectedAt(ctx, input.incident) : undefined));
  if (new Date(detectedAt).getTime() > Date.now() + 60_000) throw usageError("--detected-at is in the future");
  const incident = resolveIncident(ctx, input, new Date(detectedAt));
  const key = await requireKey(ctx, target);
  const kms = ctx.aws.kms(key.region);
  let sent = false;

  return {
    operation: "disable",
    target: key.arn,
    journalTarget: kmsJournalTarget(key),
    params: { name: target.name, detectedAt },
    reason,
    incident,
    summary: `Disable ${target.name} (${key.keyId}) in ${key.region} now: emergency revocation, incident ${incident}`,

    async preflight() {
      const now = await describeKeyId(kms, key.keyId);
      const deadlines = deadlinesFrom(new Date(detectedAt));
      const facts = [
        `${target.name}: ${describeState(now)} (${key.region})`,
        `Incident ${incident}, detected ${formatLocal(new Date(detectedAt))}`,
        `GDPR Art. 33 notification due ${formatLocal(deadlines.breachNotification)}; post-mortem due ${formatLocal(deadlines.postMortem)}`,
      ];
      if (now.KeyState === "Disabled") return { facts, noop: `${target.name} is already disabled: nothing to do.` };
      if (now.KeyState === "PendingDeletion") return { facts, noop: `${target.name} is pending deletion: it cannot be used already; nothing to disable.` };
      return { facts };
    },

    async execute() {
      // The canary must be made while the key still works; it proves the disable later.
      // A canary that cannot be made (no permission, not an encryption key) must not delay an
      // emergency disable: the verification then rests on the key state alone, and says so.
      let canary: string | undefined;
      let canaryProblem: string | undefined = key.key.KeyUsage === "ENCRYPT_DECRYPT" ? undefined : `a ${key.key.KeyUsage} key`;
      if (!canaryProblem) {
        try {
          canary = await canaryEncrypt(kms, key.keyId);
        } catch (error) {
          canaryProblem = `canary Encrypt failed: ${awsErrorName(error) ?? "error"}`;
        }
      }
      sent = true;
      try {
        await kms.send(new DisableKeyCommand({ KeyId: key.keyId }));
      } catch (error) {
        throw awsFailure(error, `DisableKey ${key.keyId} in ${key.region}`);
      }
      return { keyId: key.keyId, arn: key.arn, region: key.region, canary, canaryProblem, disabledAt: new Date().toISOString() };
    },

    async verify(result) {
      return verifyDisabled(ctx, result, target.name);
    },

    async onFailure() {
      const state = await stateAfterFailure(ctx, key);
      const again = command("disable", target.name, { reason, incident, "detected-at": detectedAt });
      return {
        state: `${state.text}${sent ? "" : " (DisableKey was not sent)"}`,
        next: state.metadata?.KeyState === "Disabled" ? [`dropkeys status`, `dropkeys incident show ${incident}`] : [again],
      };
    },

    outcomeDetails(result) {
      return { keyId: result.keyId, detectedAt, ...(result.canary ? { canary: result.canary } : {}) };
    },
  };
}

/** Poll until KMS shows the key disabled and unusable, or policy.disableVerifyTimeout passes. */
async function verifyDisabled(ctx: Context, result: DisableResult, name: string): Promise<JournalVerification> {
  const kms = ctx.aws.kms(result.region);
  const progress = ctx.out.progress(`waiting for KMS to apply DisableKey to ${name}`);
  const started = Date.now();
  interface Checks {
    state: { value: string; at: string };
    encrypt?: { outcome: string; error?: string | undefined; at: string };
    decrypt?: { outcome: string; error?: string | undefined; at: string };
  }
  const poll = await pollUntil<Checks>(
    async () => {
      const at = new Date().toISOString();
      let state: string;
      try {
        state = (await describeKeyId(kms, result.keyId)).KeyState ?? "unknown";
      } catch (error) {
        state = `DescribeKey failed (${awsErrorName(error) ?? "error"})`;
      }
      const encrypt = result.canary ? await canaryEncryptAttempt(kms, result.keyId) : undefined;
      const decrypt = result.canary ? await canaryDecrypt(kms, result.canary, result.keyId) : undefined;
      const checks: Checks = { state: { value: state, at }, ...(encrypt ? { encrypt } : {}), ...(decrypt ? { decrypt } : {}) };
      const done = state === "Disabled" && (!encrypt || encrypt.outcome === "refused") && (!decrypt || decrypt.outcome === "refused");
      return { done, value: checks, status: `KeyState ${state}${encrypt ? `, Encrypt ${encrypt.outcome}` : ""}${decrypt ? `, Decrypt ${decrypt.outcome}` : ""}` };
    },
    {
      timeoutMs: ctx.policy.disableVerifyTimeout,
      onWait: (attempt, elapsed, last) => progress.update(`waiting for KMS to apply DisableKey to ${name} (${Math.round(elapsed / 1000)} s, check ${attempt}: ${last})`),
    },
  );
  const c = poll.value;
  const describe = (what: string, r: { outcome: string; error?: string | undefined; at: string }) =>
    `${what} ${r.outcome === "refused" ? `refused (${r.error})` : r.outcome === "decrypted" ? "still succeeded" : `failed unexpectedly (${r.error})`} at ${r.at}`;
  const detail = [
    `KeyState ${c.state.value} at ${c.state.at}`,
    ...(c.encrypt && c.decrypt ? [describe("Encrypt", c.encrypt), describe("canary Decrypt", c.decrypt)] : [`key state only (${result.canaryProblem ?? "no canary"})`]),
    `after ${poll.attempts} check${poll.attempts === 1 ? "" : "s"} in ${Math.round((Date.now() - started) / 100) / 10} s`,
  ].join("; ");
  if (poll.done) progress.done(`KMS shows ${name} disabled`);
  else progress.fail(`${name} is not yet disabled after ${Math.round(ctx.policy.disableVerifyTimeout / 1000)} s`);
  return {
    method: result.canary
      ? "DescribeKey KeyState, then a canary Encrypt and Decrypt that must be refused (polled with backoff)"
      : "DescribeKey KeyState (polled with backoff)",
    result: poll.done ? "passed" : "failed",
    detail: poll.done ? detail : `not confirmed within ${Math.round(ctx.policy.disableVerifyTimeout / 1000)} s: ${detail}`,
    checkedAt: new Date().toISOString(),
    checks: c,
    attempts: poll.attempts,
  };
}

/** `dropkeys apply` renders this operation as `dropkeys disable` does. */
export const render = lifecycleRender("disable");
