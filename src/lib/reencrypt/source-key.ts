// --reenable-source: KMS cannot ReEncrypt from a disabled key, yet the compromise procedure
// disables the key (step 3) before re-encrypting (step 5). So the source key is enabled for the
// re-encryption only and disabled again afterwards, also when the re-encryption fails or is
// interrupted; each step is journalled, and a key left enabled (kill -9) is found in the journal
// by `sourceKeysLeftEnabled` (for `status` and the next reencrypt preflight).
import { DisableKeyCommand, EnableKeyCommand, type KMSClient } from "@aws-sdk/client-kms";
import { failure } from "../errors.js";
import type { Actor, Journal, JournalEntry, JournalRecord } from "../journal/journal.js";
import { describeKeyId, pollUntil } from "../keys/kms.js";
import type { KeyRef } from "./engine.js";

export const ENABLE_SOURCE = "reencrypt-enable-source";
export const DISABLE_SOURCE = "reencrypt-disable-source";

export interface SourceKeyOptions {
  kms: KMSClient;
  key: KeyRef & { name: string; region: string };
  journal: Pick<Journal, "append">;
  actor: Actor;
  requestId: string;
  reason?: string | undefined;
  incident?: string | undefined;
  /** How long to wait until KMS reports the new state (it applies eventually on AWS). */
  timeoutMs: number;
  /** Writes the journal's new entries to its WORM mirror (before the AWS call each intent announces). */
  mirror?: () => Promise<void>;
}

export interface SourceKeySteps {
  enabledAt?: string;
  disabledAt?: string;
  disableError?: string;
  /** The key was found Enabled by an earlier, interrupted run of ours: this run only disables it. */
  inheritedFrom?: string;
  /** The run was stopped because the key had been enabled for `maxEnabledMs`. */
  stoppedAfterMs?: number;
}

export interface EnabledLimit {
  /** Longest time the key may stay enabled (policy reenableMaxDuration), counted from its enabling. */
  maxEnabledMs: number;
  /** When it was enabled, if an earlier run did it. */
  enabledSince?: Date | undefined;
  /** Called when the time is up: the run must stop (it is resumable). */
  onExpire: () => void;
}

/**
 * Enable the source key (unless an interrupted run of ours left it enabled), run fn, and disable
 * the key again whatever fn did. While fn runs, the key stays enabled at most `limit.maxEnabledMs`:
 * then fn is told to stop, and the key is disabled.
 */
export async function withSourceEnabled<T>(options: SourceKeyOptions, steps: SourceKeySteps, fn: () => Promise<T>, limit?: EnabledLimit): Promise<T> {
  if (steps.inheritedFrom === undefined) await changeState(options, "enable");
  const since = limit?.enabledSince ?? new Date();
  steps.enabledAt = since.toISOString();
  const timer = limit
    ? setTimeout(() => {
        steps.stoppedAfterMs = Date.now() - since.getTime();
        limit.onExpire();
      }, Math.max(0, since.getTime() + limit.maxEnabledMs - Date.now()))
    : undefined;
  let outcome: { ok: true; value: T } | { ok: false; error: unknown };
  try {
    outcome = { ok: true, value: await fn() };
  } catch (error) {
    outcome = { ok: false, error };
  } finally {
    clearTimeout(timer);
  }
  try {
    await changeState(options, "disable");
    steps.disabledAt = new Date().toISOString();
  } catch (error) {
    steps.disableError = (error as Error).message;
    const base = outcome.ok ? "" : ` The re-encryption had failed as well: ${(outcome.error as Error)?.message ?? String(outcome.error)}`;
    throw failure(`the source key ${options.key.name} (${options.key.keyId}) is LEFT ENABLED: disabling it again failed: ${(error as Error).message}.${base}`, {
      code: "reencrypt.source-left-enabled",
      hint: `Disable it now: aws kms disable-key --key-id ${options.key.keyId} --region ${options.key.region} (the alias may already name the new key, so \`dropkeys disable\` would not reach it).`,
      cause: error,
    });
  }
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}

async function changeState(options: SourceKeyOptions, action: "enable" | "disable"): Promise<void> {
  const { key, journal } = options;
  const operation = action === "enable" ? ENABLE_SOURCE : DISABLE_SOURCE;
  const wanted = action === "enable" ? "Enabled" : "Disabled";
  const target = { name: key.name, arn: key.arn, keyId: key.keyId, region: key.region, kind: "kms-key" };
  const intent = journal.append({
    type: "intent",
    operation,
    requestId: options.requestId,
    target,
    actor: options.actor,
    reason: options.reason,
    incident: options.incident,
    params: { keyId: key.keyId, for: "reencrypt --reenable-source" },
  });
  const close = (fields: Pick<JournalRecord, "outcome" | "verification" | "error" | "state">) =>
    journal.append({ type: "outcome", operation, requestId: options.requestId, intentSeq: intent.seq, target, actor: options.actor, ...fields });
  try {
    if (action === "enable") await options.mirror?.();
    else {
      // Disabling the compromised key again never waits for the mirror (as an emergency disable):
      // the next command writes what is missing.
      await options.mirror?.().catch((error: unknown) => process.stderr.write(`WARNING: the journal mirror could not be written (${(error as Error).message}); the source key is disabled all the same.\n`));
    }
    await retryNetworkErrors(() => options.kms.send(action === "enable" ? new EnableKeyCommand({ KeyId: key.keyId }) : new DisableKeyCommand({ KeyId: key.keyId })));
    const poll = await pollUntil(
      async () => {
        const state = (await describeKeyId(options.kms, key.keyId)).KeyState ?? "unknown";
        return { done: state === wanted, value: state, status: state };
      },
      { timeoutMs: options.timeoutMs, initialDelayMs: 100, maxDelayMs: 5_000 },
    );
    if (!poll.done) throw failure(`${action === "enable" ? "EnableKey" : "DisableKey"} ${key.keyId}: KMS still reports ${poll.value}`, { code: "reencrypt.key-state" });
    close({
      outcome: "succeeded",
      verification: { method: "DescribeKey KeyState", result: "passed", detail: `KeyState ${poll.value}`, checkedAt: new Date().toISOString() },
    });
  } catch (error) {
    close({
      outcome: "failed",
      error: { code: (error as Error).name ?? "Error", message: (error as Error).message ?? String(error) },
      state: action === "disable" ? `${key.keyId} may still be Enabled` : `${key.keyId} is still Disabled`,
    });
    throw error;
  }
}

/**
 * A connection reset or timeout before KMS answered (no HTTP status) is tried again a few times:
 * the call that disables a compromised key must not be lost to a dropped keep-alive connection,
 * also when the SDK's own retries are turned off (AWS_MAX_ATTEMPTS=1). Enable and Disable are
 * idempotent, so a repeat is harmless.
 */
async function retryNetworkErrors<T>(fn: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status !== undefined || attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
    }
  }
}

/**
 * Source keys that reencrypt --reenable-source enabled and that were not disabled again since
 * (the run was killed): newest enable per key without a later disable (by reencrypt or `disable`).
 */
export function sourceKeysLeftEnabled(entries: JournalEntry[]): { keyId: string; arn: string | undefined; since: string; requestId: string | undefined }[] {
  const open = new Map<string, JournalEntry>();
  const intents = new Map(entries.filter((e) => e.type === "intent").map((e) => [e.seq, e]));
  for (const entry of entries) {
    const keyId = String(entry.target?.keyId ?? "");
    if (!keyId) continue;
    const enabled = entry.operation === ENABLE_SOURCE && (entry.type === "intent" || entry.outcome === "succeeded");
    // An enable intent counts at once: the process may have died after EnableKey, before its outcome.
    if (enabled && entry.type === "intent") open.set(keyId, entry);
    else if (entry.operation === ENABLE_SOURCE && entry.type === "outcome" && entry.outcome === "failed") {
      const intent = entry.intentSeq !== undefined ? intents.get(entry.intentSeq) : undefined;
      if (intent && open.get(keyId) === intent) open.delete(keyId);
    } else if ((entry.operation === DISABLE_SOURCE || entry.operation === "disable") && entry.type === "outcome" && entry.outcome === "succeeded") {
      open.delete(keyId);
    }
  }
  return [...open.entries()].map(([keyId, e]) => ({ keyId, arn: e.target?.arn, since: e.time, requestId: e.requestId }));
}
