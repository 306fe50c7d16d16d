import type { Command } from "commander";
import { examples, type GlobalOptions } from "../lib/cli-options.js";

export function register(command: Command): void {
  command
    .description("Write a starter dropkeys.policy.yaml (a copy of the bundled Drop policy) to edit")
    .option("--force", "overwrite an existing file", false)
    .option("--out <file>", "where to write it", "dropkeys.policy.yaml")
    .action(async (options: GlobalOptions & { force: boolean; out: string }) => {
      const { runInit } = await import("../lib/policy/check-command.js");
      await runInit(options);
    });
  examples(command, "dropkeys init", "dropkeys init --out /etc/dropkeys/policy.yaml --force");
}
