// The options every command accepts after its name, and the examples block of its help.
// Imported at help time, so it must stay free of the AWS SDK and other heavy modules.
import { Option, type Command } from "commander";

export interface GlobalOptions {
  policy?: string;
  journal?: string;
  region?: string;
  profile?: string;
  endpointUrl?: string;
  json: boolean;
  color: boolean;
  verbose: boolean;
  input: boolean;
}

/** The flags addOperationOptions adds, as commander hands them to a mutating command's action. */
export interface OperationOptions extends GlobalOptions {
  reason?: string;
  incident?: string;
  dryRun: boolean;
  requestOut?: string;
  request?: string;
  approval: string[];
}

export function addGlobalOptions(command: Command): Command {
  return command
    .addOption(new Option("--policy <file>", "policy file (default ./dropkeys.policy.yaml, else the bundled policy)").env("DROPKEYS_POLICY"))
    .addOption(new Option("--journal <dir>", "internkontroll journal directory (default ./legal)").env("DROPKEYS_JOURNAL"))
    .option("--region <region>", "default AWS region for calls the policy does not pin to a region")
    .option("--profile <name>", "AWS profile (the SDK's credential chain otherwise)")
    .option("--endpoint-url <url>", "AWS endpoint for every service (emulators, VPC endpoints); AWS_ENDPOINT_URL also works")
    .option("--json", "machine-readable output: one JSON document on stdout, errors as JSON on stderr", false)
    .option("--no-color", "no colour (NO_COLOR is honoured too)")
    .option("--no-input", "never prompt (also when CI=true); a missing approval is exit 3")
    .option("--verbose", "more detail, including stack traces of failures", false);
}

/** "Examples:" help text; every command shows at least one. */
export function examples(command: Command, ...lines: string[]): Command {
  return command.addHelpText("after", `\nExamples:\n${lines.map((l) => `  $ ${l}`).join("\n")}\n`);
}

/** Options shared by every mutating command (the operation pipeline's inputs). */
export function addOperationOptions(command: Command, options: { reasonRequired: boolean }): Command {
  return command
    .option("--reason <text>", options.reasonRequired ? "why (required; goes into the journal)" : "why (goes into the journal)")
    .option("--incident <id>", "incident id this belongs to (e.g. INC-20261123-1405)")
    .option("--dry-run", "show exactly what would be done, ask no approval, change nothing", false)
    .option("--request-out <file>", "write the approval request to FILE for approvers to sign, and stop")
    .option("--request <file>", "run the request in FILE (written earlier by --request-out) instead of a new one")
    .option("--approval <file>", "an approval signature (repeatable)", collect, [] as string[]);
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
