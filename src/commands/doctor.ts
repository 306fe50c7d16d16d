import type { Command } from "commander";
import { examples, type GlobalOptions } from "../lib/cli-options.js";

export function register(command: Command): void {
  command
    .description(
      "Check that this setup will work before the first real operation: policy and seal, AWS credentials, endpoints, clock, journal, approver keys, CloudTrail coverage, database. Read-only, no approval; exit 4 on problems",
    )
    .action(async (options: GlobalOptions) => {
      const { runDoctor } = await import("../operations/doctor-command.js");
      await runDoctor(options);
    });
  examples(command, "dropkeys doctor", "dropkeys doctor --profile drop-admin", "dropkeys doctor --json --no-input   # from cron or CI");
}
