import type { Command } from "commander";
import { examples, type GlobalOptions } from "../lib/cli-options.js";

export function register(command: Command): void {
  command
    .description("State, rotation and overdue check of every key in the inventory (exit 4 when anything needs attention)")
    .option("--at <time>", "evaluate as of this time (ISO date/time, or a duration ahead such as 7d)")
    .action(async (options: GlobalOptions & { at?: string }) => {
      const { runStatus } = await import("../operations/status-command.js");
      await runStatus(options);
    });
  examples(command, "dropkeys status", "dropkeys status --at 7d          # what will be overdue next week", "dropkeys status --json --no-input  # from cron");
}
