import type { Command } from "commander";
import { addOperationOptions, examples, type GlobalOptions } from "../lib/cli-options.js";
import type { SealOptions } from "../lib/approvals/commands.js";

export function register(command: Command): void {
  command.description("The approvers registry: list it, seal changes (approved by the previous sealed list)");
  const seal = command
    .command("seal")
    .description("Seal the policy's approvers list in the journal (first seal: signed by the people it lists)");
  addOperationOptions(seal, { reasonRequired: false }).action(async (options: SealOptions) => {
    const { runSeal } = await import("../lib/approvals/commands.js");
    await runSeal(options);
  });
  examples(seal, "dropkeys approvers seal --request-out seal.json", "dropkeys apply seal.json --approval alem.sig --approval alice.sig", "dropkeys approvers seal   # at a terminal: each approver signs in turn");
  for (const name of ["list", "status"]) {
    const list = command
      .command(name)
      .description("Registered approvers, their roles and keys, and whether the list is sealed")
      .action(async (options: GlobalOptions) => {
        const { runApproversList } = await import("../lib/approvals/commands.js");
        await runApproversList(options);
      });
    examples(list, `dropkeys approvers ${name}`, `dropkeys approvers ${name} --json`);
  }
}
