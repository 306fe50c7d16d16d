import type { Command } from "commander";
import { addOperationOptions, examples } from "../lib/cli-options.js";
import type { ReencryptOptions } from "../operations/reencrypt-command.js";

export function register(command: Command): void {
  addOperationOptions(
    command
      .description("After a compromise: re-wrap every envelope DEK from the old KMS key to the new one (L4 tables first), compare-and-set per record")
      .option("--from <key>", "the old (compromised) key: inventory name, alias/NAME, key id or ARN")
      .option("--to <key>", "the new key: inventory name, alias/NAME, key id or ARN")
      .option("--concurrency <n>", "KMS calls in flight, 1-64 (default 8)")
      .option("--reenable-source", "the old key is disabled: enable it for the re-encryption only and disable it again (needs the approvals of `enable` too)"),
    { reasonRequired: true },
  ).action(async (options: ReencryptOptions) => {
    const { runReencrypt } = await import("../operations/reencrypt-command.js");
    await runReencrypt(options);
  });
  command.addHelpText(
    "after",
    "\nApprovals: rule `reencrypt` (drop-key-admin + CISO); with --incident, `reencrypt-emergency` (the CISO alone);\nwith --reenable-source, also those of `enable`. A rerun skips what is already under the new key.\n",
  );
  examples(
    command,
    "dropkeys reencrypt --from 1234abcd-old-key-id --to drop-national-id-key --reenable-source --reason 'INC-20261123-1405 step 5' --incident INC-20261123-1405",
  );
}
