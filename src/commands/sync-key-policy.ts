import type { Command } from "commander";
import { addOperationOptions, examples, type OperationOptions } from "../lib/cli-options.js";

export function register(command: Command): void {
  addOperationOptions(
    command
      .description("Put the key policy the role bindings give (what generate writes) on a KMS key, after showing the diff to the approvers (rule `generate`)")
      .argument("<key>", "inventory entry"),
    { reasonRequired: false },
  ).action(async (key: string, options: OperationOptions) => {
    const { runGrantOperation } = await import("../operations/grants-command.js");
    await runGrantOperation("sync-key-policy", key, options, {});
  });
  examples(command, "dropkeys sync-key-policy drop-kyc-key --dry-run", "dropkeys sync-key-policy drop-kyc-key --reason 'role bindings changed'");
}
