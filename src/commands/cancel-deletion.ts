import type { Command } from "commander";
import { addOperationOptions, examples } from "../lib/cli-options.js";
import type { LifecycleOptions } from "../operations/lifecycle-command.js";

export function register(command: Command): void {
  addOperationOptions(
    command.description("Cancel a scheduled deletion; a KMS key is left Disabled (enable it separately)").argument("<key>", "inventory entry"),
    { reasonRequired: true },
  ).action(async (key: string, options: LifecycleOptions) => {
    const { runLifecycle } = await import("../operations/lifecycle-command.js");
    await runLifecycle("cancel-deletion", key, options, {});
  });
  examples(command, "dropkeys cancel-deletion drop-kyc-key --reason 'still needed to read 2025 backups'");
}
