import type { Command } from "commander";
import { examples } from "../lib/cli-options.js";
import type { InitOptions } from "../operations/policy-check-command.js";

export function register(command: Command): void {
  command
    .description("Write a starter dropkeys.policy.yaml (a copy of the bundled Drop policy) to edit, and print (or create) the journal mirror's bucket settings")
    .option("--force", "overwrite an existing file", false)
    .option("--out <file>", "where to write it", "dropkeys.policy.yaml")
    .option("--mirror <url>", "the journal's S3 mirror, s3://BUCKET/PREFIX (written into the policy; its bucket settings are printed)")
    .option("--retention-days <n>", "Object Lock retention of each mirrored entry (default 1827, 5 years)")
    .option("--create-mirror", "create the mirror bucket with those settings (an existing policy file is kept)")
    .action(async (options: InitOptions) => {
      const { runInit } = await import("../operations/policy-check-command.js");
      await runInit(options);
    });
  examples(command, "dropkeys init", "dropkeys init --out /etc/dropkeys/policy.yaml --force", "dropkeys init --mirror s3://drop-internkontroll/legal --create-mirror");
}
