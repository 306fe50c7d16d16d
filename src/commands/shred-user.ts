import type { Command } from "commander";
import { addOperationOptions, examples } from "../lib/cli-options.js";
import type { ShredOptions } from "../operations/shred-command.js";

export function register(command: Command): void {
  addOperationOptions(
    command
      .description("GDPR Art. 17 crypto-shredding: destroy the DEK of each user's fødselsnummer envelope; AML transaction rows stay")
      .argument("[userIds...]", "user ids (the users table's id column)")
      .option("--from-file <file>", "user ids, one per line (blank lines and # comments ignored)"),
    { reasonRequired: true },
  ).action(async (userIds: string[], options: ShredOptions) => {
    const { runShredUser } = await import("../operations/shred-command.js");
    await runShredUser(userIds, options);
  });
  examples(
    command,
    "dropkeys shred-user 4711 --reason 'DSR-2026-0042 (erasure request)'",
    "dropkeys shred-user --from-file erasures-2026-11.txt --reason 'DSR batch 2026-11' --request-out shred.json",
  );
}
