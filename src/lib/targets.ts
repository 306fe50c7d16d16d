// Step 1 of the pipeline: a name from the command line -> the inventory entry, its region, and
// (for what exists in AWS) its ARN and current state. KMS calls take the bare key id, which every
// KMS implementation accepts.
import { DescribeKeyCommand, type KeyMetadata } from "@aws-sdk/client-kms";
import { DescribeSecretCommand, type DescribeSecretCommandOutput } from "@aws-sdk/client-secrets-manager";
import type { Context } from "./context.js";
import { awsErrorName, failure, usageError } from "./errors.js";
import { findEntry, regionOf } from "./policy/load.js";
import type { InventoryEntry } from "./policy/schema.js";

export interface Target {
  entry: InventoryEntry;
  name: string;
  region: string;
}

export interface KmsTarget extends Target {
  /** Undefined when the alias does not exist in KMS. */
  key: KeyMetadata | undefined;
}

export interface SecretTarget extends Target {
  secret: DescribeSecretCommandOutput | undefined;
}

/** The inventory entry named on the command line (name, alias/NAME, or a key ARN/id of a known alias). */
export function resolveEntry(ctx: Context, name: string, kinds?: InventoryEntry["kind"][]): Target {
  const entry = findEntry(ctx.policy, name);
  if (!entry) {
    const known = ctx.policy.inventory.filter((e) => !kinds || kinds.includes(e.kind)).map((e) => e.name);
    throw usageError(`"${name}" is not in the policy's inventory`, {
      code: "target.unknown",
      hint: `Known ${kinds ? kinds.join("/") + " " : ""}entries: ${known.join(", ")}.`,
    });
  }
  if (kinds && !kinds.includes(entry.kind)) {
    throw usageError(`"${entry.name}" is a ${entry.kind}, and this command works on ${kinds.join(" or ")} entries`, {
      code: "target.kind",
    });
  }
  return { entry, name: entry.name, region: regionOf(ctx.policy, entry) };
}

export function aliasOf(name: string): string {
  return `alias/${name}`;
}

/** DescribeKey on alias/NAME in the entry's own region; `key` is undefined when the alias is absent. */
export async function describeKmsKey(ctx: Context, target: Target): Promise<KmsTarget> {
  try {
    const out = await ctx.aws.kms(target.region).send(new DescribeKeyCommand({ KeyId: aliasOf(target.name) }));
    return { ...target, key: out.KeyMetadata };
  } catch (error) {
    if (awsErrorName(error) === "NotFoundException") return { ...target, key: undefined };
    throw awsFailure(error, `DescribeKey ${aliasOf(target.name)} in ${target.region}`);
  }
}

export async function describeSecret(ctx: Context, target: Target): Promise<SecretTarget> {
  try {
    const secret = await ctx.aws.secrets(target.region).send(new DescribeSecretCommand({ SecretId: target.name }));
    return { ...target, secret };
  } catch (error) {
    if (awsErrorName(error) === "ResourceNotFoundException") return { ...target, secret: undefined };
    throw awsFailure(error, `DescribeSecret ${target.name} in ${target.region}`);
  }
}

/** An AWS error as an expected failure (exit 1) that says which call failed. */
export function awsFailure(error: unknown, call: string) {
  const name = awsErrorName(error) ?? "Error";
  const message = (error as Error)?.message ?? String(error);
  const hint =
    name === "AccessDeniedException" || name === "AccessDenied"
      ? "Your AWS identity lacks the permission; check the role (drop-key-admin, drop-key-auditor) you are using."
      : name === "CredentialsProviderError"
        ? "No AWS credentials: use --profile, AWS_PROFILE or an SSO login."
        : /ECONNREFUSED|ENOTFOUND|ETIMEDOUT|socket hang up/.test(message)
          ? "AWS (or the configured endpoint) could not be reached."
          : undefined;
  return failure(`${call} failed: ${name}: ${message}`, {
    code: `aws.${name}`,
    ...(hint ? { hint } : {}),
    details: { call, awsError: name },
    cause: error,
  });
}
