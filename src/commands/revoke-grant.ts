import type { Command } from "commander";
import { addOperationOptions, examples, type OperationOptions } from "../lib/cli-options.js";

export function register(command: Command): void {
  addOperationOptions(
    command
      .description("Revoke a grant on a KMS key now (RevokeGrant, rule `revoke-grant`: one Security Lead or the CISO), verified with ListGrants")
      .argument("<key>", "inventory entry")
      .argument("<grant-id>", "the grant's id (dropkeys grants KEY lists them)"),
    { reasonRequired: true },
  ).action(async (key: string, grantId: string, options: OperationOptions) => {
    const { runGrantOperation } = await import("../operations/grants-command.js");
    await runGrantOperation("revoke-grant", key, options, { grantId });
  });
  examples(command, "dropkeys revoke-grant drop-kyc-key 0c82427a... --reason 'worker decommissioned'");
}
