import type { Command } from "commander";
import { examples, type GlobalOptions } from "../lib/cli-options.js";

export function register(command: Command): void {
  command
    .description("List the grants on the inventory's KMS keys: FOREIGN = not made by dropkeys, EXPIRED = past the expiry the journal records")
    .argument("[key]", "only this inventory entry")
    .action(async (key: string | undefined, options: GlobalOptions) => {
      const { runGrantsList } = await import("../lib/grants/list.js");
      await runGrantsList(options, key);
    });
  examples(command, "dropkeys grants", "dropkeys grants drop-kyc-key --json");
}
