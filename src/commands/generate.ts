import type { Command } from "commander";
import { addOperationOptions, examples } from "../lib/cli-options.js";
import type { OperationOptions } from "../lib/cli-options.js";

export function register(command: Command): void {
  addOperationOptions(
    command
      .description("Create an inventory entry's key: a KMS key (alias, tags, key policy, rotation), a random secret, or a signing key with its JWKS")
      .argument("<name>", "inventory entry")
      .option("--move-alias", "when alias/NAME points at a disabled key or one pending deletion: create a new key and move the alias to it")
      .option("--jwks-out <file>", "signing keys: add the public key to this JWKS file (else it is printed)")
      .option("--algorithm <alg>", "signing keys: Ed25519 (default) or RSA-4096"),
    { reasonRequired: false },
  ).action(async (name: string, options: OperationOptions & { moveAlias?: boolean; jwksOut?: string; algorithm?: string }) => {
    const { runLifecycle } = await import("../operations/lifecycle-command.js");
    await runLifecycle("generate", name, options, { moveAlias: options.moveAlias || undefined, jwksOut: options.jwksOut, algorithm: options.algorithm });
  });
  examples(
    command,
    "dropkeys generate drop-backup-key --reason 'initial setup'",
    "dropkeys generate JWT_SECRET --request-out jwt.request.json",
    "dropkeys generate JWT-02 --jwks-out public/jwks.json",
  );
}
