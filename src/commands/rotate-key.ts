import type { Command } from "commander";
import { addOperationOptions, examples } from "../lib/cli-options.js";
import type { LifecycleOptions } from "../operations/lifecycle-command.js";

export function register(command: Command): void {
  addOperationOptions(
    command.description("Rotate a KMS key's material now (RotateKeyOnDemand; at most 10 per key), verified through ListKeyRotations").argument("<key>", "inventory entry"),
    { reasonRequired: true },
  ).action(async (key: string, options: LifecycleOptions) => {
    const { runLifecycle } = await import("../operations/lifecycle-command.js");
    await runLifecycle("rotate-key", key, options, {});
  });
  examples(command, "dropkeys rotate-key drop-backup-key --reason 'annual manual rotation'");
}
