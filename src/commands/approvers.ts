import type { Command } from "commander";
import { examples, type GlobalOptions } from "../lib/cli-options.js";
import { registerSeal } from "./policy.js";

export function register(command: Command): void {
  command.description("The approvers registry: list it, seal changes (approved by the previous sealed list)");
  // `approvers seal` is the first name of `policy seal`: the same command, sealing the whole policy.
  registerSeal(command.command("seal"));
  for (const name of ["list", "status"]) {
    const list = command
      .command(name)
      .description("Registered approvers, their roles and keys, and whether the list is sealed")
      .action(async (options: GlobalOptions) => {
        const { runApproversList } = await import("../operations/approvals-command.js");
        await runApproversList(options);
      });
    examples(list, `dropkeys approvers ${name}`, `dropkeys approvers ${name} --json`);
  }
}
