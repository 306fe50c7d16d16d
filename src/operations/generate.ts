// `generate NAME`: make an inventory entry's key, by its kind, never from user-supplied material.
// - KMS key: CreateKey in the entry's region with the policy's spec, tags and a key policy from
//   the role bindings; alias/NAME; automatic rotation with the policy's period.
// - Secret: random bytes straight into Secrets Manager (value never printed, logged or journalled).
// - Signing key: Ed25519 / RSA-4096 in memory; private PKCS#8 PEM to Secrets Manager; public JWKS.
import { createHash } from "node:crypto";
import path from "node:path";
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  EnableKeyRotationCommand,
  GetKeyRotationStatusCommand,
  ListResourceTagsCommand,
  UpdateAliasCommand,
  type KeySpec,
  type KeyUsageType,
} from "@aws-sdk/client-kms";
import { CreateSecretCommand, ListSecretVersionIdsCommand } from "@aws-sdk/client-secrets-manager";
import type { Context } from "../lib/context.js";
import { failure, usageError } from "../lib/errors.js";
import type { JournalVerification } from "../lib/journal/journal.js";
import { command } from "../lib/keys/common.js";
import { buildKeyPolicy, keyPolicyText } from "../lib/keys/key-policy.js";
import { canaryDecrypt, canaryEncrypt, describeState, type KmsKeyTarget } from "../lib/keys/kms.js";
import { generateSigningKey, readJwks, writeJwks, type SigningAlgorithm } from "../lib/keys/jwks.js";
import { createGeneratedSecret, DEFAULT_SECRET_BYTES, inventoryTags } from "../lib/keys/secrets.js";
import type { OperationSpec } from "./pipeline.js";
import type { SecretEntry, SigningKeyEntry } from "../lib/policy/schema.js";
import { aliasOf, awsFailure, describeKmsKey, describeSecret, resolveEntry, type Target } from "../lib/targets.js";
import { formatLocal } from "../lib/time.js";
import type { OperationInput } from "./input.js";
import { lifecycleRender } from "./lifecycle-render.js";
import type { GenerateResult } from "../lib/keys/results.js";

export async function build(ctx: Context, input: OperationInput): Promise<OperationSpec<GenerateResult>> {
  const target = resolveEntry(ctx, input.name, ["kms-key", "secret", "signing-key"]);
  if (input.params.material !== undefined || input.params.value !== undefined) {
    throw usageError("generate never accepts key material: keys come from KMS or the CSPRNG only (POLICY.md §2)");
  }
  const reason = input.reason?.trim() || undefined;
  const spec =
    target.entry.kind === "kms-key"
      ? await buildKms(ctx, input, target as KmsKeyTarget, reason)
      : target.entry.kind === "secret"
        ? await buildSecret(ctx, input, target as Target & { entry: SecretEntry }, reason)
        : await buildSigningKey(ctx, input, target as Target & { entry: SigningKeyEntry }, reason);
  // The key id exists only once it is made: the outcome entry names it (POLICY.md §2, §8).
  const execute = spec.execute.bind(spec);
  spec.execute = async (request) => {
    const result = await execute(request);
    spec.journalTarget = { ...spec.journalTarget, arn: result.arn, ...(result.keyId ? { keyId: result.keyId } : {}) };
    return result;
  };
  return spec;
}

function description(ctx: Context, target: Target): string {
  const e = target.entry;
  return `${e.purpose || e.protects || e.name} (${ctx.policy.organisation}, ${e.classification ?? "unclassified"}, managed by dropkeys)`.slice(0, 8192);
}

async function buildKms(ctx: Context, input: OperationInput, target: KmsKeyTarget, reason: string | undefined): Promise<OperationSpec<GenerateResult>> {
  const entry = target.entry;
  const moveAlias = input.params.moveAlias === true;
  const account = ctx.policy.account ?? (await ctx.identity()).account;
  if (!account) throw failure("cannot tell the AWS account for the key policy", { hint: "Set `account:` in the policy file." });
  const { document, warnings } = buildKeyPolicy(ctx.policy, entry, account);
  const keyPolicy = keyPolicyText(document);
  const rotationPeriodDays = entry.rotationMode === "automatic" && entry.keySpec === "SYMMETRIC_DEFAULT" && entry.rotation.days ? clampRotation(entry.rotation.days) : undefined;
  const kms = ctx.aws.kms(target.region);
  const alias = aliasOf(target.name);
  const progress: { keyId?: string; aliasDone?: boolean; rotationDone?: boolean; previousKeyId?: string } = {};

  return {
    operation: "generate",
    rule: "generate",
    target: `kms:${target.region}:${alias}`,
    journalTarget: { name: target.name, region: target.region, kind: "kms-key", alias },
    params: {
      name: target.name,
      kind: "kms-key",
      region: target.region,
      keySpec: entry.keySpec,
      keyUsage: entry.keyUsage,
      rotationPeriodDays: rotationPeriodDays ?? null,
      keyPolicySha256: createHash("sha256").update(keyPolicy).digest("hex"),
      ...(moveAlias ? { moveAlias: true } : {}),
    },
    reason,
    incident: input.incident,
    summary: `Create KMS key ${target.name} (${entry.keySpec}, ${entry.keyUsage}) in ${target.region} with ${alias}${rotationPeriodDays ? `, automatic rotation every ${rotationPeriodDays} days` : ", manual rotation"}`,

    async preflight() {
      const { key } = await describeKmsKey(ctx, target);
      const facts = [
        `${entry.keySpec} ${entry.keyUsage} key in ${target.region}, ${entry.classification ?? "unclassified"}, owner ${entry.owner}`,
        `Key policy: ${document.Statement.map((s) => s.Sid).join(", ")}`,
        rotationPeriodDays ? `Automatic rotation every ${rotationPeriodDays} days` : `Rotation: ${entry.rotation.label}, by hand (dropkeys rotate-key)`,
      ];
      // --move-alias takes the alias off a key that can no longer be used (a replacement after a
      // compromise); an alias on a working key is never moved.
      if (key && moveAlias && (key.KeyState === "Disabled" || key.KeyState === "PendingDeletion")) {
        progress.previousKeyId = key.KeyId;
        facts.push(`${alias} will move from ${key.KeyId} (${key.KeyState}) to the new key`);
      } else if (key?.KeyState === "PendingDeletion") {
        const ways = [
          ...(ctx.policy.approvals["cancel-deletion"] ? [`keep that key: ${command("cancel-deletion", target.name, { reason: "..." })}`] : []),
          `create a new key and move the alias to it (with the approvals for creation): ${command("generate", target.name, { "move-alias": true, ...(reason ? { reason } : {}) })}`,
        ];
        throw failure(`${alias} points at key ${key.KeyId}, which is pending deletion${key.DeletionDate ? ` (on ${formatLocal(key.DeletionDate)})` : ""}`, {
          code: "generate.alias-pending-deletion",
          hint: ways.length > 1 ? `Either ${ways.join("; or ")}.` : `${ways[0]![0]!.toUpperCase()}${ways[0]!.slice(1)}.`,
          details: { keyId: key.KeyId, deletionDate: key.DeletionDate?.toISOString() },
        });
      } else if (key) {
        const facts2 = [`${alias} -> ${describeState(key)}`];
        const rotation = await rotationState(ctx, target.region, key.KeyId!);
        if (rotation) facts2.push(rotation);
        if (moveAlias) facts2.push(`--move-alias moves the alias only off a disabled key or one pending deletion`);
        return { facts: facts2, noop: `${alias} already exists in ${target.region}: nothing created.` };
      }
      return { facts, warnings };
    },

    async execute() {
      try {
        const created = await kms.send(
          new CreateKeyCommand({
            Description: description(ctx, target),
            KeySpec: entry.keySpec as KeySpec,
            KeyUsage: entry.keyUsage as KeyUsageType,
            Policy: keyPolicy,
            Tags: inventoryTags(ctx, entry).map((t) => ({ TagKey: t.Key, TagValue: t.Value })),
          }),
        );
        progress.keyId = created.KeyMetadata!.KeyId!;
        const arn = created.KeyMetadata!.Arn!;
        if (progress.previousKeyId) await kms.send(new UpdateAliasCommand({ AliasName: alias, TargetKeyId: progress.keyId }));
        else await kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: progress.keyId }));
        progress.aliasDone = true;
        if (rotationPeriodDays) {
          await kms.send(new EnableKeyRotationCommand({ KeyId: progress.keyId, RotationPeriodInDays: rotationPeriodDays }));
          progress.rotationDone = true;
        }
        const canary = entry.keyUsage === "ENCRYPT_DECRYPT" ? await canaryEncrypt(kms, progress.keyId) : undefined;
        return { kind: "kms-key", name: target.name, region: target.region, arn, keyId: progress.keyId, alias, rotationPeriodDays, canary, previousKeyId: progress.previousKeyId };
      } catch (error) {
        const step = !progress.keyId ? "CreateKey" : !progress.aliasDone ? (progress.previousKeyId ? "UpdateAlias" : "CreateAlias") : !progress.rotationDone && rotationPeriodDays ? "EnableKeyRotation" : "Encrypt (canary)";
        throw awsFailure(error, `${step} for ${target.name} in ${target.region}`);
      }
    },

    async verify(result): Promise<JournalVerification> {
      const problems: string[] = [];
      const byAlias = await kms.send(new DescribeKeyCommand({ KeyId: alias }));
      if (byAlias.KeyMetadata?.KeyId !== result.keyId) problems.push(`${alias} points at ${byAlias.KeyMetadata?.KeyId}, not ${result.keyId}`);
      if (byAlias.KeyMetadata?.KeyState !== "Enabled") problems.push(`state ${byAlias.KeyMetadata?.KeyState}`);
      if (result.rotationPeriodDays) {
        const rotation = await kms.send(new GetKeyRotationStatusCommand({ KeyId: result.keyId }));
        if (!rotation.KeyRotationEnabled) problems.push("automatic rotation is off");
      }
      const tags = await kms.send(new ListResourceTagsCommand({ KeyId: result.keyId }));
      if (!tags.Tags?.some((t) => t.TagKey === "ManagedBy" && t.TagValue === "dropkeys")) problems.push("tags missing");
      if (result.canary) {
        const back = await canaryDecrypt(kms, result.canary);
        if (back.outcome !== "decrypted") problems.push(`canary round trip failed (${back.error})`);
      }
      return {
        method: "DescribeKey by alias, GetKeyRotationStatus, ListResourceTags, canary Encrypt/Decrypt",
        result: problems.length ? "failed" : "passed",
        detail: problems.length ? problems.join("; ") : `${alias} -> ${result.keyId}, Enabled${result.rotationPeriodDays ? `, rotation every ${result.rotationPeriodDays} days` : ""}, tagged, canary round trip ok`,
        checkedAt: new Date().toISOString(),
      };
    },

    async onFailure() {
      if (!progress.keyId) return { state: `nothing was created (${alias} does not exist)`, next: [command("generate", target.name, reason ? { reason } : {})] };
      if (!progress.aliasDone) {
        return {
          state: `key ${progress.keyId} was created (tagged Name=${target.name}) but ${alias} ${progress.previousKeyId ? `still points at ${progress.previousKeyId}` : "was not created"}`,
          next: [
            `aws kms ${progress.previousKeyId ? "update-alias" : "create-alias"} --region ${target.region} --alias-name ${alias} --target-key-id ${progress.keyId}`,
            `dropkeys status`,
          ],
        };
      }
      return {
        state: `key ${progress.keyId} exists as ${alias}${rotationPeriodDays && !progress.rotationDone ? ", but automatic rotation is NOT enabled" : ""}`,
        next: rotationPeriodDays && !progress.rotationDone ? [`aws kms enable-key-rotation --region ${target.region} --key-id ${progress.keyId} --rotation-period-in-days ${rotationPeriodDays}`, "dropkeys status"] : ["dropkeys status"],
      };
    },

    outcomeDetails(result) {
      return { keyId: result.keyId, arn: result.arn, rotationPeriodDays: result.rotationPeriodDays, ...(result.canary ? { canary: result.canary } : {}), ...(result.previousKeyId ? { previousKeyId: result.previousKeyId } : {}) };
    },
  };
}

/** KMS accepts rotation periods of 90-2560 days. */
function clampRotation(days: number): number {
  return Math.min(2560, Math.max(90, days));
}

async function rotationState(ctx: Context, region: string, keyId: string): Promise<string | undefined> {
  try {
    const r = await ctx.aws.kms(region).send(new GetKeyRotationStatusCommand({ KeyId: keyId }));
    return r.KeyRotationEnabled ? `automatic rotation on${r.RotationPeriodInDays ? ` (${r.RotationPeriodInDays} days)` : ""}` : "automatic rotation is OFF";
  } catch {
    return undefined;
  }
}

/** A secret that exists (or is pending deletion) is never replaced by generate. */
async function refuseExistingSecret(ctx: Context, target: Target): Promise<void> {
  const { secret } = await describeSecret(ctx, target);
  if (!secret) return;
  if (secret.DeletedDate) {
    throw failure(`secret ${target.name} exists and is scheduled for deletion (marked ${formatLocal(secret.DeletedDate)})`, {
      code: "generate.secret-pending-deletion",
      hint: `Restore it with ${command("cancel-deletion", target.name, { reason: "..." })}, or wait until it is deleted.`,
    });
  }
  const rotate = target.name === ctx.policy.jwt.secret ? `dropkeys rotate-jwt` : `the rotation command for ${target.name}`;
  throw failure(`secret ${target.name} already exists in ${target.region}: generate never replaces a secret`, {
    code: "generate.secret-exists",
    hint: `To give it a new value, rotate it: ${rotate}.`,
  });
}

async function buildSecret(ctx: Context, input: OperationInput, target: Target & { entry: SecretEntry }, reason: string | undefined): Promise<OperationSpec<GenerateResult>> {
  const entry = target.entry;
  if (entry.source === "provider") {
    throw usageError(`${target.name}'s value comes from its provider (source: provider), so dropkeys does not generate it`, {
      code: "generate.provider-secret",
      hint: "Store the provider's value in Secrets Manager by hand, or set `source: generated` in the policy if dropkeys should make it.",
    });
  }
  const client = ctx.aws.secrets(target.region);
  const bytes = entry.bytes ?? DEFAULT_SECRET_BYTES;
  return {
    operation: "generate",
    rule: "generate-secret",
    target: `secretsmanager:${target.region}:${target.name}`,
    journalTarget: { name: target.name, region: target.region, kind: "secret" },
    params: { name: target.name, kind: "secret", region: target.region, bytes, encoding: entry.encoding },
    reason,
    incident: input.incident,
    summary: `Create secret ${target.name} in ${target.region}: ${bytes} random bytes (${entry.encoding}), value never shown`,

    async preflight() {
      await refuseExistingSecret(ctx, target);
      return { facts: [`${bytes} bytes from the CSPRNG, ${entry.encoding}-encoded, straight into Secrets Manager ${target.region}; the value is never shown`] };
    },

    async execute(request) {
      try {
        const created = await createGeneratedSecret(client, entry, inventoryTags(ctx, entry), description(ctx, target), request.id);
        return { kind: "secret", name: target.name, region: target.region, arn: created.arn, versionId: created.versionId };
      } catch (error) {
        throw awsFailure(error, `CreateSecret ${target.name} in ${target.region}`);
      }
    },

    async verify(result): Promise<JournalVerification> {
      const { secret } = await describeSecret(ctx, target);
      const versions = await client.send(new ListSecretVersionIdsCommand({ SecretId: target.name }));
      const current = versions.Versions?.find((v) => v.VersionStages?.includes("AWSCURRENT"));
      const tagged = secret?.Tags?.some((t) => t.Key === "ManagedBy" && t.Value === "dropkeys");
      const passed = !!secret && current?.VersionId === result.versionId && !!tagged;
      return {
        method: "DescribeSecret and ListSecretVersionIds: the new version is AWSCURRENT (the value is not read)",
        result: passed ? "passed" : "failed",
        detail: passed ? `${target.name} version ${result.versionId} is AWSCURRENT, tagged` : `secret ${secret ? "exists" : "missing"}, AWSCURRENT ${current?.VersionId ?? "none"}, tags ${tagged ? "ok" : "missing"}`,
        checkedAt: new Date().toISOString(),
      };
    },

    async onFailure() {
      const now = await describeSecret(ctx, target).catch(() => undefined);
      return {
        state: now === undefined ? "unknown: Secrets Manager could not be asked" : now.secret ? `${target.name} exists (created before the failure)` : `${target.name} was not created`,
        next: now?.secret ? ["dropkeys status"] : [command("generate", target.name, reason ? { reason } : {})],
      };
    },

    outcomeDetails(result) {
      return { arn: result.arn, versionId: result.versionId, bytes, encoding: entry.encoding };
    },
  };
}

async function buildSigningKey(ctx: Context, input: OperationInput, target: Target & { entry: SigningKeyEntry }, reason: string | undefined): Promise<OperationSpec<GenerateResult>> {
  const algorithm = (input.params.algorithm ?? target.entry.algorithm) as SigningAlgorithm;
  if (algorithm !== "Ed25519" && algorithm !== "RSA-4096") throw usageError(`--algorithm must be Ed25519 or RSA-4096, got ${String(algorithm)}`);
  const jwksOut = typeof input.params.jwksOut === "string" ? path.resolve(input.params.jwksOut) : undefined;
  const client = ctx.aws.secrets(target.region);
  return {
    operation: "generate",
    rule: "generate-secret",
    target: `secretsmanager:${target.region}:${target.name}`,
    journalTarget: { name: target.name, region: target.region, kind: "signing-key" },
    params: { name: target.name, kind: "signing-key", region: target.region, algorithm, ...(jwksOut ? { jwksOut } : {}) },
    reason,
    incident: input.incident,
    summary: `Create signing key ${target.name} (${algorithm}) in ${target.region}: private key to Secrets Manager, public key ${jwksOut ? `to ${jwksOut}` : "printed as JWKS"}`,

    async preflight() {
      if (jwksOut) readJwks(jwksOut);
      await refuseExistingSecret(ctx, target);
      return { facts: [`${algorithm} key pair made in memory; private key (PKCS#8 PEM) into Secrets Manager ${target.region}, never shown; public key as JWKS${jwksOut ? ` in ${jwksOut}` : ""}`] };
    },

    async execute(request) {
      // The private key lives only in this scope (a KeyObject and a PEM string cannot be wiped;
      // they are dropped at once, and their text forms are registered so the journal refuses them).
      try {
        const generated = generateSigningKey(algorithm);
        const tags = [...inventoryTags(ctx, target.entry), { Key: "dropkeys:kid", Value: generated.jwk.kid }, { Key: "dropkeys:alg", Value: generated.jwk.alg }];
        const out = await client.send(
          new CreateSecretCommand({ Name: target.name, SecretString: generated.privatePem, Description: description(ctx, target), Tags: tags, ClientRequestToken: request.id }),
        );
        const jwks = jwksOut ? writeJwks(jwksOut, generated.jwk) : { keys: [generated.jwk] };
        return { kind: "signing-key", name: target.name, region: target.region, arn: out.ARN!, versionId: out.VersionId, kid: generated.jwk.kid, jwk: generated.jwk, jwks, jwksOut };
      } catch (error) {
        throw awsFailure(error, `CreateSecret ${target.name} in ${target.region}`);
      }
    },

    async verify(result): Promise<JournalVerification> {
      const { secret } = await describeSecret(ctx, target);
      const kidTag = secret?.Tags?.find((t) => t.Key === "dropkeys:kid")?.Value;
      const passed = !!secret && kidTag === result.kid;
      return {
        method: "DescribeSecret: the private key's secret exists, tagged with the JWKS kid (RFC 7638 thumbprint)",
        result: passed ? "passed" : "failed",
        detail: passed ? `${target.name} holds the private key of kid ${result.kid}` : `secret ${secret ? `tagged kid ${kidTag}` : "missing"}`,
        checkedAt: new Date().toISOString(),
      };
    },

    async onFailure() {
      const now = await describeSecret(ctx, target).catch(() => undefined);
      return {
        state: now === undefined ? "unknown: Secrets Manager could not be asked" : now.secret ? `${target.name} exists` : `${target.name} was not created`,
        next: now?.secret ? ["dropkeys status"] : [command("generate", target.name, reason ? { reason } : {})],
      };
    },

    outcomeDetails(result) {
      return { arn: result.arn, kid: result.kid, algorithm, ...(result.jwksOut ? { jwksOut: result.jwksOut } : {}) };
    },
  };
}

/** `dropkeys apply` renders this operation as `dropkeys generate` does. */
export const render = lifecycleRender("generate");
