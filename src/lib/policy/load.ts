// Finding, reading and validating the policy file. A bad file is one usage error (exit 2) that
// lists every problem with its YAML path, so a person fixes them all in one go.
import { readFileSync } from "node:fs";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { usageError } from "../errors.js";
import { locatePolicy, type PolicySource } from "./locate.js";
import { rememberPolicyFile } from "./paths.js";
import { inputProblems, MAX_YAML_ALIASES } from "./input-checks.js";
import { policySchema, type InventoryEntry, type Policy } from "./schema.js";

export { BUNDLED_POLICY, LOCAL_POLICY, locatePolicy } from "./locate.js";

export interface LoadedPolicy {
  policy: Policy;
  /** Absolute path of the file it came from. */
  file: string;
  /** Where the choice came from, for `policy check`. */
  source: PolicySource;
}

export function loadPolicy(option: string | undefined, cwd = process.cwd()): LoadedPolicy {
  const { file, source } = locatePolicy(option, cwd);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw usageError(`cannot read the policy file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {
      code: "policy.unreadable",
      hint: "Pass --policy FILE, set DROPKEYS_POLICY, or run `dropkeys init` to write a starter policy.",
    });
  }
  const policy = parsePolicy(text, file);
  // Relative paths inside the policy mean the policy file's directory, not the working one.
  rememberPolicyFile(policy, file);
  return { policy, file, source };
}

/** Parse and validate policy YAML; throws one usage error listing every problem. */
export function parsePolicy(text: string, file = "<policy>"): Policy {
  const document = parseDocument(text, { prettyErrors: true });
  if (document.errors.length > 0) {
    const problems = document.errors.map((e) => {
      const line = e.linePos?.[0];
      return line ? `line ${line.line}, column ${line.col}: ${e.code}` : e.message.split("\n")[0]!;
    });
    throw invalidPolicy(file, problems);
  }
  let data: unknown;
  try {
    data = document.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (error) {
    // An alias bomb ("billion laughs"): refused before it expands.
    throw invalidPolicy(file, [`${(error as Error).message} (at most ${MAX_YAML_ALIASES} aliases)`]);
  }
  const result = policySchema.safeParse(data);
  if (!result.success) throw invalidPolicy(file, result.error.issues.map(describeIssue));
  const problems = [...crossCheck(result.data), ...inputProblems(result.data, data)];
  if (problems.length > 0) throw invalidPolicy(file, problems);
  return result.data;
}

function invalidPolicy(file: string, problems: string[]) {
  return usageError(`the policy file ${file} is not valid:\n${problems.map((p) => `  - ${p}`).join("\n")}`, {
    code: "policy.invalid",
    hint: "Fix the entries above; `dropkeys policy check` shows the result.",
    details: { file, problems },
  });
}

/** `inventory[3].rotation: expected ...` */
export function formatPath(pathParts: readonly PropertyKey[]): string {
  let out = "";
  for (const part of pathParts) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || "(top level)";
}

function describeIssue(issue: z.core.$ZodIssue): string {
  let message = issue.message;
  if (issue.code === "invalid_type" && /received undefined/.test(message)) message = "required";
  if (issue.code === "unrecognized_keys") message = `unknown field(s) ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
  return `${formatPath(issue.path)}: ${message}`;
}

/** Rules that span fields: unique names, role references. */
function crossCheck(policy: Policy): string[] {
  const problems: string[] = [];
  const seen = new Map<string, number>();
  policy.inventory.forEach((entry, index) => {
    const earlier = seen.get(entry.name);
    if (earlier !== undefined) problems.push(`inventory[${index}].name: "${entry.name}" is also inventory[${earlier}]`);
    seen.set(entry.name, index);
    if (entry.kind === "kms-key") {
      for (const field of ["decryptRoles", "encryptRoles"] as const) {
        entry[field].forEach((role, i) => {
          if (!(role in policy.roles)) {
            problems.push(`inventory[${index}].${field}[${i}]: role "${role}" is not defined under roles`);
          }
        });
      }
    }
  });
  const approverNames = new Map<string, number>();
  policy.approvers.forEach((approver, index) => {
    const earlier = approverNames.get(approver.name);
    if (earlier !== undefined) problems.push(`approvers[${index}].name: "${approver.name}" is also approvers[${earlier}]`);
    approverNames.set(approver.name, index);
  });
  return problems;
}

export function findEntry(policy: Policy, name: string): InventoryEntry | undefined {
  const bare = name.startsWith("alias/") ? name.slice("alias/".length) : name;
  return policy.inventory.find((entry) => entry.name === bare);
}

export function regionOf(policy: Policy, entry: InventoryEntry): string {
  return entry.region ?? policy.region;
}

/** Inventory entries that dropkeys manages in AWS (KMS keys and secrets), not external ones. */
export function awsEntries(policy: Policy): InventoryEntry[] {
  return policy.inventory.filter((e) => e.kind === "kms-key" || e.kind === "secret" || e.kind === "signing-key");
}
