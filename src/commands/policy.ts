import type { Command } from "commander";
import { examples, type GlobalOptions } from "../lib/cli-options.js";

export function register(command: Command): void {
  command.description("Validate and summarise the policy file");
  const check = command
    .command("check")
    .description("Validate the policy file (exit 2 listing every problem) and summarise it")
    .action(async (options: GlobalOptions) => {
      const { runPolicyCheck } = await import("../lib/policy/check-command.js");
      await runPolicyCheck(options);
    });
  examples(check, "dropkeys policy check", "dropkeys policy check --policy ./dropkeys.policy.yaml --json");
}
