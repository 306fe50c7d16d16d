// The hidden `dropkeys __complete WORD... CURRENT` the shell scripts call: the words typed after
// `dropkeys`, the last one being completed, answered with one candidate per line (the shell
// filters them by what is typed). Commands, subcommands and flags come from the commands'
// own definitions; inventory names, approvers and regions from the policy file (read as plain
// YAML: no validation, so a half-edited policy still completes); incident ids from the
// journal. Nothing here loads the AWS SDK or calls AWS: completion must answer at once.
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import type { Command, Option } from "commander";
import { parse } from "yaml";
import { JOURNAL_FILE } from "../journal/journal.js";
import { locatePolicy } from "../policy/locate.js";

/** Printed alone when the shell should complete file names instead. */
export const FILES = ":files";

/** The top-level command names, and a loader for one command's definition (cli.ts owns both). */
export interface CommandTable {
  names: string[];
  load(name: string): Promise<Command | undefined>;
}

export async function complete(args: string[], table: CommandTable): Promise<string[]> {
  const words = [...args];
  const current = words.pop() ?? "";
  let command: Command | undefined;
  let leaf: Command | undefined;
  const positionals: string[] = [];
  let pendingOption: Option | undefined;
  const given = new Map<string, string>();
  for (const word of words) {
    if (pendingOption) {
      given.set(pendingOption.long ?? "", word);
      pendingOption = undefined;
    } else if (word.startsWith("-")) {
      const option = leaf ? findOption(leaf, word) : undefined;
      if (option && (option.required || option.optional) && !word.includes("=")) pendingOption = option;
      else if (option && word.includes("=")) given.set(option.long ?? "", word.slice(word.indexOf("=") + 1));
    } else if (!command) {
      if (!table.names.includes(word)) return [];
      command = await table.load(word);
      leaf = command && command.commands.length === 0 ? command : undefined;
    } else if (!leaf) {
      leaf = command.commands.find((c) => c.name() === word);
      if (!leaf) return [];
    } else positionals.push(word);
  }
  const sources = new Sources(given);
  if (pendingOption) return valuesFor(pendingOption, leaf!, sources);
  if (current.startsWith("-")) return leaf ? flagsOf(leaf) : command ? ["--help"] : ["--help", "--version"];
  if (!command) return table.names;
  if (!leaf) return command.commands.map((c) => c.name());
  return argumentValues(leaf, positionals.length, sources);
}

function findOption(command: Command, word: string): Option | undefined {
  const flag = word.split("=")[0]!;
  return command.options.find((o) => o.long === flag || o.short === flag || o.long === flag.replace(/^--no-/, "--"));
}

function flagsOf(command: Command): string[] {
  return [...command.options.filter((o) => !o.hidden).map((o) => o.long ?? o.short ?? ""), "--help"].filter((f) => f !== "");
}

/** Values for an option, by what its placeholder or name says it takes. */
function valuesFor(option: Option, command: Command, sources: Sources): string[] {
  const long = option.long ?? "";
  const placeholder = /<([^>]+)>/.exec(option.flags)?.[1] ?? "";
  if (long === "--incident") return sources.incidents();
  if (long === "--as") return sources.policyNames("approvers");
  if (long === "--region") return sources.regions();
  if (long === "--profile" || long === "--kms-profile") return awsProfiles();
  if (option.argChoices) return option.argChoices;
  if (/file|dir|path|FILE|DIR/.test(placeholder)) return [FILES];
  if (long === "--key" && command.name() !== "approve") return sources.policyNames("inventory");
  return [];
}

/** Values for the n-th argument of a leaf command, by the argument's name. */
function argumentValues(command: Command, index: number, sources: Sources): string[] {
  const args = command.registeredArguments;
  const arg = args[index] ?? (args.at(-1)?.variadic ? args.at(-1) : undefined);
  if (!arg) return [];
  if (arg.argChoices) return arg.argChoices;
  const name = arg.name();
  if (name === "key" || name === "name") return sources.policyNames("inventory");
  if (name === "id" && command.parent?.name() === "incident") return sources.incidents();
  if (name === "request") return [FILES];
  return [];
}

/** The policy and journal the completed command line would use (its --policy / --journal, else the defaults). */
class Sources {
  private policyCache: Record<string, unknown> | undefined;
  constructor(private readonly given: Map<string, string>) {}

  private policy(): Record<string, unknown> {
    if (this.policyCache) return this.policyCache;
    this.policyCache = {};
    try {
      const { file } = locatePolicy(this.given.get("--policy"));
      const doc: unknown = parse(readFileSync(file, "utf8"));
      if (doc && typeof doc === "object") this.policyCache = doc as Record<string, unknown>;
    } catch {
      /* no readable policy: nothing to offer */
    }
    return this.policyCache;
  }

  policyNames(section: "inventory" | "approvers"): string[] {
    const list = this.policy()[section];
    if (!Array.isArray(list)) return [];
    return list.map((e: unknown) => (e as { name?: unknown })?.name).filter((n): n is string => typeof n === "string");
  }

  regions(): string[] {
    const p = this.policy();
    const inventory = Array.isArray(p.inventory) ? (p.inventory as { region?: unknown }[]) : [];
    return [...new Set([p.region, ...inventory.map((e) => e?.region)].filter((r): r is string => typeof r === "string"))];
  }

  /** Incident ids in the journal, newest first. */
  incidents(): string[] {
    const dir = path.resolve(this.given.get("--journal") ?? process.env.DROPKEYS_JOURNAL ?? "legal");
    const file = path.join(dir, JOURNAL_FILE);
    if (!existsSync(file)) return [];
    const ids: string[] = [];
    for (const line of readFileSync(file, "utf8").split("\n")) {
      // Most lines have no incident: look before parsing.
      if (!line.includes('"incident"')) continue;
      try {
        const incident = (JSON.parse(line) as { incident?: unknown }).incident;
        if (typeof incident === "string" && incident) ids.push(incident);
      } catch {
        /* a damaged line: `log verify` reports it */
      }
    }
    return [...new Set(ids.reverse())];
  }
}

/** Profile names from the shared AWS config and credentials files. */
function awsProfiles(): string[] {
  const files = [process.env.AWS_CONFIG_FILE ?? path.join(homedir(), ".aws", "config"), process.env.AWS_SHARED_CREDENTIALS_FILE ?? path.join(homedir(), ".aws", "credentials")];
  const names = new Set<string>();
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const m of text.matchAll(/^\s*\[\s*(?:profile\s+)?([^\]\s]+)\s*\]/gm)) if (m[1] !== "sso-session" && m[1] !== "services") names.add(m[1]!);
  }
  return [...names];
}
