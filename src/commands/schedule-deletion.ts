import type { Command } from "commander";
import { addOperationOptions, examples } from "../lib/cli-options.js";
import type { LifecycleOptions } from "../operations/lifecycle-command.js";

export function register(command: Command): void {
  addOperationOptions(
    command
      .description("Schedule a KMS key's deletion (or a secret's) after a 7-30 day waiting period, and verify it no longer decrypts (POLICY.md §6)")
      .argument("<key>", "inventory entry")
      .option("--days <n>", "waiting period in days, 7-30 (default 30)")
      .option("--confirm <alias>", "confirm without a terminal by naming the key's alias (alias/NAME)"),
    { reasonRequired: true },
  ).action(async (key: string, options: LifecycleOptions & { days?: string; confirm?: string }) => {
    const { runLifecycle } = await import("../operations/lifecycle-command.js");
    await runLifecycle("schedule-deletion", key, options, { days: options.days }, { confirm: options.confirm });
  });
  examples(
    command,
    "dropkeys schedule-deletion drop-kyc-key --days 30 --reason 'replaced after INC-20261123-1405'",
    "dropkeys schedule-deletion drop-kyc-key --days 7 --reason '...' --confirm alias/drop-kyc-key --approval a.sig --approval b.sig",
  );
}
