import type { Command } from "commander";
import { addOperationOptions, examples } from "../lib/cli-options.js";
import type { LifecycleOptions } from "../operations/lifecycle-command.js";

export function register(command: Command): void {
  addOperationOptions(
    command
      .description("Emergency revocation: disable a KMS key, verify it no longer works, and start or continue the incident (POLICY.md §5)")
      .argument("<key>", "inventory entry (or alias/NAME)")
      .option("--detected-at <time>", "when the compromise was detected (ISO time, or a duration back such as 2h; default now)"),
    { reasonRequired: true },
  ).action(async (key: string, options: LifecycleOptions & { detectedAt?: string }) => {
    const [{ runLifecycle }, { parseTimeArg }] = await Promise.all([import("../operations/lifecycle-command.js"), import("../lib/time.js")]);
    const detectedAt = options.detectedAt ? parseTimeArg(options.detectedAt, "--detected-at").toISOString() : undefined;
    await runLifecycle("disable", key, options, { detectedAt });
  });
  examples(
    command,
    "dropkeys disable drop-kyc-key --reason 'key ARN and role leaked in a CI log' --detected-at 2026-11-23T13:50Z",
    "dropkeys disable drop-kyc-key --reason '...' --incident INC-20261123-1405 --approval alem.sig --no-input",
  );
}
