// KMS facts and checks the key lifecycle operations share: key lookup with a helpful "not found",
// canary ciphertexts, state polling with backoff, rotation history, and a send() for calls whose
// error must not be retried as throttling.
import {
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  ListKeyRotationsCommand,
  type KeyMetadata,
  type KMSClient,
  type RotationsListEntry,
} from "@aws-sdk/client-kms";
import type { Context } from "../context.js";
import { awsErrorName, DropkeysError, failure } from "../errors.js";
import type { KmsKeyEntry } from "../policy/schema.js";
import { aliasOf, awsFailure, describeKmsKey, resolveEntry, type Target } from "../targets.js";
import { formatLocal } from "../time.js";

/** Encryption context of every canary: the key policy lets admins decrypt only ciphertexts bound to it. */
export const CANARY_CONTEXT = { "dropkeys-canary": "1" } as const;
const CANARY_TEXT = "dropkeys canary: not a secret";

export interface KmsKeyTarget extends Target {
  entry: KmsKeyEntry;
}

export interface ExistingKey extends KmsKeyTarget {
  key: KeyMetadata;
  keyId: string;
  arn: string;
}

/** The inventory entry of a KMS key (exit 2 when unknown or of another kind). */
export function resolveKmsEntry(ctx: Context, name: string): KmsKeyTarget {
  return resolveEntry(ctx, name, ["kms-key"]) as KmsKeyTarget;
}

/** The key behind alias/NAME in its region; exit 1 naming the region (and where it is instead) when absent. */
export async function requireKey(ctx: Context, target: KmsKeyTarget): Promise<ExistingKey> {
  const found = await describeKmsKey(ctx, target);
  if (found.key?.KeyId && found.key.Arn) return { ...target, key: found.key, keyId: found.key.KeyId, arn: found.key.Arn };
  const elsewhere = await findAliasElsewhere(ctx, target);
  throw failure(`${aliasOf(target.name)} does not exist in ${target.region}${elsewhere ? `, but it exists in ${elsewhere}` : ""}`, {
    code: elsewhere ? "target.wrong-region" : "target.not-found",
    hint: elsewhere
      ? `The policy puts ${target.name} in ${target.region}. Fix the entry's region in the policy, or create the key where the policy says.`
      : `Create it with \`dropkeys generate ${target.name}\`.`,
    details: { name: target.name, region: target.region, ...(elsewhere ? { foundIn: elsewhere } : {}) },
  });
}

/** Another region of the policy where the alias exists: a key made in the wrong region is a common slip. */
async function findAliasElsewhere(ctx: Context, target: KmsKeyTarget): Promise<string | undefined> {
  const regions = new Set([ctx.policy.region, ...ctx.policy.inventory.map((e) => e.region ?? ctx.policy.region)]);
  regions.delete(target.region);
  for (const region of regions) {
    try {
      const found = await describeKmsKey(ctx, { ...target, region });
      if (found.key) return region;
    } catch {
      /* that region is unreachable: it only refines the message */
    }
  }
  return undefined;
}

/** Read the key's metadata again (by key id, which every KMS implementation accepts). */
export async function describeKeyId(kms: KMSClient, keyId: string): Promise<KeyMetadata> {
  const out = await kms.send(new DescribeKeyCommand({ KeyId: keyId }));
  if (!out.KeyMetadata) throw failure(`DescribeKey ${keyId} returned no metadata`);
  return out.KeyMetadata;
}

/** One line on the key's state for preflight facts. */
export function describeState(key: KeyMetadata): string {
  const parts = [`${key.KeyId} is ${key.KeyState}`];
  if (key.DeletionDate) parts.push(`deletion on ${formatLocal(key.DeletionDate)}`);
  if (key.KeySpec) parts.push(`${key.KeySpec}/${key.KeyUsage}`);
  return parts.join(", ");
}

/** A canary ciphertext (base64) made with the key while it is usable; not secret (its plaintext is fixed). */
export async function canaryEncrypt(kms: KMSClient, keyId: string): Promise<string> {
  const out = await kms.send(
    new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from(CANARY_TEXT, "utf8"), EncryptionContext: { ...CANARY_CONTEXT } }),
  );
  return Buffer.from(out.CiphertextBlob!).toString("base64");
}

export interface CanaryResult {
  /** "decrypted" when KMS answered with the canary text; otherwise the error name. */
  outcome: "decrypted" | "refused" | "error";
  error?: string | undefined;
  at: string;
}

/**
 * Decrypt a canary ciphertext: "refused" when KMS says the key is disabled or pending deletion.
 * With `keyId` KMS names the key's state in its answer (AWS's recommended form); without it,
 * a KMS may hide the state behind AccessDeniedException (local-kms does), which proves nothing.
 */
export async function canaryDecrypt(kms: KMSClient, ciphertext: string, keyId?: string): Promise<CanaryResult> {
  const at = new Date().toISOString();
  try {
    const out = await kms.send(
      new DecryptCommand({ CiphertextBlob: Buffer.from(ciphertext, "base64"), EncryptionContext: { ...CANARY_CONTEXT }, ...(keyId ? { KeyId: keyId } : {}) }),
    );
    const text = Buffer.from(out.Plaintext ?? new Uint8Array()).toString("utf8");
    return text === CANARY_TEXT ? { outcome: "decrypted", at } : { outcome: "error", error: "wrong plaintext", at };
  } catch (error) {
    const name = awsErrorName(error) ?? "Error";
    return { outcome: isUnusableKeyError(name) ? "refused" : "error", error: name, at };
  }
}

/** A fresh Encrypt attempt: "refused" when the key cannot be used. */
export async function canaryEncryptAttempt(kms: KMSClient, keyId: string): Promise<CanaryResult> {
  const at = new Date().toISOString();
  try {
    await canaryEncrypt(kms, keyId);
    return { outcome: "decrypted", at };
  } catch (error) {
    const name = awsErrorName(error) ?? "Error";
    return { outcome: isUnusableKeyError(name) ? "refused" : "error", error: name, at };
  }
}

/** AWS answers either for a key that cannot be used (disabled, or pending deletion). */
export function isUnusableKeyError(name: string | undefined): boolean {
  return name === "DisabledException" || name === "KMSInvalidStateException";
}

/** The newest canary ciphertext the journal holds for this key (kept by generate, disable, enable). */
export function canaryFromJournal(ctx: Context, keyId: string): string | undefined {
  const entries = ctx.journal().entries();
  for (let i = entries.length - 1; i >= 0; i--) {
    const details = entries[i]!.details;
    if (details && details.keyId === keyId && typeof details.canary === "string") return details.canary;
  }
  return undefined;
}

export interface PollOptions {
  timeoutMs: number;
  /** First wait; doubles up to maxDelayMs. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  onWait?: (attempt: number, elapsedMs: number, last: string) => void;
  sleep?: (ms: number) => Promise<void>;
}

export interface PollResult<T> {
  done: boolean;
  value: T;
  attempts: number;
  elapsedMs: number;
}

/**
 * Call `probe` until it reports done or the time is up, waiting with exponential backoff.
 * KMS applies DisableKey eventually, so a verification must wait for it rather than fail at once.
 */
export async function pollUntil<T>(probe: () => Promise<{ done: boolean; value: T; status: string }>, options: PollOptions): Promise<PollResult<T>> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const started = Date.now();
  let delay = options.initialDelayMs ?? 500;
  const maxDelay = options.maxDelayMs ?? 15_000;
  for (let attempt = 1; ; attempt++) {
    const result = await probe();
    const elapsedMs = Date.now() - started;
    if (result.done) return { done: true, value: result.value, attempts: attempt, elapsedMs };
    if (elapsedMs + delay > options.timeoutMs) {
      // One last look at the deadline itself, so a bound is a bound and not "bound minus a backoff".
      const remaining = options.timeoutMs - elapsedMs;
      if (remaining <= 0) return { done: false, value: result.value, attempts: attempt, elapsedMs };
      delay = remaining;
    }
    options.onWait?.(attempt, elapsedMs, result.status);
    await sleep(delay);
    delay = Math.min(delay * 2, maxDelay);
  }
}

/** Rotation history (newest first); undefined where the KMS implementation lacks ListKeyRotations. */
export async function listRotations(kms: KMSClient, keyId: string): Promise<RotationsListEntry[]> {
  const all: RotationsListEntry[] = [];
  let marker: string | undefined;
  do {
    const out = await kms.send(new ListKeyRotationsCommand({ KeyId: keyId, ...(marker ? { Marker: marker } : {}) }));
    all.push(...(out.Rotations ?? []));
    marker = out.Truncated ? out.NextMarker : undefined;
  } while (marker);
  return all.sort((a, b) => (b.RotationDate?.getTime() ?? 0) - (a.RotationDate?.getTime() ?? 0));
}

/** Error names that mean a limit, not throttling: retrying cannot help and only hides the answer. */
const NOT_THROTTLING = new Set(["LimitExceededException"]);

/**
 * Send a command so that a LimitExceededException reaches us at once instead of being retried:
 * the SDK classifies it as throttling, but for RotateKeyOnDemand it means "10 rotations used".
 * The error is turned into a DropkeysError inside the retry loop, which the SDK does not retry.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function sendWithoutLimitRetry<T>(kms: KMSClient, command: any, call: string): Promise<T> {
  command.middlewareStack.add(
    (next: (args: unknown) => Promise<unknown>) => async (args: unknown) => {
      try {
        return await next(args);
      } catch (error) {
        if (NOT_THROTTLING.has(awsErrorName(error) ?? "")) throw limitError(error, call);
        throw error;
      }
    },
    { step: "finalizeRequest", priority: "low", name: "dropkeysNoLimitRetry" },
  );
  return (await kms.send(command)) as T;
}

function limitError(error: unknown, call: string): DropkeysError {
  const err = awsFailure(error, call);
  return new DropkeysError("failed", err.message, {
    code: "aws.LimitExceededException",
    hint: "KMS allows at most 10 on-demand rotations per key. Automatic rotation keeps working; for a fresh key, generate a new one and re-encrypt.",
    details: { call, awsError: "LimitExceededException" },
    cause: error,
  });
}
