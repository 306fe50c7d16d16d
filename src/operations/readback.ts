// Reading back what an interrupted run left, so its intent can be closed with facts: a KMS key's
// state, a shred chunk's users in the database, a secret's versions. Used by the pipeline before
// each new operation (src/lib/journal/dead-runs.ts closes the intents).
import { DescribeKeyCommand } from "@aws-sdk/client-kms";
import { DescribeSecretCommand } from "@aws-sdk/client-secrets-manager";
import { localActor, type Context } from "../lib/context.js";
import { databaseUrl, withDatabase } from "../lib/db/index.js";
import { closeDeadRuns, deadOpenIntents, type ReadBack } from "../lib/journal/dead-runs.js";
import type { JournalEntry } from "../lib/journal/journal.js";
import { databaseSection } from "../lib/policy/database-section.js";
import { chunkReadBack, OPERATION as SHRED } from "../lib/shred/engine.js";

/** Close the intents of runs that died (outcome `interrupted`, state read back); returns how many. */
export async function closeInterruptedRuns(ctx: Context): Promise<JournalEntry[]> {
  const journal = ctx.journal();
  if (deadOpenIntents(journal.entries()).length === 0) return [];
  const actor = await ctx.identity().catch(() => ({ aws: "unknown (STS not reachable)", ...localActor() }));
  const closed = await closeDeadRuns(journal, actor, (intent) => readBack(ctx, intent));
  for (const outcome of closed) {
    ctx.out.warn(`closed intent #${outcome.intentSeq} (${outcome.operation}) of a run that ended without its outcome: interrupted; ${outcome.state ?? ""}`);
  }
  return closed;
}

async function readBack(ctx: Context, intent: JournalEntry): Promise<ReadBack> {
  if (intent.operation === SHRED) {
    if (intent.params?.chunk !== undefined && Array.isArray(intent.params.userIds)) {
      const section = databaseSection(ctx.policy);
      return withDatabase(databaseUrl(ctx.policy), (db) => chunkReadBack(db, section, intent));
    }
    return { state: "the run stopped before it finished: every chunk it started has its own outcome", next: ["run the same shred-user command again: it erases the rest"] };
  }
  const target = intent.target;
  const kmsKey = /^arn:aws[\w-]*:kms:([^:]+):\d*:key\/(.+)$/.exec(target?.arn ?? "");
  if (kmsKey) {
    const meta = (await ctx.aws.kms(kmsKey[1]!).send(new DescribeKeyCommand({ KeyId: kmsKey[2]! }))).KeyMetadata;
    const state = `key ${kmsKey[2]} is ${meta?.KeyState ?? "unknown"}${meta?.DeletionDate ? `, deletion on ${meta.DeletionDate.toISOString()}` : ""} (read back)`;
    return { state, details: { keyState: meta?.KeyState }, next: [`check the key with \`dropkeys status\`; run the ${intent.operation} command again if it is not in the state it should be`] };
  }
  if (target?.kind === "secret" && target.arn && target.region) {
    const secret = await ctx.aws.secrets(target.region).send(new DescribeSecretCommand({ SecretId: target.arn }));
    const labels = Object.entries(secret.VersionIdsToStages ?? {}).map(([v, stages]) => `${v.slice(0, 8)}: ${stages.join("+")}`);
    return { state: `secret ${target.name ?? target.arn} versions ${labels.join(", ") || "none"} (read back)`, next: [`run the same ${intent.operation} request again to finish it, or check with \`dropkeys status\``] };
  }
  return { state: "not read back (no state dropkeys can read for this target); check it with `dropkeys status`" };
}
