import type { Command } from "commander";
import { examples, type GlobalOptions } from "../lib/cli-options.js";
import type { LogShowOptions } from "../operations/log-command.js";

export function register(command: Command): void {
  command.description("Verify or show the internkontroll journal");
  const verify = command
    .command("verify")
    .description("Check the hash chain of the journal: exit 0 when intact, 1 naming the first bad line")
    .option("--approvals", "also check every intent's approvals against its rule as sealed then, and internkontroll.md against the JSONL", false)
    .option("--mirror", "compare with the journal's S3 mirror (the default when the policy names one)")
    .option("--no-mirror", "do not compare with the mirror")
    .action(async (options: GlobalOptions & { approvals: boolean; mirror?: boolean }) => {
      const { runLogVerify } = await import("../operations/log-command.js");
      await runLogVerify(options);
    });
  examples(verify, "dropkeys log verify", "dropkeys log verify --approvals", "dropkeys log verify --journal /srv/legal --json");
  const show = command
    .command("show")
    .description("Show journal entries, oldest first")
    .option("--key <name>", "only entries about this key (inventory name or ARN)")
    .option("--incident <id>", "only entries of this incident")
    .option("--operation <name>", "only this operation (disable, schedule-deletion, ...)")
    .option("--since <time>", "only entries since this time (ISO, or a duration back such as 7d)")
    .action(async (options: LogShowOptions) => {
      const { runLogShow } = await import("../operations/log-command.js");
      await runLogShow(options);
    });
  examples(show, "dropkeys log show --incident INC-20261123-1405", "dropkeys log show --key drop-kyc-key --since 30d --json");
}
