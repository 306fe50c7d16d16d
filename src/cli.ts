// The dropkeys program. Commands are registered lazily: the top-level help lists them from the
// table below, and only the command being run (or asked for help) is imported, so `--help` and
// `--version` never load the AWS SDK.
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { addGlobalOptions } from "./lib/cli-options.js";
import { ExitCode, isDropkeysError } from "./lib/errors.js";

interface CommandModule {
  register(command: Command): void;
}

/** name -> one-line summary and the module that defines it. */
const COMMANDS: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  init: { summary: "write a starter dropkeys.policy.yaml", load: () => import("./commands/init.js") },
  policy: { summary: "validate, summarise and seal the policy file (seal: approved under the previous seal)", load: () => import("./commands/policy.js") },
  doctor: { summary: "check the setup: policy seal, AWS credentials, endpoints, clock, journal, CloudTrail, database (read-only)", load: () => import("./commands/doctor.js") },
  status: { summary: "state, rotation and overdue check of every key in the inventory", load: () => import("./commands/status.js") },
  log: { summary: "verify or show the internkontroll journal", load: () => import("./commands/log.js") },
  "audit-decrypts": { summary: "who used which KMS key (CloudTrail API, S3 archive or local copy) and the policy's alert rules", load: () => import("./commands/audit-decrypts.js") },
  "audit-changes": { summary: "every key or secret change in CloudTrail must match an approved journal entry", load: () => import("./commands/audit-changes.js") },
  approve: { summary: "sign an operation request as a registered approver", load: () => import("./commands/approve.js") },
  apply: { summary: "run a signed operation request (--approval SIG ...)", load: () => import("./commands/apply.js") },
  approvers: { summary: "list the approvers registry, seal changes to it", load: () => import("./commands/approvers.js") },
  generate: { summary: "create an inventory entry's KMS key, secret or signing key", load: () => import("./commands/generate.js") },
  disable: { summary: "emergency revocation: disable a KMS key and verify it", load: () => import("./commands/disable.js") },
  enable: { summary: "enable a disabled KMS key again (false alarm)", load: () => import("./commands/enable.js") },
  "rotate-key": { summary: "rotate a KMS key's material now (RotateKeyOnDemand)", load: () => import("./commands/rotate-key.js") },
  "schedule-deletion": { summary: "schedule a key's deletion (7-30 days) and verify it no longer decrypts", load: () => import("./commands/schedule-deletion.js") },
  "cancel-deletion": { summary: "cancel a scheduled deletion (the key stays disabled)", load: () => import("./commands/cancel-deletion.js") },
  incident: { summary: "incident timeline, checklist and deadlines from the journal", load: () => import("./commands/incident.js") },
  "rotate-jwt": { summary: "rotate JWT_SECRET with an overlap window; --finish from cron; --emergency revokes sessions", load: () => import("./commands/rotate-jwt.js") },
  "shred-user": { summary: "GDPR crypto-shredding: destroy users' fødselsnummer DEKs, AML rows kept (--from-file for batches)", load: () => import("./commands/shred-user.js") },
  completion: { summary: "print the shell completion script for bash, zsh or fish", load: () => import("./commands/completion.js") },
  reencrypt: { summary: "after a compromise: re-wrap every envelope DEK from the old KMS key to the new one, L4 first", load: () => import("./commands/reencrypt.js") },
  grant: { summary: "grant a principal use of a KMS key until an expiry; --retire-expired from cron", load: () => import("./commands/grant.js") },
  "revoke-grant": { summary: "revoke a grant on a KMS key now (also one made outside dropkeys)", load: () => import("./commands/revoke-grant.js") },
  grants: { summary: "list the grants on the inventory's KMS keys, marking foreign and expired ones", load: () => import("./commands/grants.js") },
  "sync-key-policy": { summary: "put the key policy the role bindings give on a KMS key (after showing the diff)", load: () => import("./commands/sync-key-policy.js") },
};

/** Group commands (with subcommands) get the global options on each leaf, not on the group. */
function hasSubcommands(command: Command): boolean {
  return command.commands.length > 0;
}

function addGlobalOptionsToLeaves(command: Command): void {
  if (hasSubcommands(command)) command.commands.forEach(addGlobalOptionsToLeaves);
  else addGlobalOptions(command);
}

/** One command's definition, registered as for a run (for `__complete`). */
async function loadCommand(name: string): Promise<Command | undefined> {
  const entry = COMMANDS[name];
  if (!entry) return undefined;
  const command = new Command(name);
  (await entry.load()).register(command);
  addGlobalOptionsToLeaves(command);
  return command;
}

/** The hidden `dropkeys __complete WORD...` behind the completion scripts: candidates, one per line, never an error. */
async function printCompletions(words: string[]): Promise<void> {
  try {
    const { complete } = await import("./lib/completion/complete.js");
    const candidates = await complete(words, { names: Object.keys(COMMANDS), load: loadCommand });
    process.stdout.write(candidates.map((c) => `${c}\n`).join(""));
  } catch {
    /* a shell completing a half-typed line gets no candidates, not a stack trace */
  }
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

export async function buildProgram(argv: string[]): Promise<Command> {
  const program = new Command("dropkeys")
    .description(
      "Key lifecycle operations for Drop on AWS (KMS, Secrets Manager, CloudTrail), with two-person approvals and a tamper-evident internal-control journal (legal/internkontroll).",
    )
    .version(version(), "-V, --version")
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text) })
    .addHelpText(
      "after",
      "\nExit codes: 0 done, 1 failed, 2 usage or config, 3 approval missing or invalid,\n" +
        "4 findings (audit, overdue), 5 journal unavailable, 130 interrupted.\n\n" +
        "Examples:\n  $ dropkeys status\n  $ dropkeys disable drop-kyc-key --reason 'key leaked in CI log' --incident INC-20261123-1405\n  $ dropkeys log verify\n",
    );
  const requested = argv.slice(2).find((arg) => !arg.startsWith("-"));
  const names = Object.keys(COMMANDS);
  const target = requested !== undefined && names.includes(requested) ? requested : undefined;
  for (const name of names) {
    const entry = COMMANDS[name]!;
    const command = program.command(name).description(entry.summary);
    if (name === target) {
      const module = await entry.load();
      module.register(command);
      addGlobalOptionsToLeaves(command);
      command.exitOverride();
    }
  }
  return program;
}

export async function main(argv: string[]): Promise<void> {
  // The SDK's notice about its future Node 22 requirement would end up in every cron mail.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  // `dropkeys ... | head` closes the pipe early: that is the reader's choice, not a failure.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw error;
  });
  process.on("SIGINT", () => process.exit(ExitCode.interrupted));
  if (argv[2] === "__complete") return printCompletions(argv.slice(3));
  let program: Command;
  try {
    program = await buildProgram(argv);
    await program.parseAsync(argv);
  } catch (error) {
    process.exitCode = await exitCodeFor(error, argv);
    // A call cut off by its deadline may still be retrying in the background (the SDK cannot be
    // told to stop): what it does no longer matters, and it must not hold the process open.
    if (isDropkeysError(error) && error.code === "aws.timeout") process.exit(process.exitCode);
  }
}

async function exitCodeFor(error: unknown, argv: string[]): Promise<number> {
  if (error instanceof CommanderError) {
    // --help and --version end here too, with exit code 0.
    if (error.exitCode === 0) return 0;
    return ExitCode.usage;
  }
  if (isInterrupt(error)) return ExitCode.interrupted;
  const { Output } = await import("./lib/output.js");
  const json = argv.includes("--json");
  const out = new Output({ json, color: !argv.includes("--no-color"), verbose: argv.includes("--verbose") });
  out.error(error);
  return isDropkeysError(error) ? error.exitCode : ExitCode.failed;
}

/** Ctrl-C at an inquirer prompt, or our own interrupted error. */
function isInterrupt(error: unknown): boolean {
  if (isDropkeysError(error)) return error.kind === "interrupted";
  return error instanceof Error && error.name === "ExitPromptError";
}
