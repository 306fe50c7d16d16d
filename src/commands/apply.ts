import type { Command } from "commander";
import { collect, examples, type GlobalOptions } from "../lib/cli-options.js";

export function register(command: Command): void {
  command
    .description("Run exactly the operation of a signed request (written by --request-out)")
    .argument("<request>", "the request file")
    .option("--approval <file>", "an approval signature (repeatable)", collect, [] as string[])
    .action(async (file: string, options: GlobalOptions & { approval: string[] }) => {
      const { runApply } = await import("../operations/approvals-command.js");
      await runApply(file, options);
    });
  examples(command, "dropkeys apply request.json --approval alice.sig --approval alem.sig");
}
