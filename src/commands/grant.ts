import type { Command } from "commander";
import { addOperationOptions, collect, examples, type OperationOptions } from "../lib/cli-options.js";
import { usageError } from "../lib/errors.js";

interface GrantOptions extends OperationOptions {
  to?: string;
  operations?: string;
  encryptionContext: string[];
  name?: string;
  expires?: string;
  retireExpired: boolean;
}

export function register(command: Command): void {
  addOperationOptions(
    command
      .description("Grant a principal use of a KMS key (CreateGrant, rule `grant`: Security Lead + system owner) until an expiry the journal records")
      .argument("[key]", "inventory entry (with --retire-expired: only this key's grants)")
      .option("--to <arn>", "the grantee: an IAM role or user ARN")
      .option("--operations <list>", "comma-separated grant operations, e.g. Decrypt,GenerateDataKey")
      .option("--encryption-context <k=v>", "only with this encryption context (EncryptionContextSubset; repeatable)", collect, [] as string[])
      .option("--name <name>", "the grant's name in KMS (default dropkeys-REQUEST_ID)")
      .option("--expires <duration>", "how long the grant lives, e.g. 30d, 12h, 90s (default and maximum: the policy's grants section)")
      .option("--retire-expired", "retire every dropkeys grant past its expiry (for cron; no approval)", false),
    { reasonRequired: false },
  ).action(async (key: string | undefined, options: GrantOptions) => {
    if (options.retireExpired) {
      const used = (["to", "operations", "name", "expires", "request", "requestOut"] as const).filter((f) => options[f] !== undefined);
      if (used.length || options.encryptionContext.length || options.approval.length || options.dryRun) {
        throw usageError("--retire-expired takes no grant flags", { hint: "From cron: dropkeys grant --retire-expired --json" });
      }
      const { runRetireExpired } = await import("../lib/grants/retire.js");
      return runRetireExpired(options, key);
    }
    if (!key) throw usageError("grant needs a KEY (or --retire-expired)", { hint: "dropkeys grant drop-kyc-key --to arn:aws:iam::123456789012:role/kyc-worker --operations Decrypt" });
    const [{ runGrantOperation }, { expiresSeconds }] = await Promise.all([import("../operations/grants-command.js"), import("../operations/grant.js")]);
    await runGrantOperation("grant", key, options, {
      grantee: options.to,
      operations: options.operations,
      encryptionContext: options.encryptionContext.length ? options.encryptionContext : undefined,
      grantName: options.name,
      lifetimeSeconds: expiresSeconds(options.expires),
    });
  });
  command.addHelpText(
    "after",
    "\nA grant to a principal outside the key's role bindings needs --reason and is marked so for the approvers.\nKMS grants do not expire: run `dropkeys grant --retire-expired` from cron.\n",
  );
  examples(
    command,
    "dropkeys grant drop-kyc-key --to arn:aws:iam::123456789012:role/kyc-worker --operations Decrypt --encryption-context purpose=kyc --expires 30d",
    "dropkeys grant --retire-expired --json --no-input   # from cron",
  );
}
