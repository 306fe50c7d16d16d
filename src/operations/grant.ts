// `grant KEY --to ARN --operations ...`: KMS CreateGrant under the policy's approval rule `grant`
// (Security Lead + system owner). KMS grants never expire by themselves, so the expiry lives in the
// journal: `dropkeys grant --retire-expired` (cron) retires each grant once its time has passed.
import { CreateGrantCommand, type GrantOperation } from "@aws-sdk/client-kms";
import type { Context } from "../lib/context.js";
import { usageError } from "../lib/errors.js";
import { formatDuration, parseDuration } from "../lib/duration.js";
import type { JournalVerification } from "../lib/journal/journal.js";
import { command, kmsJournalTarget } from "../lib/keys/common.js";
import { describeState, describeKeyId, requireKey, resolveKmsEntry } from "../lib/keys/kms.js";
import type { OperationSpec } from "./pipeline.js";
import { awsFailure } from "../lib/targets.js";
import { boundPrincipals, checkContextFits, checkGrantee, isBound, listAllGrants, parseEncryptionContext, parseOperations } from "../lib/grants/kms.js";
import { GRANT_OPERATION } from "../lib/grants/journal.js";
import { grantRender } from "./grants-render.js";
import type { OperationInput } from "./input.js";
import type { GrantResult } from "../lib/grants/results.js";

const NAME = /^[a-zA-Z0-9:/_-]{1,256}$/;

/** --expires as seconds (exit 2 unless a duration of at least a second). */
export function expiresSeconds(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined || ms < 1000) throw usageError(`--expires "${text}" is not a duration of at least 1s`, { code: "usage.grant-lifetime", hint: "e.g. --expires 30d, 12h or 90s" });
  return Math.round(ms / 1000);
}

/** A grant's lifetime: up to the policy's grants.maxLifetime (default: defaultLifetime, else the maximum). */
export function grantLifetimeSeconds(ctx: Context, seconds: unknown): number {
  const max = ctx.policy.grants.maxLifetime;
  const fallback = Math.min(ctx.policy.grants.defaultLifetime ?? max, max);
  const ms = seconds === undefined || seconds === null ? fallback : Number(seconds) * 1000;
  if (!Number.isFinite(ms) || ms < 1000) throw usageError(`lifetime "${String(seconds)}" is not a number of seconds of at least 1`, { code: "usage.grant-lifetime" });
  if (ms > max) {
    throw usageError(`--expires ${formatDuration(ms)} is longer than the policy allows (grants.maxLifetime ${formatDuration(max)})`, { code: "usage.grant-lifetime" });
  }
  return Math.round(ms / 1000);
}

export async function build(ctx: Context, input: OperationInput): Promise<OperationSpec<GrantResult>> {
  const reason = input.reason?.trim() || undefined;
  const target = resolveKmsEntry(ctx, input.name);
  const grantee = checkGrantee(input.params.grantee);
  const operations = parseOperations(input.params.operations);
  const encryptionContext = parseEncryptionContext(input.params.encryptionContext);
  checkContextFits(operations, encryptionContext);
  const lifetimeSeconds = grantLifetimeSeconds(ctx, input.params.lifetimeSeconds);
  const grantName = input.params.grantName === undefined || input.params.grantName === null ? null : String(input.params.grantName);
  if (grantName !== null && !NAME.test(grantName)) throw usageError(`--name "${grantName}": use 1-256 letters, digits, ':', '/', '_' or '-' (KMS's rule)`);
  const outsideRoleBindings = !isBound(ctx.policy, target.entry, grantee);
  if (outsideRoleBindings && !reason) {
    throw usageError(`${grantee} is not in ${target.name}'s role bindings (${[...target.entry.decryptRoles, ...target.entry.encryptRoles].join(", ") || "none"}): such a grant needs --reason`, {
      code: "usage.reason-required",
      hint: `Say why, for the approvers and the journal: --reason "..."; or add the principal to a role of the key in the policy.`,
    });
  }
  const key = await requireKey(ctx, target);
  const kms = ctx.aws.kms(key.region);
  const constraint = encryptionContext ? ` only with encryption context ${Object.entries(encryptionContext).map(([k, v]) => `${k}=${v}`).join(",")}` : "";
  const warning = outsideRoleBindings ? `OUTSIDE THE KEY'S ROLE BINDINGS: ${grantee} is not a principal of ${[...target.entry.decryptRoles, ...target.entry.encryptRoles].join(", ") || "any role of this key"}` : undefined;

  return {
    operation: GRANT_OPERATION,
    target: key.arn,
    journalTarget: kmsJournalTarget(key),
    params: { name: target.name, grantee, operations, encryptionContext, grantName, lifetimeSeconds, outsideRoleBindings },
    reason,
    incident: input.incident,
    summary: `Grant ${grantee} ${operations.join(", ")} on ${target.name} (${key.keyId}, owner ${target.entry.owner}) for ${formatDuration(lifetimeSeconds * 1000)}${constraint}${warning ? `; ${warning}` : ""}`,

    async preflight() {
      const now = await describeKeyId(kms, key.keyId);
      const facts = [
        `${target.name}: ${describeState(now)} (${key.region}), system owner ${target.entry.owner}`,
        `Grantee ${grantee}: ${operations.join(", ")}${constraint}`,
        `Expires ${formatDuration(lifetimeSeconds * 1000)} after it is made (policy maximum ${formatDuration(ctx.policy.grants.maxLifetime)}); retired by dropkeys grant --retire-expired`,
        `Role bindings of the key: ${boundPrincipals(ctx.policy, target.entry).join(", ") || "none"}`,
      ];
      return { facts, ...(warning ? { warnings: [warning] } : {}) };
    },

    async execute(request) {
      const name = grantName ?? `dropkeys-${request.id}`;
      const createdAt = new Date();
      try {
        const out = await kms.send(
          new CreateGrantCommand({
            KeyId: key.keyId,
            GranteePrincipal: grantee,
            Operations: operations as GrantOperation[],
            Name: name,
            ...(encryptionContext ? { Constraints: { EncryptionContextSubset: encryptionContext } } : {}),
            ...(ctx.policy.grants.retiringPrincipal ? { RetiringPrincipal: ctx.policy.grants.retiringPrincipal } : {}),
          }),
        );
        return {
          keyId: key.keyId,
          arn: key.arn,
          region: key.region,
          grantId: out.GrantId!,
          grantName: name,
          grantee,
          operations,
          encryptionContext,
          createdAt: createdAt.toISOString(),
          expiresAt: new Date(createdAt.getTime() + lifetimeSeconds * 1000).toISOString(),
        };
      } catch (error) {
        throw awsFailure(error, `CreateGrant on ${target.name} (${key.keyId}) in ${key.region}`);
      }
    },

    async verify(result): Promise<JournalVerification> {
      const found = (await listAllGrants(kms, key.keyId)).find((g) => g.GrantId === result.grantId);
      const problems: string[] = [];
      if (!found) problems.push(`ListGrants does not list grant ${result.grantId}`);
      else {
        if (found.GranteePrincipal !== grantee) problems.push(`grantee ${found.GranteePrincipal}`);
        if ([...(found.Operations ?? [])].sort().join(",") !== operations.join(",")) problems.push(`operations ${found.Operations?.join(",")}`);
        const subset = found.Constraints?.EncryptionContextSubset;
        if (JSON.stringify(sortedObject(subset)) !== JSON.stringify(encryptionContext ?? undefined)) problems.push(`constraint ${JSON.stringify(subset ?? null)}`);
      }
      return {
        method: "ListGrants on the key: the grant, its grantee, operations and constraint",
        result: problems.length ? "failed" : "passed",
        detail: problems.length ? problems.join("; ") : `grant ${result.grantId} listed for ${grantee}: ${operations.join(", ")}${constraint}`,
        checkedAt: new Date().toISOString(),
      };
    },

    async onFailure() {
      return { state: `no grant was recorded for ${grantee} on ${target.name}; check with dropkeys grants ${target.name}`, next: [`dropkeys grants ${target.name}`, command("grant", target.name, { to: grantee, operations: operations.join(","), reason: reason ?? "..." })] };
    },

    outcomeDetails(result) {
      return {
        grantId: result.grantId,
        keyId: result.keyId,
        grantee: result.grantee,
        operations: result.operations,
        grantName: result.grantName,
        encryptionContext: result.encryptionContext,
        createdAt: result.createdAt,
        expiresAt: result.expiresAt,
        ...(outsideRoleBindings ? { outsideRoleBindings: true } : {}),
      };
    },
  };
}

function sortedObject(value: Record<string, string> | undefined): Record<string, string> | undefined {
  return value ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b))) : undefined;
}

/** `dropkeys apply` renders this operation as `dropkeys grant` does. */
export const render = grantRender;
