// `revoke-grant KEY GRANT_ID`: KMS RevokeGrant under rule `revoke-grant` (default one Security Lead
// or the CISO: narrowing access is an emergency action), verified with ListGrants. Works on any
// grant of the key, also one made outside dropkeys. A grant already gone: nothing to do (exit 0).
import { RevokeGrantCommand, type GrantListEntry } from "@aws-sdk/client-kms";
import type { Context } from "../lib/context.js";
import { usageError } from "../lib/errors.js";
import { command, kmsJournalTarget, requireReason } from "../lib/keys/common.js";
import { requireKey, resolveKmsEntry } from "../lib/keys/kms.js";
import type { OperationSpec } from "./pipeline.js";
import { awsFailure } from "../lib/targets.js";
import { journalGrants, REVOKE_OPERATION } from "../lib/grants/journal.js";
import { listAllGrants, verifyGrantGone } from "../lib/grants/kms.js";
import { grantRender } from "./grants-render.js";
import type { OperationInput } from "./input.js";
import type { RevokeGrantResult } from "../lib/grants/results.js";

export async function build(ctx: Context, input: OperationInput): Promise<OperationSpec<RevokeGrantResult>> {
  const reason = requireReason(input, "revoke-grant");
  const target = resolveKmsEntry(ctx, input.name);
  const grantId = String(input.params.grantId ?? "").trim();
  if (!/^[A-Za-z0-9]{1,128}$/.test(grantId)) throw usageError(`"${grantId}" is not a grant id`, { hint: `List them with dropkeys grants ${target.name}` });
  const key = await requireKey(ctx, target);
  const kms = ctx.aws.kms(key.region);
  let grant: GrantListEntry | undefined;
  try {
    grant = (await listAllGrants(kms, key.keyId)).find((g) => g.GrantId === grantId);
  } catch (error) {
    throw awsFailure(error, `ListGrants on ${target.name} (${key.keyId}) in ${key.region}`);
  }
  // What the approvers sign: the grant as KMS shows it now (kept from the request when applied later).
  const grantee = String(input.params.grantee ?? grant?.GranteePrincipal ?? "unknown");
  const operations = (input.params.operations as string[] | undefined) ?? [...(grant?.Operations ?? [])].sort();
  const foreign = !journalGrants(ctx.journal().entries()).has(grantId);

  return {
    operation: REVOKE_OPERATION,
    target: key.arn,
    journalTarget: kmsJournalTarget(key),
    params: { name: target.name, grantId, grantee, operations, foreign },
    reason,
    incident: input.incident,
    summary: `Revoke grant ${grantId} on ${target.name} (${key.keyId}): ${grantee} loses ${operations.join(", ") || "its operations"}${foreign ? " (a grant made outside dropkeys)" : ""}`,

    async preflight() {
      const facts = [`Grant ${grantId} on ${target.name} (${key.region}): ${grantee}, ${operations.join(", ")}${foreign ? ", made outside dropkeys" : ""}`];
      if (!grant) return { facts, noop: `Grant ${grantId} is not on ${target.name} (already revoked or retired): nothing to do.` };
      return { facts };
    },

    async execute() {
      try {
        await kms.send(new RevokeGrantCommand({ KeyId: key.keyId, GrantId: grantId }));
      } catch (error) {
        throw awsFailure(error, `RevokeGrant ${grantId} on ${target.name} (${key.keyId})`);
      }
      return { keyId: key.keyId, region: key.region, grantId, grantee, revokedAt: new Date().toISOString() };
    },

    async verify(result) {
      return verifyGrantGone(ctx, result.region, result.keyId, result.grantId);
    },

    async onFailure() {
      return { state: `grant ${grantId} may still be on ${target.name}: see dropkeys grants ${target.name}`, next: [command("revoke-grant", target.name, { reason }) + ` ${grantId}`] };
    },

    outcomeDetails(result) {
      return { grantId: result.grantId, keyId: result.keyId, grantee: result.grantee, operations, revokedAt: result.revokedAt };
    },
  };
}


/** `dropkeys apply` renders this operation as `dropkeys revoke-grant` does. */
export const render = grantRender;
