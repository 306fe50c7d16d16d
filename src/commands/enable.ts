import type { Command } from "commander";
import { addOperationOptions, examples } from "../lib/cli-options.js";
import type { LifecycleOptions } from "../operations/lifecycle-command.js";

export function register(command: Command): void {
  addOperationOptions(
    command.description("Enable a disabled KMS key again (a false alarm); a key pending deletion needs cancel-deletion first").argument("<key>", "inventory entry"),
    { reasonRequired: true },
  ).action(async (key: string, options: LifecycleOptions) => {
    const { runLifecycle } = await import("../operations/lifecycle-command.js");
    await runLifecycle("enable", key, options, {});
  });
  examples(command, "dropkeys enable drop-kyc-key --reason 'false alarm: the leaked ARN was a test key' --incident INC-20261123-1405");
}
