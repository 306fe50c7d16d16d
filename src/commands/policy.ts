import type { Command } from "commander";
import { addOperationOptions, examples, type GlobalOptions } from "../lib/cli-options.js";
import type { SealOptions } from "../operations/approvals-command.js";

export function register(command: Command): void {
  command.description("Validate, summarise and seal the policy file");
  const check = command
    .command("check")
    .description("Validate the policy file (exit 2 listing every problem) and summarise it")
    .action(async (options: GlobalOptions) => {
      const { runPolicyCheck } = await import("../operations/policy-check-command.js");
      await runPolicyCheck(options);
    });
  examples(check, "dropkeys policy check", "dropkeys policy check --policy ./dropkeys.policy.yaml --json");
  registerSeal(command.command("seal"));
}

/** `policy seal`, also registered as `approvers seal`. */
export function registerSeal(seal: Command): void {
  seal.description(
    "Seal the policy's authority (approvers, approval rules, request lifetime, inventory identity and holds, database mapping, JWT deploy command, journal mirror) in the journal; a change is approved under the previous seal's `registry` rule by its approvers",
  );
  addOperationOptions(seal, { reasonRequired: false }).action(async (options: SealOptions) => {
    const { runSeal } = await import("../operations/approvals-command.js");
    await runSeal(options);
  });
  examples(seal, "dropkeys policy seal --request-out seal.json", "dropkeys apply seal.json --approval alem.sig --approval alice.sig", "dropkeys policy seal   # at a terminal: each approver signs in turn");
}
