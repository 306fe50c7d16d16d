// `dropkeys grant --retire-expired` (cron): every grant dropkeys made whose expiry has passed is
// retired, each journalled (intent before the call, outcome after). No approval: it only narrows
// access. RetireGrant needs the grant's retiring principal (grants.retiringPrincipal, e.g. the cron
// role); where KMS refuses it (AccessDenied), RevokeGrant, which the key policy gives key admins.
import { mirrorNow } from "../journal/mirror.js";
import { RetireGrantCommand, RevokeGrantCommand } from "@aws-sdk/client-kms";
import type { GlobalOptions } from "../cli-options.js";
import { createContext, type Context } from "../context.js";
import { awsErrorName, ExitCode, isDropkeysError } from "../errors.js";
import { table } from "../output.js";
import { awsFailure } from "../targets.js";
import { formatLocal } from "../time.js";
import { verifyGrantGone } from "./kms.js";
import { isExpired, journalGrants, RETIRE_OPERATION, type JournalGrant } from "./journal.js";
import { listAllGrants } from "./kms.js";

export interface RetiredGrant {
  grantId: string;
  key: string;
  keyId: string;
  grantee: string;
  expiresAt: string;
  result: "retired" | "already gone" | "failed";
  method?: "RetireGrant" | "RevokeGrant" | undefined;
  error?: string | undefined;
}

export async function retireExpiredGrants(ctx: Context, at = new Date(), only?: string): Promise<RetiredGrant[]> {
  const due = [...journalGrants(ctx.journal().entries()).values()].filter((g) => !g.ended && isExpired(g, at) && (!only || g.name === only));
  if (!due.length) return [];
  ctx.journal().checkWritable();
  const actor = await ctx.identity();
  const done: RetiredGrant[] = [];
  for (const grant of due) {
    const region = grant.region ?? grant.keyArn?.split(":")[3] ?? ctx.policy.region;
    const kms = ctx.aws.kms(region);
    const target = { name: grant.name, arn: grant.keyArn, keyId: grant.keyId, region, kind: "kms-key" };
    const base = { grantId: grant.grantId, key: grant.name ?? grant.keyId, keyId: grant.keyId, grantee: grant.grantee, expiresAt: grant.expiresAt };
    const params = { grantId: grant.grantId, grantee: grant.grantee, operations: grant.operations, expiresAt: grant.expiresAt, grantRequest: grant.requestId };
    let listed: boolean;
    try {
      listed = (await listAllGrants(kms, grant.keyId)).some((g) => g.GrantId === grant.grantId);
    } catch (error) {
      done.push({ ...base, result: "failed", error: awsFailure(error, `ListGrants on ${base.key}`).message });
      continue;
    }
    if (!listed) {
      ctx.journal().append({ type: "event", operation: RETIRE_OPERATION, target, actor, params, outcome: "noop", details: { grantId: grant.grantId, keyId: grant.keyId, note: "the grant was no longer on the key" } });
      done.push({ ...base, result: "already gone" });
      continue;
    }
    const intent = ctx.journal().append({ type: "intent", operation: RETIRE_OPERATION, target, actor, reason: `expired ${grant.expiresAt}`, params });
    const outcome = { type: "outcome" as const, operation: RETIRE_OPERATION, intentSeq: intent.seq, target, actor, reason: `expired ${grant.expiresAt}` };
    try {
      await mirrorNow(ctx);
      const method = await retireOrRevoke(ctx, region, grant);
      const verification = await verifyGrantGone(ctx, region, grant.keyId, grant.grantId);
      const ok = verification.result === "passed";
      ctx.journal().append({ ...outcome, outcome: ok ? "succeeded" : "failed", verification, details: { grantId: grant.grantId, keyId: grant.keyId, method } });
      done.push({ ...base, result: ok ? "retired" : "failed", method, ...(ok ? {} : { error: verification.detail }) });
    } catch (error) {
      const message = (error as Error).message;
      ctx.journal().append({ ...outcome, outcome: "failed", error: { code: awsErrorName(error) ?? "Error", message } });
      // A mirror that cannot be written is a journal failure (exit 5): nothing more is retired.
      if (isDropkeysError(error) && error.kind === "journal") throw error;
      done.push({ ...base, result: "failed", error: message });
    }
  }
  // The outcomes too (best effort: the retirements are done; the next command writes what is left).
  await mirrorNow(ctx).catch((error: unknown) => ctx.out.warn(`WARNING: the journal mirror could not be written (${(error as Error).message}); the next dropkeys command writes the missing entries.`));
  return done;
}

async function retireOrRevoke(ctx: Context, region: string, grant: JournalGrant): Promise<"RetireGrant" | "RevokeGrant"> {
  const kms = ctx.aws.kms(region);
  try {
    await kms.send(new RetireGrantCommand({ KeyId: grant.keyArn ?? grant.keyId, GrantId: grant.grantId }));
    return "RetireGrant";
  } catch (error) {
    if (awsErrorName(error) !== "AccessDeniedException") throw awsFailure(error, `RetireGrant ${grant.grantId}`);
  }
  try {
    await kms.send(new RevokeGrantCommand({ KeyId: grant.keyId, GrantId: grant.grantId }));
    return "RevokeGrant";
  } catch (error) {
    throw awsFailure(error, `RevokeGrant ${grant.grantId}`);
  }
}

export async function runRetireExpired(options: GlobalOptions, key: string | undefined): Promise<void> {
  const ctx = await createContext(options);
  const at = new Date();
  const done = await retireExpiredGrants(ctx, at, key);
  const failed = done.filter((d) => d.result === "failed");
  ctx.out.result({ at: at.toISOString(), grants: done }, () => {
    if (!done.length) return `No dropkeys grant${key ? ` on ${key}` : ""} is past its expiry (${formatLocal(at)}).`;
    const rows = done.map((d) => [d.key, d.grantId, d.grantee, formatLocal(new Date(d.expiresAt)), d.result === "retired" ? `retired (${d.method})` : d.result === "failed" ? `FAILED: ${d.error}` : d.result]);
    return [`Grants past their expiry as of ${formatLocal(at)}:`, "", table(["KEY", "GRANT", "GRANTEE", "EXPIRED", "RESULT"], rows), "", `Journal: ${ctx.journal().file}`].join("\n");
  });
  if (failed.length) process.exitCode = ExitCode.failed;
}
