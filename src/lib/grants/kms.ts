// KMS grants as dropkeys sees them: every grant on a key (all pages), the operations a grant may
// allow, and which of them accept an encryption-context constraint.
import { ListGrantsCommand, type GrantListEntry, type GrantOperation, type KMSClient } from "@aws-sdk/client-kms";
import type { Context } from "../context.js";
import { usageError } from "../errors.js";
import type { JournalVerification } from "../journal/journal.js";
import { globToRegExp } from "../audit/rules.js";
import type { KmsKeyEntry, Policy } from "../policy/schema.js";

/** Grant operations dropkeys hands out. CreateGrant is not among them: a grantee could pass the key on outside dropkeys. */
export const GRANTABLE_OPERATIONS = [
  "Decrypt",
  "Encrypt",
  "GenerateDataKey",
  "GenerateDataKeyWithoutPlaintext",
  "GenerateDataKeyPair",
  "GenerateDataKeyPairWithoutPlaintext",
  "ReEncryptFrom",
  "ReEncryptTo",
  "Sign",
  "Verify",
  "GetPublicKey",
  "GenerateMac",
  "VerifyMac",
  "DescribeKey",
  "RetireGrant",
] as const;

/** AWS refuses an encryption-context constraint on a grant that allows any operation outside these. */
const CONTEXT_OPERATIONS = new Set(["Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo"]);

/** "Decrypt,GenerateDataKey" -> the sorted, checked list (exit 2 naming what is wrong). */
export function parseOperations(value: unknown): GrantOperation[] {
  const given = (Array.isArray(value) ? value.map(String) : String(value ?? "").split(",")).map((s) => s.trim()).filter(Boolean);
  if (!given.length) throw usageError("a grant needs --operations, e.g. --operations Decrypt,GenerateDataKey");
  const unknown = given.filter((op) => !(GRANTABLE_OPERATIONS as readonly string[]).includes(op));
  if (unknown.length) {
    throw usageError(`--operations: ${unknown.join(", ")} ${unknown.length === 1 ? "is" : "are"} not an operation dropkeys grants`, {
      code: "usage.grant-operation",
      hint: `Grantable: ${GRANTABLE_OPERATIONS.join(", ")}${unknown.includes("CreateGrant") ? ". CreateGrant is refused: the grantee could pass the key on outside dropkeys" : ""}.`,
    });
  }
  return [...new Set(given)].sort() as GrantOperation[];
}

/** An encryption-context constraint only fits cryptographic operations (AWS: ValidationException otherwise). */
export function checkContextFits(operations: string[], context: Record<string, string> | null): void {
  if (!context) return;
  const misfits = operations.filter((op) => !CONTEXT_OPERATIONS.has(op));
  if (misfits.length) {
    throw usageError(`--encryption-context cannot constrain ${misfits.join(", ")}: those operations take no encryption context`, {
      code: "usage.grant-constraint",
      hint: "Grant them separately, without --encryption-context.",
    });
  }
}

/** ["purpose=kyc", "tenant=drop"] -> { purpose: "kyc", tenant: "drop" }; null when none. */
export function parseEncryptionContext(pairs: unknown): Record<string, string> | null {
  if (pairs === undefined || pairs === null) return null;
  if (typeof pairs === "object" && !Array.isArray(pairs)) return pairs as Record<string, string>;
  const context: Record<string, string> = {};
  for (const pair of Array.isArray(pairs) ? pairs.map(String) : [String(pairs)]) {
    const at = pair.indexOf("=");
    if (at <= 0) throw usageError(`--encryption-context "${pair}" is not KEY=VALUE`);
    context[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return Object.keys(context).length ? Object.fromEntries(Object.entries(context).sort(([a], [b]) => a.localeCompare(b))) : null;
}

/** An IAM principal ARN (role, user, account root, assumed role) a grant can name. */
export function checkGrantee(value: unknown): string {
  const arn = String(value ?? "").trim();
  if (!/^arn:aws[a-z-]*:(iam|sts)::\d{12}:.+$/.test(arn)) {
    throw usageError(`--to "${arn}" is not an IAM principal ARN`, { code: "usage.grantee", hint: "e.g. --to arn:aws:iam::123456789012:role/drop-app-runner" });
  }
  return arn;
}

/** The principals the key's role bindings give cryptographic use (decryptRoles, encryptRoles); `*` globs as in the audit. */
export function boundPrincipals(policy: Policy, entry: KmsKeyEntry): string[] {
  return [...new Set([...entry.decryptRoles, ...entry.encryptRoles].flatMap((role) => policy.roles[role]?.principals ?? []))];
}

export function isBound(policy: Policy, entry: KmsKeyEntry, principal: string): boolean {
  return boundPrincipals(policy, entry).some((p) => globToRegExp(p).test(principal));
}

/** Every grant on the key, all pages. */
export async function listAllGrants(kms: KMSClient, keyId: string): Promise<GrantListEntry[]> {
  const all: GrantListEntry[] = [];
  let marker: string | undefined;
  do {
    const out = await kms.send(new ListGrantsCommand({ KeyId: keyId, ...(marker ? { Marker: marker } : {}) }));
    all.push(...(out.Grants ?? []));
    marker = out.Truncated ? out.NextMarker : undefined;
  } while (marker);
  return all;
}

/** ListGrants must no longer list the grant. */
export async function verifyGrantGone(ctx: Context, region: string, keyId: string, grantId: string): Promise<JournalVerification> {
  const still = (await listAllGrants(ctx.aws.kms(region), keyId)).some((g) => g.GrantId === grantId);
  return {
    method: "ListGrants on the key: the grant must be gone",
    result: still ? "failed" : "passed",
    detail: still ? `grant ${grantId} is still listed` : `grant ${grantId} is no longer listed`,
    checkedAt: new Date().toISOString(),
  };
}
