// Secret values made by dropkeys: bytes from the CSPRNG, encoded as the policy says, written
// straight into Secrets Manager. The value is never printed, logged, returned or journalled:
// its text forms are registered (the journal refuses them) and its buffer is zeroed.
import { randomBytes } from "node:crypto";
import { CreateSecretCommand, type SecretsManagerClient, type Tag } from "@aws-sdk/client-secrets-manager";
import type { Context } from "../context.js";
import type { InventoryEntry, SecretEntry } from "../policy/schema.js";
import { registerSecret } from "../sensitive.js";

export const DEFAULT_SECRET_BYTES = 32;

/** Tags every generated key or secret carries (POLICY.md §1 fields, and who manages it). */
export function inventoryTags(ctx: Context, entry: InventoryEntry): { Key: string; Value: string }[] {
  const tags: Record<string, string | undefined> = {
    Name: entry.name,
    Classification: entry.classification,
    Owner: entry.owner,
    Purpose: entry.purpose || entry.protects,
    ManagedBy: "dropkeys",
    Organisation: ctx.policy.organisation,
  };
  return Object.entries(tags)
    .filter((e): e is [string, string] => typeof e[1] === "string" && e[1] !== "")
    .map(([Key, Value]) => ({ Key, Value: Value.slice(0, 256) }));
}

export interface CreatedSecret {
  arn: string;
  versionId: string;
  bytes: number;
  encoding: string;
}

/**
 * Generate the secret's value and create the secret with it. Returns only where it went; the
 * value itself exists here for the duration of one call, and its buffer is zeroed afterwards.
 * (The encoded string cannot be wiped, JavaScript strings are immutable; it is dropped at once.)
 */
export async function createGeneratedSecret(
  client: SecretsManagerClient,
  entry: SecretEntry,
  tags: Tag[],
  description: string,
  clientRequestToken: string,
): Promise<CreatedSecret> {
  const size = entry.bytes ?? DEFAULT_SECRET_BYTES;
  const buffer = randomBytes(size);
  try {
    const value = buffer.toString(entry.encoding);
    registerSecret(value, buffer.toString("hex"), buffer.toString("base64"), buffer.toString("base64url"));
    const out = await client.send(
      new CreateSecretCommand({ Name: entry.name, SecretString: value, Description: description, Tags: tags, ClientRequestToken: clientRequestToken }),
    );
    return { arn: out.ARN!, versionId: out.VersionId!, bytes: size, encoding: entry.encoding };
  } finally {
    buffer.fill(0);
  }
}
