import type { Command } from "commander";
import { examples } from "../lib/cli-options.js";
import type { ApproveOptions } from "../operations/approvals-command.js";

export function register(command: Command): void {
  command
    .description("Sign an operation request as a registered approver (SSH key, ssh-agent, or KMS)")
    .argument("<request>", "the request file written by --request-out")
    .requiredOption("--as <name>", "your name in the policy's approvers")
    .option("--key <path>", "OpenSSH private key to sign with (default: your registered key in ssh-agent)")
    .option("--kms-profile <profile>", "AWS profile for signing with your KMS key")
    .option("--out <file>", "where to write the approval (default REQUEST.NAME.sig)")
    .action(async (file: string, options: ApproveOptions) => {
      const { runApprove } = await import("../operations/approvals-command.js");
      await runApprove(file, options);
    });
  examples(
    command,
    "dropkeys approve request.json --as alice --key ~/.ssh/id_ed25519 --out alice.sig",
    "dropkeys approve request.json --as alem --kms-profile alem-mfa --out alem.sig",
    "ssh-keygen -Y sign -n dropkeys-approval -f ~/.ssh/id_ed25519 request.json   # the same, by hand",
  );
}
